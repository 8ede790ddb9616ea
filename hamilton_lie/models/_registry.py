"""Names to energy models, for the CLI and TOML configs (the only place names meet model objects)."""

from __future__ import annotations

import dataclasses
import inspect

from torch import nn

from simulators import Registry

from ..groups import get_group
from ..nn import ATTENTION_KINDS
from ._ga_attention import GAAttention
from ._lie_transformer import LieTransformer
from ._mlp import MLPHamiltonian

MODELS: Registry[nn.Module] = Registry("model")

# LieTransformer options of 0.1.0 configs that are now fields of the attention kind
_FLAT_ATTENTION = {"neighbours": "neighbours", "rank": "rank", "max_bodies": "max_bodies", "linformer_share": "share"}


def register_model(name: str, factory) -> None:
    """Make ``factory(**config) -> energy model`` available to configs as ``model.name = "name"``."""
    MODELS.register(name, factory)


def list_models() -> list[str]:
    """The registered model names."""
    return MODELS.names()


def model_arguments(name: str) -> set[str]:
    """The keyword arguments the model registered as ``name`` names explicitly."""
    return set(inspect.signature(MODELS[name]).parameters)


def get_model(name: str, **config) -> nn.Module:
    """Build the model registered as ``name`` from keyword ``config``.

    ``lietransformer`` takes ``group`` as a name (``T2``, ``SE2``, ...), a table with the name and the group's
    options (``{"name": "SE3", "finite": "icosahedral"}``, as TOML's ``group = {name = "SE3", finite =
    "icosahedral"}``) or a group object, and
    ``attention`` as a kind, a name or a ``{"kind": ...}`` table; the rest are :class:`LieTransformer`'s
    arguments. ``mlp`` takes :class:`MLPHamiltonian`'s, ``gaattention`` :class:`GAAttention`'s.
    """
    return MODELS.build(name, **config)


def _lie_transformer(group="T2", attention="full", **config) -> LieTransformer:
    flat = {new: config.pop(old) for old, new in _FLAT_ATTENTION.items() if old in config}
    if flat:  # a 0.1.0 config: attention = "knn" beside neighbours = 32
        if not isinstance(attention, str):
            raise ValueError(f"{sorted(flat)} belong in the attention table, e.g. attention = {{kind = \"knn\", neighbours = 32}}")
        accepted = {f.name for f in dataclasses.fields(ATTENTION_KINDS[attention])}
        attention = {"kind": attention, **{k: v for k, v in flat.items() if k in accepted}}
    return LieTransformer(_group(group), attention=attention, **config)


def _group(group):
    """A group from its name, a ``{"name": ..., **options}`` table, or itself."""
    if isinstance(group, str):
        return get_group(group)
    if isinstance(group, dict):
        options = dict(group)
        if "name" not in options:
            raise ValueError(f"a group table needs a name, e.g. {{name = \"SE3\", finite = \"icosahedral\"}}; got {group}")
        name = options.pop("name")
        try:
            return get_group(name, **options)
        except TypeError as e:
            raise ValueError(f"group {name!r} does not take these options: {sorted(options)} ({e})") from None
    return group

register_model("lietransformer", _lie_transformer)
register_model("mlp", MLPHamiltonian)
register_model("gaattention", GAAttention)
