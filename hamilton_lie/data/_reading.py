"""Reading whole datasets: a full check with a summary, and one split into memory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from simulators import HamiltonianSystem, get_system, list_systems

from .._errors import DatasetError
from ._schema import SPLITS, check_structure, has_energy, open_file, read_array, with_unit_masses


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's root attributes, split sizes and (after a full check) measured facts."""

    path: Path
    attrs: dict
    sizes: dict
    size_bytes: int
    #: the integrator steps per trajectory over every split, ``(min, median, max)``, when a full check read the
    #: file's ``steps`` (generated files of schema minor 3 on); None otherwise
    steps: tuple[int, int, int] | None = None

    @property
    def system_settings(self) -> dict:
        return json.loads(self.attrs["system_settings"])

    @property
    def system_known(self) -> bool:
        """Whether this process knows the data's system (registered or loaded), and so its exact H."""
        return str(self.attrs["system"]) in list_systems()

    def system(self) -> HamiltonianSystem:
        """The simulator that generated the data, with the file's physical settings (its exact H).

        Raises:
            DatasetError: when the system is not registered in this process; the message says how to load
                a user-defined one.
        """
        a = self.attrs
        if not self.system_known:
            source = a.get("system_source")
            how = (f"load it first: simulators.load_system({source!r}), or hamilton-lie --load-system {source}"
                   if source else "it is not one this toolkit knows")  # fmt: skip
            raise DatasetError(f"{self.path}: the system {a['system']!r} is not registered in this process; {how}")
        try:
            return get_system(str(a["system"]), n_bodies=int(a["n_bodies"]), dim=int(a["dim"]), **self.system_settings)
        except (TypeError, ValueError) as e:
            raise DatasetError(f"{self.path}: cannot rebuild {a['system']!r} from its system_settings ({e})") from None


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
    with open_file(path) as f:
        attrs = check_structure(path, f)
        sizes = {s: f[s]["q"].shape[0] for s in SPLITS}
        if full:
            for split in SPLITS:
                for ds in _arrays(f[split]):
                    n = ds.shape[0] if ds.ndim > 1 else 0
                    for sel in [np.s_[lo : lo + block] for lo in range(0, n, block)] or [()]:
                        if not np.isfinite(read_array(path, ds, sel)).all():
                            raise DatasetError(f"{path}: {ds.name} contains NaN or inf")
        steps = None
        if full and all("steps" in f[split] for split in SPLITS):
            counts = np.concatenate([read_array(path, f[split]["steps"]) for split in SPLITS])
            if counts.size:
                steps = (int(counts.min()), int(np.median(counts)), int(counts.max()))
    return DatasetInfo(path, attrs, sizes, path.stat().st_size, steps)


def _arrays(group) -> list:
    """Every ``h5py.Dataset`` below ``group``."""
    import h5py

    out = []
    group.visititems(lambda _, obj: out.append(obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def load_split(path: str | Path, split: str, dtype: torch.dtype = torch.float64) -> dict:
    """Read one whole split into memory.

    Returns:
        dict with ``t (T,)``, ``q, p (n, T, N, d)``, ``energy (n, T)`` (None when the file has no
        energies: data of an unknown Hamiltonian) and ``params`` (name -> ``(n, N)`` or ``(n, N, N)``;
        unit ``masses`` when the file has none), as tensors of ``dtype``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = Path(path)
    with open_file(path) as f:
        check_structure(path, f)
        g = f[split]
        keys = ("t", "q", "p", "energy") if has_energy(f) else ("t", "q", "p")
        out = {k: torch.from_numpy(read_array(path, g[k])).to(dtype) for k in keys}
        out["params"] = {k: torch.from_numpy(read_array(path, v)).to(dtype) for k, v in g.get("params", {}).items()}
    out["params"] = with_unit_masses(out["params"], out["q"].shape[:1] + out["q"].shape[2:3], dtype)
    out.setdefault("energy", None)
    arrays = {k: out[k] for k in ("q", "p", "energy") if out[k] is not None}
    arrays.update({f"params/{k}": v for k, v in out["params"].items()})
    for name, value in arrays.items():
        if not torch.isfinite(value).all():
            raise DatasetError(f"{path}: /{split}/{name} contains NaN or inf")
    return out
