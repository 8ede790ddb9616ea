"""Model-agnostic layers: Lie self-attention and its kinds, the location kernel, the attention block,
activations and LayerNorm with lean second derivatives, and recomputation.

Hamiltonian training differentiates an energy model twice (the vector field J grad H, then the loss).
The layers here are written for that: :class:`SiLU` and :class:`LayerNorm` keep little for the second
derivative, :func:`recomputed` keeps only inputs, and on the CPU the location kernels, the per-head
attention products and LayerNorm's second derivative run as fused C++ loops (compiled on first use;
:func:`use_fused_kernels` switches them off for a block of code).
"""

from .._kernels import enabled as _enabled
from .._kernels import use_fused_kernels
from ._activations import SiLU, silu
from ._attention import LieSelfAttention, LinformerProjection, gather_neighbours
from ._attention_kinds import ATTENTION_KINDS, KNN, Full, Linformer, LowRank, attention_kind, attention_table
from ._block import AttentionBlock
from ._layer_norm import LayerNorm
from ._location_kernel import MultiheadKernelMLP
from ._mlp import mlp
from ._recompute import recomputed


def fused_kernels_available() -> bool:
    """Whether the fused C++ kernels are switched on and built (building them now if needed, about 40 s)."""
    return _enabled()


__all__ = [
    "ATTENTION_KINDS",
    "KNN",
    "AttentionBlock",
    "Full",
    "LayerNorm",
    "LieSelfAttention",
    "Linformer",
    "LinformerProjection",
    "LowRank",
    "MultiheadKernelMLP",
    "SiLU",
    "attention_kind",
    "attention_table",
    "fused_kernels_available",
    "gather_neighbours",
    "mlp",
    "recomputed",
    "silu",
    "use_fused_kernels",
]
