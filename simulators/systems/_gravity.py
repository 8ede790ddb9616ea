"""Newtonian gravity with Plummer softening."""

from __future__ import annotations

import math

import torch

from .._random import random_rotations, uniform
from ._pairwise import InverseDistanceSystem

CONFIGURATIONS = ("planetary", "cluster")


class GravitySystem(InverseDistanceSystem):
    """Newtonian gravity with Plummer softening.

    H = sum_i |p_i|^2 / (2 m_i) - G sum_{i<j} m_i m_j / sqrt(|q_i - q_j|^2 + softening^2)

    Two families of initial conditions:

    * ``"planetary"`` (default): body 0 is a star of mass U(``star_mass_range``); the others
      are planets of mass U(``planet_mass_range``) on nearly circular orbits whose radii are
      spread log-uniformly over ``orbit_range`` (one radius in the middle half of each of N-1
      equal log-bins, so neighbouring orbits never start closer than a factor
      (r_max / r_min)^(1 / (2 (N-1)))). Speeds are the circular speed sqrt(G (M + m) / r)
      times U(1 - ``eccentricity``, 1 + ``eccentricity``); the sense of rotation is random per
      system; in 3D each orbit is tilted by up to ``inclination`` radians and the whole system
      is turned by a uniformly random rotation. Bound and, with planets light enough for their
      orbits to stay Hill-stable at this spacing, almost free of close encounters: the planets
      perturb each other and the star without colliding (datasets/README.md gives the rates).
    * ``"cluster"``: all masses U(``mass_range``), positions uniform in a ball of ``radius``
      with no pair closer than ``min_separation``, random momenta scaled to the virial ratio
      2T / |V| = ``virial_ratio``; total energy V (1 - virial_ratio / 2) < 0 when the ratio is
      below 2. Few-body clusters are chaotic: close encounters and ejections are common
      (datasets/README.md gives the measured rates).

    Both remove the centre-of-mass position and momentum.

    Arguments:
        n_bodies, dim: bodies and dimension (2 or 3).
        G: gravitational constant (default 1).
        softening: Plummer softening length (default 0.05).
        configuration: ``"planetary"`` or ``"cluster"``.
        star_mass_range, planet_mass_range, orbit_range, eccentricity, inclination: planetary
            settings (defaults (0.8, 1.2), (0.0005, 0.005), (0.5, 3.0), 0.02, 0.1).
        mass_range, radius, min_separation, virial_ratio: cluster settings (defaults (0.5, 1.5),
            1.0, 0.3, 1.0).
    """

    name = "gravity"
    param_names = ("masses",)

    def __init__(
        self,
        n_bodies: int = 4,
        dim: int = 2,
        G: float = 1.0,
        softening: float = 0.05,
        configuration: str = "planetary",
        star_mass_range: tuple[float, float] = (0.8, 1.2),
        planet_mass_range: tuple[float, float] = (0.0005, 0.005),
        orbit_range: tuple[float, float] = (0.5, 3.0),
        eccentricity: float = 0.02,
        inclination: float = 0.1,
        mass_range: tuple[float, float] = (0.5, 1.5),
        radius: float = 1.0,
        min_separation: float = 0.3,
        virial_ratio: float = 1.0,
    ):
        super().__init__(n_bodies, dim, softening, mass_range, radius, min_separation)
        if configuration not in CONFIGURATIONS:
            raise ValueError(f"configuration must be one of {CONFIGURATIONS}, got {configuration!r}")
        self.G = float(G)
        self.configuration = configuration
        self.star_mass_range = (float(star_mass_range[0]), float(star_mass_range[1]))
        self.planet_mass_range = (float(planet_mass_range[0]), float(planet_mass_range[1]))
        self.orbit_range = (float(orbit_range[0]), float(orbit_range[1]))
        self.eccentricity = float(eccentricity)
        self.inclination = float(inclination)
        self.virial_ratio = float(virial_ratio)
        if self.G <= 0 or self.virial_ratio < 0:
            raise ValueError(f"G must be positive and virial_ratio non-negative, got {G}, {virial_ratio}")
        for label, (lo, hi) in (
            ("star_mass_range", self.star_mass_range),
            ("planet_mass_range", self.planet_mass_range),
        ):
            if not 0 < lo <= hi:
                raise ValueError(f"{label} must satisfy 0 < low <= high, got {(lo, hi)}")
        if not 0 < self.orbit_range[0] < self.orbit_range[1]:
            raise ValueError(f"orbit_range must satisfy 0 < low < high, got {orbit_range}")
        if not 0 <= self.eccentricity < 1:
            raise ValueError(f"eccentricity must be in [0, 1), got {eccentricity}")

    @property
    def strength(self) -> float:
        return -self.G

    @property
    def settings(self) -> dict:
        common = {"G": self.G, "softening": self.softening, "configuration": self.configuration}
        if self.configuration == "planetary":
            return {
                **common,
                "star_mass_range": list(self.star_mass_range),
                "planet_mass_range": list(self.planet_mass_range),
                "orbit_range": list(self.orbit_range),
                "eccentricity": self.eccentricity,
                "inclination": self.inclination,
            }
        return {
            **common,
            "mass_range": list(self.mass_range),
            "radius": self.radius,
            "min_separation": self.min_separation,
            "virial_ratio": self.virial_ratio,
        }

    def coupling(self, params):
        return params["masses"]

    def sample_params(self, batch, generator=None, device="cpu"):
        if self.configuration == "cluster":
            return {"masses": uniform((batch, self.n_bodies), *self.mass_range, generator).to(device)}
        star = uniform((batch, 1), *self.star_mass_range, generator)
        planets = uniform((batch, self.n_bodies - 1), *self.planet_mass_range, generator)
        return {"masses": torch.cat([star, planets], dim=1).to(device)}

    def _momentum_scale(self, q, p, params):
        kinetic = self.kinetic(p, params)
        target = 0.5 * self.virial_ratio * self.potential(q, params).abs()
        return (target / kinetic.clamp_min(torch.finfo(p.dtype).tiny)).sqrt().view(-1, 1, 1)

    def sample_state(self, params, generator=None):
        if self.configuration == "cluster":
            return super().sample_state(params, generator)
        masses = params["masses"].cpu()
        batch, n_planets = masses.shape[0], self.n_bodies - 1
        shape = (batch, n_planets)
        lo, hi = math.log(self.orbit_range[0]), math.log(self.orbit_range[1])
        width = (hi - lo) / max(n_planets, 1)
        bins = lo + width * torch.arange(n_planets, dtype=torch.float64)
        radius = torch.exp(bins + width * uniform(shape, 0.25, 0.75, generator))
        phase = uniform(shape, 0.0, 2 * math.pi, generator)
        speed = torch.sqrt(self.G * (masses[:, :1] + masses[:, 1:]) / radius)
        speed = speed * uniform(shape, 1 - self.eccentricity, 1 + self.eccentricity, generator)
        sense = torch.where(torch.rand((batch, 1), generator=generator) < 0.5, -1.0, 1.0).to(torch.float64)
        # each planet in its own orbital plane: position and velocity in the plane's (x, y) axes
        pos = torch.zeros(batch, n_planets, self.dim, dtype=torch.float64)
        vel = torch.zeros_like(pos)
        pos[..., 0], pos[..., 1] = radius * torch.cos(phase), radius * torch.sin(phase)
        vel[..., 0], vel[..., 1] = -sense * speed * torch.sin(phase), sense * speed * torch.cos(phase)
        if self.dim == 3:
            tilt = uniform(shape, -self.inclination, self.inclination, generator)
            node = uniform(shape, 0.0, 2 * math.pi, generator)
            plane = _rotation_z(node) @ _rotation_x(tilt)  # (batch, planets, 3, 3)
            pos = (plane @ pos.unsqueeze(-1)).squeeze(-1)
            vel = (plane @ vel.unsqueeze(-1)).squeeze(-1)
            turn = random_rotations(batch, 3, generator).unsqueeze(1)
            pos = (turn @ pos.unsqueeze(-1)).squeeze(-1)
            vel = (turn @ vel.unsqueeze(-1)).squeeze(-1)
        zero = torch.zeros(batch, 1, self.dim, dtype=torch.float64)
        q = torch.cat([zero, pos], dim=1)
        p = torch.cat([zero, vel], dim=1) * masses.unsqueeze(-1)
        m = masses.unsqueeze(-1)
        q = q - (m * q).sum(1, keepdim=True) / m.sum(1, keepdim=True)
        p = p - m * p.sum(1, keepdim=True) / m.sum(1, keepdim=True)
        device = params["masses"].device
        return q.to(device), p.to(device)


def _rotation_x(angle: torch.Tensor) -> torch.Tensor:
    c, s, one, zero = torch.cos(angle), torch.sin(angle), torch.ones_like(angle), torch.zeros_like(angle)
    return torch.stack([one, zero, zero, zero, c, -s, zero, s, c], dim=-1).view(*angle.shape, 3, 3)


def _rotation_z(angle: torch.Tensor) -> torch.Tensor:
    c, s, one, zero = torch.cos(angle), torch.sin(angle), torch.ones_like(angle), torch.zeros_like(angle)
    return torch.stack([c, -s, zero, s, c, zero, zero, zero, one], dim=-1).view(*angle.shape, 3, 3)
