"""LieSelfAttention (Hutchinson et al., 2021, sec. 3.2): multi-head self-attention over lifted tokens
whose logits combine a content kernel and a location kernel on invariant pair features; and two
linear-cost variants without pairs.

* :class:`Full` and :class:`KNN`: the paper's pairwise attention over all tokens or gathered neighbourhoods.
* :class:`Linformer` (Wang et al., 2020): keys and values are projected along the token axis by
  learned ``rank x max_tokens`` matrices E and F, so attention costs O(M rank). A fixed projection over
  token positions is not permutation-symmetric: the energy changes when bodies are listed in another
  order, and, with several lift samples per body, under the rotations that permute them (it stays
  exactly invariant to translations, and to all rotations for groups lifted to one token per body).
  Sharing as in the paper's sec. 4: ``share="headwise"`` (E, F per layer, shared by heads),
  ``"key-value"`` (E = F per layer), ``"layerwise"`` (one E = F for all layers, passed in).
* :class:`LowRank`: attention through ``rank`` learned inducing points (the induced set attention
  of Lee et al., 2019, "Set Transformer"): the inducing points attend to all tokens, then every token
  attends to the inducing points. Sums over tokens are symmetric, so permutation and group invariance
  are kept, at cost O(M rank).

Neither linear variant has pairs, so the location kernel cannot be used; location reaches the
tokens through their features instead (the LieTransformer adds each token's position relative to
the body centroid, in the token's own frame).

Training differentiates the energy twice. Above ``recompute_pairs`` pairs per call, pairwise attention
keeps none of its per-pair intermediates for those derivatives and recomputes them in chunks of
tokens (:func:`recomputed`): memory O(B M C + B M K P) instead of hundreds of floats per pair, for
1.3 to 2.2x the time. All-token attention whose location kernels run fused keeps only a few floats
per pair and does not recompute.

Shapes: ``B`` batch, ``M`` tokens (bodies x lift samples), ``K`` neighbours per token (``M`` for
all-token attention), ``C`` channels, ``H`` heads, ``P`` pair-feature length, ``r`` rank.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from .._kernels import head_products, location_mlp
from ._attention_kinds import KNN, Full, Linformer, LowRank
from ._location_kernel import MultiheadKernelMLP
from ._recompute import recomputed

LOGITS = ("sum", "product", "mlp", "content")
NORMALISATIONS = ("softmax", "dot_product")
# pairs per chunk when recomputing: a chunk's per-pair intermediates stay within a few MB (cache-sized)
RECOMPUTE_CHUNK_PAIRS = 4096
# k-nearest attention over at most this many times K tokens computes all query-key products densely
DENSE_FACTOR = 16


def gather_neighbours(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x (B, M, *rest)`` and ``index (B, M, K)`` -> ``(B, M, K, *rest)``, x[b, index[b, m, k]]."""
    B, M, K = index.shape
    flat = index.reshape(B, M * K)
    picked = x.gather(1, flat.view(B, M * K, *([1] * (x.dim() - 2))).expand(B, M * K, *x.shape[2:]))
    return picked.view(B, M, K, *x.shape[2:])


class LinformerProjection(nn.Module):
    """Linformer's projections along the token axis: E (and F) ``(rank, max_tokens)``; ``shared``
    makes F = E. For M < max_tokens tokens the first M columns are used."""

    def __init__(self, max_tokens: int, rank: int, shared: bool):
        super().__init__()
        self.max_tokens = max_tokens
        # N(0, 1/rank) entries, as the paper's initialisation of E and F
        self.E = nn.Parameter(torch.randn(rank, max_tokens) / math.sqrt(rank))
        self.F = None if shared else nn.Parameter(torch.randn(rank, max_tokens) / math.sqrt(rank))

    def forward(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``k, v (B, M, D, H)`` -> ``(B, rank, D, H)`` each."""
        M = k.shape[1]
        if M > self.max_tokens:
            raise ValueError(f"Linformer attention was built for at most {self.max_tokens} tokens, got {M}")
        E = self.E[:, :M]
        F = E if self.F is None else self.F[:, :M]
        return torch.einsum("rm,bmdh->brdh", E, k), torch.einsum("rm,bmdh->brdh", F, v)


def _normalise(logits: torch.Tensor, mask: torch.Tensor | None, normalisation: str, dim: int) -> torch.Tensor:
    """Attention weights over axis ``dim`` of ``logits``; ``mask`` (broadcastable) marks real entries."""
    if normalisation == "softmax":
        if mask is not None:
            logits = logits.masked_fill(~mask, float("-inf"))
        return torch.softmax(logits, dim=dim)
    if mask is None:
        return logits / logits.shape[dim]
    count = mask.sum(dim, keepdim=True).clamp_min(1)
    return logits.masked_fill(~mask, 0.0) / count


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
        logits: ``sum``, ``product``, ``mlp``, or ``content`` (the content kernel alone).
        normalisation: ``softmax`` or ``dot_product``.
        kind: :class:`Full` or :class:`KNN` (pairwise; which tokens are neighbours is the caller's
            ``index``), :class:`Linformer` or :class:`LowRank` (see the module docstring); the linear
            kinds use the content kernel only.
        tokens_per_body: lift samples per body: a :class:`Linformer` projection is
            ``max_bodies * tokens_per_body`` wide.
        projection: the :class:`LinformerProjection` shared by all layers (``share="layerwise"``).
        recompute_pairs: pairwise kinds: when a call has more pairs than this (B M K) and gradients
            are being taken, keep none of the per-pair intermediates and recompute them chunk by
            chunk when differentiating, once or twice (:func:`recomputed`):
            memory O(B M C + B M K P) instead of hundreds of floats per pair. None: never. All-token
            attention whose location kernels run fused (or that has none) keeps only a few floats
            per pair and never recomputes.
        fused: run the location kernels, and the query-key and value products of all-token (and
            dense k-nearest) attention, through the fused C++ kernels where they can (CPU, float32 or
            float64, a C++ compiler, switched on: :func:`use_fused_kernels`): the same values and
            derivatives, faster, and only the pair features kept for the location kernels'
            derivatives. :class:`~hamilton_lie.LieTransformer` turns it on by default.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        pair_dim: int,
        kernel_dim: int = 16,
        logits: str = "sum",
        normalisation: str = "softmax",
        kind: Full | KNN | Linformer | LowRank = Full(),
        tokens_per_body: int = 1,
        projection: LinformerProjection | None = None,
        recompute_pairs: int | None = None,
        fused: bool = False,
    ):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        if logits not in LOGITS:
            raise ValueError(f"logits must be one of {LOGITS}, got {logits!r}")
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
        self.heads, self.head_dim = heads, dim // heads
        self.kind, self.logits, self.normalisation = kind, logits, normalisation
        self.recompute_pairs = recompute_pairs
        self.fused = fused
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        if kind.pairwise and logits != "content":
            self.location = MultiheadKernelMLP(pair_dim, heads, kernel_dim, fused=fused)
        if kind.pairwise and logits == "mlp":
            self.combine = MultiheadKernelMLP(2, heads, kernel_dim, per_head_input=True)
        if isinstance(kind, Linformer):
            if kind.share == "layerwise":
                if projection is None:
                    raise ValueError("share='layerwise' needs the shared LinformerProjection passed as projection")
                self.projection = projection
            else:
                max_tokens = kind.max_bodies * tokens_per_body
                self.projection = LinformerProjection(max_tokens, kind.rank, shared=kind.share == "key-value")
        if isinstance(kind, LowRank):
            self.inducing = nn.Parameter(torch.randn(kind.rank, dim) / math.sqrt(dim))
            self.key2 = nn.Linear(dim, dim)
            self.value2 = nn.Linear(dim, dim)

    def forward(
        self,
        f: torch.Tensor,
        pairs: torch.Tensor | None = None,
        index: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Arguments:
            f: token features ``(B, M, C)``.
            pairs: pair features of each token with its neighbours ``(B, M, K, P)`` (pairwise kinds;
                unused with ``logits="content"`` and by the linear kinds).
            index: neighbour token indices ``(B, M, K)``, or None when every token attends to all M.
            mask: pairwise kinds: ``(B, M, K)`` True where the neighbour exists; linear kinds: ``(B, M)``
                True for real tokens (None: all exist).

        Returns:
            ``(B, M, C)``.
        """
        B, M, _ = f.shape
        H, D = self.heads, self.head_dim
        # heads innermost: channel c belongs to head c % H, so per-head products vectorise over heads
        # (the fused head products) and no head-major copy is made
        q = self.query(f).view(B, M, D, H)
        k = self.key(f).view(B, M, D, H)
        v = self.value(f).view(B, M, D, H)
        if isinstance(self.kind, Linformer):
            out = self._linformer(q, k, v, mask)
        elif isinstance(self.kind, LowRank):
            out = self._lowrank(f, k, v, mask)
        else:
            out = self._pairwise(q, k, v, pairs, index, mask)
        return self.out(out.reshape(B, M, D * H))

    def _recompute(self, n_pairs: int, pairs, index) -> bool:
        """Whether this call recomputes its per-pair work rather than keeping it (see ``recompute_pairs``)."""
        if not torch.is_grad_enabled() or self.recompute_pairs is None or n_pairs <= self.recompute_pairs:
            return False
        if index is not None or self.logits == "mlp":
            return True
        # all tokens, and no per-pair MLP as PyTorch operations: a kept pair is a few floats per head
        # (logits and weights), and keeping was both faster and leaner than recomputing at 256 and
        # 512 bodies (`python benchmarks/model.py --part scaling`)
        if self.logits == "content":
            return False
        loc = self.location
        return not (loc.fused and pairs is not None and location_mlp.usable(pairs, loc.first.weight, loc.hidden_w))

    def _pairwise(self, q, k, v, pairs, index, mask):
        B, M, K = q.shape[0], q.shape[1], (k.shape[1] if index is None else index.shape[2])
        if not self._recompute(B * M * K, pairs, index):
            return self._attend(q, k, v, pairs, index, mask)
        # per-pair intermediates are recomputed when differentiated instead of kept (_recompute.py)
        kernels = [m for m in (getattr(self, "location", None), getattr(self, "combine", None)) if m is not None]
        names = [[n for n, _ in m.named_parameters()] for m in kernels]
        weights = [w for m in kernels for w in m.parameters()]
        with_pairs = pairs is not None and self.logits != "content"
        tensors = [q, k, v] + ([pairs] if with_pairs else []) + weights
        split = [True, False, False] + ([True] if with_pairs else []) + [False] * len(weights)

        def fn(q, k, v, *rest):
            *rest, index, mask = rest
            pairs = rest.pop(0) if with_pairs else None
            calls = []
            for module, keys in zip(kernels, names, strict=True):
                values, rest = rest[: len(keys)], rest[len(keys) :]
                calls.append(partial(torch.func.functional_call, module, dict(zip(keys, values, strict=True))))
            return self._attend(q, k, v, pairs, index, mask, *calls)

        rows = max(1, RECOMPUTE_CHUNK_PAIRS // (B * K))
        return recomputed(fn, tensors, split, (index, mask), rows=rows)

    def location_logits(self, content, pairs, location=None, combine=None):
        """Combine the content logits ``(B, M, K, H)`` with the location kernel on ``pairs``;
        ``location`` and ``combine`` replace the kernel modules (for recomputation)."""
        if self.logits == "content":
            return content
        location = (location or self.location)(pairs)  # (B, M, K, H)
        if self.logits == "sum":
            return content + location
        if self.logits == "product":
            return content * location
        return (combine or self.combine)(torch.stack([content, location], -1))

    def _attend(self, q, k, v, pairs, index, mask, *kernels):
        """Attention of the rows of ``q (B, R, D, H)`` over ``k, v (B, M, D, H)``: all of them
        (``index`` None) or the neighbours ``index (B, R, K)``; ``kernels`` as in :meth:`location_logits`."""
        B, R, D, H = q.shape
        M = k.shape[1]
        dense = index is not None and M <= DENSE_FACTOR * index.shape[2]
        if index is None or dense:
            # all query-key products at once (per-head products), cheaper than gathering K key
            # vectors per row while the rows are not much longer than the neighbourhoods
            content = head_products.head_dot(q, k, self.fused) / math.sqrt(D)
            if dense:
                at = index.unsqueeze(-1).expand(B, R, index.shape[2], H)
                content = content.gather(2, at)
        else:
            k, v = gather_neighbours(k, index), gather_neighbours(v, index)  # (B, R, K, D, H)
            # einsum, not (q * k).sum(-2): no (B, R, K, D, H) product is kept for backward
            content = torch.einsum("bmdh,bmkdh->bmkh", q, k) / math.sqrt(D)
        logits = self.location_logits(content, pairs, *kernels)
        weights = _normalise(logits, None if mask is None else mask.unsqueeze(-1), self.normalisation, 2)
        if dense:
            weights = weights.new_zeros(B, R, M, H).scatter_add(2, at, weights)
        if index is None or dense:
            return head_products.head_mix(weights, v, self.fused)
        return torch.einsum("bmkh,bmkdh->bmdh", weights, v)

    def _linformer(self, q, k, v, mask):
        if mask is not None:  # padded tokens must not leak into the projections
            keep = mask.view(*mask.shape, 1, 1).to(k.dtype)
            k, v = k * keep, v * keep
        k, v = self.projection(k, v)  # (B, r, D, H)
        logits = torch.einsum("bmdh,brdh->bmrh", q, k) / math.sqrt(self.head_dim)
        weights = _normalise(logits, None, self.normalisation, 2)
        return torch.einsum("bmrh,brdh->bmdh", weights, v)

    def _lowrank(self, f, k, v, mask):
        B, M, _ = f.shape
        H, D = self.heads, self.head_dim
        r = self.inducing.shape[0]
        # 1. the inducing points attend to every token (a symmetric sum over tokens)
        qi = self.query(self.inducing).view(r, D, H)
        logits = torch.einsum("rdh,bmdh->brmh", qi, k) / math.sqrt(D)
        token_mask = None if mask is None else mask.view(B, 1, M, 1)
        summary = torch.einsum("brmh,bmdh->brdh", _normalise(logits, token_mask, self.normalisation, 2), v)
        # 2. every token attends to the inducing points' summaries
        z = summary.reshape(B, r, D * H)
        k2, v2 = self.key2(z).view(B, r, D, H), self.value2(z).view(B, r, D, H)
        q = self.query(f).view(B, M, D, H)
        logits = torch.einsum("bmdh,brdh->bmrh", q, k2) / math.sqrt(D)
        return torch.einsum("bmrh,brdh->bmdh", _normalise(logits, None, self.normalisation, 2), v2)
