"""Bodies interacting through a softened inverse-distance potential, shared by gravity and charges.

V(q) = strength * sum_{i<j} a_i a_j / sqrt(|q_i - q_j|^2 + eps^2)

with a_i the bodies' masses (gravity, strength = -G) or charges (Coulomb, strength =
coulomb constant) and eps the Plummer softening. Forces are exact and pairwise, O(N^2). In float64 on
the CPU the forces and whole kick-drift-kick intervals run in a fused C++ kernel (``simulators._native``),
each system in cache and each pair once; elsewhere, and with ``simulators.use_fused_kernels(False)``,
PyTorch operations give the same values to round-off.
"""

from __future__ import annotations

import torch

from .._native import pairwise_kernels
from .._random import sample_separated_positions
from ._base import HamiltonianSystem, Params, broadcast_params


class InverseDistanceSystem(HamiltonianSystem):
    """Common machinery of :class:`GravitySystem` and :class:`ChargedSystem`.

    Subclasses define ``strength`` (the signed coupling constant), ``coupling(params)`` (the
    per-body a_i) and ``_momentum_scale`` (how initial momenta are scaled).
    """

    def __init__(
        self,
        n_bodies: int,
        dim: int,
        softening: float,
        mass_range: tuple[float, float],
        radius: float,
        min_separation: float,
    ):
        super().__init__(n_bodies, dim)
        self.softening = float(softening)
        self.mass_range = (float(mass_range[0]), float(mass_range[1]))
        self.radius = float(radius)
        self.min_separation = float(min_separation)
        if self.softening < 0:
            raise ValueError(f"softening must be non-negative (0: unsoftened), got {softening}")
        if not 0 < self.mass_range[0] <= self.mass_range[1]:
            raise ValueError(f"mass_range must satisfy 0 < low <= high, got {mass_range}")
        if self.radius <= 0 or self.min_separation < 0:
            raise ValueError(f"radius must be positive and min_separation non-negative, got {radius}, {min_separation}")

    strength: float

    def coupling(self, params: Params) -> torch.Tensor:
        raise NotImplementedError

    def _momentum_scale(self, q: torch.Tensor, p: torch.Tensor, params: Params) -> torch.Tensor:
        """Factor ``(batch, 1, 1)`` applied to the unit-scale random momenta."""
        raise NotImplementedError

    def _couplings(self, q: torch.Tensor, params: Params) -> torch.Tensor:
        """The couplings a_i broadcast to ``q``'s batch: ``(..., n_bodies)``."""
        return broadcast_params({"a": self.coupling(params)}, q)["a"]

    def _pairs(self, q: torch.Tensor, params: Params):
        """Pair differences q_i - q_j ``(..., N, N, d)``, a_i a_j / (r^2 + eps^2)^(1/2) and the same ^(3/2)."""
        a = self._couplings(q, params)
        diff = q.unsqueeze(-2) - q.unsqueeze(-3)
        # |q_i - q_j|^2 axis by axis: for two or three axes much faster than a reduction over the last one
        r2 = diff[..., 0] * diff[..., 0]
        for k in range(1, self.dim):
            r2 = r2 + diff[..., k] * diff[..., k]
        r2 = r2 + self.softening**2
        # a diagonal of 1 keeps it finite (also for autograd); the couplings' zero diagonal removes it
        r2.diagonal(dim1=-2, dim2=-1).fill_(1.0)
        aa = a.unsqueeze(-1) * a.unsqueeze(-2)
        aa.diagonal(dim1=-2, dim2=-1).fill_(0.0)
        inv = aa * r2.rsqrt()
        return diff, inv, inv / r2

    def potential(self, q, params):
        _, inv, _ = self._pairs(q, params)
        return 0.5 * self.strength * inv.sum((-1, -2))

    def force(self, q, params):
        kernels = self._kernels(q)
        if kernels is not None:
            return kernels.forces(q, self._couplings(q, params), self.strength, self.softening)
        diff, _, inv3 = self._pairs(q, params)
        # sum_j inv3_ij diff_ij as a batched (1, N) @ (N, d) product: several times faster than a
        # multiply-and-sum over the middle axis, and the same for each trajectory in any batch
        return self.strength * (inv3.unsqueeze(-2) @ diff).squeeze(-2)

    def _kernels(self, *tensors):
        """The fused kernels where they serve these tensors: one batch axis, float64 on the CPU without
        autograd (the kernels have no backward; the data are float64), switched on and built; else None."""
        if self.dim not in (2, 3) or any(
            t.dim() != 3 or t.dtype != torch.float64 or t.device.type != "cpu" or t.requires_grad for t in tensors
        ):
            return None
        return pairwise_kernels()

    def kick_drift_kick(self, q, p, params, h, n_steps, weights):
        kernels = self._kernels(q, p)
        if kernels is None:
            return None
        a, m = self._couplings(q, params), self.masses(params, p)
        q, p = kernels.kick_drift_kick(q, p, a, m, self.strength, self.softening, float(h), int(n_steps), list(weights))
        return q, p

    def sample_state(self, params, generator=None):
        batch = params["masses"].shape[0]
        device = params["masses"].device
        q = sample_separated_positions(batch, self.n_bodies, self.dim, self.radius, self.min_separation, generator)
        p = torch.randn(q.shape, generator=generator, dtype=torch.float64)
        q, p = q.to(device), p.to(device)
        m = params["masses"].unsqueeze(-1)
        # zero total momentum: the system stays where it was put instead of drifting away
        p = p - m * p.sum(-2, keepdim=True) / m.sum(-2, keepdim=True)
        return q, p * self._momentum_scale(q, p, params)
