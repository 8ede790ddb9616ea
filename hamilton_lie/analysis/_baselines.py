"""Trivial predictors that a learned model has to beat, scored the way the model is.

* ``zero_force``: every body keeps its initial momentum and moves in a straight line, q(t) = q0 + t p0 / m
  (the dynamics of H = T alone: what a model that learned no forces predicts);
* ``held``: the initial state, held: z(t) = z(0).

Each has the interface of :class:`~hamilton_lie.dynamics.HamiltonianDynamics` that the metrics use
(``integrate`` returning a :class:`~hamilton_lie.dynamics.Rollout`, ``eval``/``train``), so its test
MSE comes from the same windows and the same function as the model's.
"""

from __future__ import annotations

import torch

from ..dynamics import Rollout

BASELINES = ("zero_force", "held")


class Baseline(torch.nn.Module):
    """One of :data:`BASELINES` as a dynamics object.

    Arguments:
        kind: ``zero_force`` or ``held``.
    """

    def __init__(self, kind: str):
        super().__init__()
        if kind not in BASELINES:
            raise ValueError(f"kind must be one of {BASELINES}, got {kind!r}")
        self.kind = kind

    def integrate(self, q0: torch.Tensor, p0: torch.Tensor, params: dict, t: torch.Tensor, **_) -> Rollout:
        """``z (batch, time, 2, n_bodies, dim)`` from ``q0, p0 (batch, n_bodies, dim)`` at the times ``t (time,)``;
        ``params["masses"] (batch, n_bodies)``. Solver options are accepted and ignored."""
        steps = (t - t[0]).to(q0).view(1, -1, 1, 1)
        p = p0.unsqueeze(1).expand(-1, t.shape[0], -1, -1)
        if self.kind == "held":
            q = q0.unsqueeze(1).expand_as(p)
        else:
            q = q0.unsqueeze(1) + steps * (p0 / params["masses"].unsqueeze(-1)).unsqueeze(1)
        return Rollout(torch.stack([q, p], 2), nfe=0)

    def rollout(self, q0, p0, params, t) -> torch.Tensor:
        """:meth:`integrate`'s ``z`` alone: the ``rollout`` callable the metrics take."""
        return self.integrate(q0, p0, params, t).z
