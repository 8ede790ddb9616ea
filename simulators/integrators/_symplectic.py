"""Symplectic methods: Stormer-Verlet leapfrog, Yoshida's 4th-order composition of it, and symplectic Euler.

Their energy error stays bounded over long times, which is why the recipes use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._base import FixedStep

# Yoshida (1990): the symmetric triple jump w1, w0, w1 of a 2nd-order step is 4th order
_CBRT2 = 2.0 ** (1.0 / 3.0)
YOSHIDA4_WEIGHTS = (1.0 / (2.0 - _CBRT2), -_CBRT2 / (2.0 - _CBRT2), 1.0 / (2.0 - _CBRT2))


@dataclass(frozen=True)
class _KickDriftKick(FixedStep):
    """Kick-drift-kick leapfrog composed with ``weights``: each step applies leapfrog with step
    ``w * h`` for each w. The force at the end of one sub-step is the force at the start of the next,
    so each costs one force evaluation."""

    weights: ClassVar[tuple[float, ...]]
    symplectic: ClassVar[bool] = True

    def steps(self, q, p, h, n_steps, velocity, force, f=None):
        f = force(q) if f is None else f
        for _ in range(n_steps):
            for w in self.weights:
                p = p + (0.5 * w * h) * f
                q = q + (w * h) * velocity(p)
                f = force(q)
                p = p + (0.5 * w * h) * f
        return q, p, f

    def _interval(self, system, params, q, p, interval, velocity, force, f=None):
        # a whole interval in the system's fused kernel where it has one (gravity and charges, float64 CPU)
        done = system.kick_drift_kick(q, p, params, interval / self.substeps, self.substeps, self.weights)
        if done is not None:
            return (*done, None)
        return super()._interval(system, params, q, p, interval, velocity, force, f)


@dataclass(frozen=True)
class Leapfrog(_KickDriftKick):
    """Stormer-Verlet (kick-drift-kick leapfrog): 2nd order, symplectic, one force per step."""

    name: ClassVar[str] = "leapfrog"
    order: ClassVar[int] = 2
    weights: ClassVar[tuple[float, ...]] = (1.0,)


@dataclass(frozen=True)
class Yoshida4(_KickDriftKick):
    """Yoshida's 4th-order symplectic method: three leapfrog steps of weights w1, w0, w1 per step."""

    name: ClassVar[str] = "yoshida4"
    order: ClassVar[int] = 4
    weights: ClassVar[tuple[float, ...]] = YOSHIDA4_WEIGHTS


@dataclass(frozen=True)
class SymplecticEuler(FixedStep):
    """Symplectic Euler, kick then drift: p += h F(q), q += h dH/dp, then the walls (if any) reflect.

    1st order and symplectic. It is the scheme of the NRI family of generators (Kipf et al. 2018, and
    EGNN's after it), which store q after a drift with the momentum of the kick before it (half a step
    behind in leapfrog terms); the toolkit offers it to reproduce those datasets. It applies the walls
    at the end of each step, as the originals do (the adaptive pairs locate each bounce exactly).
    """

    name: ClassVar[str] = "symplectic-euler"
    order: ClassVar[int] = 1
    symplectic: ClassVar[bool] = True
    handles_walls: ClassVar[bool] = True

    def steps(self, q, p, h, n_steps, velocity, force, f=None, reflect=None):
        for _ in range(n_steps):
            p = p + h * (force(q) if f is None else f)
            q = q + h * velocity(p)
            if reflect is not None:
                q, p = reflect(q, p)
            f = None  # the force at the reflected q is computed at the next kick
        return q, p, None

    def _interval(self, system, params, q, p, interval, velocity, force, f=None):
        # the walls act inside each step, so the steps see the system, not only its forces
        reflect = system.reflect if system.walls else None
        return self.steps(q, p, interval / self.substeps, self.substeps, velocity, force, f, reflect)
