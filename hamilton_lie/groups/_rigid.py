"""Rigid motions: SE(2) and SE(3)."""

from __future__ import annotations

import torch

from ._base import Lifted, _RotationGroup
from ._elements import Element
from ._finite import finite_rotations_3d
from ._series import half_cot_half, one_minus_cos_over, rot2, sinc, so3_exp, so3_left_jacobian, so3_log


class SE2(_RotationGroup):
    """Rigid motions of the plane. Each point lifts to ``n_samples`` frames at the point, rotated by
    the cyclic grid C_n (randomly offset in training), so the eval model is exactly invariant to
    translations and to rotations by multiples of 2 pi / n."""

    name = "SE2"
    lie_dim = 3
    translations = True

    def __init__(self, pair_features: str = "smooth"):
        super().__init__(2, pair_features)

    def exp(self, a):
        theta, v = a[..., 0], a[..., 1:]
        sc, oc = sinc(theta), one_minus_cos_over(theta)
        t = torch.stack([sc * v[..., 0] - oc * v[..., 1], oc * v[..., 0] + sc * v[..., 1]], -1)
        return Element(rot2(theta), t)

    def log(self, g):
        theta = torch.atan2(g.R[..., 1, 0], g.R[..., 0, 0])
        a, b = half_cot_half(theta), theta / 2
        t = g.t
        v = torch.stack([a * t[..., 0] + b * t[..., 1], -b * t[..., 0] + a * t[..., 1]], -1)
        return torch.cat([theta.unsqueeze(-1), v], -1)

    def _smooth(self, rel):
        return torch.cat([rel.R[..., :, 0], rel.t], -1)

    def lift(self, x, n_samples=1, random=False, generator=None):
        self._check_points(x)
        R = self._samples(x, n_samples, random, generator)
        t = x.unsqueeze(2).expand(*x.shape[:2], n_samples, 2)
        return Lifted(Element(R, t), x.new_zeros(*x.shape[:2], n_samples, 0))

    @property
    def pair_dim(self):
        return 3 if self.pair_mode == "log" else 4


class SE3(_RotationGroup):
    """Rigid motions of space. Each point lifts to the frames of a finite rotation group at the
    point (``finite``: tetrahedral, octahedral or icosahedral; randomly rotated in training), so
    the eval model is exactly invariant to translations and to that finite group."""

    name = "SE3"
    lie_dim = 6
    translations = True

    def __init__(self, finite: str = "octahedral", pair_features: str = "smooth"):
        super().__init__(3, pair_features)
        self.finite_name = finite
        self.finite = finite_rotations_3d(finite)

    def __repr__(self):
        return f"SE3(finite={self.finite_name!r})"

    def exp(self, a):
        w, v = a[..., :3], a[..., 3:]
        V = so3_left_jacobian(w, inverse_=False)
        return Element(so3_exp(w), (V @ v.unsqueeze(-1)).squeeze(-1))

    def log(self, g):
        w = so3_log(g.R)
        v = (so3_left_jacobian(w, inverse_=True) @ g.t.unsqueeze(-1)).squeeze(-1)
        return torch.cat([w, v], -1)

    def _smooth(self, rel):
        return torch.cat([rel.R.flatten(-2), rel.t], -1)

    def lift_size(self, requested):
        return self.finite.shape[0]

    def lift(self, x, n_samples=None, random=False, generator=None):
        self._check_points(x)
        n = self.finite.shape[0]
        if n_samples not in (None, n):
            raise ValueError(f"SE3 with the {self.finite_name} grid lifts to {n} samples, got n_samples={n_samples}")
        R = self._samples(x, n, random, generator)
        t = x.unsqueeze(2).expand(*x.shape[:2], n, 3)
        return Lifted(Element(R, t), x.new_zeros(*x.shape[:2], n, 0))

    @property
    def pair_dim(self):
        return 6 if self.pair_mode == "log" else 12
