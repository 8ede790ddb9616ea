"""Systems named by reference: a registered name, ``package.module:Class`` or ``path/to/file.py:Class``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from .._registry import Registry
from ._base import HamiltonianSystem


def is_reference(name: str) -> bool:
    """True for ``module:Class`` and ``file.py:Class`` references, False for a registered name."""
    return ":" in name


def resolve_reference(reference: str, relative_to: str | Path | None = None) -> str:
    """``reference`` with a relative file path made absolute against ``relative_to`` (default: the working
    folder), so that it names the same file from anywhere; registered names and module references unchanged."""
    if not is_reference(reference):
        return reference
    where, _, attribute = reference.rpartition(":")
    if not _is_file(where):
        return reference
    return f"{(Path(relative_to or '.') / where).resolve()}:{attribute}"


def load_system(
    registry: Registry[HamiltonianSystem], reference: str, relative_to: str | Path | None = None
) -> type[HamiltonianSystem]:
    """Import the class ``reference`` names and register it under its ``name`` (once); see ``simulators.load_system``."""
    if not is_reference(reference):
        return registry[reference]
    where, _, attribute = reference.rpartition(":")
    if not where or not attribute:
        raise ValueError(f"system reference {reference!r} must be 'package.module:Class' or 'path/file.py:Class'")
    module = _import_file(Path(relative_to or ".") / where, reference) if _is_file(where) else _import_module(where, reference)
    cls = getattr(module, attribute, None)
    if not (isinstance(cls, type) and issubclass(cls, HamiltonianSystem)):
        raise ValueError(f"{reference}: {attribute!r} is not a HamiltonianSystem subclass in {where}")
    for needed in ("name", "param_names"):
        if not hasattr(cls, needed):
            raise ValueError(f"{reference}: {attribute} does not set the class attribute {needed!r}")
    if cls.name in registry:
        if registry[cls.name] is not cls:
            raise ValueError(f"{reference}: a different system named {cls.name!r} is already registered")
        return cls
    return registry.register(cls.name, cls)


def _is_file(where: str) -> bool:
    return where.endswith(".py") or "/" in where or "\\" in where


def _import_module(name: str, reference: str):
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise ValueError(f"{reference}: cannot import {name} ({e})") from None


def _import_file(path: Path, reference: str):
    """The module of the Python file at ``path``, executed once per process (kept in ``sys.modules``)."""
    path = path.resolve()
    if not path.is_file():
        raise ValueError(f"{reference}: no such file {path}")
    # one module name per file, so that two files with the same stem do not replace each other
    name = f"_hamilton_lie_user_systems.{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise ValueError(f"{reference}: importing {path} failed: {type(e).__name__}: {e}") from None
    return module
