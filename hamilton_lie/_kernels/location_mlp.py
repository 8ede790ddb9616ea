"""The location-kernel MLPs of attention, fused per pair in C++, with the derivatives that
Hamiltonian training takes.

Training differentiates the energy twice (J grad H with ``create_graph``, then the loss), and the
location kernels run once per pair of tokens: 8 heads x width 16 = 128 channels per pair in the
reference configuration. As PyTorch operations every one of their elementwise steps streams
(pairs x 128) tensors through memory, several times per derivative: 0.4 of an energy + gradient +
backward of the spring model at batch 100 (measured by cutting the kernels' width to 1). Here C++
loops over tiles of pairs (one SIMD register's worth: 16 float32 pairs with AVX-512) compute:

* the forward pass: per head, a1 = W1 x + b1, s1 = s(a1), a2 = W2 s1 + b2, s2 = s(a2),
  out = w3 . s2 + b3, with s the SiLU;
* the gradient of <g, out> with respect to the pair features x: e2 = g w3 * s'(a2),
  t1 = W2^T e2, e1 = t1 * s'(a1), grad_x = sum over heads of W1^T e1; and the parameter gradients
  (e1 x^T, e1, e2 s1^T, e2, g s2);
* the derivative of S = <v, grad_x> (the second backward pass). With u = W1 v, c1 = u * s'(a1),
  d = W2 c1 and f2 = g d * w3 * s''(a2): S = g sum_j d_j w3_j s'(a2_j), so
  dS/dg = d . (w3 * s'(a2)), dS/dw3 = g d * s'(a2), dS/dW2 = e2 c1^T + f2 s1^T, dS/db2 = f2, and
  with f1 = (W2^T f2) * s'(a1) + t1 * u * s''(a1): dS/dW1 = f1 x^T + e1 v^T, dS/db1 = f1,
  dS/dx = W1^T f1.

Only the inputs are kept between passes, so memory per pair is that of the pair features. The
results do not depend on the number of threads (parameter gradients are summed per chunk of 512
pairs, then over chunks, in a fixed order) nor on the instruction set (no sum is reordered). A
derivative of the parameter gradients (rare: gradient penalties) is taken by PyTorch operations on
the same formula; a third derivative raises (with the kernels switched off the PyTorch form is differentiable to
any order).

The kernels are compiled on first use (:mod:`hamilton_lie._kernels._build`); where they cannot be
built, are switched off (:func:`hamilton_lie.nn.use_fused_kernels`), or tensors are not float32/float64
on the CPU, attention uses :func:`reference`, the PyTorch form of the same MLP.
"""

from __future__ import annotations

import torch

from ..nn._activations import silu
from . import engine_will_use, extension
from . import usable as _usable

_MAX_WIDTH, _MAX_IN = 64, 16  # the C++ kernel's stack arrays


def usable(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> bool:
    """Whether :func:`kernel_mlp` can run on these tensors."""
    return w2.shape[-1] <= _MAX_WIDTH and x.shape[-1] <= _MAX_IN and _usable(x, w1, w2)


def kernel_mlp(x, w1, b1, w2, b2, w3, b3) -> torch.Tensor:
    """Per-head MLPs on pair features: ``x (n, in)`` -> ``(n, heads)``.

    Weights: ``w1 (heads * width, in)``, ``b1 (heads * width)``, ``w2 (heads, width, width)`` (the
    second layer is ``a2_j = sum_i w2[h, i, j] s1_i``), ``b2 (heads, width)``, ``w3 (heads, width)``,
    ``b3 (heads)``. Differentiable twice through the fused kernels, and further through PyTorch.
    """
    return _KernelMLP.apply(*(t.contiguous() for t in (x, w1, b1, w2, b2, w3, b3)))


def reference(x, w1, b1, w2, b2, w3, b3) -> torch.Tensor:
    """The same MLP as PyTorch operations, differentiable to any order: ``x (n, in)`` -> ``(n, heads)``."""
    heads, width = w2.shape[0], w2.shape[1]
    return after_first_layer(torch.addmm(b1.unsqueeze(-1), w1, x.t()).view(heads, width, -1), w2, b2, w3, b3)


def after_first_layer(a1, w2, b2, w3, b3) -> torch.Tensor:
    """The MLP from its first layer's pre-activations ``a1 (heads, width, n)`` on, ``-> (n, heads)``.

    Activations are laid out (heads, width, n), inputs innermost, so that every product is a plain
    batched matrix product on contiguous memory and no head-major copy is made or kept for backward.
    """
    h = silu(torch.baddbmm(b2.unsqueeze(-1), w2.transpose(1, 2), silu(a1)))
    return (torch.bmm(w3.unsqueeze(1), h).squeeze(1) + b3.unsqueeze(-1)).t()


class _KernelMLP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, w3, b3):
        ctx.save_for_backward(x, w1, b1, w2, b2, w3, b3)
        return extension().forward(x, w1, b1, w2, b2, w3, b3)

    @staticmethod
    def backward(ctx, g):
        x, *weights = ctx.saved_tensors
        g = g.contiguous()
        need = ctx.needs_input_grad
        d_x, d_w = None, [None] * 5
        want_w = any(need[1:6]) and engine_will_use(weights[:5])
        if want_w and need[0] and not torch.is_grad_enabled():
            # training's last pass: both from one kernel call, nothing to differentiate further
            d_x, *d_w = extension().grad_params(g, x, *weights)
        else:
            d_x = _GradX.apply(g, x, *weights) if need[0] else None
            if want_w:
                d_w = list(_GradParams.apply(g, x, *weights))
        d_b3 = g.sum(0) if need[6] else None
        return (d_x, *d_w, d_b3)


def _higher(inputs, first, cotangents, need):
    """Derivatives of sum <cotangents, first(g, x, weights)> for the inputs in ``need``, by PyTorch
    autograd on :func:`reference`; ``first`` returns first derivatives as a tuple."""
    if torch.is_grad_enabled():
        raise RuntimeError(
            "a third derivative of the fused location kernels was asked for; compute the energy inside "
            "hamilton_lie.nn.use_fused_kernels(False) to differentiate the PyTorch form instead"
        )
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_(True) for t in inputs]
        derivs = first(leaves[0], leaves[1], leaves[2:])
        total = sum((d * c).sum() for d, c in zip(derivs, cotangents, strict=True) if c is not None)
        wanted = [t for t, n in zip(leaves, need, strict=True) if n]
        grads = iter(torch.autograd.grad(total, wanted, allow_unused=True))
    return tuple(next(grads) if n else None for n in need)


def _first_x(g, x, weights):
    return torch.autograd.grad(reference(x, *weights), x, g, create_graph=True)


def _first_params(g, x, weights):
    return torch.autograd.grad(reference(x, *weights), weights[:5], g, create_graph=True)


class _GradX(torch.autograd.Function):
    """(g, x, weights) -> gradient of <g, kernel(x)> with respect to x."""

    @staticmethod
    def forward(ctx, g, x, w1, b1, w2, b2, w3, b3):
        ctx.save_for_backward(g, x, w1, b1, w2, b2, w3, b3)
        return extension().grad_x(g, x, w1, b1, w2, b2, w3, b3)

    @staticmethod
    def backward(ctx, v):
        saved = ctx.saved_tensors
        need = ctx.needs_input_grad
        if torch.is_grad_enabled():
            return _higher(saved, _first_x, [v], need)  # raises: a third derivative
        d_g, d_x, *d_w = extension().grad_x_backward(v.contiguous(), *saved)
        grads = (d_g, d_x, *d_w, None)  # the gradient in x does not depend on b3
        return tuple(d if n else None for d, n in zip(grads, need, strict=True))


class _GradParams(torch.autograd.Function):
    """(g, x, weights) -> gradients of <g, kernel(x)> with respect to w1, b1, w2, b2, w3."""

    @staticmethod
    def forward(ctx, g, x, w1, b1, w2, b2, w3, b3):
        ctx.save_for_backward(g, x, w1, b1, w2, b2, w3, b3)
        return tuple(extension().grad_params(g, x, w1, b1, w2, b2, w3, b3)[1:])

    @staticmethod
    def backward(ctx, *cotangents):
        # differentiating parameter gradients is rare (gradient penalties): PyTorch operations
        return _higher(ctx.saved_tensors, _first_params, cotangents, ctx.needs_input_grad)
