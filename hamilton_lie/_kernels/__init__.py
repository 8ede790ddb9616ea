"""The C++ kernels behind the attention layers.

Everything here is internal: :mod:`hamilton_lie.nn` decides per call whether a kernel runs
(:func:`usable`) and falls back to PyTorch operations with the same values otherwise. Users switch
the kernels with :func:`use_fused_kernels`, a context manager that restores the previous setting; it
is the simulators' switch, so one block turns off every fused kernel of the toolkit.
"""

from __future__ import annotations

import torch

from simulators._native import switched_on, use_fused_kernels

from ._build import load_extension

__all__ = ["engine_will_use", "enabled", "extension", "usable", "use_fused_kernels"]


def extension():
    """The loaded extension (built on first use), or None where it cannot be built.

    Backward passes call this directly: a result computed with the kernels is differentiated with them
    even if the switch was turned off in between.
    """
    return load_extension()


def enabled() -> bool:
    """Whether the kernels are switched on here and available."""
    return switched_on() and extension() is not None


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
