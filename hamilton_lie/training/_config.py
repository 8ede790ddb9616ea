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
attention = "full"      # or a table: attention = {kind = "knn", neighbours = 32}
[train]
epochs = 200
batch_size = 100
lr = 1e-3
seed = 0
device = "cpu"
out = "runs/springs-t2"
checkpoint_every = 100
```

Parsing is strict (the toolkit's one TOML loader): unknown keys, wrong types and values out of range
raise :class:`ConfigError` naming the key. ``--set section.key=value`` overrides are read as TOML
values, or as plain strings when they are not valid TOML.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import _toml
from .._errors import ConfigError
from .._presets import preset_names, preset_text
from .._toml import at_least, one_of, positive, within
from ..dynamics import solver_names

DTYPES = {"float32": torch.float32, "float64": torch.float64}


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
    chunk_len: int = field(default=5, metadata=at_least(2))
    n_train: int | None = field(default=None, metadata=at_least(1))
    n_val: int | None = field(default=None, metadata=at_least(1))
    windows: str = field(default="random", metadata=one_of("random", "fixed"))


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

    epochs: int = field(default=200, metadata=at_least(1))
    batch_size: int = field(default=100, metadata=at_least(1))
    lr: float = field(default=1e-3, metadata=positive())
    seed: int = field(default=0, metadata=within(0, 2**40))  # epoch seeds are seed * 1_000_003 + epoch < 2^64
    device: str = "cpu"
    dtype: str = field(default="float32", metadata=one_of(*DTYPES))
    out: str = "runs/run"
    checkpoint_every: int = field(default=100, metadata=at_least(1))
    grad_clip: float | None = field(default=None, metadata=positive())
    method: str = "rk4"
    substeps: int = field(default=1, metadata=at_least(1))
    weight_decay: float = field(default=0.0, metadata=at_least(0.0))

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


@dataclass(frozen=True)
class Config:
    """A whole training configuration: ``[data]``, ``[model]`` and ``[train]``."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig

    def to_dict(self) -> dict:
        """The resolved config as nested plain values (what ``config.toml`` and checkpoints hold)."""
        model = {"name": self.model.name, **self.model.options}
        return {"data": _plain(self.data), "model": model, "train": _plain(self.train)}

    def to_toml(self) -> str:
        """The resolved config as TOML text, which :func:`load_config` reads back."""
        return _toml.dumps(self.to_dict())


def _plain(obj) -> dict:
    return {k: v for k, v in dataclasses.asdict(obj).items() if v is not None}


def parse_config(raw: dict, source: str = "config") -> Config:
    """Build a :class:`Config` from nested dicts, with strict key and type checks."""
    unknown = sorted(set(raw) - {"data", "model", "train"})
    if unknown:
        raise ConfigError(f"{source}: unknown section [{unknown[0]}]; expected [data], [model], [train]")
    sections = {k: raw.get(k, {}) for k in ("data", "model", "train")}
    for name, value in sections.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {name} must be a table [{name}], got {value!r}")
    data = _toml.from_table(DataConfig, sections["data"], source, ConfigError, "data.")
    model_options = dict(sections["model"])
    name = model_options.pop("name", "lietransformer")
    if not isinstance(name, str):
        raise ConfigError(f"{source}: model.name must be a string, got {name!r}")
    train = _toml.from_table(TrainConfig, sections["train"], source, ConfigError, "train.")
    if train.method not in solver_names():
        raise ConfigError(f"{source}: train.method must be one of {solver_names()}, got {train.method!r}")
    return Config(data, ModelConfig(name, model_options), train)


def load_config(source: str | Path, overrides: list[str] = ()) -> Config:
    """Load a config file, or a preset by name, and apply ``section.key=value`` overrides."""
    path = Path(source)
    if path.exists():
        text, name = _toml.read(path, ConfigError, "config"), str(path)
    elif str(source) in preset_names():
        text = preset_text(str(source))
        name = f"preset {source}"
    else:
        raise ConfigError(f"{source}: no such config file or preset; presets are {preset_names()}")
    raw = _toml.parse(text, name, ConfigError)
    for item in overrides:
        (section, key), value = _toml.parse_override(item, ConfigError)
        raw.setdefault(section, {})[key] = value
    return parse_config(raw, name)
