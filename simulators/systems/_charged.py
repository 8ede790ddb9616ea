"""Charged particles with softened Coulomb interactions."""

from __future__ import annotations

import torch

from .._random import uniform
from ._pairwise import InverseDistanceSystem


class ChargedSystem(InverseDistanceSystem):
    """Charged particles with softened Coulomb interactions, in free space (no box).

    H = sum_i |p_i|^2 / (2 m_i) + coulomb sum_{i<j} c_i c_j / sqrt(|q_i - q_j|^2 + softening^2)

    Charges are +1/-1: ``charges="balanced"`` gives each system equal numbers of each (one
    extra of random sign when N is odd), so it is neutral and mostly stays together;
    ``"random"`` draws each sign with probability 1/2. Positions as for gravity; momenta
    are ``momentum_scale * N(0, I)`` with the total momentum removed.

    Arguments:
        n_bodies, dim: bodies and dimension (2 or 3).
        coulomb: Coulomb constant (default 1).
        softening: softening length (default 0.1).
        charges: ``"balanced"`` (default) or ``"random"``.
        mass_range, radius, min_separation: as for :class:`GravitySystem`.
        momentum_scale: default 0.5.
    """

    name = "charged"
    param_names = ("masses", "charges")

    def __init__(
        self,
        n_bodies: int = 6,
        dim: int = 3,
        coulomb: float = 1.0,
        softening: float = 0.1,
        charges: str = "balanced",
        mass_range: tuple[float, float] = (0.5, 1.5),
        radius: float = 1.0,
        min_separation: float = 0.3,
        momentum_scale: float = 0.5,
    ):
        super().__init__(n_bodies, dim, softening, mass_range, radius, min_separation)
        if charges not in ("balanced", "random"):
            raise ValueError(f"charges must be 'balanced' or 'random', got {charges!r}")
        self.coulomb = float(coulomb)
        self.charges = charges
        self.momentum_scale = float(momentum_scale)

    @property
    def strength(self) -> float:
        return self.coulomb

    @property
    def settings(self) -> dict:
        return {
            "coulomb": self.coulomb,
            "softening": self.softening,
            "charges": self.charges,
            "mass_range": list(self.mass_range),
            "radius": self.radius,
            "min_separation": self.min_separation,
            "momentum_scale": self.momentum_scale,
        }

    def coupling(self, params):
        return params["charges"]

    def sample_params(self, batch, generator=None, device="cpu"):
        shape = (batch, self.n_bodies)
        masses = uniform(shape, *self.mass_range, generator)
        if self.charges == "random":
            signs = torch.randint(0, 2, shape, generator=generator)
        else:
            half = self.n_bodies // 2
            signs = torch.zeros(shape, dtype=torch.long)
            signs[:, :half] = 1
            if self.n_bodies % 2:
                signs[:, -1] = torch.randint(0, 2, (batch,), generator=generator)
            order = torch.rand(shape, generator=generator).argsort(dim=-1)
            signs = signs.gather(-1, order)
        charges = (2 * signs - 1).to(torch.float64)
        return {"masses": masses.to(device), "charges": charges.to(device)}

    def _momentum_scale(self, q, p, params):
        return torch.full((q.shape[0], 1, 1), self.momentum_scale, dtype=q.dtype, device=q.device)
