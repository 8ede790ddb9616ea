"""Hamiltonian vector fields of energy models: f(q, p) = (dH/dp, -dH/dq) by autograd."""

from __future__ import annotations

import torch


def hamiltonian_vector_field(energy, q: torch.Tensor, p: torch.Tensor, params: dict, create_graph: bool = False):
    """(dq/dt, dp/dt) = (dH/dp, -dH/dq) of ``energy(q, p, params) -> (batch,)``.

    Arguments:
        energy: the energy model.
        q, p: ``(batch, n_bodies, dim)``.
        create_graph: keep the graph for a loss on the vector field (training).

    Returns:
        ``dq, dp``, each ``(batch, n_bodies, dim)``.
    """
    with torch.enable_grad():
        q = q if q.requires_grad else q.detach().requires_grad_(True)
        p = p if p.requires_grad else p.detach().requires_grad_(True)
        dh_dq, dh_dp = torch.autograd.grad(energy(q, p, params).sum(), (q, p), create_graph=create_graph)
    return dh_dp, -dh_dq
