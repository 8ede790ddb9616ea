"""What every integrator is: a method object that knows its name and order of accuracy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..systems import HamiltonianSystem, Params

Velocity = Callable[[torch.Tensor], torch.Tensor]
Force = Callable[[torch.Tensor], torch.Tensor]


class Integrator:
    """A method that integrates a separable Hamiltonian system and samples it at given times.

    Attributes:
        name: the name recipes use for it (``integrator = "..."``).
        order: its order of accuracy: the global error falls as h^order with the step h (tests fit it).
        symplectic: whether it preserves the symplectic form (energy error bounded over long times).
        handles_walls: whether it integrates systems with reflecting walls (``system.walls``).
    """

    name: ClassVar[str]
    order: ClassVar[int]
    symplectic: ClassVar[bool] = False
    handles_walls: ClassVar[bool] = False

    def integrate(self, system: HamiltonianSystem, q0: torch.Tensor, p0: torch.Tensor, params: Params, t: torch.Tensor):
        """``q, p (batch, time, n_bodies, dim)`` at the times ``t (time,)`` from ``q0, p0 (batch, n_bodies, dim)``.

        Called by :func:`simulators.integrate`, which has checked the shapes and times. By default
        :meth:`integrate_counted` without its counts.
        """
        return self.integrate_counted(system, q0, p0, params, t)[:2]

    def integrate_counted(self, system: HamiltonianSystem, q0, p0, params: Params, t: torch.Tensor):
        """:meth:`integrate`, and the number of steps each trajectory took: ``q, p, steps (batch,)`` int64.
        A fixed-step method takes the same steps for every trajectory; an adaptive one counts its own.
        A subclass supplies one of the two."""
        raise NotImplementedError


@dataclass(frozen=True)
class FixedStep(Integrator):
    """A fixed-step method: ``substeps`` equal steps between consecutive sample times.

    Subclasses supply :meth:`steps`, written against a velocity p -> dH/dp and a force q -> -dH/dq
    rather than a system, so that the same steps integrate a learned separable energy.
    """

    substeps: int = 1

    def __post_init__(self):
        if isinstance(self.substeps, bool) or not isinstance(self.substeps, int) or self.substeps < 1:
            raise ValueError(f"substeps must be a positive integer, got {self.substeps!r}")

    def steps(self, q, p, h, n_steps: int, velocity: Velocity, force: Force, f=None):
        """``n_steps`` steps of size ``h`` from ``q, p (batch, n_bodies, dim)``.

        Returns ``q, p`` and the force at the new ``q`` where the method has it for free (else None);
        passing it back as ``f`` saves a force evaluation on the next call.
        """
        raise NotImplementedError

    def integrate_counted(self, system, q0, p0, params, t):
        q, p = self.integrate(system, q0, p0, params, t)
        steps = torch.full((q0.shape[0],), self.substeps * (t.numel() - 1), dtype=torch.int64, device=q0.device)
        return q, p, steps

    def advance(self, q, p, interval, velocity: Velocity, force: Force, f=None):
        """One sample interval: ``substeps`` steps of ``interval / substeps``; see :meth:`steps`."""
        return self.steps(q, p, interval / self.substeps, self.substeps, velocity, force, f)

    def integrate(self, system, q0, p0, params, t):
        def velocity(p):
            return system.velocity(p, params)

        def force(q):
            return system.force(q, params)

        q_out = q0.new_empty((q0.shape[0], t.numel(), *q0.shape[1:]))
        p_out = torch.empty_like(q_out)
        q_out[:, 0], p_out[:, 0] = q0, p0
        if t.numel() == 1:
            return q_out, p_out
        gaps = t[1:] - t[:-1]
        if system.linear and bool(((gaps - gaps.mean()).abs() <= 1e-12 * gaps.mean()).all()):
            # A linear system's integrator map over one sample interval is a matrix (the same for every
            # spatial axis): build it once by advancing the 2N basis vectors, then each sample costs one
            # small batched matmul however many substeps the interval takes.
            n = q0.shape[1]
            eye = torch.eye(2 * n, dtype=q0.dtype, device=q0.device).expand(q0.shape[0], 2 * n, 2 * n)
            qb, pb, _ = self.advance(eye[:, :n], eye[:, n:], gaps.mean(), velocity, force)
            step = torch.cat([qb, pb], dim=1)  # (batch, 2N, 2N)
            z = torch.cat([q0, p0], dim=1)  # (batch, 2N, dim)
            for k in range(1, t.numel()):
                z = step @ z
                q_out[:, k], p_out[:, k] = z[:, :n], z[:, n:]
            return q_out, p_out
        q, p, f = q0, p0, None
        for k in range(1, t.numel()):
            q, p, f = self._interval(system, params, q, p, gaps[k - 1], velocity, force, f)
            q_out[:, k], p_out[:, k] = q, p
        return q_out, p_out

    def _interval(self, system, params, q, p, interval, velocity: Velocity, force: Force, f=None):
        """One sample interval of ``system`` (:meth:`advance`); a method that acts on the system beyond its
        forces (walls) overrides this."""
        return self.advance(q, p, interval, velocity, force, f)
