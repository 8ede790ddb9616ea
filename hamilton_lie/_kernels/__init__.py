"""The C++ kernels behind the attention layers, and the one switch that turns them on and off.

Everything here is internal: :mod:`hamilton_lie.nn` decides per call whether a kernel runs
(:func:`usable`) and falls back to PyTorch operations with the same values otherwise. Users switch
the kernels with :func:`use_fused_kernels`, a context manager that restores the previous setting.
"""

from __future__ import annotations

import contextlib
import contextvars

import torch

from ._build import load_extension

# a context variable, not a module flag: each thread and task sees its own setting, restored on exit
_ENABLED = contextvars.ContextVar("hamilton_lie_fused_kernels", default=True)


@contextlib.contextmanager
def use_fused_kernels(enabled: bool):
    """Within the block, run (``True``) or skip (``False``) the fused C++ kernels.

    Off, every layer uses PyTorch operations (differentiable to any order; the same values to
    round-off). Results computed inside the block keep the form they were computed in when they are
    differentiated later.

    Example:
        >>> from hamilton_lie.nn import use_fused_kernels
        >>> with use_fused_kernels(False):
        ...     pass  # energies and derivatives here use PyTorch operations
    """
    token = _ENABLED.set(bool(enabled))
    try:
        yield
    finally:
        _ENABLED.reset(token)


def extension():
    """The loaded extension (built on first use), or None where it cannot be built.

    Backward passes call this directly: a result computed with the kernels is differentiated with them
    even if the switch was turned off in between.
    """
    return load_extension()


def enabled() -> bool:
    """Whether the kernels are switched on here and available."""
    return _ENABLED.get() and extension() is not None


def usable(*tensors: torch.Tensor) -> bool:
    """Whether the kernels can run on these tensors: switched on, CPU, one float32 or float64 dtype."""
    return (
        all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) for t in tensors)
        and len({t.dtype for t in tensors}) == 1
        and enabled()
    )


def engine_will_use(tensors) -> bool:
    """Whether the running backward pass needs gradients for any of ``tensors`` (training's first
    pass asks only for the gradient with respect to positions, not the weights)."""
    try:
        edges = [torch.autograd.graph.get_gradient_edge(t).node for t in tensors if t.requires_grad]
        return any(torch._C._will_engine_execute_node(node) for node in edges)
    except (AttributeError, RuntimeError):  # private API missing or not in a backward pass
        return True
