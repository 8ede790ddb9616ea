"""Numerical equivariance checks for energy models and vector fields, for our tests and for users'.

Example:
    >>> import torch
    >>> from hamilton_lie import groups, LieTransformer
    >>> from hamilton_lie.testing import assert_equivariant
    >>> model = LieTransformer(groups.T(2), ("masses",), dim_hidden=16, num_layers=1, num_heads=2).double()
    >>> q, p = torch.randn(4, 5, 2, dtype=torch.float64), torch.randn(4, 5, 2, dtype=torch.float64)
    >>> worst = assert_equivariant(model, groups.T(2), (q, p, {"masses": torch.ones(4, 5, dtype=torch.float64)}))
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .groups import Element, Group, act, rotate

DEFAULT_TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-3, torch.float16: 1e-2, torch.bfloat16: 3e-2}


def transform_state(g: Element, q: torch.Tensor, p: torch.Tensor):
    """g . (q, p) = (R q + t, R p), computed in float64 and returned in the inputs' dtype.

    ``g`` broadcasts against ``(batch, 1)``: one element per system.
    """
    g64 = Element(g.R.to(torch.float64).unsqueeze(-3), g.t.to(torch.float64).unsqueeze(-2))
    return act(g64, q.double()).to(q.dtype), rotate(g64, p.double()).to(p.dtype)


def _relative(a: torch.Tensor, b: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-system ||a - b|| / ||reference||."""
    diff = (a.double() - b.double()).flatten(1).norm(dim=-1)
    return diff / reference.double().flatten(1).norm(dim=-1).clamp_min(torch.finfo(torch.float64).tiny)


def equivariance_errors(fn: Callable, inputs: tuple, elements: Element) -> torch.Tensor:
    """Relative errors of ``fn`` under each element: ``(n_elements, batch)``.

    ``fn(q, p, params)`` returns a scalar per system ``(batch,)`` (checked for invariance,
    |f(g x) - f(x)| / |f(x)|) or a pair ``(dq, dp)`` shaped like ``q`` (checked for equivariance,
    ||F(g x) - g F(x)|| / ||F(x)|| with vectors rotated by R).
    """
    q, p, params = inputs
    base = fn(q, p, params)
    out = []
    for i in range(elements.t.shape[0]):
        g = Element(elements.R[i], elements.t[i])
        gq, gp = transform_state(g, q, p)
        moved = fn(gq, gp, params)
        if isinstance(base, torch.Tensor):
            out.append((moved.double() - base.double()).abs() / base.double().abs().clamp_min(1e-300))
        else:
            g64 = Element(g.R.double().unsqueeze(-3), torch.zeros_like(g.t, dtype=torch.float64).unsqueeze(-2))
            expected = torch.cat([rotate(g64, base[0].double()), rotate(g64, base[1].double())], 1)
            out.append(_relative(torch.cat(moved, 1), expected, torch.cat(base, 1)))
    return torch.stack(out).detach()


def assert_equivariant(
    fn: Callable,
    group: Group,
    inputs: tuple,
    elements: Element | None = None,
    n_elements: int = 8,
    generator: torch.Generator | None = None,
    rtol: float | None = None,
    translation_scale: float = 1.0,
) -> float:
    """Assert that ``fn`` is invariant (scalar output) or equivariant (``(dq, dp)`` output) under ``group``.

    Arguments:
        fn: ``fn(q, p, params)``; a model, or a vector field.
        group: the group whose elements transform the inputs (rotations act on q and p,
            translations on q only).
        inputs: ``(q, p, params)`` with ``q, p (batch, n_bodies, dim)``.
        elements: the elements to test, ``R (n, [batch,] d, d)``, ``t (n, [batch,] d)``; by default
            ``n_elements`` random elements per system from ``group.sample``.
        generator: seeds the random elements.
        rtol: largest allowed relative error; by default 1e-9 for float64, 1e-3 for float32.
        translation_scale: standard deviation of random translations.

    Returns:
        The worst relative error.

    Raises:
        AssertionError: naming the worst error, the system and the offending element.
    """
    q = inputs[0]
    if elements is None:
        elements = group.sample(
            (n_elements, q.shape[0]), generator=generator, dtype=torch.float64, translation_scale=translation_scale
        )
    elif elements.R.dim() == 3:
        n = elements.R.shape[0]
        elements = Element(
            elements.R.unsqueeze(1).expand(n, q.shape[0], *elements.R.shape[1:]),
            elements.t.unsqueeze(1).expand(n, q.shape[0], elements.t.shape[-1]),
        )
    tol = DEFAULT_TOLERANCE.get(q.dtype, 1e-3) if rtol is None else rtol
    errors = equivariance_errors(fn, inputs, elements)
    worst = float(errors.max())
    if not worst <= tol:  # also catches NaN
        i, b = divmod(int(errors.flatten().nan_to_num(float("inf")).argmax()), errors.shape[1])
        raise AssertionError(
            f"{getattr(fn, '__name__', type(fn).__name__)} is not {group!r}-equivariant: relative error "
            f"{worst:.3e} > {tol:.1e} (dtype {q.dtype}) for system {b} under R =\n{elements.R[i, b]}\nt = {elements.t[i, b]}"
        )
    return worst
