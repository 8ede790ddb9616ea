"""``write_dataset``: a schema-v1 file from arrays, for data simulated or measured elsewhere."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from simulators import get_system, list_systems, load_system
from simulators.systems import is_reference, resolve_reference

from .._checks import check_output_file
from .._errors import DatasetError
from ._generate import relative_energy_error
from ._schema import SPLITS
from ._writer import SplitWriter, atomic_dataset, hdf5_file, root_attrs


@dataclass(frozen=True)
class Provenance:
    """Where arrays written by :func:`write_dataset` come from, stored in the file's ``source`` attribute.

    Attributes:
        source: where the data came from (a path, a URL, a paper).
        format: the format it was in (``nri``, ``egnn``, ...).
        assumptions: what was assumed in converting it (e.g. unit masses), one sentence each.
        integrator: how the original was integrated (the ``integrator`` attribute), ``unknown`` if unsaid.
        substeps: integrator steps per stored sample (0: unknown).
        seed: the original's seed (-1: unknown).
    """

    source: str = ""
    format: str = ""
    assumptions: tuple[str, ...] = field(default=())
    integrator: str = "unknown"
    substeps: int = 0
    seed: int = -1


def write_dataset(
    path: str | Path,
    t: np.ndarray | torch.Tensor,
    q: np.ndarray | torch.Tensor,
    p: np.ndarray | torch.Tensor,
    params: Mapping[str, np.ndarray | torch.Tensor] | None = None,
    *,
    system: str,
    splits: Mapping[str, int],
    settings: Mapping[str, object] | None = None,
    provenance: Provenance = Provenance(),
    compression: str = "none",
    force: bool = False,
) -> Path:
    """Write trajectories from elsewhere as a schema-v1 HDF5 file, with the checks and checksums of ``generate``.

    Arguments:
        path: the file to write (atomically).
        t: ``(T,)`` sample times 0, dt, 2 dt, ... (uniform, from 0).
        q, p: ``(n, T, n_bodies, dim)`` positions and momenta, float64 (momenta, not velocities: multiply
            by the masses first).
        params: per-trajectory parameters, name -> ``(n, n_bodies)`` or ``(n, n_bodies, n_bodies)``.
        system: a registered system name or a reference (``module:Class``, ``file.py:Class``), whose exact H
            then gives each trajectory's energy and energy error; or any other name, for data whose
            Hamiltonian the toolkit does not know (the file then stores no energies).
        splits: ``{"train": n1, "val": n2, "test": n3}``, taken in that order from the ``n`` trajectories.
        settings: the system's constructor settings (its physical constants), default none.
        provenance: where the data come from and what was assumed.
        compression: ``none``, ``lzf`` or ``gzip``.
        force: overwrite an existing file.

    Returns:
        The path written.

    Raises:
        DatasetError: naming the argument, for arrays of the wrong shape, non-finite values, a time grid
            that is not uniform from 0, splits that do not add up, or parameters that do not fit the system.
    """
    out = check_output_file(path, force)
    arrays = _arrays(t, q, p, params or {})
    n, n_steps, n_bodies, dim = arrays["q"].shape
    sizes = _splits(splits, n)
    source = ""
    if is_reference(system):
        source, system = resolve_reference(system), _load(system).name
    hamiltonian = None
    if system in list_systems():
        try:
            hamiltonian = get_system(system, n_bodies=n_bodies, dim=dim, **dict(settings or {}))
            params = {k: torch.from_numpy(v) for k, v in arrays["params"].items()}
            hamiltonian.check_state(torch.from_numpy(arrays["q"][:1, 0]), torch.from_numpy(arrays["p"][:1, 0]),
                                    {k: v[:1] for k, v in params.items()})  # fmt: skip
        except (TypeError, ValueError) as e:
            raise DatasetError(f"{out}: the arrays do not fit system {system!r}: {e}") from None
        settings = hamiltonian.settings
    t_np = arrays["t"]
    dt = float(t_np[1] - t_np[0])
    provenance_attrs = {"integrator": provenance.integrator, "substeps": provenance.substeps, "seed": provenance.seed,
                        "source": json.dumps({k: v for k, v in asdict(provenance).items()
                                              if k in ("source", "format", "assumptions")})}  # fmt: skip
    if source:
        provenance_attrs["system_source"] = source
    attrs = root_attrs(system, n_bodies, dim, dt, n_steps, json.dumps(dict(settings or {})), "", provenance_attrs)
    with atomic_dataset(out, force) as tmp, hdf5_file(tmp, out, _bytes(arrays)) as f:
        f.attrs.update(attrs)
        worst, lo = 0.0 if hamiltonian is not None else math.nan, 0
        for split, size in zip(SPLITS, sizes, strict=True):
            part = slice(lo, lo + size)
            split_params = {k: v[part] for k, v in arrays["params"].items()}
            writer = SplitWriter(f.create_group(split), t_np, size, n_bodies, dim, split_params, compression,
                                 hamiltonian is not None, out)  # fmt: skip
            blocks = {"q": arrays["q"][part], "p": arrays["p"][part]}
            if hamiltonian is not None:
                q_t, p_t = torch.from_numpy(blocks["q"]), torch.from_numpy(blocks["p"])
                energy, error = relative_energy_error(hamiltonian, q_t, p_t, {k: torch.from_numpy(v)
                                                                             for k, v in split_params.items()})  # fmt: skip
                blocks.update(energy=energy.numpy(), rel_energy_error=error.numpy())
                worst = max(worst, float(error.max()))
            writer.write(0, **blocks)
            lo += size
        f.attrs["max_rel_energy_error"] = worst
    return out


def _load(reference: str):
    try:
        return load_system(reference)
    except ValueError as e:
        raise DatasetError(f"system: {e}") from None


def _arrays(t, q, p, params: Mapping) -> dict:
    """The inputs as float64 NumPy arrays, checked: shapes, finiteness and the time grid."""

    def array(name, value):
        x = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        if x.dtype.kind not in "fiu":
            raise DatasetError(f"{name} must hold numbers, got {x.dtype}")
        x = x.astype(np.float64)
        if not np.isfinite(x).all():
            raise DatasetError(f"{name} contains NaN or inf")
        return x

    q, p, t = array("q", q), array("p", p), array("t", t)
    if q.ndim != 4 or q.shape[-1] not in (2, 3):
        raise DatasetError(f"q must have shape (n, T, n_bodies, dim) with dim 2 or 3, got {q.shape}")
    if p.shape != q.shape:
        raise DatasetError(f"p must have the shape of q {q.shape}, got {p.shape}")
    n, n_steps, n_bodies, _ = q.shape
    if t.shape != (n_steps,) or n_steps < 2:
        raise DatasetError(f"t must have shape ({n_steps},) to match q, with at least 2 samples, got {t.shape}")
    dt = t[1] - t[0]
    if t[0] != 0 or not dt > 0 or np.abs(t - dt * np.arange(n_steps)).max() > 1e-9 * dt * n_steps:
        raise DatasetError("t must be the uniform grid 0, dt, 2 dt, ... (shift or resample the data first)")
    out = {"t": t, "q": q, "p": p, "params": {}}
    for name, value in params.items():
        x = array(f"params[{name!r}]", value)
        if x.shape not in ((n, n_bodies), (n, n_bodies, n_bodies)):
            raise DatasetError(f"params[{name!r}] must have shape ({n}, {n_bodies}) or ({n}, {n_bodies}, {n_bodies}), "
                               f"got {x.shape}")  # fmt: skip
        out["params"][name] = x
    return out


def _splits(splits: Mapping[str, int], n: int) -> list[int]:
    if set(splits) != set(SPLITS):
        raise DatasetError(f"splits must give the sizes of {list(SPLITS)}, got {sorted(splits)}")
    sizes = [splits[s] for s in SPLITS]
    if not all(isinstance(k, int) and k >= 1 for k in sizes) or sum(sizes) != n:
        raise DatasetError(f"splits must be positive integers that add up to the {n} trajectories, got {dict(splits)}")
    return sizes


def _bytes(arrays: dict) -> int:
    """The file's size, generously: its arrays, energies, 5% for indexes and checksums, 1 MiB more."""
    floats = 2 * arrays["q"].size + 2 * arrays["q"].shape[0] * arrays["q"].shape[1]
    floats += sum(v.size for v in arrays["params"].values())
    return int(1.05 * 8 * floats) + 2**20
