"""The LieTransformer energy model (Hutchinson et al., "LieTransformer: Equivariant self-attention
for Lie Groups", ICML 2021): lift -> LieSelfAttention blocks -> invariant pooling -> MLP -> H.

The model maps a set of bodies to a scalar energy invariant under its group:

1. **Lift.** Each body's position is lifted to group elements u (``lift_samples`` per body, a
   deterministic grid in eval mode and a randomly offset one in training). Momenta are expressed in
   each element's frame, R_u^T p, which makes them invariant; per-body scalars (masses, spring
   constants, charges) pass through; orbit invariants (e.g. |x| for SO(d)) are appended.
2. **Attend.** Pre-LayerNorm residual blocks of LieSelfAttention (content + location kernels on
   the pair features of u_a^-1 u_b) and a pointwise MLP, over all tokens or over the tokens of each
   body's k nearest bodies (distances |q_i - q_j| are invariant under every group here), gathered
   so that memory is O(N k).
3. **Pool and read out.** Masked mean over tokens, then an MLP to a scalar.

``energy="potential"`` predicts V(q) and adds the kinetic term sum |p|^2 / (2 m) analytically (the
reference's spring model); ``energy="full"`` predicts H(q, p) from momenta too. Activations are SiLU:
the Hamiltonian is differentiated twice in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..groups import Element, Group
from ..nn import (
    KNN,
    AttentionBlock,
    Full,
    Linformer,
    LinformerProjection,
    LowRank,
    attention_kind,
    gather_neighbours,
    mlp,
)
from ._base import EnergyModel, masked_mean

# above this many pairs per layer (B M K), attention recomputes its per-pair intermediates rather than
# keeping them: the spring benchmark's batches (100 x 6 x 6) and 256 bodies x 32 neighbours x batch 4
# stay below it, larger systems go above. Kept, that 256-body case peaks at 0.8 GiB with the fused
# location kernels and at 2.0 GiB with PyTorch's (benchmarks/results/model_scaling.json): set
# recompute_pairs lower where the fused kernels do not run (a GPU) and memory is short
RECOMPUTE_PAIRS = 65536


@dataclass(frozen=True)
class Tokens:
    """The lifted set: features ``(B, M, C_in)``, elements ``(B, M)``, orbit invariants ``(B, M, O)``
    and the token mask ``(B, M)`` (None when every body is real). Token m belongs to body m // S."""

    features: torch.Tensor
    element: Element
    orbit: torch.Tensor
    mask: torch.Tensor | None


class LieTransformer(EnergyModel):
    """Scalar energy model H(q, p, params), invariant under ``group``.

    Arguments:
        group: a :mod:`hamilton_lie.groups` group acting on R^d.
        scalar_features: names of per-body parameters fed to the model, e.g. ``("masses", "k")``.
        dim_hidden: channels (default 160, the reference's spring model).
        num_layers: attention blocks (default 5).
        num_heads: heads (default 8).
        kernel_dim: width of the location-kernel MLPs (default 16).
        lift_samples: elements per body: the C_n grid size for SE(2) and SO(3); T(d), SO(2) and the
            trivial group lift to 1 and SE(3) to its finite group's order (12, 24 or 60), so for them
            leave it out (None) or give that number: another value is an error, not silently replaced.
        logits: ``sum`` | ``product`` | ``mlp``; normalisation: ``softmax`` | ``dot_product``.
        attention: which tokens attend to which (:mod:`hamilton_lie.nn`): ``Full()`` (all tokens),
            ``KNN(neighbours=32)`` (the tokens of the nearest bodies, the body itself included; memory
            O(N k)), ``Linformer(rank=32, max_bodies=n)`` (keys and values projected along the token
            axis; not permutation-symmetric) or ``LowRank(rank=32)`` (attention through inducing
            points; symmetric); a name or a ``{"kind": ...}`` table as in TOML also works. The linear
            kinds use the content kernel only.
        token_location: give each token its position relative to the centroid of the bodies, in the
            token's own frame (R_u^T (q_i - c): invariant under the group, which moves c along with the
            bodies). Default: on for the linear kinds, whose attention sees no pairs, off otherwise.
        energy: ``"potential"`` (V(q) + analytic kinetic; needs ``masses``) or ``"full"``.
        recompute_pairs: all-token and k-nearest attention keep no per-pair intermediates for the
            derivatives when a layer sees more than this many pairs (batch x tokens x neighbours), and
            recompute them in chunks instead (same values and gradients, far less memory, some extra
            work; see :func:`hamilton_lie.nn.recomputed`). None: always keep them. All-token attention
            with fused location kernels keeps only a few floats per pair and never recomputes.
        pair_distance: append the squared distance |q_j - q_i|^2 of the two tokens' bodies to the
            pair features (invariant under every group here, all subgroups of E(d)). Off in the
            reference; on in the tuned spring preset, with product logits and ``pair_range``.
        pair_range: translation groups only (T(d)): the displacement v = q_j - q_i enters the
            location kernels as v / sqrt(1 + |v|^2 / pair_range^2), and ``pair_distance`` as that
            vector's squared length. Pairs much closer than ``pair_range`` are barely changed;
            farther ones saturate at length ``pair_range``, so a body drifting far outside the
            training distances feeds the kernels values they were trained on, and its position moves
            them by O(pair_range / |v|) instead of O(1). None (the reference): raw displacements.
            On the spring benchmark, with ``pair_distance`` and product logits, 3 lowered T(2)'s 5-step
            test MSE at n_train 400 from 1.1e-4 to 1.9e-5 (median over seeds; the documentation's
            spring data-efficiency page).
        output_scale: see :class:`EnergyModel`.
        fused_kernels: evaluate the location kernels (and their first and second derivatives), the
            per-head attention products and LayerNorm's second derivative with vectorised C++ loops
            on CPU float tensors (compiled on first use, cached): faster and far leaner than
            PyTorch's operations, the same values to round-off. False, a GPU tensor, no C++ compiler
            or :func:`hamilton_lie.nn.use_fused_kernels` ``(False)`` uses PyTorch operations.

    Example:
        >>> import torch
        >>> from hamilton_lie import groups
        >>> model = LieTransformer(groups.SE2(), ("masses", "k"), dim_hidden=32, num_layers=2, num_heads=4,
        ...                        lift_samples=4).double().eval()
        >>> q, p = torch.randn(3, 6, 2, dtype=torch.float64), torch.randn(3, 6, 2, dtype=torch.float64)
        >>> params = {"masses": torch.ones(3, 6, dtype=torch.float64), "k": torch.ones(3, 6, dtype=torch.float64)}
        >>> model(q, p, params).shape
        torch.Size([3])
    """

    def __init__(
        self,
        group: Group,
        scalar_features: tuple[str, ...] = ("masses", "k"),
        dim_hidden: int = 160,
        num_layers: int = 5,
        num_heads: int = 8,
        kernel_dim: int = 16,
        lift_samples: int | None = None,
        logits: str = "sum",
        normalisation: str = "dot_product",
        attention: Full | KNN | Linformer | LowRank | str | dict = Full(),
        energy: str = "potential",
        token_location: bool | None = None,
        recompute_pairs: int | None = RECOMPUTE_PAIRS,
        pair_distance: bool = False,
        pair_range: float | None = None,
        output_scale: float = 1.0,
        fused_kernels: bool = True,
    ):
        super().__init__(group.dim, scalar_features, energy, output_scale)
        attention = attention_kind(attention)
        if lift_samples is not None and (isinstance(lift_samples, bool) or not isinstance(lift_samples, int)
                                         or lift_samples < 1):  # fmt: skip
            raise ValueError(f"lift_samples must be a positive integer, got {lift_samples!r}")
        lifted = group.lift_size(1 if lift_samples is None else lift_samples)
        if lift_samples is not None and lifted != lift_samples:
            raise ValueError(f"{group!r} lifts each body to {lifted} element{'s' * (lifted != 1)}, so lift_samples = "
                             f"{lift_samples} would be ignored: leave it out or set it to {lifted}")  # fmt: skip
        self.group = group
        self.lift_samples = lifted
        self.attention = attention
        self.pair_distance = bool(pair_distance)
        if pair_range is not None and (group.rotations or not group.translations):
            raise ValueError(
                f"pair_range needs a translation group (T(d)), whose pair features are displacements; got {group!r}"
            )
        if pair_range is not None and not pair_range > 0:
            raise ValueError(f"pair_range must be positive, got {pair_range!r}")
        self.pair_range = None if pair_range is None else float(pair_range)
        self.token_location = not attention.pairwise if token_location is None else token_location
        in_dim = len(self.scalar_features) + group.orbit_dim + (group.dim if energy == "full" else 0)
        in_dim += group.dim if self.token_location else 0
        self.embed = nn.Linear(in_dim, dim_hidden)
        tokens_per_body = group.lift_size(lift_samples)
        options: dict = {"kind": attention, "tokens_per_body": tokens_per_body}
        if attention.pairwise:
            options["recompute_pairs"] = recompute_pairs
        if isinstance(attention, Linformer) and attention.share == "layerwise":
            options["projection"] = LinformerProjection(attention.max_bodies * tokens_per_body, attention.rank, shared=True)
        pair_dim = group.pair_dim + self.pair_distance
        self.blocks = nn.ModuleList(
            AttentionBlock(dim_hidden, num_heads, pair_dim, kernel_dim, logits, normalisation, fused_kernels, **options)
            for _ in range(num_layers)
        )
        self.readout = mlp([dim_hidden, dim_hidden, dim_hidden, 1])

    def extra_repr(self) -> str:
        return f"group={self.group!r}, lift_samples={self.lift_samples}, attention={self.attention!r}, energy={self.energy!r}"

    def lift(self, q, p, params, mask=None, generator=None) -> Tokens:
        """Lift bodies to tokens (see the module docstring)."""
        random = self.training and self.group.rotations
        n_samples = self.group.lift_size(self.lift_samples)
        lifted = self.group.lift(q, n_samples=n_samples, random=random, generator=generator)
        u = lifted.element  # (B, N, S)
        B, N, S = u.shape
        parts = [self.scalars(params).unsqueeze(2).expand(B, N, S, -1)]
        parts.append(lifted.orbit)
        if self.energy == "full":
            # momenta in each element's frame: R_u^T p is unchanged when u -> g u, p -> R_g p
            parts.append((u.R.transpose(-1, -2) @ p.unsqueeze(2).unsqueeze(-1)).squeeze(-1))
        if self.token_location:
            centre = masked_mean(q, mask).unsqueeze(1)
            parts.append((u.R.transpose(-1, -2) @ (q - centre).unsqueeze(2).unsqueeze(-1)).squeeze(-1))
        d = self.group.dim
        flat = Element(u.R.reshape(B, N * S, d, d), u.t.reshape(B, N * S, d))
        token_mask = None if mask is None else mask.unsqueeze(2).expand(B, N, S).reshape(B, N * S)
        features = torch.cat(parts, -1).reshape(B, N * S, -1)
        return Tokens(features, flat, lifted.orbit.reshape(B, N * S, -1), token_mask)

    def _neighbourhoods(self, q: torch.Tensor, tokens: Tokens):
        """Neighbour token indices ``(B, M, K)`` (None for all-token attention) and the neighbour mask."""
        B, N, _ = q.shape
        S = tokens.features.shape[1] // N
        if not isinstance(self.attention, KNN) or self.attention.neighbours >= N:
            mask = None if tokens.mask is None else tokens.mask.unsqueeze(1).expand(B, N * S, N * S)
            return None, mask
        k = self.attention.neighbours
        with torch.no_grad():
            # nearest bodies by |q_i - q_j|, invariant under every group here; padded bodies are far
            dist = torch.cdist(q, q)
            if tokens.mask is not None:
                body_mask = tokens.mask.view(B, N, S)[..., 0]
                dist = dist.masked_fill(~body_mask.unsqueeze(1), float("inf"))
            bodies = dist.topk(k, dim=-1, largest=False).indices  # (B, N, k)
        # every token of body i attends to every token of its k bodies: (B, N, S, k, S) -> (B, M, k S)
        samples = torch.arange(S, device=q.device)
        index = (bodies.unsqueeze(-1) * S + samples).view(B, N, 1, k * S).expand(B, N, S, k * S)
        index = index.reshape(B, N * S, k * S)
        mask = None if tokens.mask is None else gather_neighbours(tokens.mask.unsqueeze(-1), index).squeeze(-1)
        return index, mask

    def _pairs(self, q, tokens: Tokens, index):
        """Pair features ``(B, M, K, pair_dim)`` of each token with its neighbours (all M when ``index`` is None)."""
        u, o = tokens.element, tokens.orbit
        ua = Element(u.R.unsqueeze(2), u.t.unsqueeze(2))
        if index is None:
            ub = Element(u.R.unsqueeze(1), u.t.unsqueeze(1))
            feats = self.group.pair_features(ua, ub, o.unsqueeze(2), o.unsqueeze(1))
        else:
            ub = Element(gather_neighbours(u.R, index), gather_neighbours(u.t, index))
            feats = self.group.pair_features(ua, ub, o.unsqueeze(2), gather_neighbours(o, index))
        if self.pair_range is not None:
            # T(d)'s pair features are the displacement alone (no orbit invariants): saturate it
            d2 = feats.pow(2).sum(-1, keepdim=True)
            shrink = 1 + d2 / self.pair_range**2
            feats, d2 = feats * torch.rsqrt(shrink), d2 / shrink  # d2: the saturated vector's squared length
        elif self.pair_distance:
            x = q.repeat_interleave(tokens.features.shape[1] // q.shape[1], dim=1)  # token m is body m // S
            xb = x.unsqueeze(1) if index is None else gather_neighbours(x, index)
            d2 = (xb - x.unsqueeze(2)).pow(2).sum(-1, keepdim=True)
        if not self.pair_distance:
            return feats
        return torch.cat([feats, d2.expand(*feats.shape[:-1], 1)], -1)

    def network(self, q, p, params, mask=None, generator=None) -> torch.Tensor:
        """The network's scalar output before the kinetic term: ``(B,)``."""
        tokens = self.lift(q, p, params, mask, generator)
        if not self.attention.pairwise:
            index, nbhd_mask, pairs = None, tokens.mask, None
        else:
            index, nbhd_mask = self._neighbourhoods(q, tokens)
            pairs = self._pairs(q, tokens, index)
        f = self.embed(tokens.features)
        for block in self.blocks:
            f = block(f, pairs, index, nbhd_mask)
        return self.readout(masked_mean(f, tokens.mask)).squeeze(-1)
