"""The checkpoint format and the run folder: the one module that writes and reads them.

A run folder holds ``config.toml`` (the resolved config), ``last.pt`` and ``best.pt`` and
``metrics.jsonl`` (one JSON object per epoch). A checkpoint is a dict of plain data and tensors:
``format``, ``model`` (a state dict), ``optimizer``, ``scheduler``, ``step``, ``epoch``, ``batch``
(the position in the epoch), ``best_val_mse``, ``rng`` (the state of the generator that drives data
order and random lifts), ``config`` (the resolved config as nested dicts) and ``data`` (the system,
body count and dimension trained on). Files are written under a temporary name and renamed, so a
crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch

from .._errors import HamiltonLieError, first_line
from .._files import atomic_write, remove_stale_temporaries

# 2: attention channel c belongs to head c % H (heads innermost); format-1 weights load without error
# into that layout but compute another function, so they are refused
CHECKPOINT_FORMAT = 2
RESUME_ENTRIES = ("model", "optimizer", "scheduler", "step", "epoch", "batch", "best_val_mse", "rng")


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically (a temporary file renamed into place)."""
    atomic_write(path, lambda fh: torch.save(state, fh))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint; raises HamiltonLieError naming the file for a missing, corrupted or
    outdated (another :data:`CHECKPOINT_FORMAT`) one."""
    path = Path(path)
    if not path.exists():
        raise HamiltonLieError(f"{path}: no such checkpoint")
    try:
        # tensors and plain data only: unpickling anything else could run code the file carries
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for damaged files
        # the weights-only unpickler names the global it refused (a function or class the file would call)
        if isinstance(e, pickle.UnpicklingError) and "allowed global" in str(e):
            raise HamiltonLieError(
                f"{path}: refused: it holds objects other than tensors and plain data, which loading would execute"
            ) from None
        raise HamiltonLieError(f"{path}: not a readable checkpoint (corrupted?): {first_line(e)}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise HamiltonLieError(f"{path}: not a hamilton-lie checkpoint (no 'model' entry)")
    if state.get("format", 1) != CHECKPOINT_FORMAT:
        raise HamiltonLieError(
            f"{path}: checkpoint format {state.get('format', 1)}, this hamilton-lie reads format "
            f"{CHECKPOINT_FORMAT} (attention heads are laid out differently); train the model again"
        )
    return state


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run folder's ``best.pt`` (``last.pt`` when there is no best)."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).exists():
                return path / name
        raise HamiltonLieError(f"{path}: no best.pt or last.pt in this run folder")
    if not path.exists():
        raise HamiltonLieError(f"{path}: no such checkpoint or run folder")
    return path


class RunFolder:
    """The checkpoint store and metrics sink of one run: ``config.toml``, ``last.pt``, ``best.pt``, ``metrics.jsonl``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.last, self.best = self.root / "last.pt", self.root / "best.pt"
        self.metrics = self.root / "metrics.jsonl"

    @property
    def name(self) -> str:
        return self.root.name

    def has_run(self) -> bool:
        """Whether a run was started here (``last.pt`` exists)."""
        return self.last.exists()

    def create(self, config_toml: str) -> None:
        """Make the folder and write the resolved config."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "config.toml").write_text(config_toml)

    def remove_stale_temporaries(self) -> None:
        """Remove checkpoint temporaries left by processes killed mid-write."""
        for path in (self.last, self.best):
            remove_stale_temporaries(path)

    def trim_metrics(self, epoch: int) -> None:
        """Keep the records of epochs up to ``epoch`` only: after a kill between a record's append and its
        checkpoint, the resumed run writes that epoch again and the log must not hold it twice."""
        if not self.metrics.exists():
            return
        lines = self.metrics.read_text().splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line)["epoch"] <= epoch]
        if len(kept) != len(lines):
            atomic_write(self.metrics, lambda fh: fh.write("".join(line + "\n" for line in kept).encode()))

    def save_last(self, state: dict) -> None:
        save_checkpoint(self.last, state)

    def save_best(self, state: dict) -> None:
        save_checkpoint(self.best, state)

    def load_last(self) -> dict:
        """``last.pt``, checked to hold everything a resumed run needs."""
        state = load_checkpoint(self.last)
        missing = [k for k in RESUME_ENTRIES if k not in state]
        if missing:
            raise HamiltonLieError(f"{self.last}: cannot resume: the checkpoint has no {missing[0]!r} entry")
        return state

    def append(self, record: dict) -> None:
        """Add one epoch's record to ``metrics.jsonl``."""
        with open(self.metrics, "a") as fh:
            fh.write(json.dumps(record) + "\n")
