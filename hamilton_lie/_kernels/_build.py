"""Building and loading the C++ extension, once per process, for this CPU's widest vector instructions.

The extension is compiled on first use with :func:`torch.utils.cpp_extension.load` (a C++ compiler,
ninja and about 40 s are needed; the build is cached under ``TORCH_EXTENSIONS_DIR``), for the widest
vector instructions PyTorch finds on this CPU (AVX-512, AVX2 or the x86-64 baseline), one build per
kind, with OpenMP so that its loops run on PyTorch's threads.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import torch

log = logging.getLogger(__name__)

# one extension holds all the C++ kernels: the location MLPs, the head products and LayerNorm's second derivative
_SOURCES = [
    str(Path(__file__).resolve().parent / "csrc" / name)
    for name in ("kernel_mlp.cpp", "head_products.cpp", "layer_norm.cpp", "extension.cpp")
]
_loaded: dict = {}


def load_extension():
    """The compiled extension, or None where it cannot be built (logged once)."""
    if "ext" not in _loaded:
        _loaded["ext"] = None
        try:
            from torch.utils.cpp_extension import load

            name, flags = capability_build()
            _loaded["ext"] = load(name=name, sources=_SOURCES, extra_cflags=flags, extra_ldflags=_openmp(), verbose=False)
        except Exception as err:  # no compiler, no ninja, a failed build: the PyTorch form still works
            log.warning("C++ attention kernels unavailable, using PyTorch operations: %s", err)
    return _loaded["ext"]


def capability_build() -> tuple[str, list[str]]:
    """The extension's name and compiler flags for this CPU's widest vector instructions."""
    capability = torch.backends.cpu.get_cpu_capability()  # "AVX512", "AVX2", "DEFAULT", ...
    flags = {
        "AVX512": ["-O3", "-mavx512f", "-mavx512dq", "-mavx2", "-mfma"],
        "AVX2": ["-O3", "-mavx2", "-mfma"],
    }.get(capability, ["-O3"])
    kind = capability.lower() if capability in ("AVX512", "AVX2") else "baseline"
    return f"hamilton_lie_kernels_{kind}", flags + _openmp()


def _openmp() -> list[str]:
    """``-fopenmp`` where PyTorch runs on OpenMP with GCC's runtime (Linux): without it
    ``at::parallel_for`` compiles to a serial loop. The extension then shares the libgomp that
    PyTorch has loaded (same soname), so both use one thread pool."""
    return ["-fopenmp"] if sys.platform.startswith("linux") and torch.backends.openmp.is_available() else []
