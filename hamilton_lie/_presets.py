"""The presets and recipes shipped in the package (``training/presets/NAME.toml``,
``data/recipes/NAME.toml``), found without importing torch, so that ``hamilton-lie --help`` is quick and
both work from any folder."""

from __future__ import annotations

from pathlib import Path

PRESETS = Path(__file__).resolve().parent / "training" / "presets"
RECIPES = Path(__file__).resolve().parent / "data" / "recipes"


def preset_names() -> list[str]:
    """The names of the shipped presets: ``hamilton-lie train NAME``."""
    return sorted(p.stem for p in PRESETS.glob("*.toml"))


def preset_text(name: str) -> str:
    """The TOML text of the preset ``name`` (one of :func:`preset_names`)."""
    return (PRESETS / f"{name}.toml").read_text(encoding="utf-8")


def recipe_names() -> list[str]:
    """The names of the shipped recipes: ``hamilton-lie generate NAME``."""
    return sorted(p.stem for p in RECIPES.glob("*.toml"))


def recipe_path(name: str) -> Path:
    """The file of the shipped recipe ``name`` (one of :func:`recipe_names`)."""
    return RECIPES / f"{name}.toml"


def shipped_recipe(source: str | Path) -> Path | None:
    """The shipped recipe a bare name (no such file, no ``.toml``) refers to, or None."""
    path = Path(source)
    if path.exists() or path.suffix == ".toml" or len(path.parts) != 1 or path.name not in recipe_names():
        return None
    return recipe_path(path.name)
