"""Training windows read lazily from a dataset file: a PyTorch ``Dataset`` safe across DataLoader workers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

from .._errors import DatasetError
from .._seeds import epoch_seed
from ._schema import SPLITS, check_structure, open_file, read_array, with_unit_masses

if TYPE_CHECKING:
    import h5py


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
    ``(N,)``, or ``(N, N)`` per pair), ``trajectory`` and ``start`` (ints), with L = ``chunk_len``.

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
        with open_file(self.path) as f:
            self.attrs = check_structure(self.path, f)
            available = f[split]["q"].shape[0]
            self.param_names = tuple(f[split]["params"].keys()) if "params" in f[split] else ()
            for name in self.param_names:  # small (n, N) arrays: checked once here rather than per window
                if not np.isfinite(read_array(self.path, f[split]["params"][name])).all():
                    raise DatasetError(f"{self.path}: /{split}/params/{name} contains NaN or inf")
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
        g = torch.Generator().manual_seed(epoch_seed(self.seed, 0 if self.windows == "fixed" else epoch))
        self._starts = torch.randint(0, self.windows_per_trajectory, (self.n_trajectories,), generator=g)

    def __len__(self) -> int:
        if self.windows != "all":
            return self.n_trajectories
        return self.n_trajectories * self.windows_per_trajectory

    def _group(self) -> h5py.Group:
        # a handle opened before a fork must not be shared by the workers
        if self._file is None or self._pid != os.getpid():
            self._file = open_file(self.path)
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
            "t": torch.from_numpy(read_array(self.path, g["t"], np.s_[start : start + self.chunk_len])),
            "q": torch.from_numpy(read_array(self.path, g["q"], window)),
            "p": torch.from_numpy(read_array(self.path, g["p"], window)),
        }
        for k, v in item.items():
            if not torch.isfinite(v).all():
                raise DatasetError(f"{self.path}: /{self.split}/{k} of trajectory {traj} contains NaN or inf")
            item[k] = v.to(self.dtype)
        item["params"] = with_unit_masses({
            k: torch.from_numpy(read_array(self.path, g["params"][k], np.s_[traj])).to(self.dtype) for k in self.param_names
        }, item["q"].shape[1:2], self.dtype)  # fmt: skip
        item["trajectory"] = traj
        item["start"] = start
        return item
