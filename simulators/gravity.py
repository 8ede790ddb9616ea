"""Newtonian gravity with Plummer softening."""

from __future__ import annotations

import torch

from .pairwise import InverseDistanceSystem
from .system import uniform


class GravitySystem(InverseDistanceSystem):
    """Newtonian gravity with Plummer softening.

    H = sum_i |p_i|^2 / (2 m_i) - G sum_{i<j} m_i m_j / sqrt(|q_i - q_j|^2 + softening^2)

    Initial conditions: positions uniform in a ball of ``radius`` with no pair closer than
    ``min_separation``; random momenta with zero total, scaled so that the virial ratio
    2T / |V| equals ``virial_ratio``. With ``virial_ratio < 2`` the total energy
    E = V (1 - virial_ratio / 2) is negative, so every system starts bound; 1.0 (virial
    equilibrium) avoids both a cold collapse and rapid evaporation.

    Arguments:
        n_bodies, dim: bodies and dimension (2 or 3).
        G: gravitational constant (default 1).
        softening: Plummer softening length (default 0.1).
        mass_range: masses ~ U(low, high) (default (0.5, 1.5)).
        radius, min_separation: the initial ball and minimum distance (default 1.0, 0.3).
        virial_ratio: 2T / |V| at t = 0 (default 1.0).
    """

    name = "gravity"
    param_names = ("masses",)

    def __init__(
        self,
        n_bodies: int = 4,
        dim: int = 2,
        G: float = 1.0,
        softening: float = 0.1,
        mass_range: tuple[float, float] = (0.5, 1.5),
        radius: float = 1.0,
        min_separation: float = 0.3,
        virial_ratio: float = 1.0,
    ):
        super().__init__(n_bodies, dim, softening, mass_range, radius, min_separation)
        self.G = float(G)
        self.virial_ratio = float(virial_ratio)
        if self.G <= 0 or self.virial_ratio < 0:
            raise ValueError(f"G must be positive and virial_ratio non-negative, got {G}, {virial_ratio}")

    @property
    def strength(self) -> float:
        return -self.G

    @property
    def settings(self) -> dict:
        return {
            "G": self.G,
            "softening": self.softening,
            "mass_range": list(self.mass_range),
            "radius": self.radius,
            "min_separation": self.min_separation,
            "virial_ratio": self.virial_ratio,
        }

    def coupling(self, params):
        return params["masses"]

    def sample_params(self, batch, generator=None, device="cpu"):
        return {"masses": uniform((batch, self.n_bodies), *self.mass_range, generator).to(device)}

    def _momentum_scale(self, q, p, params):
        kinetic = self.kinetic(p, params)
        target = 0.5 * self.virial_ratio * self.potential(q, params).abs()
        return (target / kinetic.clamp_min(torch.finfo(p.dtype).tiny)).sqrt().view(-1, 1, 1)
