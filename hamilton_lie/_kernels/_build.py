"""Building and loading the attention kernels' C++ extension, once per process.

The build itself (vector instructions, OpenMP, a folder per source hash, an OS lock between concurrent
builders, the compiler's messages kept in a file) is the one the simulators' kernels use:
``simulators._native._build``. It needs a C++ compiler, ninja and 100 to 250 s on 2 cores, once.
"""

from __future__ import annotations

from pathlib import Path

from simulators._native._build import load_extension as _load

_CSRC = Path(__file__).resolve().parent / "csrc"
# one extension holds all the C++ kernels: the location MLPs, the head products and LayerNorm's second derivative
_SOURCES = ["kernel_mlp.cpp", "head_products.cpp", "layer_norm.cpp", "extension.cpp"]


def load_extension():
    """The compiled extension, or None where it cannot be built (one warning line, once per process)."""
    return _load("hamilton_lie_kernels", _CSRC, _SOURCES, "C++ attention kernels")
