"""Hamiltonian physics simulators: exact energies, analytic forces, batched symplectic integration.

This package is physics only and never imports ``hamilton_lie``. ``systems`` holds the systems and
their registry, ``integrators`` the integration methods and ``integrate``, ``_native`` the C++ kernels
of gravity and charges; the names below are the public surface. ``hamilton_lie`` uses these, and
``_native`` for two things it shares: the C++ build and the switch of the fused kernels.
"""

from ._native import use_fused_kernels
from ._random import random_rotations, sample_separated_positions
from ._registry import Registry
from .integrators import (
    DOP853,
    RK4,
    RK45,
    FixedStep,
    Integrator,
    Leapfrog,
    SymplecticEuler,
    Yoshida4,
    get_integrator,
    integrate,
    list_integrators,
)
from .systems import (
    ChargedSystem,
    GravitySystem,
    HamiltonianSystem,
    Params,
    PotentialSystem,
    SpringSystem,
    get_system,
    list_systems,
    load_system,
    register_system,
    system_class,
)

__all__ = [
    "DOP853",
    "RK4",
    "RK45",
    "ChargedSystem",
    "FixedStep",
    "GravitySystem",
    "HamiltonianSystem",
    "Integrator",
    "Leapfrog",
    "Params",
    "PotentialSystem",
    "Registry",
    "SpringSystem",
    "SymplecticEuler",
    "Yoshida4",
    "get_integrator",
    "get_system",
    "integrate",
    "list_integrators",
    "list_systems",
    "load_system",
    "random_rotations",
    "register_system",
    "sample_separated_positions",
    "system_class",
    "use_fused_kernels",
]
