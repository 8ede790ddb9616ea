"""hamilton-lie: Hamiltonian neural networks with group-equivariant transformers.

The names below are the public surface; the subpackages hold the rest, each with its own public API:
``groups`` (Lie groups), ``nn`` (attention and layers), ``models`` (energy models), ``dynamics``
(J grad H and rollouts), ``data`` (recipes, generation, datasets), ``training`` (configs, the loop,
checkpoints), ``analysis`` (metrics and evaluation), ``testing`` (equivariance checks) and
``plotting`` (figures). Every name is imported on first use, so ``import hamilton_lie`` loads neither
torch nor h5py nor matplotlib until something needs them.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes

__version__ = "0.1.0"

_WHERE = {
    # subpackages
    "analysis": ".analysis",
    "data": ".data",
    "dynamics": ".dynamics",
    "groups": ".groups",
    "models": ".models",
    "nn": ".nn",
    "plotting": ".plotting",
    "testing": ".testing",
    "training": ".training",
    # energy models
    "LieTransformer": ".models",
    "GAAttention": ".models",
    "MLPHamiltonian": ".models",
    "get_model": ".models",
    # dynamics
    "HamiltonianDynamics": ".dynamics",
    "hamiltonian_vector_field": ".dynamics",
    "to_z": ".dynamics",
    # data
    "load_recipe": ".data",
    "generate_dataset": ".data",
    "check_dataset": ".data",
    "load_split": ".data",
    "TrajectoryDataset": ".data",
    # training
    "load_config": ".training",
    "train": ".training",
    # evaluation
    "evaluate": ".analysis",
    "load_trained": ".analysis",
    "format_metrics": ".analysis",
    "write_evaluation": ".analysis",
    # errors
    "HamiltonLieError": "._errors",
}

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)

__all__ = ["__version__", *_WHERE]

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from . import analysis as analysis
    from . import data as data
    from . import dynamics as dynamics
    from . import groups as groups
    from . import models as models
    from . import nn as nn
    from . import plotting as plotting
    from . import testing as testing
    from . import training as training
    from ._errors import HamiltonLieError as HamiltonLieError
    from .analysis import evaluate as evaluate
    from .analysis import format_metrics as format_metrics
    from .analysis import load_trained as load_trained
    from .analysis import write_evaluation as write_evaluation
    from .data import TrajectoryDataset as TrajectoryDataset
    from .data import check_dataset as check_dataset
    from .data import generate_dataset as generate_dataset
    from .data import load_recipe as load_recipe
    from .data import load_split as load_split
    from .dynamics import HamiltonianDynamics as HamiltonianDynamics
    from .dynamics import hamiltonian_vector_field as hamiltonian_vector_field
    from .dynamics import to_z as to_z
    from .models import GAAttention as GAAttention
    from .models import LieTransformer as LieTransformer
    from .models import MLPHamiltonian as MLPHamiltonian
    from .models import get_model as get_model
    from .training import load_config as load_config
    from .training import train as train
