"""The simulators' C++ kernels: whole kick-drift-kick intervals of inverse-distance systems (gravity,
charges), built on first use (:mod:`._build`). The systems call :func:`pairwise_kernels` and fall back to
PyTorch operations, with the same values to round-off, where it returns None."""

from __future__ import annotations

from pathlib import Path

from ._build import load_extension

_CSRC = Path(__file__).resolve().parent / "csrc"


def pairwise_kernels():
    """The compiled extension, or None where it cannot be built (one warning line, once per process)."""
    return load_extension("simulators_kernels", _CSRC, ["pairwise.cpp"], "C++ N-body kernels")
