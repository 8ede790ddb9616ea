"""Groups of rotations about the origin: SO(2) and SO(3)."""

from __future__ import annotations

import math

import torch

from ._base import Lifted, _RotationGroup
from ._elements import Element
from ._series import rot2, so3_exp, so3_log


class SO2(_RotationGroup):
    """Rotations of the plane. Not transitive: orbits are circles, the orbit invariant is |x|.

    Lifting is canonical (the rotation taking the x-axis to x's direction) and exactly equivariant;
    the stabiliser of a non-zero point is trivial, so one sample suffices.
    """

    name = "SO2"
    lie_dim = 1
    orbit_dim = 1

    def __init__(self, pair_features: str = "smooth"):
        super().__init__(2, pair_features)

    def exp(self, a):
        R = rot2(a[..., 0])
        return Element(R, a.new_zeros(*a.shape[:-1], 2))

    def log(self, g):
        return torch.atan2(g.R[..., 1, 0], g.R[..., 0, 0]).unsqueeze(-1)

    def _smooth(self, rel):
        return torch.stack([rel.R[..., 0, 0], rel.R[..., 1, 0]], -1)

    def lift_size(self, requested):
        return 1

    def lift(self, x, n_samples=1, random=False, generator=None):
        self._check_points(x)
        r = x.norm(dim=-1, keepdim=True)
        # (cos, sin) of the direction; a point at the origin gets the identity frame
        safe = torch.where(r > 0, r, torch.ones_like(r))
        c = torch.where(r > 0, x[..., :1] / safe, torch.ones_like(r))
        s = torch.where(r > 0, x[..., 1:] / safe, torch.zeros_like(r))
        R = torch.stack([torch.cat([c, -s], -1), torch.cat([s, c], -1)], -2)
        return Lifted(Element(R.unsqueeze(2), torch.zeros_like(x).unsqueeze(2)), r.unsqueeze(2))

    @property
    def pair_dim(self):
        return (1 if self.pair_mode == "log" else 2) + 2


class SO3(_RotationGroup):
    """Rotations of space. Orbits are spheres (invariant |x|); the stabiliser of a point is the
    rotations about its direction. Each point lifts to a frame whose third axis is its direction,
    turned about that axis by ``n_samples`` equally spaced angles (randomly offset in training)."""

    name = "SO3"
    lie_dim = 3
    orbit_dim = 1

    def __init__(self, pair_features: str = "smooth"):
        super().__init__(3, pair_features)

    def exp(self, a):
        return Element(so3_exp(a), a.new_zeros(a.shape))

    def log(self, g):
        return so3_log(g.R)

    def _smooth(self, rel):
        return rel.R.flatten(-2)

    def _frames(self, x):
        # a frame (e1, e2, n) with n = x / |x|: e1 from the coordinate axis least aligned with n
        r = x.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
        n = x / r
        axis = torch.nn.functional.one_hot(n.abs().argmin(-1), 3).to(x.dtype)
        e1 = torch.linalg.cross(axis, n, dim=-1)
        e1 = e1 / e1.norm(dim=-1, keepdim=True)
        e2 = torch.linalg.cross(n, e1, dim=-1)
        return torch.stack([e1, e2, n], -1)

    def _grid(self, n, dtype, device):
        theta = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
        R = torch.zeros(n, 3, 3, dtype=torch.float64)
        R[:, :2, :2] = rot2(theta)
        R[:, 2, 2] = 1
        return R.to(dtype=dtype, device=device)

    def _random_stabiliser(self, x, generator):
        # only turns about the point's own direction (the frame's third axis) fix the point
        theta = 2 * math.pi * torch.rand(x.shape[:2], generator=generator, dtype=torch.float64)
        R = torch.zeros(*x.shape[:2], 3, 3, dtype=torch.float64)
        R[..., :2, :2] = rot2(theta)
        R[..., 2, 2] = 1
        return R.to(dtype=x.dtype, device=x.device).unsqueeze(2)

    def lift(self, x, n_samples=1, random=False, generator=None):
        self._check_points(x)
        R = self._samples(x, n_samples, random, generator)
        r = x.norm(dim=-1, keepdim=True).unsqueeze(2).expand(*x.shape[:2], n_samples, 1)
        return Lifted(Element(R, torch.zeros(*R.shape[:-1], dtype=x.dtype, device=x.device)), r)

    @property
    def pair_dim(self):
        return (3 if self.pair_mode == "log" else 9) + 2
