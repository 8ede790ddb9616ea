"""Reading schema-v1 trajectory datasets: validation, summaries and a lazy PyTorch Dataset.

The schema is fixed in DESIGN.md. Every way a file can be unusable (missing, truncated,
not HDF5, wrong schema version, missing fields, inconsistent shapes, a failed fletcher32
checksum, NaN or inf) raises :class:`DatasetError` with the file name and the problem.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from simulators import HamiltonianSystem, get_system

from .errors import DatasetError

SCHEMA_VERSION = 1
SPLITS = ("train", "val", "test")
ROOT_ATTRS = (
    "schema_version",
    "system",
    "n_bodies",
    "dim",
    "dt",
    "n_steps",
    "integrator",
    "substeps",
    "seed",
    "system_settings",
    "recipe",
    "hamilton_lie_version",
    "created",
    "max_rel_energy_error",
)
PARAM_NAMES = {"springs": ("masses", "k"), "gravity": ("masses",), "charged": ("masses", "charges")}


def _open(path: Path) -> h5py.File:
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise DatasetError(f"{path}: not a readable HDF5 file (truncated or corrupted?): {e}") from None


def _check_structure(path: Path, f: h5py.File) -> dict:
    """Check attributes, groups and shapes without reading the arrays; returns the root attrs."""
    missing = [a for a in ROOT_ATTRS if a not in f.attrs]
    if "schema_version" in missing:
        raise DatasetError(f"{path}: no schema_version attribute; not a hamilton-lie dataset")
    version = int(f.attrs["schema_version"])
    if version != SCHEMA_VERSION:
        raise DatasetError(f"{path}: schema version {version}, but this hamilton-lie reads version {SCHEMA_VERSION}")
    if missing:
        raise DatasetError(f"{path}: missing root attribute {missing[0]!r}")
    attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    system = attrs["system"]
    if system not in PARAM_NAMES:
        raise DatasetError(f"{path}: unknown system {system!r}")
    n_steps, n_bodies, dim = int(attrs["n_steps"]), int(attrs["n_bodies"]), int(attrs["dim"])
    for split in SPLITS:
        if split not in f:
            raise DatasetError(f"{path}: missing group /{split}")
        g = f[split]
        for name in ("t", "q", "p", "energy", *(f"params/{k}" for k in PARAM_NAMES[system])):
            if name not in g:
                raise DatasetError(f"{path}: missing dataset /{split}/{name}")
        n = g["q"].shape[0]
        expected = {
            "t": (n_steps,),
            "q": (n, n_steps, n_bodies, dim),
            "p": (n, n_steps, n_bodies, dim),
            "energy": (n, n_steps),
            **{f"params/{k}": (n, n_bodies) for k in PARAM_NAMES[system]},
        }
        for name, shape in expected.items():
            if g[name].shape != shape:
                raise DatasetError(f"{path}: /{split}/{name} has shape {g[name].shape}, expected {shape}")
    return attrs


def _read(path: Path, ds: h5py.Dataset, sel=()) -> np.ndarray:
    try:
        return ds[sel]
    except OSError as e:
        raise DatasetError(f"{path}: cannot read {ds.name} (failed checksum or corrupted data): {e}") from None


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's root attributes, split sizes and (after a full check) measured facts."""

    path: Path
    attrs: dict
    sizes: dict
    size_bytes: int

    @property
    def system_settings(self) -> dict:
        return json.loads(self.attrs["system_settings"])

    def system(self) -> HamiltonianSystem:
        """The simulator that generated the data, with the file's physical settings (its exact H)."""
        a = self.attrs
        return get_system(str(a["system"]), n_bodies=int(a["n_bodies"]), dim=int(a["dim"]), **self.system_settings)


def check_dataset(path: str | Path, full: bool = True, block: int = 256) -> DatasetInfo:
    """Validate the file at ``path``.

    Arguments:
        path: the HDF5 file.
        full: also read every array, which verifies every checksum and that all values are
            finite; otherwise only attributes, groups and shapes are checked.
        block: trajectories read at a time in a full check (bounds memory).

    Raises:
        DatasetError: naming the file and the problem.
    """
    path = Path(path)
    with _open(path) as f:
        attrs = _check_structure(path, f)
        sizes = {s: f[s]["q"].shape[0] for s in SPLITS}
        if full:
            for split in SPLITS:
                for ds in _arrays(f[split]):
                    n = ds.shape[0] if ds.ndim > 1 else 0
                    for sel in [np.s_[lo : lo + block] for lo in range(0, n, block)] or [()]:
                        if not np.isfinite(_read(path, ds, sel)).all():
                            raise DatasetError(f"{path}: {ds.name} contains NaN or inf")
    return DatasetInfo(path, attrs, sizes, path.stat().st_size)


def _arrays(group: h5py.Group):
    out = []
    group.visititems(lambda _, obj: out.append(obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def load_split(path: str | Path, split: str, dtype: torch.dtype = torch.float64) -> dict:
    """Read one whole split into memory.

    Returns:
        dict with ``t (T,)``, ``q, p (n, T, N, d)``, ``energy (n, T)`` and ``params``
        (name -> ``(n, N)``), as tensors of ``dtype``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = Path(path)
    with _open(path) as f:
        _check_structure(path, f)
        g = f[split]
        out = {k: torch.from_numpy(_read(path, g[k])).to(dtype) for k in ("t", "q", "p", "energy")}
        out["params"] = {k: torch.from_numpy(_read(path, v)).to(dtype) for k, v in g["params"].items()}
    for k in ("q", "p", "energy"):
        if not torch.isfinite(out[k]).all():
            raise DatasetError(f"{path}: /{split}/{k} contains NaN or inf")
    return out


class TrajectoryDataset(Dataset):
    """Training windows of ``chunk_len`` consecutive samples, read lazily from an HDF5 dataset.

    Three ways to cut windows:

    * ``windows="all"``: every window of every trajectory, ``n * (T - chunk_len + 1)`` items.
    * ``windows="random"``: one window per trajectory, its start drawn afresh for each epoch
      from ``seed`` and the epoch set by :meth:`set_epoch` (the LieConv benchmark protocol).
    * ``windows="fixed"``: one window per trajectory, drawn once from ``seed`` and the same in
      every epoch (what the reference's code trains on: it cuts the chunks when it builds the data).

    The file is opened on first access in each process, so the dataset is safe with
    ``DataLoader(num_workers=k)``: each worker opens its own handle. Call ``set_epoch``
    before creating each epoch's iterator (as with ``DistributedSampler``).

    Each item is a dict: ``t (L,)``, ``q (L, N, d)``, ``p (L, N, d)``, ``params`` (name ->
    ``(N,)``), ``trajectory`` and ``start`` (ints), with L = ``chunk_len``.

    Arguments:
        path: the HDF5 file.
        split: ``train``, ``val`` or ``test``.
        chunk_len: samples per window, 1 <= chunk_len <= T.
        windows: ``"all"``, ``"random"`` or ``"fixed"``.
        seed: seeds the random and fixed windows.
        n_trajectories: use only the first ``n`` trajectories of the split.
        dtype: dtype of returned tensors (stored data are float64).

    Raises:
        DatasetError: when the file is unusable.
        ValueError: for bad arguments.
    """

    def __init__(
        self,
        path: str | Path,
        split: str,
        chunk_len: int,
        windows: str = "all",
        seed: int = 0,
        n_trajectories: int | None = None,
        dtype: torch.dtype = torch.float64,
    ):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if windows not in ("all", "random", "fixed"):
            raise ValueError(f"windows must be 'all', 'random' or 'fixed', got {windows!r}")
        self.path = Path(path)
        self.split = split
        self.windows = windows
        self.seed = seed
        self.dtype = dtype
        with _open(self.path) as f:
            self.attrs = _check_structure(self.path, f)
            available = f[split]["q"].shape[0]
            self.param_names = tuple(f[split]["params"].keys())
        self.n_steps = int(self.attrs["n_steps"])
        if not isinstance(chunk_len, int) or not 1 <= chunk_len <= self.n_steps:
            raise ValueError(f"chunk_len must be an integer in [1, {self.n_steps}], got {chunk_len!r}")
        if n_trajectories is None:
            n_trajectories = available
        if not 1 <= n_trajectories <= available:
            raise ValueError(f"n_trajectories must be in [1, {available}] for split {split!r}, got {n_trajectories}")
        self.chunk_len = chunk_len
        self.n_trajectories = n_trajectories
        self.windows_per_trajectory = self.n_steps - chunk_len + 1
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Choose the random windows of ``epoch`` (no effect with ``windows="all"`` or ``"fixed"``)."""
        self.epoch = epoch
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + (0 if self.windows == "fixed" else epoch))
        self._starts = torch.randint(0, self.windows_per_trajectory, (self.n_trajectories,), generator=g)

    def __len__(self) -> int:
        if self.windows != "all":
            return self.n_trajectories
        return self.n_trajectories * self.windows_per_trajectory

    def _group(self) -> h5py.Group:
        # a handle opened before a fork must not be shared by the workers
        if self._file is None or self._pid != os.getpid():
            self._file = _open(self.path)
            self._pid = os.getpid()
        return self._file[self.split]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"] = None
        return state

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} windows")
        if self.windows != "all":
            traj, start = index, int(self._starts[index])
        else:
            traj, start = divmod(index, self.windows_per_trajectory)
        window = np.s_[traj, start : start + self.chunk_len]
        g = self._group()
        item = {
            "t": torch.from_numpy(_read(self.path, g["t"], np.s_[start : start + self.chunk_len])),
            "q": torch.from_numpy(_read(self.path, g["q"], window)),
            "p": torch.from_numpy(_read(self.path, g["p"], window)),
        }
        for k, v in item.items():
            if not torch.isfinite(v).all():
                raise DatasetError(f"{self.path}: /{self.split}/{k} of trajectory {traj} contains NaN or inf")
            item[k] = v.to(self.dtype)
        item["params"] = {
            k: torch.from_numpy(_read(self.path, g["params"][k], np.s_[traj])).to(self.dtype) for k in self.param_names
        }
        item["trajectory"] = traj
        item["start"] = start
        return item
