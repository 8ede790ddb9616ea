"""Checks made before any work starts (output paths, devices), so that a run that would fail later fails at once."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ._errors import HamiltonLieError, first_line


def size_text(n: float) -> str:
    """A byte count for a message: MiB below a GiB, GiB above."""
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux: MemAvailable; elsewhere the physical memory)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor."""
    while not path.exists():
        path = path.parent
    return path


def _writable(folder: Path, path: Path) -> None:
    """``folder`` (where ``path`` goes), or its nearest existing ancestor, must be a folder this process can
    create files in; errors name ``path``."""
    ancestor = nearest_existing(folder)
    if not ancestor.is_dir():
        raise HamiltonLieError(f"{path}: cannot be created: {ancestor} is a file, not a folder")
    try:  # a real probe: permissions, read-only mounts and full quotas all show here, for root too
        fd, probe = tempfile.mkstemp(prefix=".hamilton-lie-probe-", dir=ancestor)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise HamiltonLieError(f"{path}: cannot write in {ancestor} ({e.strerror or e})") from None


def check_output_file(path: str | Path, force: bool = False) -> Path:
    """A file about to be written: not a folder, not an existing file unless ``force``, in a writable place."""
    path = Path(path)
    if path.is_dir():
        raise HamiltonLieError(f"{path}: is a folder; name the file to write")
    if path.exists() and not force:
        raise HamiltonLieError(f"{path}: already exists; pass --force to overwrite")
    _writable(path.parent, path)
    return path


def check_output_folder(path: str | Path) -> Path:
    """A folder about to be written into: not a file, in (or itself) a writable place."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise HamiltonLieError(f"{path}: is a file, not a folder")
    _writable(path, path)
    return path


def check_device(device) -> None:
    """``device`` must name a device this torch has: one line otherwise (not an assertion deep in torch)."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise HamiltonLieError(f"device {device!r}: not a torch device ({first_line(e)})") from None
    available = {
        "cpu": lambda: True,
        "cuda": lambda: torch.cuda.is_available() and (dev.index or 0) < torch.cuda.device_count(),
        "mps": lambda: torch.backends.mps.is_available(),
    }.get(dev.type, lambda: False)()
    if not available:
        raise HamiltonLieError(f"device {str(device)!r}: this machine's torch {torch.__version__} has no such device")
