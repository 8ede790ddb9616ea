"""Classical 4th-order Runge-Kutta: accurate per step but not symplectic (its energy drifts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._base import FixedStep


@dataclass(frozen=True)
class RK4(FixedStep):
    """Classical 4th-order Runge-Kutta on (dq, dp) = (v(p), F(q)), four force evaluations per step."""

    name: ClassVar[str] = "rk4"
    order: ClassVar[int] = 4

    def steps(self, q, p, h, n_steps, velocity, force, f=None):
        for _ in range(n_steps):
            k1q, k1p = velocity(p), force(q)
            k2q, k2p = velocity(p + 0.5 * h * k1p), force(q + 0.5 * h * k1q)
            k3q, k3p = velocity(p + 0.5 * h * k2p), force(q + 0.5 * h * k2q)
            k4q, k4p = velocity(p + h * k3p), force(q + h * k3q)
            q = q + (h / 6) * (k1q + 2 * k2q + 2 * k3q + k4q)
            p = p + (h / 6) * (k1p + 2 * k2p + 2 * k3p + k4p)
        return q, p, None
