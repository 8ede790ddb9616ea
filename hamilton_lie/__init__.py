"""hamilton-lie: Hamiltonian neural networks with group-equivariant transformers.

The public surface is re-exported here; everything else is an implementation detail.
"""

__version__ = "0.1.0"

from .data import DatasetInfo, TrajectoryDataset, check_dataset, load_split
from .errors import DatasetError, HamiltonLieError, RecipeError
from .generate import GenerateResult, generate_dataset
from .recipes import Recipe, load_recipe, parse_recipe

__all__ = [
    "DatasetError",
    "DatasetInfo",
    "GenerateResult",
    "HamiltonLieError",
    "Recipe",
    "RecipeError",
    "TrajectoryDataset",
    "__version__",
    "check_dataset",
    "generate_dataset",
    "load_recipe",
    "load_split",
    "parse_recipe",
]
