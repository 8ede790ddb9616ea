"""Geometric-algebra attention (Spellings, "Geometric algebra attention networks for small point
clouds", 2021) as an energy model: exactly invariant to continuous rotations, translations and
permutations, with no lifting.

For each body i and each tuple of other bodies, the vectors of the tuple (relative positions
r_ij = q_j - q_i and, with ``energy="full"``, the momenta) are multiplied in the geometric algebra of
R^d, and the rotation-invariant parts of the products become the tuple's features:

* rank 2 (pairs i, j): the scalar parts a . b of every product of two of the vectors {r_ij, p_i, p_j}
  (|r|^2, r . p_i, p_i . p_j, ...) and their bivector parts a ^ b, which in 2D are one pseudoscalar
  and in 3D a bivector whose invariant is its squared magnitude |a ^ b|^2;
* rank 3 (triples i, j, k; ``rank=3``): the same for {r_ij, r_ik} (plus p_i, p_j, p_k), and in 3D
  the trivector part a ^ b ^ c = det[a, b, c] of every three of them (a pseudoscalar; with
  ``energy="potential"`` there are only two vectors, so no trivector).

A pseudoscalar changes sign under reflections: ``reflections=True`` (the default) uses its square, so
the model is invariant under O(d); ``reflections=False`` keeps its sign, so the model is invariant under
proper rotations only and can tell a configuration from its mirror image.

Each layer computes, for every tuple, a value v = MLP(features, h_i, h_j[, h_k]) and per-head logits
from v; body i's update is the softmax-weighted sum of its tuples' values (a permutation-equivariant
reduction), in a pre-LayerNorm residual block. Mean pooling over bodies and an MLP give H; with
``energy="potential"`` the network sees positions only and sum |p|^2 / 2m is added exactly. Features
pass through asinh, which is smooth (H is differentiated twice in training) and keeps quadratic
invariants of widely separated bodies in range. Rotation-covariant vector outputs come for free where
they matter here: the vector field J grad H of an invariant H is covariant.

Cost: O(N^2) (rank 2) or O(N^3) (rank 3) tuples per system: for small point clouds, as the paper says.

Example:
    >>> import torch
    >>> model = GAAttention(dim=3, dim_hidden=16, num_layers=1, num_heads=2).double()
    >>> q, p = torch.randn(2, 5, 3, dtype=torch.float64), torch.randn(2, 5, 3, dtype=torch.float64)
    >>> params = {"masses": torch.ones(2, 5, dtype=torch.float64), "k": torch.ones(2, 5, dtype=torch.float64)}
    >>> model(q, p, params).shape
    torch.Size([2])
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn import mlp
from ._base import EnergyModel, masked_mean


def _wedge_invariant(a: torch.Tensor, b: torch.Tensor, signed: bool) -> torch.Tensor:
    """The invariant of the bivector a ^ b: in 2D its single component (signed, or squared), in 3D
    |a ^ b|^2 = |a x b|^2 (a bivector in 3D has no rotation-invariant sign)."""
    if a.shape[-1] == 2:
        w = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
        return w if signed else w * w
    return torch.linalg.cross(a, b, dim=-1).pow(2).sum(-1)


def product_invariants(vectors: list[torch.Tensor], signed: bool) -> torch.Tensor:
    """Rotation-invariant parts of the geometric products of ``vectors`` (each ``(..., d)``).

    Scalar parts a . b for every unordered pair (squares included), bivector invariants for every
    pair of distinct vectors and, in 3D with three or more vectors, the trivector part of each triple
    (det[a, b, c], squared unless ``signed``). Returns ``(..., F)``.
    """
    n = len(vectors)
    feats = [(vectors[i] * vectors[j]).sum(-1) for i in range(n) for j in range(i, n)]
    feats += [_wedge_invariant(vectors[i], vectors[j], signed) for i in range(n) for j in range(i + 1, n)]
    if vectors[0].shape[-1] == 3:
        for i in range(n):
            for j in range(i + 1, n):
                for k in range(j + 1, n):
                    det = (torch.linalg.cross(vectors[i], vectors[j], dim=-1) * vectors[k]).sum(-1)
                    feats.append(det if signed else det * det)
    return torch.stack(feats, -1)


def n_invariants(n_vectors: int, dim: int) -> int:
    n = n_vectors
    triples = n * (n - 1) * (n - 2) // 6 if dim == 3 else 0
    return n * (n + 1) // 2 + n * (n - 1) // 2 + triples


class _TupleAttention(nn.Module):
    """One pre-LayerNorm residual block: bodies attend over their tuples, then a pointwise MLP."""

    def __init__(self, dim_hidden: int, heads: int, n_features: int, rank: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim_hidden)
        self.feature_in = nn.Linear(n_features, dim_hidden)
        # h_i, h_j (and h_k) enter through their own linear maps, summed: the concatenation
        # [features, h_i, h_j, h_k] times one matrix, without materialising it per tuple
        self.member_in = nn.ModuleList(nn.Linear(dim_hidden, dim_hidden, bias=False) for _ in range(rank))
        self.value = mlp([dim_hidden, dim_hidden, dim_hidden])
        self.logit = nn.Linear(dim_hidden, heads)
        self.out = nn.Linear(dim_hidden, dim_hidden)
        self.norm2 = nn.LayerNorm(dim_hidden)
        self.mlp = mlp([dim_hidden, dim_hidden, dim_hidden])

    def forward(self, h: torch.Tensor, features: torch.Tensor, tuple_mask: torch.Tensor) -> torch.Tensor:
        """``h (B, N, C)``, ``features (B, N, T..., F)`` (T... = one or two axes of partners),
        ``tuple_mask`` broadcastable to ``(B, N, T...)``, True for tuples that exist -> ``(B, N, C)``."""
        B, N, C = h.shape
        x = self.norm1(h)
        partner_axes = features.dim() - 3
        pre = self.feature_in(features) + self.member_in[0](x).view(B, N, *([1] * partner_axes), C)
        for axis, member in enumerate(self.member_in[1:]):
            shape = [B] + [1] * (partner_axes + 1) + [C]
            shape[2 + axis] = N
            pre = pre + member(x).view(shape)
        v = self.value(torch.nn.functional.silu(pre))  # (B, N, T..., C)
        logits = self.logit(v)  # (B, N, T..., H)
        logits = logits.masked_fill(~tuple_mask.unsqueeze(-1), float("-inf")).flatten(2, -2)
        weights = torch.softmax(logits, dim=2).nan_to_num(0.0)  # a body with no partners gets zeros
        v = v.flatten(2, -2).unflatten(-1, (self.heads, C // self.heads))
        attended = torch.einsum("bnth,bnthc->bnhc", weights, v).reshape(B, N, C)
        h = h + self.out(attended)
        return h + self.mlp(self.norm2(h))


class GAAttention(EnergyModel):
    """Scalar energy H(q, p, params) from geometric-algebra attention; see the module docstring.

    Arguments:
        dim: 2 or 3.
        scalar_features: per-body parameters fed to the network (masses, spring constants, charges).
        dim_hidden: channels; num_layers: attention blocks; num_heads: heads (divides dim_hidden).
        rank: tuples of 2 (pairs, O(N^2)) or 3 bodies (triples, O(N^3)), in every layer.
        reflections: invariant under reflections too (squared pseudoscalars) or only proper rotations.
        energy: ``"full"`` (momenta enter the products) or ``"potential"`` (V(q) + sum |p|^2 / 2m).
        output_scale: multiplies the network's output (see :class:`EnergyModel`).

    Raises:
        ValueError: for a bad option, or inputs that do not fit (naming expected and received shapes).
    """

    def __init__(
        self,
        dim: int,
        scalar_features: tuple[str, ...] = ("masses", "k"),
        dim_hidden: int = 64,
        num_layers: int = 3,
        num_heads: int = 4,
        rank: int = 2,
        reflections: bool = True,
        energy: str = "full",
        output_scale: float = 1.0,
    ):
        if dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3, got {dim}")
        if rank not in (2, 3):
            raise ValueError(f"rank must be 2 or 3, got {rank}")
        super().__init__(dim, scalar_features, energy, output_scale)
        if dim_hidden % num_heads:
            raise ValueError(f"dim_hidden ({dim_hidden}) must be divisible by num_heads ({num_heads})")
        self.rank, self.reflections = rank, reflections
        full = energy == "full"
        # vectors per tuple: relative positions (rank - 1 of them), then p_i and each partner's momentum
        n_vectors = (rank - 1) + (rank if full else 0)
        self.embed = nn.Linear(len(self.scalar_features) + (1 if full else 0), dim_hidden)
        self.blocks = nn.ModuleList(
            _TupleAttention(dim_hidden, num_heads, n_invariants(n_vectors, dim), rank) for _ in range(num_layers)
        )
        self.readout = mlp([dim_hidden, dim_hidden, dim_hidden, 1])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, rank={self.rank}, reflections={self.reflections}, energy={self.energy!r}"

    def _tuples(self, q: torch.Tensor, p: torch.Tensor, mask: torch.Tensor | None):
        """Invariant features of every tuple ``(B, N, N[, N], F)`` and which tuples exist."""
        B, N, _ = q.shape
        eye = torch.eye(N, dtype=torch.bool, device=q.device)
        exists = ~eye.expand(B, N, N)
        if mask is not None:
            exists = exists & mask.unsqueeze(1) & mask.unsqueeze(2)
        r = q.unsqueeze(1) - q.unsqueeze(2)  # r[b, i, j] = q_j - q_i
        signed = not self.reflections
        if self.rank == 2:
            vectors = [r]
            if self.energy == "full":
                vectors += [p.unsqueeze(2).expand_as(r), p.unsqueeze(1).expand_as(r)]
            return product_invariants(vectors, signed), exists
        rij, rik = r.unsqueeze(3), r.unsqueeze(2)  # (B, N, N, 1, d), (B, N, 1, N, d)
        shape = (B, N, N, N, q.shape[-1])
        vectors = [rij.expand(shape), rik.expand(shape)]
        if self.energy == "full":
            vectors += [
                p.view(B, N, 1, 1, -1).expand(shape),
                p.view(B, 1, N, 1, -1).expand(shape),
                p.view(B, 1, 1, N, -1).expand(shape),
            ]
        exists3 = exists.unsqueeze(3) & exists.unsqueeze(2) & ~eye.view(1, 1, N, N)
        return product_invariants(vectors, signed), exists3

    def network(self, q, p, params, mask=None, generator=None) -> torch.Tensor:
        """The learned part ``(B,)``; ``generator`` is accepted for interface parity (nothing here is random)."""
        features, exists = self._tuples(q, p, mask)
        features = torch.asinh(features)
        scalars = list(self.scalars(params).unbind(-1))
        if self.energy == "full":
            scalars.append(torch.asinh(p.pow(2).sum(-1)))
        h = self.embed(torch.stack(scalars, -1))
        for block in self.blocks:
            h = block(h, features, exists)
        return self.readout(masked_mean(h, mask)).squeeze(-1)
