"""Diagnostics of learned dynamics: rollout error, energy and momentum drift, equivariance, rotations;
and the evaluation of a trained checkpoint on a dataset.

Every metric function takes tensors and callables (an energy ``H(q, p, params) -> (batch,)`` or a
rollout ``rollout(q0, p0, params, t) -> z``), never a trainer, so that it applies to any model, to the
true system, or to a user's own integrator. Trajectories are ``z (batch, time, 2, n_bodies, dim)`` with
``z[:, :, 0]`` the positions and ``z[:, :, 1]`` the momenta (:func:`~hamilton_lie.dynamics.to_z`).

The definitions:

* ``mse``: mean squared error of predicted against true states;
* ``rollout_rel_error(t)``: ||z_pred(t) - z_true(t)|| / (||z_pred(t)|| + ||z_true(t)||) per trajectory,
  summarised by the geometric mean over trajectories (:func:`geometric_mean`);
* ``energy_drift(t)``: |H(z(t)) - H(z(0))| / (T(0) + |V(0)|), the kinetic and potential energy of the
  true initial state, as ``evaluate`` measures it (``scale=energy_scale(T0, V0)``; the data files' energy
  error has the same scale); without a scale, |H(z(0))|;
* ``equivariance_error``: ||F(g x) - g F(x)|| / ||F(x)|| for the vector field F and |H(g x) - H(x)| / |H(x)|
  for the energy, over random group elements g (:func:`group_errors` for any function). ``evaluate``
  divides the energy's change by T(0) + |V(0)| instead (a learned potential's additive constant is
  arbitrary), and takes the vector field of the learned part of H only
  (:meth:`~hamilton_lie.models.EnergyModel.learned_energy`): the exact kinetic term a potential model adds
  is equivariant and would dilute the error;
* ``rotation_robustness``: rollout error on randomly rotated test systems divided by the rollout error
  on the originals;
* ``momentum_drift``: ||P(t) - P(0)|| / sum_i ||p_i(0)|| for the total linear momentum P, and
  ||L(t) - L(0)|| / sum_i ||q_i(0)|| ||p_i(0)|| for the angular momentum L about the origin. By Noether's
  theorem a translation-invariant H conserves P and a rotation-invariant one L, up to the integrator's error;
* ``baselines``: the test MSE and rollout error of two trivial predictors, zero force
  (q(t) = q0 + t p0 / m, p(t) = p0) and the initial state held, that a model has to beat.
"""

from ._equivariance import equivariance_error, group_errors, transform_state
from ._evaluate import TestSet, evaluate, load_trained
from ._metrics import (
    energy_drift,
    energy_scale,
    geometric_mean,
    momentum_drift,
    mse,
    rollout_rel_error,
    trajectory_energy,
)
from ._report import format_metrics, format_rows, summary_row, write_evaluation
from ._robustness import RolloutFunction, RotationRobustness, rotation_angle, rotation_robustness

__all__ = [
    "RolloutFunction",
    "RotationRobustness",
    "TestSet",
    "energy_drift",
    "energy_scale",
    "equivariance_error",
    "evaluate",
    "format_metrics",
    "format_rows",
    "geometric_mean",
    "group_errors",
    "load_trained",
    "momentum_drift",
    "mse",
    "rollout_rel_error",
    "rotation_angle",
    "rotation_robustness",
    "summary_row",
    "trajectory_energy",
    "transform_state",
    "write_evaluation",
]
