"""The HDF5 schema (version 1): what a dataset file holds, and the checks every reader makes.

```
/                         attrs: schema_version=1, schema_minor=2, system, n_bodies, dim, dt, n_steps, integrator,
                                 substeps, seed,
                                 system_settings (JSON of every physical constant used), recipe (the TOML text),
                                 hamilton_lie_version, created (ISO 8601 UTC), max_rel_energy_error;
                                 optional: system_source (where a user-defined system's class is: a
                                 ``module:Class`` or ``/path/file.py:Class`` reference), source (JSON
                                 provenance of data written from outside arrays: origin, format, assumptions)
/train /val /test         one group per split, each holding:
    t          (T,)               float64  sample times, t[0] = 0
    q          (n, T, N, d)       float64  positions
    p          (n, T, N, d)       float64  momenta
    energy     (n, T)             float64  true H along the trajectory
    rel_energy_error (n,)         float64  each trajectory's max |H(t) - H(0)| / (T(0) + |V(0)|)
    steps      (n,)               int64    optional: the integrator steps each trajectory took (generated files;
                                           an adaptive integrator's accepted steps, else substeps per sample)
    params/<name> (n, N)          float64  per-trajectory parameters: the system's ``param_names``;
                  (n, N, N)                per pair of bodies for the system's ``pair_params``
```

``energy`` and ``rel_energy_error`` are present when the system's Hamiltonian is known; a file of data
whose H the toolkit does not know (written by ``write_dataset`` for an unregistered system) leaves them
out and sets ``max_rel_energy_error`` to NaN.

Arrays are chunked by trajectory and carry fletcher32 checksums. Minor versions add to the layout and
every reader reads them all: 1 checksums the time grid too; 2 allows per-pair parameters, the optional
attributes and files without energies; 3 adds the optional ``steps``. Every way a file can be unusable (missing, truncated, not HDF5,
wrong schema version, missing fields, attributes of the wrong type, inconsistent shapes, arrays that are
not floating-point, a time grid that is not k * dt, a failed checksum, NaN or inf) raises
:class:`DatasetError` with the file name and the problem.

A system that is not registered in this process (a user-defined one that has not been loaded) still reads:
its parameters are whatever ``params/`` holds, and only its exact Hamiltonian is unavailable.

A file without ``params/masses`` (a system with no ``masses`` parameter, such as the NRI family) has unit
masses: the readers, ``load_split`` and ``TrajectoryDataset``, supply them, so every model's kinetic
term sees the same ``params["masses"]``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from simulators import list_systems, system_class

from .._errors import DatasetError, first_line
from .._presets import recipe_names

SCHEMA_VERSION = 1
# 1: every array carries a fletcher32 checksum, the time grid too (files without the attribute, minor 0,
# leave t unchecksummed; every reader still checks t's values against dt)
# 2: per-pair parameters (n, N, N); optional system_source and source attributes; files without energies
# 3: the optional steps (n,) int64 of generated files
SCHEMA_MINOR = 3
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
        # generate writes NAME.h5 beside a recipe file NAME.toml, and a shipped recipe's to datasets/NAME.h5
        recipe = path.with_suffix(".toml")
        if recipe.is_file():
            hint = f"; make it with: hamilton-lie generate {recipe}"
        elif path.parent.name == "datasets" and path.stem in recipe_names():
            hint = f"; make it with: hamilton-lie generate {path.stem}"
            if path.parent.resolve() != Path("datasets").resolve():  # generate's default is ./datasets/NAME.h5
                hint += f" --out {path}"
        else:
            hint = ""
        raise DatasetError(f"{path}: no such file{hint}")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise DatasetError(f"{path}: not a readable HDF5 file (truncated or corrupted?): {first_line(e)}") from None


def param_shapes(system: str, group, n: int, n_bodies: int) -> dict[str, tuple[int, ...]]:
    """The parameters a split of a dataset of ``system`` must hold, and their shapes.

    For a registered system: its ``param_names``, per pair for its ``pair_params``. For one that is not
    registered in this process: whatever ``group["params"]`` holds, per body or per pair as stored.
    """
    if system in list_systems():
        cls = system_class(system)
        return {k: (n, n_bodies, n_bodies) if k in cls.pair_params else (n, n_bodies) for k in cls.param_names}
    stored = group["params"] if "params" in group else {}
    return {k: (n, n_bodies, n_bodies) if len(v.shape) == 3 else (n, n_bodies) for k, v in stored.items()}


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
    system = _attr(path, attrs, "system", str)
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
        for name in ("t", "q", "p"):
            if name not in g:
                raise DatasetError(f"{path}: missing dataset /{split}/{name}")
        n = g["q"].shape[0]
        params = {f"params/{k}": shape for k, shape in param_shapes(system, g, n, n_bodies).items()}
        energies = {"energy": (n, n_steps), "rel_energy_error": (n,)} if has_energy(f) else {}
        expected = {"t": (n_steps,), "q": (n, n_steps, n_bodies, dim), "p": (n, n_steps, n_bodies, dim), **energies,
                    **params}  # fmt: skip
        for name in expected:
            if name not in g and not (name == "rel_energy_error" and "energy" in g):  # minor 0 files may lack it
                raise DatasetError(f"{path}: missing dataset /{split}/{name}")
        expected = {name: shape for name, shape in expected.items() if name in g}
        for name, shape in expected.items():
            if g[name].shape != shape:
                raise DatasetError(f"{path}: /{split}/{name} has shape {g[name].shape}, expected {shape}")
            if g[name].dtype.kind != "f":
                raise DatasetError(f"{path}: /{split}/{name} holds {g[name].dtype}, not floating-point numbers")
        _check_times(path, split, read_array(path, g["t"]), dt)
        if "steps" in g and (g["steps"].shape != (n,) or g["steps"].dtype.kind not in "iu"):
            raise DatasetError(f"{path}: /{split}/steps must be ({n},) integers, got {g['steps'].shape} {g['steps'].dtype}")
    return attrs


def with_unit_masses(params: dict, shape: tuple[int, ...], dtype: torch.dtype) -> dict:
    """``params`` with ``masses`` of ones of ``shape`` (``(n, N)`` or ``(N,)``) when the file stores none."""
    if "masses" not in params:
        params = {**params, "masses": torch.ones(shape, dtype=dtype)}
    return params


def has_energy(f) -> bool:
    """Whether the file stores the true energy: always before minor 2, and whenever its H was known."""
    return "energy" in f["train"] if "train" in f else True


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
