"""The Hamiltonian vector field J grad H of any energy, by autograd, and the stacked state z = (q, p)."""

from __future__ import annotations

from collections.abc import Callable

import torch

#: H(q, p, params) -> (batch,): an energy model, or a system's exact ``hamiltonian``
EnergyFunction = Callable[..., torch.Tensor]


def to_z(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``q, p (..., N, d)`` -> ``z (..., 2, N, d)``."""
    return torch.stack([q, p], dim=-3)


def from_z(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``z (..., 2, N, d)`` -> ``q, p (..., N, d)``."""
    return z.select(-3, 0), z.select(-3, 1)


def hamiltonian_vector_field(
    hamiltonian: EnergyFunction,
    q: torch.Tensor,
    p: torch.Tensor,
    params: dict,
    create_graph: bool = False,
    generator: torch.Generator | None = None,
):
    """(dq/dt, dp/dt) = (dH/dp, -dH/dq) of ``hamiltonian(q, p, params) -> (batch,)``.

    Arguments:
        hamiltonian: an energy model, or any function of ``(q, p, params)`` such as a system's exact H.
        q, p: ``(batch, n_bodies, dim)``.
        create_graph: keep the graph, for a loss on the vector field or a rollout (training).
        generator: passed on to the model (it drives random lifts in training mode); None passes nothing.

    Returns:
        ``dq, dp``, each ``(batch, n_bodies, dim)``.
    """
    extra = {} if generator is None else {"generator": generator}
    with torch.enable_grad():
        q = q if q.requires_grad else q.detach().requires_grad_(True)
        p = p if p.requires_grad else p.detach().requires_grad_(True)
        # a potential alone (a model's learned part) does not depend on p: its dH/dp is zero, not an error
        dh_dq, dh_dp = torch.autograd.grad(hamiltonian(q, p, params, **extra).sum(), (q, p), create_graph=create_graph,
                                           allow_unused=True, materialize_grads=True)  # fmt: skip
    return dh_dp, -dh_dq
