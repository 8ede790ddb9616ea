"""The per-head products of attention over small sets of tokens, as C++ loops.

All-token attention of M tokens takes two products per head: the query-key logits and the
weighted sum of values. As batched matrix products they are batch x heads tiny products (800 of
6 x 20 x 6 in the spring model), where per-product overhead and head-major copies dominate. Here
they are two loops with heads as the innermost, vectorised axis:

* :func:`head_dot`: ``x (B, R, D, H), y (B, K, D, H) -> (B, R, K, H)``, sum over d of x[b, r, d, h] y[b, k, d, h];
* :func:`head_mix`: ``w (B, R, K, H), y (B, K, D, H) -> (B, R, D, H)``, sum over k of w[b, r, k, h] y[b, k, d, h].

Each is the other's derivative: for ``c = head_dot(x, y)`` with cotangent g, dx = head_mix(g, y)
and dy = head_mix(g^T, x) (g^T: axes 1 and 2 swapped); for ``o = head_mix(w, y)``, dw = head_dot(g, y)
and dy = head_mix(w^T, g). Backward passes are therefore built from the same differentiable
functions, and any order of derivative is available. Sums run in a fixed order, so results do not
depend on the number of threads. Where the kernels are not available or switched off, for tensors off
the CPU, or with ``fused=False``, the same products are ``torch.einsum``.
"""

from __future__ import annotations

import torch

from . import extension, usable


def head_dot(x: torch.Tensor, y: torch.Tensor, fused: bool = True) -> torch.Tensor:
    """``x (B, R, D, H)``, ``y (B, K, D, H)`` -> ``(B, R, K, H)``: per batch and head, the dot
    products of x's rows with y's rows over D."""
    if fused and usable(x, y):
        return _HeadDot.apply(x, y)
    return torch.einsum("brdh,bkdh->brkh", x, y)


def head_mix(w: torch.Tensor, y: torch.Tensor, fused: bool = True) -> torch.Tensor:
    """``w (B, R, K, H)``, ``y (B, K, D, H)`` -> ``(B, R, D, H)``: per batch and head, the
    combinations of y's K rows with the weights w."""
    if fused and usable(w, y):
        return _HeadMix.apply(w, y)
    return torch.einsum("brkh,bkdh->brdh", w, y)


def _dense_tail(t: torch.Tensor, axes: int) -> torch.Tensor:
    """``t`` with its last ``axes`` axes dense (a copy only where they are not), as the loops need."""
    dense = t.stride(-1) == 1 and (axes < 2 or t.stride(-2) == t.shape[-1])
    return t if dense else t.contiguous()


class _HeadDot(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return extension().head_dot(_dense_tail(x, 2), _dense_tail(y, 2))

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        need = ctx.needs_input_grad
        dx = _HeadMix.apply(g, y) if need[0] else None
        dy = _HeadMix.apply(g.transpose(1, 2), x) if need[1] else None
        return dx, dy


class _HeadMix(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, y):
        ctx.save_for_backward(w, y)
        return extension().head_mix(_dense_tail(w, 1), _dense_tail(y, 2))

    @staticmethod
    def backward(ctx, g):
        w, y = ctx.saved_tensors
        need = ctx.needs_input_grad
        dw = _HeadDot.apply(g, y) if need[0] else None
        dy = _HeadMix.apply(w.transpose(1, 2), g) if need[1] else None
        return dw, dy
