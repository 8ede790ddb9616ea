"""The HDF5 schema (version 1): what a dataset file holds, and the checks every reader makes.

```
/                         attrs: schema_version=1, schema_minor=1, system, n_bodies, dim, dt, n_steps, integrator,
                                 substeps, seed,
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

Arrays are chunked by trajectory and carry fletcher32 checksums (``t`` too since ``schema_minor`` 1;
older files without the attribute still read). Every way a file can be unusable (missing, truncated,
not HDF5, wrong schema version, missing fields, attributes of the wrong type, inconsistent shapes,
arrays that are not floating-point, a time grid that is not k * dt, a failed checksum, NaN or inf)
raises :class:`DatasetError` with the file name and the problem.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from simulators import list_systems, system_class

from .._errors import DatasetError, first_line

SCHEMA_VERSION = 1
# 1: every array carries a fletcher32 checksum, the time grid too (files without the attribute, minor 0,
# leave t unchecksummed; every reader still checks t's values against dt)
SCHEMA_MINOR = 1
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
        raise DatasetError(f"{path}: not a readable HDF5 file (truncated or corrupted?): {first_line(e)}") from None


def param_names(path: Path, system: str) -> tuple[str, ...]:
    """The per-trajectory parameters a dataset of ``system`` stores: the system class's ``param_names``."""
    try:
        return system_class(system).param_names
    except ValueError:
        raise DatasetError(f"{path}: unknown system {system!r}; known systems are {list_systems()}") from None


def check_structure(path: Path, f) -> dict:
    """Check attributes, groups, shapes, dtypes and each split's time grid (the only array read);
    returns the root attributes as Python values."""
    missing = [a for a in ROOT_ATTRS if a not in f.attrs]
    if "schema_version" in missing:
        raise DatasetError(f"{path}: no schema_version attribute; not a hamilton-lie dataset")
    attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    version = _attr(path, attrs, "schema_version", int)
    if version != SCHEMA_VERSION:
        raise DatasetError(f"{path}: schema version {version}, but this hamilton-lie reads version {SCHEMA_VERSION}")
    if missing:
        raise DatasetError(f"{path}: missing root attribute {missing[0]!r}")
    n_steps, n_bodies, dim = (_attr(path, attrs, key, int) for key in ("n_steps", "n_bodies", "dim"))
    dt = _attr(path, attrs, "dt", float)
    names = param_names(path, _attr(path, attrs, "system", str))
    try:
        settings = json.loads(_attr(path, attrs, "system_settings", str))
    except json.JSONDecodeError:
        settings = None
    if not isinstance(settings, dict):
        raise DatasetError(f"{path}: root attribute 'system_settings' is not a JSON object")
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
            if g[name].dtype.kind != "f":
                raise DatasetError(f"{path}: /{split}/{name} holds {g[name].dtype}, not floating-point numbers")
        _check_times(path, split, read_array(path, g["t"]), dt)
    return attrs


def _attr(path: Path, attrs: dict, key: str, kind: type):
    """Root attribute ``key`` as ``kind`` (int, float or str); :class:`DatasetError` when it is not one."""
    value = attrs[key]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0,
        str: isinstance(value, str),
    }[kind]
    if not ok:
        what = {int: "an integer", float: "a positive number", str: "a string"}[kind]
        raise DatasetError(f"{path}: root attribute {key!r} must be {what}, got {value!r}")
    return kind(value)


def _check_times(path: Path, split: str, t: np.ndarray, dt: float) -> None:
    """``t`` must be the grid 0, dt, ..., (n_steps - 1) dt that the root attributes describe (to round-off)."""
    expected = dt * np.arange(t.shape[0])
    wrong = ~(np.abs(t - expected) <= 1e-9 * max(dt * t.shape[0], 1.0))  # NaN compares False: wrong
    if wrong.any():
        k = int(np.argmax(wrong))
        raise DatasetError(
            f"{path}: /{split}/t is not the time grid k * dt of the root attributes (sample {k} is {t[k]!r}, "
            f"expected {expected[k]!r})"
        )


def read_array(path: Path, ds, sel=()) -> np.ndarray:
    """``ds[sel]`` of an ``h5py.Dataset``; :class:`DatasetError` naming the file when a checksum fails."""
    try:
        return ds[sel]
    except OSError as e:
        raise DatasetError(f"{path}: cannot read {ds.name} (failed checksum or corrupted data): {first_line(e)}") from None
