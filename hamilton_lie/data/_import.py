"""``import_dataset``: the NRI and EGNN ``.npy`` sets as schema-v1 files.

Both originals save, per split (``train``, ``valid``, ``test``) and a suffix such as ``_springs5`` or
``_charged5_initvel1small``: ``loc_<split><suffix>.npy`` and ``vel_...`` of shape ``(n, T, dim, n_bodies)``
and ``edges_...`` ``(n, n_bodies, n_bodies)`` (the spring graph, or the charge products c_i c_j); EGNN's
add ``charges_...`` ``(n, n_bodies, 1)``. Neither stores masses (unit masses), the time between samples,
or the parameters of the physics; what the conversion assumes is recorded in the file's ``source``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._errors import DatasetError
from ._write import Provenance, write_dataset

FORMATS = ("nri", "egnn")
_SPLIT_FILES = {"train": "train", "val": "valid", "test": "test"}


def import_dataset(
    fmt: str,
    folder: str | Path,
    suffix: str,
    out: str | Path,
    *,
    dt: float,
    system: str | None = None,
    force: bool = False,
) -> Path:
    """Convert one original dataset (its three splits) into the schema-v1 file ``out``.

    Arguments:
        fmt: ``nri`` or ``egnn``.
        folder: the folder holding the ``.npy`` files.
        suffix: the file names' suffix, e.g. ``_springs5`` (NRI) or ``_charged5_initvel1small`` (EGNN).
        out: the file to write.
        dt: the time between stored samples (both originals: 0.001 x their ``--sample-freq``, 0.1 by default).
        system: the system to record; default ``nri-springs`` or ``nri-charged`` from the suffix (EGNN's sets
            as ``nri-charged`` with walls only at the start, as its generator has them). A system not
            registered in this process is recorded by name, without energies.
        force: overwrite ``out``.

    Returns:
        The path written.

    Raises:
        DatasetError: naming the file, when a file is missing or its arrays do not fit together.
    """
    if fmt not in FORMATS:
        raise DatasetError(f"unknown format {fmt!r}; expected one of {list(FORMATS)}")
    folder = Path(folder)
    physics = "springs" if "springs" in suffix else "charged" if "charged" in suffix else None
    assumptions = ["unit masses (the originals' velocities are the momenta)"]
    settings = {}
    if system is None:
        if physics is None:
            raise DatasetError(f"cannot tell springs from charges by the suffix {suffix!r}; give the system")
        system = f"nri-{physics}"
        if fmt == "egnn" and physics == "charged":
            settings["walls"] = "initial"
            assumptions.append("walls only at the start (EGNN's generator); its other settings NRI's defaults")
    splits = {split: _read_split(folder, fmt, name, suffix) for split, name in _SPLIT_FILES.items()}
    n_steps = min(s["q"].shape[1] for s in splits.values())
    if any(s["q"].shape[1] != n_steps for s in splits.values()):
        lengths = {k: s["q"].shape[1] for k, s in splits.items()}
        assumptions.append(f"every split cut to its first {n_steps} samples (the files hold {lengths})")
    if "charges" not in splits["train"] and physics == "charged":
        assumptions.append("charges recovered from the products c_i c_j up to one overall sign (body 0 taken "
                           "positive); the Coulomb energy depends only on the products")  # fmt: skip
        for s in splits.values():
            s["charges"] = _charges_from_products(s["edges"])
    params = {}
    for name in ("charges", "edges"):
        if name in splits["train"] and not (name == "edges" and physics == "charged"):
            params[name] = np.concatenate([s[name] for s in splits.values()])
    q = np.concatenate([s["q"][:, :n_steps] for s in splits.values()])
    p = np.concatenate([s["p"][:, :n_steps] for s in splits.values()])
    sizes = {split: s["q"].shape[0] for split, s in splits.items()}
    provenance = Provenance(source=str(folder.resolve() / f"*{suffix}.npy"), format=fmt, assumptions=tuple(assumptions))
    return write_dataset(out, dt * np.arange(n_steps), q, p, params, system=system, splits=sizes,
                         settings=settings, provenance=provenance, force=force)  # fmt: skip


def _read_split(folder: Path, fmt: str, split: str, suffix: str) -> dict:
    """One split's arrays, positions and velocities turned to ``(n, T, n_bodies, dim)``."""
    names = ("loc", "vel", "edges", "charges") if fmt == "egnn" else ("loc", "vel", "edges")
    raw = {}
    for name in names:
        path = folder / f"{name}_{split}{suffix}.npy"
        if not path.exists():
            raise DatasetError(f"{path}: no such file (the {fmt} format has {', '.join(names)} per split)")
        try:
            raw[name] = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise DatasetError(f"{path}: not a NumPy array file ({e})") from None
    loc, vel, edges = raw["loc"], raw["vel"], raw["edges"]
    if loc.ndim != 4 or vel.shape != loc.shape:
        raise DatasetError(f"{folder / f'loc_{split}{suffix}.npy'}: positions and velocities must both be "
                           f"(n, T, dim, n_bodies), got {loc.shape} and {vel.shape}")  # fmt: skip
    n, _, _, n_bodies = loc.shape
    if edges.shape != (n, n_bodies, n_bodies):
        raise DatasetError(f"{folder / f'edges_{split}{suffix}.npy'}: expected shape {(n, n_bodies, n_bodies)}, "
                           f"got {edges.shape}")  # fmt: skip
    out = {"q": loc.transpose(0, 1, 3, 2), "p": vel.transpose(0, 1, 3, 2), "edges": edges}
    if "charges" in raw:
        charges = raw["charges"].reshape(raw["charges"].shape[:2])
        if charges.shape != (n, n_bodies):
            raise DatasetError(f"{folder / f'charges_{split}{suffix}.npy'}: expected (n, n_bodies, 1), "
                               f"got {raw['charges'].shape}")  # fmt: skip
        out["charges"] = charges
    return out


def _charges_from_products(edges: np.ndarray) -> np.ndarray:
    """Charges c with c_i c_j = edges[i, j], body 0 positive: ``(n, N, N) -> (n, N)``."""
    charges = edges[:, 0, :].copy()
    charges[:, 0] = 1.0
    if not np.allclose(charges[:, :, None] * charges[:, None, :] * (1 - np.eye(edges.shape[1])),
                       edges * (1 - np.eye(edges.shape[1]))):  # fmt: skip
        raise DatasetError("the edges are not the products c_i c_j of +-1 charges")
    return charges
