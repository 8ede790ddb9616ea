"""The HDF5 schema (version 1): what a dataset file holds, and the checks every reader makes.

```
/                         attrs: schema_version=1, system, n_bodies, dim, dt, n_steps, integrator, substeps, seed,
                                 system_settings (JSON of every physical constant used), recipe (the TOML text),
                                 hamilton_lie_version, created (ISO 8601 UTC), max_rel_energy_error
/train /val /test         one group per split, each holding:
    t          (T,)               float64  sample times, t[0] = 0
    q          (n, T, N, d)       float64  positions
    p          (n, T, N, d)       float64  momenta
    energy     (n, T)             float64  true H along the trajectory
    rel_energy_error (n,)         float64  each trajectory's max |H(t) - H(0)| / (T(0) + |V(0)|)
    params/<name> (n, N)          float64  per-trajectory parameters: the system's ``param_names``
```

Arrays are chunked by trajectory and carry fletcher32 checksums. Every way a file can be unusable
(missing, truncated, not HDF5, wrong schema version, missing fields, inconsistent shapes, a failed
checksum, NaN or inf) raises :class:`DatasetError` with the file name and the problem.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulators import list_systems, system_class

from .._errors import DatasetError

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


def open_file(path: Path):
    """The HDF5 file at ``path`` opened for reading (an ``h5py.File``); :class:`DatasetError` when unusable."""
    import h5py  # on use: `import hamilton_lie` does not load h5py

    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise DatasetError(f"{path}: not a readable HDF5 file (truncated or corrupted?): {e}") from None


def param_names(path: Path, system: str) -> tuple[str, ...]:
    """The per-trajectory parameters a dataset of ``system`` stores: the system class's ``param_names``."""
    try:
        return system_class(system).param_names
    except ValueError:
        raise DatasetError(f"{path}: unknown system {system!r}; known systems are {list_systems()}") from None


def check_structure(path: Path, f) -> dict:
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
    names = param_names(path, attrs["system"])
    n_steps, n_bodies, dim = int(attrs["n_steps"]), int(attrs["n_bodies"]), int(attrs["dim"])
    for split in SPLITS:
        if split not in f:
            raise DatasetError(f"{path}: missing group /{split}")
        g = f[split]
        for name in ("t", "q", "p", "energy", *(f"params/{k}" for k in names)):
            if name not in g:
                raise DatasetError(f"{path}: missing dataset /{split}/{name}")
        n = g["q"].shape[0]
        expected = {
            "t": (n_steps,),
            "q": (n, n_steps, n_bodies, dim),
            "p": (n, n_steps, n_bodies, dim),
            "energy": (n, n_steps),
            **{f"params/{k}": (n, n_bodies) for k in names},
        }
        for name, shape in expected.items():
            if g[name].shape != shape:
                raise DatasetError(f"{path}: /{split}/{name} has shape {g[name].shape}, expected {shape}")
    return attrs


def read_array(path: Path, ds, sel=()) -> np.ndarray:
    """``ds[sel]`` of an ``h5py.Dataset``; :class:`DatasetError` naming the file when a checksum fails."""
    try:
        return ds[sel]
    except OSError as e:
        raise DatasetError(f"{path}: cannot read {ds.name} (failed checksum or corrupted data): {e}") from None
