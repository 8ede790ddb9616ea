"""Names to energy models, for the CLI and TOML configs (the only place names meet objects)."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from .ga_attention import GAAttention
from .groups import get_group
from .lie_transformer import LieTransformer
from .mlp_hamiltonian import MLPHamiltonian

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str, factory: Callable[..., nn.Module]) -> None:
    """Make ``factory(**config)`` available as ``name``; a name can be registered once."""
    if name in _MODELS:
        raise ValueError(f"a model named {name!r} is already registered")
    _MODELS[name] = factory


def list_models() -> list[str]:
    return sorted(_MODELS)


def model_arguments(name: str) -> set[str]:
    """The keyword arguments the model registered as ``name`` names explicitly."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; registered models are {list_models()}")
    return set(inspect.signature(_MODELS[name]).parameters)


def get_model(name: str, **config) -> nn.Module:
    """Build the model registered as ``name`` from keyword ``config``.

    ``lietransformer`` takes ``group`` as a name (``T2``, ``SE2``, ...) or a group object; the rest
    are :class:`LieTransformer`'s arguments. ``mlp`` takes :class:`MLPHamiltonian`'s, ``gaattention``
    :class:`GAAttention`'s.
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; registered models are {list_models()}")
    return _MODELS[name](**config)


def _lie_transformer(group="T2", **config) -> LieTransformer:
    return LieTransformer(get_group(group) if isinstance(group, str) else group, **config)


register_model("lietransformer", _lie_transformer)
register_model("mlp", MLPHamiltonian)
register_model("gaattention", GAAttention)
