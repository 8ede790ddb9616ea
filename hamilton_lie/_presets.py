"""The training presets shipped in the package (``training/presets/NAME.toml``), found without importing torch,
so that ``hamilton-lie --help`` can list them quickly."""

from __future__ import annotations

from pathlib import Path

PRESETS = Path(__file__).resolve().parent / "training" / "presets"


def preset_names() -> list[str]:
    """The names of the shipped presets: ``hamilton-lie train NAME``."""
    return sorted(p.stem for p in PRESETS.glob("*.toml"))


def preset_text(name: str) -> str:
    """The TOML text of the preset ``name`` (one of :func:`preset_names`)."""
    return (PRESETS / f"{name}.toml").read_text(encoding="utf-8")
