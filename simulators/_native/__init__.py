"""The simulators' C++ kernels (gravity's and charges' forces and whole kick-drift-kick intervals), built on
first use (:mod:`._build`), and the one switch that turns every fused kernel of the toolkit on and off.

The systems call :func:`pairwise_kernels` and fall back to PyTorch operations, with the same values to
round-off, where it returns None. ``hamilton_lie``'s attention kernels obey the same switch.
"""

from __future__ import annotations

import contextlib
import contextvars
from pathlib import Path

from ._build import load_extension

_CSRC = Path(__file__).resolve().parent / "csrc"
# a context variable, not a module flag: each thread and task sees its own setting, restored on exit
_ENABLED = contextvars.ContextVar("hamilton_lie_fused_kernels", default=True)


@contextlib.contextmanager
def use_fused_kernels(enabled: bool):
    """Within the block, run (``True``) or skip (``False``) the fused C++ kernels: the N-body systems'
    forces and steps, and ``hamilton_lie``'s attention layers.

    Off, everything uses PyTorch operations (the same values to round-off; differentiable to any order).
    Results computed inside the block keep the form they were computed in when they are differentiated
    later.

    Example:
        >>> from simulators import use_fused_kernels
        >>> with use_fused_kernels(False):
        ...     pass  # forces, steps, energies and derivatives here use PyTorch operations
    """
    token = _ENABLED.set(bool(enabled))
    try:
        yield
    finally:
        _ENABLED.reset(token)


def switched_on() -> bool:
    """Whether :func:`use_fused_kernels` has the kernels on here (whether they could be built aside)."""
    return _ENABLED.get()


def pairwise_kernels():
    """The compiled extension where the switch is on and it can be built, else None (a failed build logs
    one warning line, once per process)."""
    if not switched_on():
        return None
    # sqrt without errno: the compiler may then take square roots of a vector of systems at once
    return load_extension("simulators_kernels", _CSRC, ["pairwise.cpp"], "C++ N-body kernels", ("-fno-math-errno",))
