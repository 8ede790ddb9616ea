"""Training energy models on trajectory windows, with checkpoints that resume exactly.

:func:`load_config` reads a :class:`Config` (TOML file or preset), :func:`train` runs it into a run
folder (``config.toml``, ``last.pt``, ``best.pt``, ``metrics.jsonl``). The loss is the
LieConv/LieTransformer protocol (:func:`window_loss`); the checkpoint format lives in one module
(:func:`load_checkpoint`); multi-process runs under ``torchrun`` are described by :class:`Distributed`.
"""

from .._distributed import Distributed
from .._errors import ConfigError, TrainingDiverged
from ._build import build_model, data_identity, describe_data, initial_model
from ._checkpoint import CHECKPOINT_FORMAT, RunFolder, load_checkpoint, resolve_checkpoint, save_checkpoint
from ._config import DTYPES, Config, DataConfig, ModelConfig, TrainConfig, load_config, parse_config, preset_names
from ._loop import Progress, TrainResult
from ._loss import evaluate_mse, to_device, window_loss
from ._train import train

__all__ = [
    "DTYPES",
    "CHECKPOINT_FORMAT",
    "Config",
    "ConfigError",
    "DataConfig",
    "Distributed",
    "ModelConfig",
    "Progress",
    "RunFolder",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "build_model",
    "data_identity",
    "describe_data",
    "evaluate_mse",
    "initial_model",
    "load_checkpoint",
    "load_config",
    "parse_config",
    "preset_names",
    "resolve_checkpoint",
    "save_checkpoint",
    "to_device",
    "train",
    "window_loss",
]
