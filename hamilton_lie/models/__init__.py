"""Energy models H(q, p, params) -> ``(B,)``: the LieTransformer, geometric-algebra attention, the MLP
baseline, their shared base and their registry.

Every model takes ``q, p (B, N, d)``, ``params`` (name -> ``(B, N)``), an optional ``mask (B, N)`` of
real bodies and an optional ``generator`` (random lifts in training), and returns one energy per
system. :class:`EnergyModel` holds what they share: input checks, the exact kinetic term of the
``energy="potential"`` head and masked pooling.
"""

from ._base import ENERGY_HEADS, EnergyModel, kinetic_energy, masked_mean
from ._ga_attention import GAAttention
from ._lie_transformer import RECOMPUTE_PAIRS, LieTransformer
from ._mlp import MLPHamiltonian
from ._registry import MODELS, get_model, list_models, model_arguments, register_model

__all__ = [
    "ENERGY_HEADS",
    "MODELS",
    "RECOMPUTE_PAIRS",
    "EnergyModel",
    "GAAttention",
    "LieTransformer",
    "MLPHamiltonian",
    "get_model",
    "kinetic_energy",
    "list_models",
    "masked_mean",
    "model_arguments",
    "register_model",
]
