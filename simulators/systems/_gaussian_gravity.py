"""Softened gravity from Gaussian initial conditions: the 100-body dataset of SEGNN (Brandstetter et al. 2022).

Written from what SEGNN's ``nbody/dataset/synthetic_sim.py`` (``GravitySim``) does: unit masses, G = 1,
Plummer softening 0.1, positions and velocities N(0, I) in 3D with the mean velocity removed, integrated by
kick-drift-kick leapfrog with 0.001 steps. With ``replay = "numpy-legacy"`` the initial states come from
NumPy's legacy generator in the original's call order, so a seed gives the original's dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ._gravity import GravitySystem
from ._replay import check_replay, replay_numpy_legacy


class GaussianGravity(GravitySystem):
    """Softened Newtonian gravity, bodies of unit mass started at q ~ N(0, I), v ~ N(0, I) less its mean.

    H = sum_i |p_i|^2 / 2 - G sum_{i<j} 1 / sqrt(|q_i - q_j|^2 + softening^2)

    Arguments:
        n_bodies, dim: 100 and 3 in SEGNN's dataset.
        G, softening: 1 and 0.1.
        replay: ``none`` (the toolkit's generators) or ``numpy-legacy`` (the original's stream).
        original_samples: the samples per trajectory the original stores for train, val and test (its
            observation-noise draws: three arrays of that many samples each).
    """

    name = "gaussian-gravity"
    param_names = ("masses",)

    def __init__(self, n_bodies: int = 100, dim: int = 3, G: float = 1.0, softening: float = 0.1,
                 replay: str = "none", original_samples: Sequence[int] = (50, 50, 50)):  # fmt: skip
        super().__init__(n_bodies, dim, G=G, softening=softening, configuration="cluster", mass_range=(1.0, 1.0))
        self.original_samples = check_replay(replay, original_samples)
        self.replay = replay

    @property
    def settings(self) -> dict:
        return {"G": self.G, "softening": self.softening, "replay": self.replay,
                "original_samples": self.original_samples}  # fmt: skip

    def sample_params(self, batch, generator=None, device="cpu"):
        return {"masses": torch.ones(batch, self.n_bodies, dtype=torch.float64, device=device)}

    def sample_state(self, params, generator=None):
        shape = (params["masses"].shape[0], self.n_bodies, self.dim)
        q = torch.randn(shape, generator=generator, dtype=torch.float64)
        v = torch.randn(shape, generator=generator, dtype=torch.float64)
        device = params["masses"].device
        return q.to(device), (v - v.mean(1, keepdim=True)).to(device)

    def sample_splits(self, sizes: Mapping[str, int], seed: int, device="cpu"):
        """With ``replay = "numpy-legacy"``: per trajectory, positions ``(N, dim)`` then velocities, then the
        original's three noise arrays (positions, velocities, forces) of ``original_samples`` samples."""
        if self.replay == "none":
            return None

        def draw(rs, stored):
            pos = rs.randn(self.n_bodies, self.dim)
            vel = rs.randn(self.n_bodies, self.dim)
            vel -= vel.mean(0)  # the original's mean of mass * velocity over a mean mass of 1
            for _ in range(3):
                rs.randn(stored, self.n_bodies, self.dim)
            return {}, pos, vel

        out = {}
        for split, (_, q, v) in replay_numpy_legacy(seed, sizes, self.original_samples, draw).items():
            out[split] = (self.sample_params(q.shape[0], device=device), q.to(device), v.to(device))
        return out
