"""Near-circular gravitational orbits of two or three bodies: the orbit datasets of HNN (Greydanus et al. 2019).

Written from what HNN's ``experiment-2body/data.py`` and ``experiment-3body/data.py`` do: unit masses, G = 1,
no softening, in 2D. Two bodies start opposite each other at a radius from U(min_radius, max_radius) per
axis, with the circular velocity scaled by 1 + orbit_noise N(0, 1); three bodies start on an equilateral
triangle of radius U(min_radius, max_radius), with circular velocities each scaled per axis by
1 + orbit_noise U(-1, 1). With ``replay = "numpy-legacy"`` the initial states come from NumPy's legacy
generator in the original's order, which makes one list of orbits and takes the first fifth as its test set:
here the test split is that first part, train what follows, and val (the original has none) the last orbits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from ._gravity import GravitySystem
from ._replay import check_replay


class HNNOrbits(GravitySystem):
    """Unsoftened 2D gravity of two or three unit masses on nearly circular orbits (HNN's orbit tasks).

    Arguments:
        n_bodies: 2 or 3 (``dim`` is 2).
        orbit_noise: the relative spread of the initial speeds (HNN: 0.05 for two bodies, 0.2 for three).
        min_radius, max_radius: the initial radius range (HNN: 0.5 to 1.5, and 0.9 to 1.2).
        replay: ``none`` (the toolkit's generators) or ``numpy-legacy`` (the original's stream).
    """

    name = "hnn-orbits"
    param_names = ("masses",)

    def __init__(self, n_bodies: int = 2, dim: int = 2, orbit_noise: float = 0.05, min_radius: float = 0.5,
                 max_radius: float = 1.5, replay: str = "none"):  # fmt: skip
        if n_bodies not in (2, 3) or dim != 2:
            raise ValueError(f"HNN's orbits are 2 or 3 bodies in 2D, got n_bodies={n_bodies}, dim={dim}")
        super().__init__(n_bodies, dim, G=1.0, softening=0.0, configuration="cluster", mass_range=(1.0, 1.0))
        check_replay(replay)
        if not 0 < min_radius <= max_radius or orbit_noise < 0:
            raise ValueError("need 0 < min_radius <= max_radius and orbit_noise >= 0, got "
                             f"{min_radius}, {max_radius}, {orbit_noise}")  # fmt: skip
        self.orbit_noise, self.min_radius, self.max_radius = float(orbit_noise), float(min_radius), float(max_radius)
        self.replay = replay

    @property
    def settings(self) -> dict:
        return {"orbit_noise": self.orbit_noise, "min_radius": self.min_radius, "max_radius": self.max_radius,
                "replay": self.replay}  # fmt: skip

    def sample_params(self, batch, generator=None, device="cpu"):
        return {"masses": torch.ones(batch, self.n_bodies, dtype=torch.float64, device=device)}

    def _draws(self, batch: int, rand, randn) -> tuple[np.ndarray, np.ndarray]:
        """Positions and velocities ``(batch, n_bodies, 2)`` from the uniform and normal draws ``rand(*shape)``,
        ``randn(*shape)``, made trajectory by trajectory in the original's order (the arithmetic on them then
        runs over the whole batch, operation for operation as the original's)."""
        lo, hi, noise = self.min_radius, self.max_radius, self.orbit_noise
        if self.n_bodies == 2:
            draws = [(rand(2), randn()) for _ in range(batch)]
            pos = np.stack([d[0] for d in draws]) * (hi - lo) + lo
            r = np.sqrt(np.sum(pos**2, axis=-1, keepdims=True))
            vel = np.flip(pos, -1) / (2 * _pow(r, 1.5))  # the circular orbit about the centre of mass
            vel[:, 0] *= -1
            vel *= 1 + noise * np.array([[d[1]] for d in draws])
            return np.stack([pos, -pos], 1), np.stack([vel, -vel], 1)
        draws = [(rand(2), rand(), rand(2), rand(2), rand(2)) for _ in range(batch)]
        p1 = 2 * np.stack([d[0] for d in draws]) - 1
        r = np.array([[d[1]] for d in draws]) * (hi - lo) + lo
        p1 *= r / np.sqrt(np.sum(p1**2, axis=-1, keepdims=True))
        v1 = _rotate(p1, math.pi / 2) / _pow(r, 1.5)
        v1 = v1 * np.sqrt(np.sin(math.pi / 3) / (2 * np.cos(math.pi / 6) ** 2))  # circular: equilateral
        p2 = _rotate(p1, 2 * math.pi / 3)
        v2 = _rotate(v1, 2 * math.pi / 3)
        q = np.stack([p1, p2, _rotate(p2, 2 * math.pi / 3)], 1)
        v = np.stack([v1, v2, _rotate(v2, 2 * math.pi / 3)], 1)
        return q, v * (1 + noise * (2 * np.stack([np.stack(d[2:]) for d in draws]) - 1))

    def sample_state(self, params, generator=None):
        def rand(*shape):
            x = torch.rand(shape, generator=generator, dtype=torch.float64).numpy()
            return x if shape else float(x)

        def randn():
            return float(torch.randn((), generator=generator, dtype=torch.float64))

        q, v = self._draws(params["masses"].shape[0], rand, randn)
        device = params["masses"].device
        return torch.from_numpy(q).to(device), torch.from_numpy(v).to(device)

    def sample_splits(self, sizes: Mapping[str, int], seed: int, device="cpu"):
        if self.replay == "none":
            return None
        rs = np.random.RandomState(seed)
        total = sum(sizes.values())
        q, v = self._draws(total, rs.rand, rs.randn)
        order = {"test": slice(0, sizes["test"]), "train": slice(sizes["test"], sizes["test"] + sizes["train"]),
                 "val": slice(sizes["test"] + sizes["train"], total)}  # fmt: skip
        out = {}
        for split in sizes:
            qs, vs = torch.from_numpy(q[order[split]]), torch.from_numpy(v[order[split]])
            out[split] = (self.sample_params(qs.shape[0], device=device), qs.to(device), vs.to(device))
        return out


def _pow(x: np.ndarray, exponent: float) -> np.ndarray:
    """``x ** exponent`` element by element through C's ``pow``, as the original's scalar arithmetic has it
    (NumPy's vectorised power can differ from it in the last bit)."""
    return np.array([v**exponent for v in x.ravel().tolist()]).reshape(x.shape)


def _rotate(x: np.ndarray, angle: float) -> np.ndarray:
    """``x (batch, 2)`` turned by ``angle``."""
    c, s = np.cos(angle), np.sin(angle)
    return (np.array([[c, -s], [s, c]]) @ x[..., None])[..., 0]
