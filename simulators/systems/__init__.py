"""Hamiltonian systems: springs, Newtonian gravity and charged particles, the user's own, and their registry.

Every system is a separable H(q, p) = T(p) + V(q) with an exact energy, a force and samplers for its
parameters and initial states (:class:`HamiltonianSystem`); :class:`PotentialSystem` needs only the
potential and the samplers. The registry maps the names that recipes use (``springs``, ``gravity``,
``charged``, and any registered or loaded by reference) to the classes; a class's ``param_names`` are
the per-trajectory parameters a dataset of it stores.
"""

from pathlib import Path

from .._registry import Registry
from ._base import HamiltonianSystem, Params, broadcast_params
from ._charged import ChargedSystem
from ._gaussian_gravity import GaussianGravity
from ._gravity import GravitySystem
from ._hnn_orbits import HNNOrbits
from ._loading import is_reference, resolve_reference
from ._loading import load_system as _load_system
from ._nri import NRICharged, NRISprings
from ._potential import PotentialSystem
from ._springs import SpringSystem

SYSTEMS: Registry[HamiltonianSystem] = Registry("system")
for _cls in (SpringSystem, GravitySystem, ChargedSystem, NRISprings, NRICharged, GaussianGravity, HNNOrbits):
    SYSTEMS.register(_cls.name, _cls)


def register_system(cls: type[HamiltonianSystem]) -> type[HamiltonianSystem]:
    """Make a :class:`HamiltonianSystem` subclass available under its ``name`` (to recipes and datasets)."""
    if not (isinstance(cls, type) and issubclass(cls, HamiltonianSystem)):
        raise TypeError(f"register_system takes a HamiltonianSystem subclass, got {cls!r}")
    return SYSTEMS.register(cls.name, cls)


def load_system(reference: str, relative_to: str | Path | None = None) -> type[HamiltonianSystem]:
    """The system class that ``reference`` names, registered under its ``name`` so that datasets of it read.

    Arguments:
        reference: a registered name (``"springs"``); ``"package.module:Class"`` (an importable module);
            or ``"path/to/file.py:Class"`` (a Python file, executed once per process).
        relative_to: the folder a relative file path is taken from (a recipe's folder); default the
            working folder.

    Raises:
        ValueError: naming the reference, when the module or file cannot be imported, the attribute is not
            a :class:`HamiltonianSystem` subclass with ``name`` and ``param_names``, or another class is
            registered under its name.
    """
    return _load_system(SYSTEMS, reference, relative_to)


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
    "GaussianGravity",
    "GravitySystem",
    "HNNOrbits",
    "HamiltonianSystem",
    "NRICharged",
    "NRISprings",
    "Params",
    "PotentialSystem",
    "SYSTEMS",
    "SpringSystem",
    "broadcast_params",
    "get_system",
    "is_reference",
    "list_systems",
    "load_system",
    "register_system",
    "resolve_reference",
    "system_class",
]
