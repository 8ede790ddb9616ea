"""Writing schema-v1 files: atomically, with disk space reserved up front and write errors as one line.

Shared by :func:`~hamilton_lie.data.generate_dataset` (simulated data) and
:func:`~hamilton_lie.data.write_dataset` (arrays from elsewhere): the file is written under a temporary
name beside the target and moved into place only when it is complete, so a crash or bad input never
leaves a partial dataset; an exclusive lock on the target keeps a second process from writing it at the
same time, and the temporaries of killed processes are removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime
import errno
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from .._checks import check_output_file, size_text
from .._errors import WriteFailed, first_line
from .._files import exclusive, publish, remove_stale_temporaries, temporary
from ._schema import SCHEMA_MINOR, SCHEMA_VERSION


@contextlib.contextmanager
def atomic_dataset(out: Path, force: bool) -> Iterator[Path]:
    """The temporary path to write ``out``'s content to; it becomes ``out`` when the block ends cleanly."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(out):  # a second writer of the same file stops here, not at the rename
        check_output_file(out, force)
        remove_stale_temporaries(out)
        tmp = temporary(out)
        try:
            yield tmp
            publish(tmp, out, replace=force)
        finally:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def hdf5_file(path: Path, out: Path, reserve: int):
    """``path`` created as an ``h5py.File`` with ``reserve`` bytes of disk held for it; the failure of its last
    buffered writes at close becomes :class:`WriteFailed` naming ``out``, and unused reserved blocks go back."""
    import h5py  # on use: `import hamilton_lie` does not load h5py

    f = h5py.File(path, "w")
    failed = True
    try:
        _reserve(path, reserve, out)
        yield f
        failed = False
    finally:
        try:
            f.close()
        except (OSError, RuntimeError) as e:
            if not failed:  # else the first error is already on its way
                raise WriteFailed(_write_failure(out, e)) from None
    os.truncate(path, path.stat().st_size)


def root_attrs(system: str, n_bodies: int, dim: int, dt: float, n_steps: int, settings: str, recipe: str,
               provenance: Mapping[str, object]) -> dict:  # fmt: skip
    """The schema's root attributes; ``provenance`` adds ``integrator``, ``substeps``, ``seed`` and the
    optional ``system_source`` and ``source``."""
    from .. import __version__

    return {
        "schema_version": SCHEMA_VERSION,
        "schema_minor": SCHEMA_MINOR,
        "system": system,
        "n_bodies": n_bodies,
        "dim": dim,
        "dt": dt,
        "n_steps": n_steps,
        "system_settings": settings,
        "recipe": recipe,
        **provenance,
        "hamilton_lie_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


class SplitWriter:
    """The arrays of one split, created in ``group`` and filled a block of trajectories at a time.

    Arguments:
        group: the split's ``h5py.Group``.
        t: ``(T,)`` sample times.
        n, n_bodies, dim: trajectories, bodies, dimension.
        params: name -> ``(n, N)`` or ``(n, N, N)`` arrays, written at once.
        compression: ``none``, ``lzf`` or ``gzip``.
        energies: whether the true energy and each trajectory's energy error are stored.
        out: the target file, named in write errors.
        steps: whether each trajectory's number of integrator steps is stored (generated data).
    """

    def __init__(self, group, t: np.ndarray, n: int, n_bodies: int, dim: int, params: Mapping[str, np.ndarray],
                 compression: str, energies: bool, out: Path, steps: bool = False):  # fmt: skip
        self.out = out
        with writing(out):
            group.create_dataset("t", data=t, fletcher32=True)
            shape = (n, t.shape[0], n_bodies, dim)
            opts = {"dtype": "f8", "fletcher32": True, "compression": None if compression == "none" else compression}

            def per_trajectory(name, shape, chunks=None):
                # a process's empty share of a small split: a chunk may not exceed a fixed empty shape
                grows = {"maxshape": (None, *shape[1:])} if shape[0] == 0 else {}
                return group.create_dataset(name, shape=shape, chunks=chunks, **opts, **grows)

            self.arrays = {name: per_trajectory(name, shape, (1, *shape[1:])) for name in ("q", "p")}
            if energies:
                self.arrays["energy"] = per_trajectory("energy", shape[:2], (1, shape[1]))
                self.arrays["rel_energy_error"] = per_trajectory("rel_energy_error", (n,))
            if steps:
                self.arrays["steps"] = group.create_dataset("steps", shape=(n,), dtype="i8", fletcher32=True)
            for name, value in params.items():
                group.create_dataset(f"params/{name}", data=np.asarray(value, dtype=np.float64), fletcher32=True)

    def write(self, lo: int, **blocks: np.ndarray) -> None:
        """Store trajectories ``lo, lo + 1, ...`` of each named array (``q``, ``p``, ``energy``, ...)."""
        with writing(self.out):
            for name, block in blocks.items():
                self.arrays[name][lo : lo + block.shape[0]] = block
            next(iter(self.arrays.values())).file.flush()  # a full disk shows here, as one error


@contextlib.contextmanager
def writing(out: Path):
    """HDF5 writes in the block: their errors (a full disk, a file-size limit) become one :class:`WriteFailed`."""
    try:
        yield
    except (OSError, RuntimeError) as e:
        raise WriteFailed(_write_failure(out, e)) from None


def _write_failure(out: Path, e: BaseException) -> str:
    reason = os.strerror(e.errno) if getattr(e, "errno", None) else first_line(e)
    return f"{out}: writing the dataset failed ({reason})"


def _reserve(path: Path, size: int, out: Path) -> None:
    """Reserve ``size`` bytes of disk for ``path`` (Linux ``fallocate`` keeping the file's size), so that a disk
    too full for the dataset fails now, before any work, rather than in HDF5's buffers."""
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
