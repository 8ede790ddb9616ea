"""hamilton-lie: Hamiltonian neural networks with group-equivariant transformers.

The public surface is re-exported here; everything else is an implementation detail.
"""

__version__ = "0.1.0"

from . import analysis, groups, plotting, testing
from .activations import SiLU
from .attention import LieSelfAttention
from .config import Config, ConfigError, DataConfig, ModelConfig, TrainConfig, load_config, preset_names
from .data import DatasetInfo, TrajectoryDataset, check_dataset, load_split
from .dynamics import HamiltonianDynamics, Rollout, from_z, hamiltonian_vector_field, to_z
from .errors import DatasetError, HamiltonLieError, RecipeError
from .evaluation import evaluate, format_metrics, write_evaluation
from .ga_attention import GAAttention
from .generate import GenerateResult, generate_dataset
from .lie_transformer import LieTransformer
from .mlp_hamiltonian import MLPHamiltonian
from .models import get_model, list_models, register_model
from .recipes import Recipe, load_recipe, parse_recipe
from .recompute import recomputed
from .train import TrainingDiverged, TrainResult, build_model, load_checkpoint, train, window_loss

__all__ = [
    "Config",
    "analysis",
    "evaluate",
    "format_metrics",
    "plotting",
    "write_evaluation",
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "build_model",
    "load_checkpoint",
    "load_config",
    "preset_names",
    "train",
    "window_loss",
    "DatasetError",
    "DatasetInfo",
    "GAAttention",
    "GenerateResult",
    "HamiltonLieError",
    "HamiltonianDynamics",
    "LieSelfAttention",
    "LieTransformer",
    "MLPHamiltonian",
    "Recipe",
    "RecipeError",
    "Rollout",
    "SiLU",
    "TrajectoryDataset",
    "__version__",
    "check_dataset",
    "from_z",
    "generate_dataset",
    "get_model",
    "groups",
    "hamiltonian_vector_field",
    "list_models",
    "load_recipe",
    "load_split",
    "parse_recipe",
    "recomputed",
    "register_model",
    "testing",
    "to_z",
]
