"""Hamiltonian dynamics of energy models: the vector field J grad H by autograd, and rollouts.

A state is ``q, p (batch, n_bodies, dim)``; torchdiffeq integrates the stacked
``z = to_z(q, p)`` of shape ``(batch, 2, n_bodies, dim)``.
"""

from ._rollout import FIXED_GRID, HamiltonianDynamics, Rollout, refine_grid, solver_names
from ._vector_field import EnergyFunction, from_z, hamiltonian_vector_field, to_z

__all__ = [
    "FIXED_GRID",
    "EnergyFunction",
    "HamiltonianDynamics",
    "Rollout",
    "from_z",
    "hamiltonian_vector_field",
    "refine_grid",
    "solver_names",
    "to_z",
]
