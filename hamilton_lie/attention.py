"""LieSelfAttention (Hutchinson et al., 2021, sec. 3.2): multi-head self-attention over lifted tokens
whose logits combine a content kernel and a location kernel on invariant pair features.

Shapes: ``B`` batch, ``M`` tokens (bodies x lift samples), ``K`` neighbours per token (``M`` for
all-token attention), ``C`` channels, ``H`` heads, ``P`` pair-feature length.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOGITS = ("sum", "product", "mlp")
NORMALISATIONS = ("softmax", "dot_product")


def gather_neighbours(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x (B, M, *rest)`` and ``index (B, M, K)`` -> ``(B, M, K, *rest)``, x[b, index[b, m, k]]."""
    B, M, K = index.shape
    flat = index.reshape(B, M * K)
    picked = x.gather(1, flat.view(B, M * K, *([1] * (x.dim() - 2))).expand(B, M * K, *x.shape[2:]))
    return picked.view(B, M, K, *x.shape[2:])


class MultiheadKernelMLP(nn.Module):
    """One small MLP per head, evaluated together: ``(..., P) -> (..., H)``.

    The first layer is one Linear to H * width; the hidden and output layers are per-head weights
    applied by einsum, so the parameter count equals H separate MLPs.
    """

    def __init__(self, in_dim: int, heads: int, width: int):
        super().__init__()
        self.heads, self.width = heads, width
        self.first = nn.Linear(in_dim, heads * width)
        self.hidden_w = nn.Parameter(torch.empty(heads, width, width))
        self.hidden_b = nn.Parameter(torch.zeros(heads, width))
        self.out_w = nn.Parameter(torch.empty(heads, width))
        self.out_b = nn.Parameter(torch.zeros(heads))
        bound = 1 / math.sqrt(width)
        nn.init.uniform_(self.hidden_w, -bound, bound)
        nn.init.uniform_(self.out_w, -bound, bound)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.first(x)).unflatten(-1, (self.heads, self.width))
        h = self.act(torch.einsum("...hi,hij->...hj", h, self.hidden_w) + self.hidden_b)
        return torch.einsum("...hj,hj->...h", h, self.out_w) + self.out_b


class LieSelfAttention(nn.Module):
    """Multi-head attention of each token over its neighbours.

    logits_h(a, b) = combine(content_h(a, b), location_h(a, b)), with content the scaled dot
    product of query and key projections and location an MLP per head on the pair features
    (log(u_a^-1 u_b) and orbit invariants, invariant under the group). ``combine`` is ``sum`` (the
    paper's default), ``product``, or ``mlp`` (a small MLP per head on both). Weights are
    ``softmax`` over the neighbours, or ``dot_product``: the logits divided by the number of
    neighbours, no softmax (the reference's choice for dynamics). The output is the weighted sum of
    value projections, heads concatenated, then a linear map.

    Arguments:
        dim: channels C (divisible by ``heads``).
        heads: number of heads H.
        pair_dim: length P of the pair features.
        kernel_dim: width of the location-kernel MLPs.
        logits: ``sum``, ``product`` or ``mlp``.
        normalisation: ``softmax`` or ``dot_product``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        pair_dim: int,
        kernel_dim: int = 16,
        logits: str = "sum",
        normalisation: str = "softmax",
    ):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        if logits not in LOGITS:
            raise ValueError(f"logits must be one of {LOGITS}, got {logits!r}")
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
        self.heads, self.head_dim = heads, dim // heads
        self.logits, self.normalisation = logits, normalisation
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.location = MultiheadKernelMLP(pair_dim, heads, kernel_dim)
        if logits == "mlp":
            self.combine = MultiheadKernelMLP(2, heads, kernel_dim)

    def forward(
        self, f: torch.Tensor, pairs: torch.Tensor, index: torch.Tensor | None, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """
        Arguments:
            f: token features ``(B, M, C)``.
            pairs: pair features of each token with its neighbours ``(B, M, K, P)``.
            index: neighbour token indices ``(B, M, K)``, or None when every token attends to all M.
            mask: ``(B, M, K)`` True where the neighbour exists (None: all exist).

        Returns:
            ``(B, M, C)``.
        """
        B, M, _ = f.shape
        H, D = self.heads, self.head_dim
        q = self.query(f).view(B, M, H, D)
        k = self.key(f).view(B, M, H, D)
        v = self.value(f).view(B, M, H, D)
        if index is None:
            content = torch.einsum("bmhd,bkhd->bmkh", q, k) / math.sqrt(D)
        else:
            k, v = gather_neighbours(k, index), gather_neighbours(v, index)  # (B, M, K, H, D)
            # einsum, not (q * k).sum(-1): no (B, M, K, H, D) product is kept for backward
            content = torch.einsum("bmhd,bmkhd->bmkh", q, k) / math.sqrt(D)
        location = self.location(pairs)  # (B, M, K, H)
        if self.logits == "sum":
            logits = content + location
        elif self.logits == "product":
            logits = content * location
        else:
            logits = self.combine(torch.stack([content, location], -1))
        if self.normalisation == "softmax":
            if mask is not None:
                logits = logits.masked_fill(~mask.unsqueeze(-1), float("-inf"))
            weights = torch.softmax(logits, dim=2)
        else:
            if mask is None:
                weights = logits / logits.shape[2]
            else:
                count = mask.sum(2, keepdim=True).clamp_min(1).unsqueeze(-1)
                weights = logits.masked_fill(~mask.unsqueeze(-1), 0.0) / count
        if index is None:
            out = torch.einsum("bmkh,bkhd->bmhd", weights, v)
        else:
            out = torch.einsum("bmkh,bmkhd->bmhd", weights, v)
        return self.out(out.reshape(B, M, H * D))
