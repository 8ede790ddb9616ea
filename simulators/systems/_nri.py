"""The NRI family of benchmark systems: balls joined by springs, or charged, in a box with elastic walls.

Written from what the generator of Kipf et al. (2018), "Neural relational inference for interacting
systems" (``data/synthetic_sim.py``), does, and from EGNN's 3D variant of it (Satorras et al. 2021), so
that their datasets can be generated again: unit masses; initial positions ``loc_std * N(0, I)`` and
velocities of norm ``vel_norm`` in random directions; walls at +-``box_size`` that mirror a body back and
turn its velocity inward; and the originals' force clipping (each component to +-``max_force``). With
``replay = "numpy-legacy"`` the parameters and initial states are drawn from NumPy's legacy generator in
the originals' call order, so a seed gives the originals' datasets.

Springs: V = 1/2 strength sum_{i<j} e_ij |q_i - q_j|^2 over a random symmetric graph e (per pair).
Charged: V = strength sum_{i<j} c_i c_j / |q_i - q_j| with charges c_i = +-1 (per body).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ._base import HamiltonianSystem, Params, broadcast_params
from ._replay import check_replay, replay_numpy_legacy

WALLS = ("reflecting", "initial", "none")


class _NRISystem(HamiltonianSystem):
    """What the springs and the charged systems share: sampling, walls, clipping, replay."""

    param_names: tuple[str, ...]
    _kinds: tuple[float, ...]

    def __init__(self, n_bodies, dim, box_size, walls, loc_std, vel_norm, strength, max_force, probabilities,
                 replay, original_samples):  # fmt: skip
        super().__init__(n_bodies, dim)
        self.box_size, self.walls_mode = float(box_size), walls
        self.loc_std, self.vel_norm, self.strength = float(loc_std), float(vel_norm), float(strength)
        self.max_force = float(max_force)
        self.probabilities = [float(x) for x in probabilities]
        self.replay = replay
        self.original_samples = check_replay(replay, original_samples)
        if walls not in WALLS:
            raise ValueError(f"walls must be one of {WALLS}, got {walls!r}")
        if len(self.probabilities) != 3 or min(self.probabilities) < 0 or abs(sum(self.probabilities) - 1) > 1e-12:
            raise ValueError(f"probabilities must be three non-negative numbers adding up to 1, got {probabilities}")
        if not self.max_force > 0:
            raise ValueError(f"max_force must be positive (inf: no clipping), got {max_force}")
        # walls inside the integration are a property of the instance: EGNN's variant reflects only at the start
        self.walls = walls == "reflecting"

    @property
    def settings(self) -> dict:
        return {
            "box_size": self.box_size, "walls": self.walls_mode, "loc_std": self.loc_std,
            "vel_norm": self.vel_norm, "strength": self.strength, "max_force": self.max_force,
            "probabilities": self.probabilities, "replay": self.replay, "original_samples": self.original_samples,
        }  # fmt: skip

    def reflect(self, q, p):
        box = self.box_size
        if not bool((q.abs() > box).any()):  # most steps: nobody at a wall
            return q, p
        over, under = q > box, q < -box
        q = torch.where(over, 2 * box - q, torch.where(under, -2 * box - q, q))
        p = torch.where(over, -p.abs(), torch.where(under, p.abs(), p))
        return q, p

    @staticmethod
    def _pair_sum(w: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """sum_j w_ij (q_i - q_j) axis by axis, as the originals compute it: ``(..., N, N), (..., N, d) -> (..., N, d)``.

        Reducing each axis over a contiguous last dimension is several times faster than reducing a
        ``(..., N, N, d)`` difference tensor over its middle dimension."""
        axes = [(w * (q[..., a].unsqueeze(-1) - q[..., a].unsqueeze(-2))).sum(-1) for a in range(q.shape[-1])]
        return torch.stack(axes, dim=-1)

    def _clip(self, f: torch.Tensor) -> torch.Tensor:
        return f if self.max_force == float("inf") else f.clamp(-self.max_force, self.max_force)

    def _start(self, loc: torch.Tensor, vel: torch.Tensor):
        """Velocities scaled to ``vel_norm`` per body; walls (also EGNN's start-only ones) applied once."""
        vel = vel * self.vel_norm / vel.norm(dim=-1, keepdim=True)
        return self.reflect(loc, vel) if self.walls_mode != "none" else (loc, vel)

    def sample_state(self, params, generator=None):
        first = params[self.param_names[0]]
        shape = (first.shape[0], self.n_bodies, self.dim)
        loc = self.loc_std * torch.randn(shape, generator=generator, dtype=torch.float64)
        vel = torch.randn(shape, generator=generator, dtype=torch.float64)
        q, p = self._start(loc, vel)
        return q.to(first.device), p.to(first.device)

    def _choice(self, shape, generator) -> torch.Tensor:
        """Draws from ``_kinds`` with ``probabilities``."""
        index = torch.multinomial(torch.tensor(self.probabilities), int(np.prod(shape)), True, generator=generator)
        return torch.tensor(self._kinds, dtype=torch.float64)[index].reshape(shape)

    def sample_splits(self, sizes: Mapping[str, int], seed: int, device="cpu"):
        """With ``replay = "numpy-legacy"``: every split's ``(params, q0, p0)`` drawn as the original draws them,
        one trajectory after another from ``numpy.random.seed(seed)``: the parameters, positions ``(dim, N)``,
        velocities ``(dim, N)``, then the two observation-noise arrays of ``original_samples`` samples that the
        original draws (and multiplies by zero) after integrating."""
        if self.replay == "none":
            return None

        def draw(rs, stored):
            param = self._legacy_params(rs)
            loc = rs.randn(self.dim, self.n_bodies) * self.loc_std
            vel = rs.randn(self.dim, self.n_bodies)
            rs.randn(stored, self.dim, self.n_bodies)
            rs.randn(stored, self.dim, self.n_bodies)
            return {self.param_names[0]: param}, loc.T, vel.T

        out = {}
        for split, (params, loc, vel) in replay_numpy_legacy(seed, sizes, self.original_samples, draw).items():
            q, p = self._start(loc, vel)
            out[split] = ({k: v.to(device) for k, v in params.items()}, q.to(device), p.to(device))
        return out


class NRISprings(_NRISystem):
    """NRI's springs: N balls in a box, each pair joined with probability 1/2 by a spring of stiffness
    ``strength`` (``edges`` 0 or 1, per pair, symmetric).

    Arguments:
        n_bodies, dim: 5 and 2 in the original.
        box_size: walls at +-``box_size`` (5).
        walls: ``reflecting`` (every step, the original), ``initial`` (only the initial state) or ``none``.
        loc_std, vel_norm: initial spread and speed (0.5, 0.5).
        strength: spring constant (0.1).
        max_force: each force component clipped to +-``max_force`` (100, the original's 0.1 / dt; ``inf``: the exact force).
        probabilities: of the spring types 0, 0.5, 1 (the original: 1/2, 0, 1/2).
        replay: ``none`` (the toolkit's generators) or ``numpy-legacy`` (the original's stream).
        original_samples: samples per trajectory the original stores for train, val and test (49, 49, 99).
    """

    name = "nri-springs"
    param_names = ("edges",)
    pair_params = ("edges",)
    _kinds = (0.0, 0.5, 1.0)

    def __init__(self, n_bodies: int = 5, dim: int = 2, box_size: float = 5.0, walls: str = "reflecting",
                 loc_std: float = 0.5, vel_norm: float = 0.5, strength: float = 0.1, max_force: float = 100.0,
                 probabilities: Sequence[float] = (0.5, 0.0, 0.5), replay: str = "none",
                 original_samples: Sequence[int] = (49, 49, 99)):  # fmt: skip
        super().__init__(n_bodies, dim, box_size, walls, loc_std, vel_norm, strength, max_force, probabilities,
                         replay, original_samples)  # fmt: skip

    def _symmetric(self, edges):
        lower = edges.tril(-1) if isinstance(edges, torch.Tensor) else np.tril(edges, -1)
        return lower + lower.swapaxes(-1, -2)

    def sample_params(self, batch, generator=None, device="cpu"):
        edges = self._choice((batch, self.n_bodies, self.n_bodies), generator)
        return {"edges": self._symmetric(edges).to(device)}

    def _legacy_params(self, rs):
        return self._symmetric(rs.choice(np.array(self._kinds), size=(self.n_bodies, self.n_bodies),
                                         p=self.probabilities))  # fmt: skip

    def potential(self, q, params):
        e = broadcast_params(params, q)["edges"]
        r2 = (q.unsqueeze(-2) - q.unsqueeze(-3)).pow(2).sum(-1)
        return 0.25 * self.strength * (e * r2).sum((-1, -2))  # each pair counted twice

    def force(self, q, params):
        return self._clip(self._pair_sum(-self.strength * broadcast_params(params, q)["edges"], q))


class NRICharged(_NRISystem):
    """NRI's charged particles: +-1 charges (probability 1/2 each) with Coulomb forces, in a box.

    Arguments as for :class:`NRISprings`, with the original's defaults: ``loc_std`` 1, ``strength`` 1 (the
    Coulomb constant), and ``probabilities`` of the charges -1, 0, +1 (1/2, 0, 1/2). EGNN's 3D variant is
    ``dim = 3, walls = "initial"``.
    """

    name = "nri-charged"
    param_names = ("charges",)
    _kinds = (-1.0, 0.0, 1.0)

    def __init__(self, n_bodies: int = 5, dim: int = 2, box_size: float = 5.0, walls: str = "reflecting",
                 loc_std: float = 1.0, vel_norm: float = 0.5, strength: float = 1.0, max_force: float = 100.0,
                 probabilities: Sequence[float] = (0.5, 0.0, 0.5), replay: str = "none",
                 original_samples: Sequence[int] = (49, 49, 99)):  # fmt: skip
        super().__init__(n_bodies, dim, box_size, walls, loc_std, vel_norm, strength, max_force, probabilities,
                         replay, original_samples)  # fmt: skip

    def sample_params(self, batch, generator=None, device="cpu"):
        return {"charges": self._choice((batch, self.n_bodies), generator).to(device)}

    def _legacy_params(self, rs):
        return rs.choice(np.array(self._kinds), size=(self.n_bodies, 1), p=self.probabilities)[:, 0]

    def _inverse_cubes(self, q: torch.Tensor, params: Params):
        """c_i c_j and |q_i - q_j|^2 as the originals compute it, |q_i|^2 + |q_j|^2 - 2 q_i.q_j (round-off for
        round-off), with a zero diagonal in the first and a diagonal of 1 in the second: ``(..., N, N)`` each."""
        c = broadcast_params(params, q)["charges"]
        norm = (q * q).sum(-1)
        # q_i.q_j summed axis by axis: for these tiny matrices faster than a batched matmul
        dot = sum(q[..., a].unsqueeze(-1) * q[..., a].unsqueeze(-2) for a in range(q.shape[-1]))
        r2 = norm.unsqueeze(-1) + norm.unsqueeze(-2) - 2 * dot
        r2.diagonal(dim1=-2, dim2=-1).fill_(1.0)
        cc = c.unsqueeze(-1) * c.unsqueeze(-2)
        cc.diagonal(dim1=-2, dim2=-1).fill_(0.0)
        return cc, r2

    def potential(self, q, params):
        cc, r2 = self._inverse_cubes(q, params)
        return 0.5 * self.strength * (cc / r2.sqrt()).sum((-1, -2))

    def force(self, q, params):
        cc, r2 = self._inverse_cubes(q, params)
        # r^3 as r2 sqrt(r2): correctly rounded steps, so the same bits wherever a trajectory sits in its batch
        return self._clip(self._pair_sum(self.strength * cc / (r2 * r2.sqrt()), q))
