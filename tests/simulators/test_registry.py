"""The one registry class behind every name lookup (systems, integrators, groups, models, attention kinds)."""

import pytest

from hamilton_lie.groups import GROUPS
from hamilton_lie.models import MODELS
from hamilton_lie.nn import ATTENTION_KINDS
from simulators import Registry, SpringSystem, register_system
from simulators.integrators import INTEGRATORS
from simulators.systems import SYSTEMS


def test_register_build_and_list():
    shapes = Registry("shape")
    assert shapes.register("square", lambda side=1.0: ("square", side)) is not None
    assert shapes.build("square", side=2.0) == ("square", 2.0) and "square" in shapes
    assert shapes.names() == ["square"]


def test_duplicates_and_unknown_names_are_refused_with_the_known_ones():
    shapes = Registry("shape")
    shapes.register("square", object)
    with pytest.raises(ValueError, match="a shape named 'square' is already registered"):
        shapes.register("square", object)
    with pytest.raises(ValueError, match=r"unknown shape 'circle'; expected one of \['square'\]"):
        shapes.build("circle")
    with pytest.raises(ValueError, match="non-empty string"):
        shapes.register("", object)


def test_every_registry_is_one():
    assert all(isinstance(r, Registry) for r in (SYSTEMS, INTEGRATORS, GROUPS, MODELS, ATTENTION_KINDS))


def test_register_system_takes_hamiltonian_systems_only():
    with pytest.raises(TypeError, match="HamiltonianSystem subclass"):
        register_system(dict)
    with pytest.raises(ValueError, match="already registered"):
        register_system(SpringSystem)
