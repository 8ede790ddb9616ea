"""Rotational robustness: how a learned model's rollouts change when the test systems are rotated."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from simulators import random_rotations

from ._metrics import check_trajectories, geometric_mean, rollout_rel_error

#: ``rollout(q0, p0, params, t) -> z (batch, time, 2, n_bodies, dim)``
RolloutFunction = Callable[[torch.Tensor, torch.Tensor, dict, torch.Tensor], torch.Tensor]


def _rotate_systems(R: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One rotation per system, ``R (batch, d, d)``, applied to every vector of ``x (batch, ..., d)`` in float64."""
    return torch.einsum("bij,b...j->b...i", R, x.double()).to(x.dtype)


def rotation_angle(R: torch.Tensor) -> torch.Tensor:
    """The angle in [0, pi] of rotations ``R (..., d, d)``, d = 2 or 3."""
    if R.shape[-1] == 2:
        return torch.atan2(R[..., 1, 0], R[..., 0, 0]).abs()
    cos = ((R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    return torch.arccos(cos)


@dataclass(frozen=True)
class RotationRobustness:
    """What :func:`rotation_robustness` measured.

    Attributes:
        ratio: geometric mean over trajectories and times t > 0 of ``error_rotated`` divided by that of
            ``error_original`` (1 for a model whose dynamics commute with rotations).
        ratio_t: ``(time,)`` the same ratio at each time (NaN at t = 0, where both errors vanish).
        angles: ``(batch,)`` rotation angle of each system's rotation, in [0, pi].
        rotations: ``(batch, d, d)`` the rotations.
        error_original: ``(batch, time)`` rollout_rel_error of the rollout from the original state.
        error_rotated: ``(batch, time)`` rollout_rel_error of the rotated-back rollout from the rotated state.
        equivariance: ``(batch, time)`` rollout_rel_error between the rotated-back and the original
            rollout: how far the learned dynamics are from commuting with the rotation.
    """

    ratio: float
    ratio_t: torch.Tensor
    angles: torch.Tensor
    rotations: torch.Tensor
    error_original: torch.Tensor
    error_rotated: torch.Tensor
    equivariance: torch.Tensor


def rotation_robustness(
    rollout: RolloutFunction,
    q0: torch.Tensor,
    p0: torch.Tensor,
    params: dict,
    t: torch.Tensor,
    z_true: torch.Tensor,
    generator: torch.Generator | None = None,
    rotations: torch.Tensor | None = None,
    z_pred: torch.Tensor | None = None,
) -> RotationRobustness:
    """Rotate each test system about the origin, roll out, rotate back and compare.

    Arguments:
        rollout: ``rollout(q0, p0, params, t) -> z (batch, time, 2, n_bodies, dim)``.
        q0, p0: ``(batch, n_bodies, dim)`` initial states (dim 2 or 3); params: name -> ``(batch, n_bodies)``.
        t: ``(time,)`` times; z_true: ``(batch, time, 2, n_bodies, dim)`` true trajectories.
        generator: seeds Haar-random rotations, one per system.
        rotations: ``(batch, dim, dim)`` rotations to use instead of random ones.
        z_pred: the rollout from the original states, when already computed.

    Returns:
        A :class:`RotationRobustness`.
    """
    check_trajectories("z_true", z_true)
    batch, dim = q0.shape[0], q0.shape[-1]
    if dim not in (2, 3):
        raise ValueError(f"rotation_robustness needs 2D or 3D states, got dim {dim}")
    if rotations is None:
        rotations = random_rotations((batch,), dim, generator, dtype=torch.float64)
    if rotations.shape != (batch, dim, dim):
        raise ValueError(f"rotations must be ({batch}, {dim}, {dim}), got {tuple(rotations.shape)}")
    R = rotations.to(dtype=torch.float64, device=q0.device)
    if z_pred is None:
        z_pred = rollout(q0, p0, params, t)
    z_rot = rollout(_rotate_systems(R, q0), _rotate_systems(R, p0), params, t)
    z_back = _rotate_systems(R.transpose(-1, -2), z_rot.detach().double())
    error_original = rollout_rel_error(z_pred, z_true)
    error_rotated = rollout_rel_error(z_back, z_true)
    equivariance = rollout_rel_error(z_back, z_pred)
    later = slice(1, None)
    ratio = geometric_mean(error_rotated[:, later], dim=(0, 1)) / geometric_mean(error_original[:, later], dim=(0, 1))
    ratio_t = geometric_mean(error_rotated, dim=0) / geometric_mean(error_original, dim=0)
    ratio_t[0] = math.nan
    return RotationRobustness(
        ratio=float(ratio),
        ratio_t=ratio_t,
        angles=rotation_angle(R),
        rotations=R,
        error_original=error_original,
        error_rotated=error_rotated,
        equivariance=equivariance,
    )
