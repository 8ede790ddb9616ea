"""The configured model, built for a dataset, and the seeded state a run starts from."""

from __future__ import annotations

import torch

from .._errors import ConfigError
from ..models import get_model, model_arguments
from ._config import Config


def data_identity(attrs: dict) -> dict:
    """What a model is tied to in its training data: the system, body count and dimension."""
    return {"system": str(attrs["system"]), "n_bodies": int(attrs["n_bodies"]), "dim": int(attrs["dim"])}


def describe_data(identity: dict) -> str:
    return f"{identity['system']} with {identity['n_bodies']} bodies in {identity['dim']}D"


def build_model(config: Config, attrs: dict) -> torch.nn.Module:
    """The configured model, with ``n_bodies``/``dim`` taken from the data where the model asks for them.

    Raises:
        ConfigError: for unknown options, or a model that does not fit the data (dimension, body count).
    """
    name, options = config.model.name, dict(config.model.options)
    try:
        accepted = model_arguments(name)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    for key, value in (("n_bodies", int(attrs["n_bodies"])), ("dim", int(attrs["dim"]))):
        if key in accepted and key not in options:
            options[key] = value
    if "scalar_features" in options:
        options["scalar_features"] = tuple(options["scalar_features"])
    try:
        model = get_model(name, **options)
    except TypeError as e:
        raise ConfigError(f"[model] has an option that {name!r} does not take ({e})") from None
    except ValueError as e:
        raise ConfigError(f"[model]: {e}") from None
    model_dim = getattr(model, "dim", None)
    if model_dim is not None and model_dim != int(attrs["dim"]):
        raise ConfigError(f"the model acts in {model_dim}D but the dataset is {int(attrs['dim'])}D")
    if getattr(model, "n_bodies", int(attrs["n_bodies"])) != int(attrs["n_bodies"]):
        raise ConfigError(
            f"the model is built for {model.n_bodies} bodies but the dataset has {int(attrs['n_bodies'])}"
        )
    return model


def initial_state(config: Config, attrs: dict) -> tuple[torch.nn.Module, torch.Generator]:
    """The model a run of ``config`` starts from, and the generator of its random lifts.

    The weights are initialised from ``train.seed`` (modules draw from torch's global generator, whose
    state is restored afterwards), and the lift generator continues that seeded stream where the
    initialisation left it, so the same config always trains the same way.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)
        model = build_model(config, attrs)
        generator = torch.Generator()
        generator.set_state(torch.get_rng_state())
    return model, generator


def initial_model(config: Config, attrs: dict) -> torch.nn.Module:
    """The model a run of ``config`` starts from (its seeded initial weights)."""
    return initial_state(config, attrs)[0]
