"""Attributes of a package that import their module on first use (PEP 562), so that importing the
package does not load h5py, matplotlib or the training machinery until a name that needs them is used."""

from __future__ import annotations

import importlib
import sys


def lazy_attributes(package: str, where: dict[str, str]):
    """A module ``__getattr__`` and ``__dir__`` for ``package``: ``where[name]`` is the (relative) module
    that defines ``name``; it is imported on first access and the value cached in the package."""

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(where[name], package)
        value = module if where[name].endswith("." + name) else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
