"""Datasets: recipes, generation into schema-v1 HDF5 files, checks and reading.

Data flow: a recipe (TOML) -> :func:`generate_dataset` (the simulators, batched, written atomically)
-> an HDF5 file (:mod:`hamilton_lie.data._schema` documents its layout) -> :func:`check_dataset`,
:func:`load_split` and :class:`TrajectoryDataset` (lazy training windows). Arrays from elsewhere become
such a file through :func:`write_dataset`, the NRI and EGNN ``.npy`` sets through :func:`import_dataset`.
"""

from .._errors import DatasetError, RecipeError
from .._presets import recipe_names, recipe_path
from ._dataset import TrajectoryDataset
from ._generate import GenerateResult, generate_dataset, relative_energy_error
from ._import import FORMATS, import_dataset
from ._reading import DatasetInfo, check_dataset, load_split
from ._recipes import COMPRESSIONS, Recipe, Splits, load_recipe, parse_recipe
from ._schema import ROOT_ATTRS, SCHEMA_VERSION, SPLITS
from ._write import Provenance, write_dataset

__all__ = [
    "COMPRESSIONS",
    "FORMATS",
    "ROOT_ATTRS",
    "SCHEMA_VERSION",
    "SPLITS",
    "DatasetError",
    "DatasetInfo",
    "GenerateResult",
    "Provenance",
    "Recipe",
    "RecipeError",
    "Splits",
    "TrajectoryDataset",
    "check_dataset",
    "generate_dataset",
    "import_dataset",
    "load_recipe",
    "load_split",
    "parse_recipe",
    "recipe_names",
    "recipe_path",
    "relative_energy_error",
    "write_dataset",
]
