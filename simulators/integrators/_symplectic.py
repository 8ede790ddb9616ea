"""Symplectic splitting methods: Stormer-Verlet leapfrog and Yoshida's 4th-order composition of it.

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
