"""The pre-LayerNorm residual block around :class:`LieSelfAttention`."""

from __future__ import annotations

from torch import nn

from ._attention import LieSelfAttention
from ._layer_norm import LayerNorm
from ._mlp import mlp


class AttentionBlock(nn.Module):
    """f + attn(LN f), then f + MLP(LN f).

    Arguments:
        dim, heads, pair_dim, kernel_dim, logits, normalisation, fused: as :class:`LieSelfAttention`'s.
        **attention: the rest of :class:`LieSelfAttention`'s arguments (``kind``, ``tokens_per_body``,
            ``projection``, ``recompute_pairs``).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        pair_dim: int,
        kernel_dim: int,
        logits: str,
        normalisation: str,
        fused: bool,
        **attention,
    ):
        super().__init__()
        self.norm1 = LayerNorm(dim, fused=fused)
        self.attention = LieSelfAttention(
            dim, heads, pair_dim, kernel_dim, logits, normalisation, fused=fused, **attention
        )
        self.norm2 = LayerNorm(dim, fused=fused)
        self.mlp = mlp([dim, dim, dim])

    def forward(self, f, pairs, index, mask):
        """``f (B, M, C)``, and ``pairs``, ``index``, ``mask`` as :meth:`LieSelfAttention.forward` -> ``(B, M, C)``."""
        f = f + self.attention(self.norm1(f), pairs, index, mask)
        return f + self.mlp(self.norm2(f))
