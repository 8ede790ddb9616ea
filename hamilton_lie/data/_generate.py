"""Turn a recipe into a schema-v1 HDF5 dataset, atomically.

The file is written under a temporary name beside the target and moved into place only when every
split is written and checked, so a crash or a bad recipe never leaves a partial dataset; an exclusive
lock on the target keeps a second process from writing it at the same time, and the temporaries of
killed processes are removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime
import errno
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from simulators import integrate

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX: no file-size limit to check
    resource = None

from .._checks import available_memory, check_device, check_output_file, nearest_existing, size_text
from .._errors import HamiltonLieError, RecipeError, WriteFailed, first_line
from .._files import exclusive, publish, remove_stale_temporaries, temporary
from .._seeds import split_seed
from ._recipes import Recipe
from ._schema import SCHEMA_MINOR, SCHEMA_VERSION

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateResult:
    """What :func:`generate_dataset` wrote and measured."""

    path: Path
    seconds: float
    n_trajectories: int
    max_rel_energy_error: float
    size_bytes: int


def relative_energy_error(system, q, p, params) -> tuple[torch.Tensor, torch.Tensor]:
    """Energy along trajectories and each trajectory's max |H(t) - H(0)| / (T(0) + |V(0)|).

    The scale T(0) + |V(0)| equals |H(0)| for springs and stays away from zero for gravity
    and charges, whose total energy can be close to zero.

    Arguments:
        q, p: ``(batch, time, n_bodies, dim)``.

    Returns:
        ``energy (batch, time)`` and ``error (batch,)``.
    """
    energy = system.hamiltonian(q, p, params)
    scale = system.kinetic(p[:, 0], params) + system.potential(q[:, 0], params).abs()
    error = (energy - energy[:, :1]).abs().amax(dim=1) / scale
    return energy, error


def _check_resources(recipe: Recipe, out: Path) -> None:
    """Refuse up front a recipe whose arrays would not fit in this machine's memory or on the output's disk."""
    per_trajectory = recipe.n_steps * recipe.n_bodies * recipe.dim * 8  # bytes of q (or p), float64
    sizes = [n for _, n in recipe.splits.items()]
    batch = min(recipe.batch_size, max(sizes))
    # a batch's q and p, the integrator's copies of them and the energies; a split's initial states
    memory = 6 * batch * per_trajectory + 4 * max(sizes) * recipe.n_bodies * recipe.dim * 8
    available = available_memory()
    if memory > available:
        raise RecipeError(
            f"{recipe.name}: generating needs about {size_text(memory)} of memory (batches of {batch} "
            f"trajectories of {recipe.n_steps} samples); this machine has {size_text(available)} available"
        )
    disk, folder = _file_bytes(recipe), nearest_existing(out.parent)
    free = shutil.disk_usage(folder).free
    if disk > free:
        raise RecipeError(f"{recipe.name}: the dataset would take about {size_text(disk)}; {folder} has "
                          f"{size_text(free)} free")  # fmt: skip
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0] if resource is not None else None
    if limit not in (None, getattr(resource, "RLIM_INFINITY", None)) and disk > limit:
        raise RecipeError(f"{recipe.name}: the dataset would take about {size_text(disk)}, over this process's "
                          f"file-size limit of {size_text(limit)} (ulimit -f)")  # fmt: skip


def generate_dataset(
    recipe: Recipe,
    out: str | Path,
    *,
    device: str | torch.device = "cpu",
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> GenerateResult:
    """Simulate every split of ``recipe`` and write the HDF5 file ``out``.

    Arguments:
        recipe: a parsed recipe.
        out: target path; written atomically.
        device: where to integrate (initial conditions are drawn on the CPU, so the data
            do not depend on it beyond floating-point round-off).
        force: overwrite an existing file.
        progress: called with the number of trajectories finished after each batch.

    Returns:
        A :class:`GenerateResult`.

    Raises:
        HamiltonLieError: before any work, when ``out`` exists and ``force`` is false, is a folder or
            cannot be written, when ``device`` does not exist, or when the recipe's arrays would not fit
            in memory or on disk (RecipeError); later, when integration produced non-finite values.
    """
    out = check_output_file(out, force)
    check_device(device)
    _check_resources(recipe, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with exclusive(out):  # a second generate to the same file stops here, not at the rename
        check_output_file(out, force)
        remove_stale_temporaries(out)
        tmp = temporary(out)
        try:
            max_error = _write(recipe, tmp, out, torch.device(device), progress)
            publish(tmp, out, replace=force)
        finally:
            tmp.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    total = sum(n for _, n in recipe.splits.items())
    log.info("wrote %s: %d trajectories in %.1f s, max rel. energy error %.2e", out, total, seconds, max_error)
    return GenerateResult(out, seconds, total, max_error, out.stat().st_size)


def _write(recipe: Recipe, path: Path, out: Path, device: torch.device, progress) -> float:
    """Generate into ``path``, the temporary of ``out``; returns the largest relative energy error."""
    import h5py  # on use: `import hamilton_lie` does not load h5py

    system = recipe.build_system()
    t = recipe.dt * torch.arange(recipe.n_steps, dtype=torch.float64, device=device)
    max_error, failed = 0.0, True
    f = h5py.File(path, "w")
    try:
        _reserve(path, _file_bytes(recipe), out)
        f.attrs.update(_root_attrs(recipe, system))
        for index, (split, n) in enumerate(recipe.splits.items()):
            g = torch.Generator().manual_seed(split_seed(recipe.seed, index))
            params = system.sample_params(n, generator=g, device=device)
            q0, p0 = system.sample_state(params, generator=g)
            error = _write_split(f.create_group(split), recipe, system, t, q0, p0, params, progress, out)
            max_error = max(max_error, error)
        f.attrs["max_rel_energy_error"] = max_error
        failed = False
    finally:
        try:
            f.close()
        except (OSError, RuntimeError) as e:  # the last buffered writes failed
            if not failed:  # else the first error is already on its way
                raise WriteFailed(_write_failure(out, e)) from None
    os.truncate(path, path.stat().st_size)  # gives back the reserved blocks HDF5 did not use
    return max_error


@contextlib.contextmanager
def _writing(out: Path):
    """HDF5 writes in the block: their errors (a full disk, a file-size limit) become one :class:`WriteFailed`."""
    try:
        yield
    except (OSError, RuntimeError) as e:
        raise WriteFailed(_write_failure(out, e)) from None


def _write_failure(out: Path, e: BaseException) -> str:
    reason = os.strerror(e.errno) if getattr(e, "errno", None) else first_line(e)
    return f"{out}: writing the dataset failed ({reason})"


def _file_bytes(recipe: Recipe) -> int:
    """A generous estimate of the file's size: its float64 arrays, 5% for chunk indexes and checksums, 1 MiB more."""
    trajectories = sum(n for _, n in recipe.splits.items())
    floats = trajectories * (recipe.n_steps * (2 * recipe.n_bodies * recipe.dim + 1) + 1 + 4 * recipe.n_bodies)
    return int(1.05 * 8 * floats) + 2**20


def _reserve(path: Path, size: int, out: Path) -> None:
    """Reserve ``size`` bytes of disk for ``path`` (Linux ``fallocate`` keeping the file's size), so that a disk
    too full for the dataset fails now, before any trajectory is integrated, rather than in HDF5's buffers."""
    fallocate = _fallocate()
    if fallocate is None or size <= 0:
        return
    fd = os.open(path, os.O_RDWR)
    try:
        if fallocate(fd, 1, 0, size) != 0:  # 1: FALLOC_FL_KEEP_SIZE
            code = ctypes.get_errno()
            if code not in (errno.EOPNOTSUPP, errno.ENOSYS):  # a filesystem without it: nothing to reserve
                raise WriteFailed(f"{out}: cannot reserve {size_text(size)} for the dataset ({os.strerror(code)})")
    finally:
        os.close(fd)


def _fallocate():
    """libc's ``fallocate`` where there is one (Linux), else None."""
    name = ctypes.util.find_library("c")
    fallocate = getattr(ctypes.CDLL(name, use_errno=True), "fallocate", None) if name else None
    if fallocate is not None:
        fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    return fallocate


def _root_attrs(recipe: Recipe, system) -> dict:
    from .. import __version__

    return {
        "schema_version": SCHEMA_VERSION,
        "schema_minor": SCHEMA_MINOR,
        "system": recipe.system,
        "n_bodies": recipe.n_bodies,
        "dim": recipe.dim,
        "dt": recipe.dt,
        "n_steps": recipe.n_steps,
        "integrator": recipe.integrator,
        "substeps": recipe.substeps,
        "seed": recipe.seed,
        "system_settings": json.dumps(system.settings),
        "recipe": recipe.text,
        "hamilton_lie_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _write_split(group, recipe: Recipe, system, t, q0, p0, params, progress, out: Path) -> float:
    """Integrate one split batch by batch into ``group``; returns its largest relative energy error."""
    n = q0.shape[0]
    group.create_dataset("t", data=t.cpu().numpy(), fletcher32=True)
    shape = (n, recipe.n_steps, recipe.n_bodies, recipe.dim)
    opts = {"dtype": "f8", "fletcher32": True, "compression": None if recipe.compression == "none" else recipe.compression}
    q_ds = group.create_dataset("q", shape=shape, chunks=(1, *shape[1:]), **opts)
    p_ds = group.create_dataset("p", shape=shape, chunks=(1, *shape[1:]), **opts)
    e_ds = group.create_dataset("energy", shape=shape[:2], chunks=(1, shape[1]), **opts)
    err_ds = group.create_dataset("rel_energy_error", shape=(n,), **opts)
    for name, value in params.items():
        group.create_dataset(f"params/{name}", data=value.cpu().numpy(), fletcher32=True)
    method, max_error = recipe.build_integrator(), 0.0
    for lo in range(0, n, recipe.batch_size):
        hi = min(n, lo + recipe.batch_size)
        batch_params = {k: v[lo:hi] for k, v in params.items()}
        q, p = integrate(system, q0[lo:hi], p0[lo:hi], batch_params, t, method=method)
        energy, error = relative_energy_error(system, q, p, batch_params)
        finite = torch.isfinite(q).all((1, 2, 3)) & torch.isfinite(p).all((1, 2, 3))
        if not bool(finite.all()):
            bad = lo + int((~finite).nonzero()[0])
            raise HamiltonLieError(
                f"{recipe.name}: integration of {group.name.strip('/')} trajectory {bad} produced non-finite values; "
                "reduce dt or increase substeps"
            )
        with _writing(out):
            q_ds[lo:hi], p_ds[lo:hi] = q.cpu().numpy(), p.cpu().numpy()
            e_ds[lo:hi], err_ds[lo:hi] = energy.cpu().numpy(), error.cpu().numpy()
            group.file.flush()  # so that a full disk shows here, as one error, not in HDF5's buffers later
        max_error = max(max_error, float(error.max()))
        if progress is not None:
            progress(hi - lo)
    return max_error
