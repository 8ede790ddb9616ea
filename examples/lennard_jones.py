"""A Lennard-Jones cluster, defined outside the toolkit: a new system in about 20 lines."""

import torch

from simulators import PotentialSystem, sample_separated_positions


class LennardJones(PotentialSystem):
    """V = 4 epsilon sum_{i<j} ((sigma / r_ij)^12 - (sigma / r_ij)^6), unit masses, at rest as a whole."""

    name = "lennard-jones"
    param_names = ("masses",)

    def __init__(self, n_bodies=6, dim=2, epsilon=1.0, sigma=1.0, radius=2.5, speed=0.3):
        super().__init__(n_bodies, dim)
        self.epsilon, self.sigma, self.radius, self.speed = epsilon, sigma, radius, speed

    def potential(self, q, params):
        s6 = (self.sigma / self.pair_distances(q)) ** 6
        return 4 * self.epsilon * (s6 * s6 - s6).sum(-1)

    def sample_params(self, batch, generator=None, device="cpu"):
        return {"masses": torch.ones(batch, self.n_bodies, dtype=torch.float64, device=device)}

    def sample_state(self, params, generator=None):
        batch = params["masses"].shape[0]
        q = sample_separated_positions(batch, self.n_bodies, self.dim, self.radius, self.sigma, generator)
        p = self.speed * torch.randn(q.shape, generator=generator, dtype=torch.float64)
        p = p - p.mean(-2, keepdim=True)
        return q.to(params["masses"].device), p.to(params["masses"].device)
