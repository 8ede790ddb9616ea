"""Turn a recipe into a schema-v1 HDF5 dataset, atomically (``_writer`` says how files are written)."""

from __future__ import annotations

import json
import logging
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
from .._distributed import Distributed
from .._errors import HamiltonLieError, RecipeError
from .._seeds import split_seed
from ._recipes import Recipe
from ._shards import join_shards, shard_path, shard_range
from ._writer import SplitWriter, atomic_dataset, hdf5_file, root_attrs

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


def _check_resources(recipe: Recipe, out: Path, world: int = 1) -> None:
    """Refuse up front a recipe whose arrays would not fit in this machine's memory or on the output's disk
    (a process's share of them when ``world`` processes generate it)."""
    per_trajectory = recipe.n_steps * recipe.n_bodies * recipe.dim * 8  # bytes of q (or p), float64
    sizes = [-(-n // world) for _, n in recipe.splits.items()]
    batch = min(recipe.batch_size, max(sizes))
    # a batch's q and p, the integrator's copies of them and the energies; a split's initial states
    memory = 6 * batch * per_trajectory + 4 * max(sizes) * recipe.n_bodies * recipe.dim * 8
    available = available_memory()
    if memory > available:
        raise RecipeError(
            f"{recipe.name}: generating needs about {size_text(memory)} of memory (batches of {batch} "
            f"trajectories of {recipe.n_steps} samples); this machine has {size_text(available)} available"
        )
    disk, folder = _file_bytes(recipe, world), nearest_existing(out.parent)
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
    distributed: Distributed | None = None,
) -> GenerateResult:
    """Simulate every split of ``recipe`` and write the HDF5 file ``out``.

    Arguments:
        recipe: a parsed recipe.
        out: target path; written atomically.
        device: where to integrate (initial conditions are drawn on the CPU, so the data
            do not depend on it beyond floating-point round-off).
        force: overwrite an existing file.
        progress: called with the number of trajectories finished after each batch (this process's).
        distributed: this process's place in a torchrun job (:meth:`Distributed.from_environment`). Each
            process integrates its share of every split into a shard file beside ``out``
            (``NAME.shards/RANK-of-WORLD.h5``), and ``out`` joins them as HDF5 virtual datasets: the same
            arrays as one process writes, read the same way, as long as the shards stay beside it. Every
            process returns when ``out`` is complete.

    Returns:
        A :class:`GenerateResult` (``size_bytes`` counts the shards too).

    Raises:
        HamiltonLieError: before any work, when ``out`` exists and ``force`` is false, is a folder or
            cannot be written, when ``device`` does not exist, or when the recipe's arrays would not fit
            in memory or on disk (RecipeError); later, when integration produced non-finite values (in any
            of the processes).
    """
    ddp = distributed or Distributed()
    out = check_output_file(out, force)
    check_device(device)
    _check_resources(recipe, out, ddp.world)
    start = time.perf_counter()
    if ddp.world == 1:
        with atomic_dataset(out, force) as tmp:
            max_error = _write(recipe, tmp, out, torch.device(device), progress)
        size = out.stat().st_size
    else:
        max_error, size = _generate_sharded(recipe, out, torch.device(device), force, progress, ddp)
    seconds = time.perf_counter() - start
    total = sum(n for _, n in recipe.splits.items())
    log.info("wrote %s: %d trajectories in %.1f s, max rel. energy error %.2e", out, total, seconds, max_error)
    return GenerateResult(out, seconds, total, max_error, size)


def _generate_sharded(recipe: Recipe, out: Path, device: torch.device, force: bool, progress,
                      ddp: Distributed) -> tuple[float, int]:  # fmt: skip
    """This process's shard, then (rank 0) the file that joins them; the largest energy error and the bytes
    written by every process."""
    ddp.join(torch.device("cpu"))  # the group only synchronises: gloo, whatever device integrates
    shard = shard_path(out, ddp.rank, ddp.world)
    failure, error = None, 0.0
    try:
        with atomic_dataset(shard, force=True) as tmp:  # a shard of an earlier, killed run is replaced
            error = _write(recipe, tmp, shard, device, progress, (ddp.rank, ddp.world))
    except HamiltonLieError as e:
        failure = e
    if not ddp.all_true(failure is None):
        raise failure or HamiltonLieError(f"{out}: another process of the job failed; see its message")
    if ddp.main:
        with atomic_dataset(out, force) as tmp:
            join_shards(tmp, out, ddp.world)
    ddp.barrier()  # every process returns once the joined file is in place
    shards = [shard_path(out, rank, ddp.world) for rank in range(ddp.world)]
    return ddp.maximum(error), out.stat().st_size + sum(s.stat().st_size for s in shards)


def _write(recipe: Recipe, path: Path, out: Path, device: torch.device, progress,
           shard: tuple[int, int] = (0, 1)) -> float:  # fmt: skip
    """Generate into ``path``, the temporary of ``out``; returns the largest relative energy error. A ``shard``
    ``(rank, world)`` other than (0, 1) writes that process's trajectories of each split (``shard_range``)."""
    system = recipe.build_system()
    t = recipe.dt * torch.arange(recipe.n_steps, dtype=torch.float64, device=device)
    with hdf5_file(path, out, _file_bytes(recipe, shard[1])) as f:
        f.attrs.update(_root_attrs(recipe, system))
        starts = _initial_states(recipe, system, device)
        if shard != (0, 1):
            f.attrs["shard"] = f"{shard[0]} of {shard[1]}"
            starts = {split: _slice(start, *shard_range(start[1].shape[0], *shard)) for split, start in starts.items()}
        writers = {}
        for split, (params, q0, _) in starts.items():
            arrays = {k: v.cpu().numpy() for k, v in params.items()}
            writers[split] = SplitWriter(f.create_group(split), t.cpu().numpy(), q0.shape[0], recipe.n_bodies,
                                         recipe.dim, arrays, recipe.compression, True, out, steps=True)  # fmt: skip
        max_error = _integrate_splits(recipe, system, t, starts, writers, progress)
        f.attrs["max_rel_energy_error"] = max_error
    return max_error


def _initial_states(recipe: Recipe, system, device) -> dict[str, tuple[dict, torch.Tensor, torch.Tensor]]:
    """Each split's ``(params, q0, p0)``: its own seed's draws, or the original generator's replayed stream."""
    replayed = system.sample_splits(dict(recipe.splits.items()), recipe.seed, device)
    if replayed is not None:
        return {split: replayed[split] for split, _ in recipe.splits.items()}
    starts = {}
    for index, (split, n) in enumerate(recipe.splits.items()):
        g = torch.Generator().manual_seed(split_seed(recipe.seed, index))
        params = system.sample_params(n, generator=g, device=device)
        starts[split] = (params, *system.sample_state(params, generator=g))
    return starts


def _integrate_splits(recipe: Recipe, system, t, starts: dict, writers: dict, progress) -> float:
    """Integrate every split's trajectories and write them; returns the largest relative energy error.

    The batches of ``recipe.batch_size`` run on through the splits' boundaries: an adaptive integrator's
    batch lasts as long as its slowest trajectory, so fewer, fuller batches are faster, and a trajectory's
    result does not depend on the batch it is in.
    """
    offsets, total = {}, 0
    for split, (_, q0, _) in starts.items():
        offsets[split], total = total, total + q0.shape[0]
    method, max_error = recipe.build_integrator(), 0.0
    for first in range(0, total, recipe.batch_size):
        last = min(total, first + recipe.batch_size)
        pieces = [(split, max(first - offsets[split], 0), min(last - offsets[split], q0.shape[0]))
                  for split, (_, q0, _) in starts.items()]  # fmt: skip
        pieces = [(split, lo, hi) for split, lo, hi in pieces if lo < hi]

        def joined(i, pieces=pieces):
            return torch.cat([starts[split][i][lo:hi] for split, lo, hi in pieces])

        params = {k: torch.cat([starts[split][0][k][lo:hi] for split, lo, hi in pieces]) for k in starts[pieces[0][0]][0]}
        q, p, steps = integrate(system, joined(1), joined(2), params, t, method=method, return_steps=True)
        energy, error = relative_energy_error(system, q, p, params)
        finite = torch.isfinite(q).all((1, 2, 3)) & torch.isfinite(p).all((1, 2, 3))
        at = 0
        for split, lo, hi in pieces:
            part = slice(at, at + hi - lo)
            if not bool(finite[part].all()):
                bad = lo + int((~finite[part]).nonzero()[0])
                raise HamiltonLieError(f"{recipe.name}: integration of {split} trajectory {bad} produced non-finite "
                                       "values; reduce dt or increase substeps")  # fmt: skip
            writers[split].write(lo, q=q[part].cpu().numpy(), p=p[part].cpu().numpy(), energy=energy[part].cpu().numpy(),
                                 rel_energy_error=error[part].cpu().numpy(), steps=steps[part].cpu().numpy())  # fmt: skip
            at += hi - lo
        max_error = max(max_error, float(error.max()))
        if progress is not None:
            progress(last - first)
    return max_error


def _slice(start: tuple[dict, torch.Tensor, torch.Tensor], lo: int, hi: int):
    """Trajectories ``[lo, hi)`` of a split's ``(params, q0, p0)``."""
    params, q0, p0 = start
    return {k: v[lo:hi] for k, v in params.items()}, q0[lo:hi], p0[lo:hi]


def _file_bytes(recipe: Recipe, world: int = 1) -> int:
    """A generous estimate of the file's size (one process's shard of ``world``): its 8-byte arrays, 5% for
    chunk indexes and checksums, 1 MiB more."""
    trajectories = sum(-(-n // world) for _, n in recipe.splits.items())
    # per trajectory: q, p and the energy per sample; the energy error and the step count; the parameters
    floats = trajectories * (recipe.n_steps * (2 * recipe.n_bodies * recipe.dim + 1) + 2 + 4 * recipe.n_bodies**2)
    return int(1.05 * 8 * floats) + 2**20


def _root_attrs(recipe: Recipe, system) -> dict:
    provenance = {"integrator": recipe.integrator, "substeps": recipe.substeps, "seed": recipe.seed}
    if recipe.system_source:
        provenance["system_source"] = recipe.system_source
    return root_attrs(recipe.system, recipe.n_bodies, recipe.dim, recipe.dt, recipe.n_steps,
                      json.dumps(system.settings), recipe.text, provenance)  # fmt: skip
