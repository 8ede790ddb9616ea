"""Training configuration: frozen dataclasses loaded from TOML (a file or a preset shipped in the package).

```toml
[data]
path = "datasets/springs-2d-lieconv.h5"
chunk_len = 5
n_train = 3000          # optional: the first n training trajectories
windows = "random"      # or "fixed": one window per trajectory, drawn once
[model]
name = "lietransformer"
group = "T2"
# the model's own keyword arguments: dim_hidden, num_layers, num_heads, kernel_dim, lift_samples, ...
[train]
epochs = 200
batch_size = 100
lr = 1e-3
seed = 0
device = "cpu"
out = "runs/springs-t2"
checkpoint_every = 100
```

Unknown keys and wrong types raise :class:`ConfigError` naming the key. ``--set section.key=value``
overrides are read as TOML values, or as plain strings when they are not valid TOML.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .errors import HamiltonLieError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(HamiltonLieError, ValueError):
    """A training configuration that cannot be used."""


@dataclass(frozen=True)
class DataConfig:
    """Where the data come from and how windows are cut.

    Attributes:
        path: the HDF5 dataset.
        chunk_len: samples per training window (the reference uses 5).
        n_train: use the first ``n_train`` training trajectories (all when None).
        n_val: use the first ``n_val`` validation trajectories (all when None).
        windows: ``"random"``: each training trajectory's window drawn afresh every epoch;
            ``"fixed"``: drawn once from ``train.seed`` and kept, as the reference's code does
            (LieConv's ``SpringDynamics`` cuts one chunk per trajectory when it builds the data set).
    """

    path: str
    chunk_len: int = 5
    n_train: int | None = None
    n_val: int | None = None
    windows: str = "random"


@dataclass(frozen=True)
class ModelConfig:
    """Which registered model, and its keyword arguments (``options``: every key but ``name``)."""

    name: str = "lietransformer"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping.

    Attributes:
        epochs, batch_size, lr: Adam with cosine annealing stepped once per epoch.
        seed: seeds the model's initialisation, data order, windows and random lifts.
        device: ``cpu``, ``cuda``, ...; dtype: ``float32`` or ``float64``.
        out: the run folder.
        checkpoint_every: optimiser steps between ``last.pt`` checkpoints (also written at each epoch end).
        grad_clip: clip the gradient norm to this (None: no clipping).
        method, substeps: the ODE solver for training rollouts (the reference: rk4, one step per sample).
        weight_decay: Adam's weight decay.
    """

    epochs: int = 200
    batch_size: int = 100
    lr: float = 1e-3
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    out: str = "runs/run"
    checkpoint_every: int = 100
    grad_clip: float | None = None
    method: str = "rk4"
    substeps: int = 1
    weight_decay: float = 0.0


@dataclass(frozen=True)
class Config:
    data: DataConfig
    model: ModelConfig
    train: TrainConfig

    def to_dict(self) -> dict:
        """The resolved config as nested plain values (what ``config.toml`` holds)."""
        model = {"name": self.model.name, **self.model.options}
        return {"data": _plain(self.data), "model": model, "train": _plain(self.train)}


def _plain(obj) -> dict:
    return {k: v for k, v in dataclasses.asdict(obj).items() if v is not None}


def _check_types(cls, section: str, values: dict, source: str) -> dict:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{source}: unknown key {section}.{unknown[0]}; allowed keys are {sorted(names)}")
    out = {}
    for key, value in values.items():
        allowed = _allowed_types(hints[key])
        if isinstance(value, bool) and bool not in allowed:
            raise ConfigError(f"{source}: {section}.{key} must be {_describe(allowed)}, got {value!r}")
        if isinstance(value, int) and float in allowed and int not in allowed:
            value = float(value)
        if not isinstance(value, allowed):
            raise ConfigError(f"{source}: {section}.{key} must be {_describe(allowed)}, got {value!r}")
        out[key] = value
    return out


def _allowed_types(hint) -> tuple:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(t for t in typing.get_args(hint) if t is not type(None))
    return (typing.get_origin(hint) or hint,)


def _describe(types_: tuple) -> str:
    return " or ".join(
        {"int": "an integer", "float": "a number", "str": "a string", "dict": "a table"}.get(t.__name__, t.__name__)
        for t in types_
    )


def parse_config(raw: dict, source: str = "config") -> Config:
    """Build a :class:`Config` from nested dicts, with strict key and type checks."""
    unknown = sorted(set(raw) - {"data", "model", "train"})
    if unknown:
        raise ConfigError(f"{source}: unknown section [{unknown[0]}]; expected [data], [model], [train]")
    if "data" not in raw or "path" not in raw["data"]:
        raise ConfigError(f"{source}: missing data.path")
    data = DataConfig(**_check_types(DataConfig, "data", dict(raw["data"]), source))
    model_raw = dict(raw.get("model", {}))
    name = model_raw.pop("name", "lietransformer")
    if not isinstance(name, str):
        raise ConfigError(f"{source}: model.name must be a string, got {name!r}")
    train = TrainConfig(**_check_types(TrainConfig, "train", dict(raw.get("train", {})), source))
    for key in ("epochs", "batch_size", "checkpoint_every", "substeps"):
        if getattr(train, key) < 1:
            raise ConfigError(f"{source}: train.{key} must be at least 1, got {getattr(train, key)}")
    if data.chunk_len < 2:
        raise ConfigError(f"{source}: data.chunk_len must be at least 2, got {data.chunk_len}")
    if data.windows not in ("random", "fixed"):
        raise ConfigError(f"{source}: data.windows must be 'random' or 'fixed', got {data.windows!r}")
    if train.dtype not in ("float32", "float64"):
        raise ConfigError(f"{source}: train.dtype must be 'float32' or 'float64', got {train.dtype!r}")
    return Config(data, ModelConfig(name, model_raw), train)


def _parse_override(text: str) -> tuple[list[str], object]:
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected section.key=value")
    key, value = text.split("=", 1)
    path = key.strip().split(".")
    if len(path) != 2:
        raise ConfigError(f"--set {text!r}: the key must be section.key, e.g. train.lr")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value  # a plain string: train.out=runs/a means the same as train.out="runs/a"
    return path, parsed


def preset_names() -> list[str]:
    """Presets shipped in the package (``hamilton_lie/presets/NAME.toml``)."""
    return sorted(p.name[:-5] for p in resources.files("hamilton_lie.presets").iterdir() if p.name.endswith(".toml"))


def load_config(source: str | Path, overrides: list[str] = ()) -> Config:
    """Load a config file, or a preset by name, and apply ``section.key=value`` overrides."""
    path = Path(source)
    if path.exists():
        text, name = path.read_text(), str(path)
    elif str(source) in preset_names():
        text = resources.files("hamilton_lie.presets").joinpath(f"{source}.toml").read_text()
        name = f"preset {source}"
    else:
        raise ConfigError(f"{source}: no such config file or preset; presets are {preset_names()}")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{name}: not valid TOML ({e})") from None
    for item in overrides:
        (section, key), value = _parse_override(item)
        raw.setdefault(section, {})[key] = value
    return parse_config(raw, name)
