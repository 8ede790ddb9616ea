"""LayerNorm whose second derivative is one C++ pass per row.

Hamiltonian training differentiates every LayerNorm twice (J grad H with ``create_graph``, then the
loss). PyTorch's generic double backward of LayerNorm takes a few dozen tensor operations per call;
replacing it by one C++ pass per row made the spring-model training step 6% faster (1.54 against
1.63 s, the two stepped alternately in one process). :class:`LayerNorm` is ``torch.nn.LayerNorm`` (same
parameters, same state dict, the same forward and first backward, PyTorch's own kernels) except that
the derivative of its input gradient comes from the loop in ``csrc/layer_norm.cpp``.

The formulas. Per row of C values, with xh = (x - mean) rstd, a = w gy and the projection
P(u) = u - mean(u) - xh mean(u xh), the input gradient is dx = rstd P(a). For S = <v, dx>:

* dS/dgy = w rstd P(v) and dS/dw = sum over rows of gy rstd P(v), since S is linear in a and P is
  symmetric;
* dS/dx: xh moves by rstd P(dx_in) and rstd by -rstd^2 <xh, dx_in> / C, and
  S = rstd (<v, a> - sum v sum a / C - <v, xh> <a, xh> / C), so
  dS/dx = rstd P(G) - S rstd xh / C with G = -(rstd / C) (<a, xh> v + <v, xh> a).

A third derivative, or tensors the kernels cannot take (off the CPU, no C++ compiler, or the kernels
switched off with :func:`use_fused_kernels`), goes through PyTorch's own LayerNorm derivatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._kernels import engine_will_use, extension, usable


class LayerNorm(nn.LayerNorm):
    """``torch.nn.LayerNorm`` over the last axis with the fast second derivative (see the module
    docstring); ``fused=False`` is exactly ``torch.nn.LayerNorm``."""

    def __init__(self, dim: int, eps: float = 1e-5, fused: bool = True):
        super().__init__(dim, eps=eps)
        self.fused = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (..., dim)`` -> ``(..., dim)``."""
        if self.fused and usable(x, self.weight):
            return _LayerNorm.apply(x, self.weight, self.bias, self.eps)
        return super().forward(x)


class _LayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, eps):
        y, mean, rstd = torch.native_layer_norm(x, (x.shape[-1],), w, b, eps)
        ctx.save_for_backward(x, w, b, mean, rstd)
        ctx.eps = eps
        return y

    @staticmethod
    def backward(ctx, gy):
        x, w, b, mean, rstd = ctx.saved_tensors
        need = ctx.needs_input_grad
        if not torch.is_grad_enabled():  # nothing will differentiate these: PyTorch's kernel
            dx, dw, db = torch.ops.aten.native_layer_norm_backward(
                gy, x, (x.shape[-1],), mean, rstd, w, b, list(need[:3])
            )
            return dx, dw, db, None
        dx = _GradX.apply(gy.contiguous(), x, w, mean, rstd, ctx.eps) if need[0] else None
        dw = db = None
        if (need[1] or need[2]) and engine_will_use([w, b]):
            # weight gradients that will be differentiated (gradient penalties): PyTorch's own forms
            rows = tuple(range(gy.dim() - 1))
            dw = (gy * F.layer_norm(x, (x.shape[-1],), eps=ctx.eps)).sum(rows) if need[1] else None
            db = gy.sum(rows) if need[2] else None
        return dx, dw, db, None


class _GradX(torch.autograd.Function):
    """(gy, x, w) -> LayerNorm's input gradient for the output gradient gy."""

    @staticmethod
    def forward(ctx, gy, x, w, mean, rstd, eps):
        ctx.save_for_backward(gy, x, w, mean, rstd)
        ctx.eps = eps
        (dx, _, _) = torch.ops.aten.native_layer_norm_backward(
            gy, x, (x.shape[-1],), mean, rstd, w, None, [True, False, False]
        )
        return dx

    @staticmethod
    def backward(ctx, v):
        gy, x, w, mean, rstd = ctx.saved_tensors
        need = ctx.needs_input_grad
        if torch.is_grad_enabled():  # a third derivative: differentiate PyTorch's LayerNorm
            with torch.enable_grad():
                leaves = [t if t.requires_grad else t.detach().requires_grad_(True) for t in (gy, x, w)]
                out = F.layer_norm(leaves[1], (x.shape[-1],), leaves[2], None, ctx.eps)
                (dx,) = torch.autograd.grad(out, leaves[1], leaves[0], create_graph=True)
                wanted = [t for t, n in zip(leaves, need[:3], strict=True) if n]
                grads = iter(torch.autograd.grad(dx, wanted, v, create_graph=True, allow_unused=True))
            return (*(next(grads) if n else None for n in need[:3]), None, None, None)
        d_gy, d_x, d_w = extension().layer_norm_grad_x_backward(v.contiguous(), gy, x.contiguous(), w, mean, rstd)
        return (d_gy if need[0] else None, d_x if need[1] else None, d_w if need[2] else None, None, None, None)
