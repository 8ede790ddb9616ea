"""Recomputation for functions that are differentiated twice.

Training a Hamiltonian network differentiates the energy twice: once for the vector field J grad H
(with ``create_graph``), and once more for the loss. Plain autograd keeps every intermediate of the
forward pass and of the first backward pass until the second one has run. For the pairwise part of
attention those intermediates are per pair of tokens, hundreds of floats each, and they dominate
memory for large systems.

:func:`recomputed` evaluates ``fn`` in chunks along the token axis, keeps only its inputs, and
recomputes what a derivative needs, chunk by chunk, when the derivative is taken. The first
derivative is itself a differentiable operation whose derivative recomputes in the same way, so
first and second derivatives are exact (they are the same arithmetic as plain autograd, summed in
another order) while the memory kept between passes is that of the inputs. Asking for a third
derivative (``create_graph=True`` on the second) raises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def _chunks(length: int, size: int) -> list[slice]:
    return [slice(a, min(a + size, length)) for a in range(0, length, size)]


def _part(x: torch.Tensor | None, split: bool, rows: slice) -> torch.Tensor | None:
    return x[:, rows] if split and x is not None else x


def _kept(split: Sequence[bool], needed: Sequence[bool]) -> list[bool]:
    """The split flags of the inputs whose gradients are returned."""
    return [s for s, n in zip(split, needed, strict=True) if n]


def _vjp(fn, tensors, constants, split, needed, grad, rows, cotangents=None):
    """Gradients of ``<grad, fn(...)>`` for the inputs in ``needed`` over the token rows ``rows``;
    with ``cotangents`` (one per returned gradient, whole-size), gradients of ``<cotangents, those
    gradients>`` for ``grad`` and the inputs."""
    with torch.enable_grad():
        xs = [_part(t, s, rows).detach().requires_grad_(n) for t, s, n in zip(tensors, split, needed, strict=True)]
        g = grad[:, rows].detach().requires_grad_(cotangents is not None)
        y = fn(*xs, *(_part(c, True, rows) for c in constants))
        wanted = [x for x, n in zip(xs, needed, strict=True) if n]
        first = torch.autograd.grad(y, wanted, g, create_graph=cotangents is not None, allow_unused=True)
        if cotangents is None:
            return first
        terms = [
            (a * _part(c, s, rows)).sum()
            for a, c, s in zip(first, cotangents, _kept(split, needed), strict=True)
            if a is not None and c is not None
        ]
        if not terms:
            return [None] * (1 + len(wanted))
        return torch.autograd.grad(sum(terms), [g, *wanted], allow_unused=True)


def _gather(parts: list, split: Sequence[bool]) -> list:
    """Per-chunk gradients -> whole gradients: concatenated along the token axis for split inputs,
    summed for the others."""
    out = []
    for i, s in enumerate(split):
        pieces = [p[i] for p in parts if p[i] is not None]
        if not pieces:
            out.append(None)
        elif s:
            out.append(torch.cat(pieces, 1))
        else:
            out.append(torch.stack(pieces).sum(0) if len(pieces) > 1 else pieces[0])
    return out


class _Recomputed(torch.autograd.Function):
    @staticmethod
    def forward(ctx, fn, rows, split, constants, *tensors):
        ctx.fn, ctx.rows, ctx.split, ctx.constants = fn, rows, split, constants
        ctx.save_for_backward(*tensors)
        length = tensors[0].shape[1]
        return torch.cat(
            [
                fn(
                    *(_part(t, s, r) for t, s in zip(tensors, split, strict=True)),
                    *(_part(c, True, r) for c in constants),
                )
                for r in _chunks(length, rows)
            ],
            1,
        )

    @staticmethod
    def backward(ctx, grad):
        tensors = ctx.saved_tensors
        needed = tuple(ctx.needs_input_grad[4:])
        grads = _RecomputedVJP.apply(ctx.fn, ctx.rows, ctx.split, ctx.constants, needed, grad, *tensors)
        it = iter(grads)
        return (None, None, None, None, *(next(it) if n else None for n in needed))


class _RecomputedVJP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, fn, rows, split, constants, needed, grad, *tensors):
        ctx.fn, ctx.rows, ctx.split, ctx.constants, ctx.needed = fn, rows, split, constants, needed
        ctx.save_for_backward(grad, *tensors)
        ctx.set_materialize_grads(False)
        parts = [_vjp(fn, tensors, constants, split, needed, grad, r) for r in _chunks(grad.shape[1], rows)]
        return tuple(_gather(parts, _kept(split, needed)))

    @staticmethod
    def backward(ctx, *cotangents):
        if torch.is_grad_enabled():
            raise RuntimeError(
                "recomputed functions have first and second derivatives only: the second was asked for "
                "with create_graph=True (a third derivative)"
            )
        grad, *tensors = ctx.saved_tensors
        split, needed = ctx.split, ctx.needed
        parts = [
            _vjp(ctx.fn, tensors, ctx.constants, split, needed, grad, r, cotangents)
            for r in _chunks(grad.shape[1], ctx.rows)
        ]
        d_grad, *d_inputs = _gather(parts, [True, *_kept(split, needed)])
        it = iter(d_inputs)
        return (None, None, None, None, None, d_grad, *(next(it) if n else None for n in needed))


def recomputed(
    fn: Callable[..., torch.Tensor],
    tensors: Sequence[torch.Tensor],
    split: Sequence[bool],
    constants: Sequence[torch.Tensor | None] = (),
    rows: int = 64,
) -> torch.Tensor:
    """``fn(*tensors, *constants)``, keeping only the inputs for the first and second derivatives.

    Arguments:
        fn: a function of ``tensors`` and ``constants`` returning ``(B, M, ...)``, in which output
            row ``m`` depends only on row ``m`` of the split inputs (and on all of the others).
        tensors: differentiable inputs; every split one has shape ``(B, M, ...)``.
        split: for each of ``tensors``, whether it is sliced along axis 1 with the output.
        constants: non-differentiable inputs of shape ``(B, M, ...)`` (indices, masks), always
            sliced with the output; None entries are passed through.
        rows: token rows per chunk: the transient memory of one chunk's recomputation.

    Returns:
        ``fn``'s output, whose first derivative is differentiable once more.
    """
    if len(split) != len(tensors):
        raise ValueError(f"split has {len(split)} entries for {len(tensors)} tensors")
    if rows < 1:
        raise ValueError(f"rows must be positive, got {rows}")
    return _Recomputed.apply(fn, int(rows), tuple(split), tuple(constants), *tensors)
