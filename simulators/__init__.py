"""Hamiltonian physics simulators: exact energies, analytic forces, batched symplectic integration.

This package is physics only and never imports ``hamilton_lie``.
"""

from .charged import ChargedSystem
from .gravity import GravitySystem
from .integrators import METHODS, integrate
from .springs import SpringSystem
from .system import HamiltonianSystem

SYSTEMS = {cls.name: cls for cls in (SpringSystem, GravitySystem, ChargedSystem)}


def get_system(name: str, **settings) -> HamiltonianSystem:
    """Build the system registered as ``name`` (``springs``, ``gravity``, ``charged``)."""
    if name not in SYSTEMS:
        raise ValueError(f"unknown system {name!r}; expected one of {sorted(SYSTEMS)}")
    return SYSTEMS[name](**settings)


__all__ = [
    "ChargedSystem",
    "GravitySystem",
    "HamiltonianSystem",
    "METHODS",
    "SYSTEMS",
    "SpringSystem",
    "get_system",
    "integrate",
]
