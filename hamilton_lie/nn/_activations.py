"""SiLU for networks that are differentiated twice.

Hamiltonian training differentiates the network's output once for the vector field, with
``create_graph``, and once more for the loss. PyTorch's own SiLU builds its first derivative
s'(z) = sigma(z) (1 + z (1 - sigma(z))) from half a dozen differentiable operations, each keeping its
inputs for the second derivative. :class:`SiLU` computes the first derivative in one fused kernel
and writes the second, s''(z) = sigma(z) (1 - sigma(z)) (2 + z (1 - 2 sigma(z))), by hand, so that
only z and the incoming gradient are kept: less memory and fewer operations, the same values.
Higher derivatives are taken through ordinary operations, so every order is exact.
"""

from __future__ import annotations

import torch
from torch import nn


class _SiLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return nn.functional.silu(z)

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        return _SiLUGrad.apply(z, grad)


class _SiLUGrad(torch.autograd.Function):
    """(z, g) -> g s'(z)."""

    @staticmethod
    def forward(ctx, z, grad):
        ctx.save_for_backward(z, grad)
        return torch.ops.aten.silu_backward(grad, z)

    @staticmethod
    def backward(ctx, cotangent):
        z, grad = ctx.saved_tensors
        d_grad = _SiLUGrad.apply(z, cotangent) if ctx.needs_input_grad[1] else None
        d_z = _second_derivative(z) * grad * cotangent if ctx.needs_input_grad[0] else None
        return d_z, d_grad


def _second_derivative(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    if torch.is_grad_enabled():  # a third derivative is being taken: differentiable operations
        return s * (1 - s) * (2 + z * (1 - 2 * s))
    return (1 - 2 * s).mul_(z).add_(2).mul_(s).mul_(1 - s)


def silu(z: torch.Tensor) -> torch.Tensor:
    """z sigma(z), with lean first and second derivatives (see the module docstring)."""
    return _SiLU.apply(z)


class SiLU(nn.Module):
    """Module form of :func:`silu`."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return silu(z)
