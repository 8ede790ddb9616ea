"""SiLU for networks that are differentiated twice.

Hamiltonian training differentiates the network's output once for the vector field, with
``create_graph``, and once more for the loss. PyTorch's own SiLU builds its first derivative
s'(z) = sigma(z) (1 + z (1 - sigma(z))) from half a dozen differentiable operations, each keeping its
inputs for the second derivative. :class:`SiLU` computes the first derivative in one fused kernel
and writes the second, s''(z) = sigma(z) (1 - sigma(z)) (2 + z (1 - 2 sigma(z))), by hand, so that
only z and the incoming gradient are kept: less memory and fewer operations, the same values.
Derivatives of third order are not available (they raise).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable


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
    @once_differentiable
    def backward(ctx, cotangent):
        z, grad = ctx.saved_tensors
        d_grad = torch.ops.aten.silu_backward(cotangent, z) if ctx.needs_input_grad[1] else None
        d_z = None
        if ctx.needs_input_grad[0]:
            s = torch.sigmoid(z)
            d_z = (1 - 2 * s).mul_(z).add_(2).mul_(s).mul_(1 - s).mul_(grad).mul_(cotangent)
        return d_z, d_grad


def silu(z: torch.Tensor) -> torch.Tensor:
    """z sigma(z), with lean first and second derivatives (see the module docstring)."""
    return _SiLU.apply(z)


class SiLU(nn.Module):
    """Module form of :func:`silu`."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return silu(z)
