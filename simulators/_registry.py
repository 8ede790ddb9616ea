"""Names to factories: the one place where a name in a recipe, a config or on the command line meets an object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """The factories of one kind of object (systems, integrators, groups, models, attention kinds), by name.

    A name is registered once; looking up an unknown name raises ``ValueError`` listing the known ones.

    Example:
        >>> shapes = Registry("shape")
        >>> _ = shapes.register("square", lambda side=1.0: ("square", side))
        >>> shapes.build("square", side=2.0)
        ('square', 2.0)
        >>> shapes.names()
        ['square']
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str, factory: Callable[..., T]) -> Callable[..., T]:
        """Make ``factory(**options)`` available as ``name``; returns the factory."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if name in self._factories:
            raise ValueError(f"a {self.kind} named {name!r} is already registered")
        self._factories[name] = factory
        return factory

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __getitem__(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name`` (for a class: the class itself)."""
        if name not in self._factories:
            raise ValueError(f"unknown {self.kind} {name!r}; expected one of {self.names()}")
        return self._factories[name]

    def build(self, name: str, **options) -> T:
        """``factory(**options)`` for the factory registered as ``name``."""
        return self[name](**options)
