"""Hamiltonian systems: springs, Newtonian gravity and charged particles, and their registry.

Every system is a separable H(q, p) = T(p) + V(q) with an exact energy, an analytic force and
samplers for its parameters and initial states (:class:`HamiltonianSystem`). The registry maps the
names that recipes use (``springs``, ``gravity``, ``charged``) to the classes; a class's
``param_names`` are the per-trajectory parameters a dataset of it stores.
"""

from .._registry import Registry
from ._base import HamiltonianSystem, Params, broadcast_params
from ._charged import ChargedSystem
from ._gravity import GravitySystem
from ._springs import SpringSystem

SYSTEMS: Registry[HamiltonianSystem] = Registry("system")
for _cls in (SpringSystem, GravitySystem, ChargedSystem):
    SYSTEMS.register(_cls.name, _cls)


def register_system(cls: type[HamiltonianSystem]) -> type[HamiltonianSystem]:
    """Make a :class:`HamiltonianSystem` subclass available under its ``name`` (to recipes and datasets)."""
    if not (isinstance(cls, type) and issubclass(cls, HamiltonianSystem)):
        raise TypeError(f"register_system takes a HamiltonianSystem subclass, got {cls!r}")
    return SYSTEMS.register(cls.name, cls)


def list_systems() -> list[str]:
    """The registered system names."""
    return SYSTEMS.names()


def system_class(name: str) -> type[HamiltonianSystem]:
    """The class registered as ``name``; its ``param_names`` and ``name`` describe a dataset of it."""
    return SYSTEMS[name]


def get_system(name: str, **settings) -> HamiltonianSystem:
    """Build the system registered as ``name`` with the constructor's keyword ``settings``."""
    return SYSTEMS.build(name, **settings)


__all__ = [
    "ChargedSystem",
    "GravitySystem",
    "HamiltonianSystem",
    "Params",
    "SYSTEMS",
    "SpringSystem",
    "broadcast_params",
    "get_system",
    "list_systems",
    "register_system",
    "system_class",
]
