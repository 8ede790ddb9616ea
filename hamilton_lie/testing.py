"""Numerical equivariance checks for energy models and vector fields, for our tests and for users',
built on :func:`hamilton_lie.analysis.group_errors`.

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

from .analysis import group_errors
from .groups import Element, Group

__all__ = ["DEFAULT_TOLERANCE", "assert_equivariant"]

#: relative tolerance of :func:`assert_equivariant` per dtype, when none is given
DEFAULT_TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-3, torch.float16: 1e-2, torch.bfloat16: 3e-2}


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
    errors = group_errors(fn, inputs, elements)
    worst = float(errors.max())
    if not worst <= tol:  # also catches NaN
        i, b = divmod(int(errors.flatten().nan_to_num(float("inf")).argmax()), errors.shape[1])
        raise AssertionError(
            f"{getattr(fn, '__name__', type(fn).__name__)} is not {group!r}-equivariant: relative error "
            f"{worst:.3e} > {tol:.1e} (dtype {q.dtype}) for system {b} under R =\n{elements.R[i, b]}\nt = {elements.t[i, b]}"
        )
    return worst
