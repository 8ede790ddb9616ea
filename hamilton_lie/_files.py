"""Writing outputs safely: atomic replacement through temporaries, cleaning up after killed processes,
and an exclusive lock per output so that two processes never write the same file or run folder.

A temporary is the hidden sibling ``.NAME.tmp-PID``; a process killed with SIGKILL leaves it behind, so
every writer first removes the temporaries of its output whose process is gone. Locks are POSIX
``flock`` locks on a hidden ``.NAME.lock`` file: the system releases them when their process dies, so
a stale lock never blocks a later run.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ._errors import HamiltonLieError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: outputs are written without a lock
    fcntl = None


def temporary(path: Path) -> Path:
    """This process's temporary for ``path``: ``.NAME.tmp-PID`` beside it."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporaries of ``path`` whose process is gone (killed mid-write); returns them."""
    removed = []
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """``write(file)`` into a temporary, then rename it to ``path``: readers see the old file or the new one."""
    remove_stale_temporaries(path)
    tmp = temporary(path)
    try:
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def publish(tmp: Path, path: Path, replace: bool) -> None:
    """Move a finished temporary to ``path``; without ``replace``, never over a file that appeared meanwhile."""
    if replace:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic, and fails when path exists
    except FileExistsError:
        raise HamiltonLieError(f"{path}: appeared while this one was written; pass --force to overwrite") from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):  # a filesystem without hard links
            raise
        if path.exists():
            raise HamiltonLieError(f"{path}: appeared while this one was written; pass --force to overwrite") from None
        os.replace(tmp, path)
    tmp.unlink()


@contextlib.contextmanager
def exclusive(target: Path):
    """Hold an exclusive lock on ``target`` (a file to write or a run folder) for the block.

    Raises:
        HamiltonLieError: another live process holds it.
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    lock = target.parent / f".{target.name}.lock" if not target.is_dir() else target / ".lock"
    fh = open(lock, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip() or "another process"
            raise HamiltonLieError(f"{target}: in use by process {owner}; wait for it or choose another output") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)  # while still held: nothing is left behind
    finally:
        fh.close()
