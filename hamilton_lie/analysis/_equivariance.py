"""How far a function of states is from invariance (a scalar) or equivariance (a vector field) under a group.

For random group elements g: |f(g x) - f(x)| / |f(x)| for a scalar such as the energy, and
||F(g x) - g F(x)|| / ||F(x)|| for a vector field F such as J grad H, with rotations acting on q and
p and translations on q only; transforms are applied in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..dynamics import EnergyFunction, hamiltonian_vector_field
from ..groups import Element, Group, act, rotate


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


def group_errors(fn: Callable, inputs: tuple, elements: Element, scale: torch.Tensor | None = None) -> torch.Tensor:
    """Relative errors of ``fn`` under each element: ``(n_elements, batch)``.

    ``fn(q, p, params)`` returns a scalar per system ``(batch,)`` (checked for invariance,
    |f(g x) - f(x)| / |f(x)|, or / ``scale (batch,)`` when given) or a pair ``(dq, dp)`` shaped like ``q``
    (checked for equivariance, ||F(g x) - g F(x)|| / ||F(x)|| with vectors rotated by R).
    """
    q, p, params = inputs
    base = fn(q, p, params)
    if isinstance(base, torch.Tensor):
        scale = base.double().abs() if scale is None else scale.to(dtype=torch.float64, device=base.device)
    out = []
    for i in range(elements.t.shape[0]):
        g = Element(elements.R[i], elements.t[i])
        gq, gp = transform_state(g, q, p)
        moved = fn(gq, gp, params)
        if isinstance(base, torch.Tensor):
            out.append((moved.double() - base.double()).abs() / scale.clamp_min(1e-300))
        else:
            g64 = Element(g.R.double().unsqueeze(-3), torch.zeros_like(g.t, dtype=torch.float64).unsqueeze(-2))
            expected = torch.cat([rotate(g64, base[0].double()), rotate(g64, base[1].double())], 1)
            out.append(_relative(torch.cat(moved, 1), expected, torch.cat(base, 1)))
    return torch.stack(out).detach()


def equivariance_error(
    hamiltonian: EnergyFunction,
    group: Group,
    q: torch.Tensor,
    p: torch.Tensor,
    params: dict,
    n_elements: int = 8,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = torch.float64,
    translation_scale: float = 1.0,
    energy_scale: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Invariance error of the energy and equivariance error of its vector field J grad H.

    Arguments:
        hamiltonian: ``H(q, p, params) -> (batch,)``; a module is cast to ``dtype`` for the check and
            restored afterwards.
        group: the group whose random elements act (rotations on q and p, translations on q).
        q, p: ``(batch, n_bodies, dim)``; params: name -> ``(batch, n_bodies)``.
        n_elements: random elements per system.
        generator: seeds the elements.
        dtype: evaluate in this dtype (float64 by default, so that the numbers measure the model and
            not float32 round-off); None keeps the inputs' dtype.
        translation_scale: standard deviation of the random translations.
        energy_scale: ``(batch,)`` divides the energy's change instead of |H(x)|. A learned potential has an
            arbitrary additive constant, which |H(x)| would carry into the error; ``evaluate`` passes the
            true T + |V| (:func:`energy_scale`), the scale of the energy drift.

    Returns:
        ``{"energy": (n_elements, batch), "vector_field": (n_elements, batch)}`` relative errors.
    """
    module = hamiltonian if isinstance(hamiltonian, torch.nn.Module) else None
    original = (
        next(module.parameters()).dtype if module is not None and any(True for _ in module.parameters()) else None
    )
    if dtype is not None:
        q, p = q.to(dtype), p.to(dtype)
        params = {k: v.to(dtype) for k, v in params.items()}
        if original is not None:
            module.to(dtype)
    try:
        elements = group.sample(
            (n_elements, q.shape[0]), generator=generator, dtype=torch.float64, translation_scale=translation_scale
        )
        elements = Element(elements.R.to(q.device), elements.t.to(q.device))
        with torch.no_grad():
            e = group_errors(hamiltonian, (q, p, params), elements, energy_scale)

        def field(q_, p_, params_):
            return tuple(x.detach() for x in hamiltonian_vector_field(hamiltonian, q_, p_, params_))

        f = group_errors(field, (q, p, params), elements)
    finally:
        if original is not None:
            module.to(original)
    return {"energy": e, "vector_field": f}
