"""Building and loading a C++ extension, once per process, for this CPU's widest vector instructions.

Shared by the simulators' kernels and the toolkit's attention kernels. An extension is compiled on first
use with :func:`torch.utils.cpp_extension.load` (a C++ compiler and ninja are needed; the build is cached
under ``TORCH_EXTENSIONS_DIR``), for the widest vector instructions PyTorch finds on this CPU (AVX-512, AVX2
or the x86-64 baseline), with OpenMP so that its loops run on PyTorch's threads.

The build folder is named by a hash of the sources' text, their location and the compiler flags: two
installs (or versions) on one machine build into folders of their own instead of rebuilding each
other's. Builders of one folder take turns through an OS lock that dies with its process, so a build
killed midway (SIGKILL, out of memory) leaves nothing that blocks the next process: torch's own lock
file, left behind by the killed build, is removed by whoever holds the OS lock next. A failed build
is reported in one warning line, and the callers fall back to PyTorch operations.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sys
import time
from pathlib import Path

import torch

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: torch's own lock file is all there is
    fcntl = None

log = logging.getLogger(__name__)

# a build takes up to 250 s on 2 cores; a process waits this long for another's before it falls back
BUILD_WAIT_SECONDS = 900.0
_loaded: dict[str, object] = {}


def load_extension(prefix: str, csrc: Path, sources: list[str], what: str, flags: tuple[str, ...] = ()):
    """The extension built from ``sources`` (file names in the folder ``csrc``) with the compiler ``flags``
    besides the vector instructions', or None where it cannot be built: then one warning line,
    ``"{what} unavailable (...)"``, once per process."""
    if prefix not in _loaded:
        _loaded[prefix] = None
        try:
            _loaded[prefix] = _build(prefix, csrc, sources, flags)
        except Exception as err:  # no compiler, no ninja, a failed build, a timeout: the PyTorch form still works
            log.warning("%s unavailable (%s); using PyTorch operations", what, first_line(err)[:300])
    return _loaded[prefix]


def first_line(err: BaseException) -> str:
    """The first line of an error's message (compilers' run over many), or its type's name."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _build(prefix: str, csrc: Path, sources: list[str], extra: tuple[str, ...]):
    from torch.utils.cpp_extension import _get_build_directory, load

    name, flags = capability_build(prefix, csrc, extra)
    folder = Path(_get_build_directory(name, verbose=False))
    with _turn(folder / ".hamilton-lie-build.lock") if fcntl else contextlib.nullcontext(), _quiet_torch():
        # holding the OS lock, no live process of ours is building here: torch's lock file is a killed build's
        (folder / "lock").unlink(missing_ok=True)
        try:
            return load(name=name, sources=[str(csrc / s) for s in sources], extra_cflags=flags,
                        extra_ldflags=_openmp(), build_directory=str(folder), verbose=False)  # fmt: skip
        except RuntimeError as e:  # the compiler's messages go to a file, not to the user's terminal
            (folder / "build-error.log").write_text(str(e))
            raise RuntimeError(f"building them failed; the compiler's messages are in {folder / 'build-error.log'}") from None


@contextlib.contextmanager
def _quiet_torch():
    """torch's extension builder logs its own warnings (an unexpected compiler, say); the one line this module
    logs says what matters, so torch's are held back during the build."""
    torch_log = logging.getLogger("torch.utils.cpp_extension")
    level = torch_log.level
    torch_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        torch_log.setLevel(level)


class _turn:
    """An exclusive ``flock`` on ``path``, waited for up to :data:`BUILD_WAIT_SECONDS`."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.fh = open(self.path, "a")
        deadline = time.monotonic() + BUILD_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.fh.close()
                    raise TimeoutError(f"another process has been building the kernels in {self.path.parent} "
                                       f"for over {BUILD_WAIT_SECONDS:.0f} s") from None  # fmt: skip
                time.sleep(0.5)

    def __exit__(self, *exc):
        self.fh.close()  # closing releases the lock


def capability_build(prefix: str, csrc: Path, extra: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """The extension's name and compiler flags: this CPU's widest vector instructions and ``extra``, and a
    hash of the sources (text and location) and flags, so that each install and version builds in its own
    folder."""
    capability = torch.backends.cpu.get_cpu_capability()  # "AVX512", "AVX2", "DEFAULT", ...
    flags = {
        "AVX512": ["-O3", "-mavx512f", "-mavx512dq", "-mavx2", "-mfma"],
        "AVX2": ["-O3", "-mavx2", "-mfma"],
    }.get(capability, ["-O3"]) + _openmp() + list(extra)
    kind = capability.lower() if capability in ("AVX512", "AVX2") else "baseline"
    digest = hashlib.sha256(str(csrc).encode() + " ".join(flags).encode())
    for path in sorted(csrc.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return f"{prefix}_{kind}_{digest.hexdigest()[:12]}", flags


def _openmp() -> list[str]:
    """``-fopenmp`` where PyTorch runs on OpenMP with GCC's runtime (Linux): without it
    ``at::parallel_for`` compiles to a serial loop. The extension then shares the libgomp that
    PyTorch has loaded (same soname), so both use one thread pool."""
    return ["-fopenmp"] if sys.platform.startswith("linux") and torch.backends.openmp.is_available() else []
