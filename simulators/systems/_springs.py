"""Bodies joined pairwise by springs whose stiffness factors as k_i k_j.

H(q, p) = sum_i |p_i|^2 / (2 m_i) + 1/2 sum_{i != j} k_i k_j |q_i - q_j|^2

(the sum over ordered pairs, so each spring counts twice with half weight), as in the
spring benchmark of LieConv (Finzi et al., 2020) and the LieTransformer (Hutchinson et
al., 2021). The potential is quadratic, so the force is linear in q and costs O(N):
-dV/dq_i = -2 S k_i (q_i - c) with S = sum_j k_j and c = sum_j k_j q_j / S; and the flow is linear,
so ``exact_solution`` gives trajectories by eigen-decomposition.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._random import uniform
from ._base import HamiltonianSystem, Params, broadcast_params


class SpringSystem(HamiltonianSystem):
    """Spring systems with the LieConv benchmark's distributions by default.

    Arguments:
        n_bodies: number of bodies (default 6, as in the benchmark).
        dim: 2 or 3.
        mass_range: masses ~ U(low, high); default (0.1, 3.1).
        k_range: per-body spring constants k_i ~ U(low, high); default (0, 5).
        q_scale: q0 ~ q_scale * N(0, I); default 0.4. A sequence of ``dim`` scales draws each axis
            with its own spread: data with a preferred orientation, on which rotational robustness
            of a learned model can be told apart from that of an invariant one.
        p_scale: p0 ~ p_scale * N(0, I); default 0.6; per axis like ``q_scale``.

    Example:
        >>> import torch
        >>> system = SpringSystem(n_bodies=6, dim=2)
        >>> g = torch.Generator().manual_seed(0)
        >>> params = system.sample_params(4, generator=g)
        >>> q0, p0 = system.sample_state(params, generator=g)
        >>> system.hamiltonian(q0, p0, params).shape
        torch.Size([4])
    """

    name = "springs"
    param_names = ("masses", "k")
    linear = True

    def __init__(
        self,
        n_bodies: int = 6,
        dim: int = 2,
        mass_range: tuple[float, float] = (0.1, 3.1),
        k_range: tuple[float, float] = (0.0, 5.0),
        q_scale: float | Sequence[float] = 0.4,
        p_scale: float | Sequence[float] = 0.6,
    ):
        super().__init__(n_bodies, dim)
        self.mass_range = (float(mass_range[0]), float(mass_range[1]))
        self.k_range = (float(k_range[0]), float(k_range[1]))
        self.q_scale = _scale("q_scale", q_scale, dim)
        self.p_scale = _scale("p_scale", p_scale, dim)
        if not 0 < self.mass_range[0] <= self.mass_range[1]:
            raise ValueError(f"mass_range must satisfy 0 < low <= high, got {mass_range}")
        if not 0 <= self.k_range[0] <= self.k_range[1]:
            raise ValueError(f"k_range must satisfy 0 <= low <= high, got {k_range}")

    @property
    def settings(self) -> dict:
        return {
            "mass_range": list(self.mass_range),
            "k_range": list(self.k_range),
            "q_scale": self.q_scale,
            "p_scale": self.p_scale,
        }

    def sample_params(self, batch, generator=None, device="cpu") -> Params:
        shape = (batch, self.n_bodies)
        masses = uniform(shape, *self.mass_range, generator)
        k = uniform(shape, *self.k_range, generator)
        return {"masses": masses.to(device), "k": k.to(device)}

    def sample_state(self, params, generator=None):
        batch = params["masses"].shape[0]
        shape = (batch, self.n_bodies, self.dim)
        q = torch.as_tensor(self.q_scale, dtype=torch.float64) * torch.randn(
            shape, generator=generator, dtype=torch.float64
        )
        p = torch.as_tensor(self.p_scale, dtype=torch.float64) * torch.randn(
            shape, generator=generator, dtype=torch.float64
        )
        device = params["masses"].device
        return q.to(device), p.to(device)

    def _centre(self, q, params):
        """k-weighted centroid c = sum_j k_j q_j / S and per-body k, S (S floored so all-zero k gives c = 0)."""
        k = broadcast_params(params, q)["k"].unsqueeze(-1)
        s = k.sum(-2, keepdim=True)
        c = (k * q).sum(-2, keepdim=True) / s.clamp_min(torch.finfo(q.dtype).tiny)
        return k, s, c

    def potential(self, q, params):
        # 1/2 sum_{i,j} k_i k_j |q_i - q_j|^2 = S sum_i k_i |q_i - c|^2: O(N), and measured from c it
        # keeps full precision when the system sits far from the origin
        k, s, c = self._centre(q, params)
        return s.squeeze(-1).squeeze(-1) * (k.squeeze(-1) * (q - c).pow(2).sum(-1)).sum(-1)

    def force(self, q, params):
        k, s, c = self._centre(q, params)
        return -2 * s * k * (q - c)

    def stiffness_matrix(self, params: Params) -> torch.Tensor:
        """The body-space Hessian A of V, so that V = 1/2 sum_d q_d^T A q_d: ``(batch, n, n)``.

        A = 2 (S diag(k) - k k^T), a weighted graph Laplacian (positive semi-definite).
        """
        k = params["k"]
        return 2 * (torch.diag_embed(k.sum(-1, keepdim=True) * k) - k.unsqueeze(-1) * k.unsqueeze(-2))

    def exact_solution(self, q0: torch.Tensor, p0: torch.Tensor, params: Params, t: torch.Tensor):
        """The exact flow of this linear system, by eigen-decomposition.

        With x = M^(1/2) q the equations of motion are x'' = -W x, W = M^(-1/2) A M^(-1/2)
        symmetric positive semi-definite; in W's eigenbasis each mode is a harmonic
        oscillator (or a free particle where the eigenvalue is zero, e.g. the centre of mass),
        so y(t) = y0 cos(w t) + v0 sin(w t) / w exactly.

        Arguments:
            q0, p0: ``(batch, n_bodies, dim)``.
            params: ``masses`` and ``k``, each ``(batch, n_bodies)``.
            t: ``(time,)`` times measured from the initial state.

        Returns:
            ``q, p``, each ``(batch, time, n_bodies, dim)``.
        """
        self.check_state(q0, p0, params)
        sqrt_m = params["masses"].sqrt()
        w_mat = self.stiffness_matrix(params) / (sqrt_m.unsqueeze(-1) * sqrt_m.unsqueeze(-2))
        evals, u = torch.linalg.eigh(w_mat)
        # eigenvalues of a PSD matrix that round to tiny negatives are zero modes
        omega = evals.clamp(min=0).sqrt()  # (B, N)
        # modal coordinates: (B, N, d)
        y0 = u.transpose(-1, -2) @ (sqrt_m.unsqueeze(-1) * q0)
        v0 = u.transpose(-1, -2) @ (p0 / sqrt_m.unsqueeze(-1))
        t = t.to(q0)
        wt = omega.unsqueeze(1) * t.view(1, -1, 1)  # (B, T, N)
        cos, sin = torch.cos(wt), torch.sin(wt)
        # sin(w t) / w written as t sinc(w t / pi) so that zero modes move freely without 0/0
        sin_over_w = t.view(1, -1, 1) * torch.sinc(wt / torch.pi)
        y = cos.unsqueeze(-1) * y0.unsqueeze(1) + sin_over_w.unsqueeze(-1) * v0.unsqueeze(1)
        v = -(omega.unsqueeze(1) * sin).unsqueeze(-1) * y0.unsqueeze(1) + cos.unsqueeze(-1) * v0.unsqueeze(1)
        u_t = u.unsqueeze(1)
        q = (u_t @ y) / sqrt_m.view(-1, 1, self.n_bodies, 1)
        p = (u_t @ v) * sqrt_m.view(-1, 1, self.n_bodies, 1)
        return q, p


def _scale(name: str, value, dim: int) -> float | list[float]:
    """A spread: one float for all axes (kept a float so settings and data stay as before), or one per axis."""
    if isinstance(value, (int, float)):
        scale = [float(value)]
    else:
        scale = [float(v) for v in value]
        if len(scale) != dim:
            raise ValueError(f"{name} must be a number or {dim} numbers (one per axis), got {list(value)}")
    if not all(v >= 0 for v in scale):
        raise ValueError(f"{name} must be non-negative, got {value}")
    return scale[0] if isinstance(value, (int, float)) else scale
