"""Diagnostics of learned dynamics: rollout error, energy and momentum drift, equivariance, rotations.

Every function takes tensors and callables (an energy ``H(q, p, params) -> (batch,)`` or a rollout
``rollout(q0, p0, params, t) -> z``), never a trainer, so that it applies to any model, to the true
system, or to a user's own integrator. Trajectories are ``z (batch, time, 2, n_bodies, dim)`` with
``z[:, :, 0]`` the positions and ``z[:, :, 1]`` the momenta (:func:`~hamilton_lie.dynamics.to_z`).

The definitions are the project's (DESIGN.md, "Metrics"):

* ``mse``: mean squared error of predicted against true states;
* ``rollout_rel_error(t)``: ||z_pred(t) - z_true(t)|| / (||z_pred(t)|| + ||z_true(t)||) per trajectory,
  summarised by the geometric mean over trajectories (:func:`geometric_mean`);
* ``energy_drift(t)``: |H(z(t)) - H(z(0))| / |H(z(0))|;
* ``equivariance_error``: ||F(g x) - g F(x)|| / ||F(x)|| for the vector field F and
  |H(g x) - H(x)| / |H(x)| for the energy, over random group elements g;
* ``rotation_robustness``: rollout error on randomly rotated test systems divided by the rollout
  error on the originals.

Momentum drift (not in DESIGN.md's list, but what Noether's theorem predicts for each group):
||P(t) - P(0)|| / sum_i ||p_i(0)|| for the total linear momentum P, and ||L(t) - L(0)|| /
sum_i ||q_i(0)|| ||p_i(0)|| for the angular momentum L about the origin. A translation-invariant H
conserves P and a rotation-invariant one conserves L, up to the integrator's error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from simulators import HamiltonianSystem

from .dynamics import hamiltonian_vector_field
from .groups import Element, Group, random_rotations
from .testing import equivariance_errors

Rollout = Callable[[torch.Tensor, torch.Tensor, dict, torch.Tensor], torch.Tensor]
Energy = Callable[[torch.Tensor, torch.Tensor, dict], torch.Tensor]

__all__ = [
    "RotationRobustness",
    "energy_drift",
    "equivariance_error",
    "geometric_mean",
    "momentum_drift",
    "mse",
    "rollout_rel_error",
    "rotation_angle",
    "rotation_robustness",
    "trajectory_energy",
]


def _check_trajectories(name: str, z: torch.Tensor) -> None:
    if z.dim() != 5 or z.shape[2] != 2:
        raise ValueError(f"{name} must be (batch, time, 2, n_bodies, dim), got shape {tuple(z.shape)}")


def _check_pair(z_pred: torch.Tensor, z_true: torch.Tensor) -> None:
    _check_trajectories("z_pred", z_pred)
    if z_pred.shape != z_true.shape:
        raise ValueError(
            f"z_pred and z_true must have the same shape, got {tuple(z_pred.shape)} and {tuple(z_true.shape)}"
        )


def mse(z_pred: torch.Tensor, z_true: torch.Tensor) -> float:
    """Mean squared error over every trajectory, time, body and coordinate.

    Arguments:
        z_pred, z_true: ``(batch, time, 2, n_bodies, dim)``.
    """
    _check_pair(z_pred, z_true)
    return float((z_pred.detach().double() - z_true.detach().double()).pow(2).mean())


def rollout_rel_error(z_pred: torch.Tensor, z_true: torch.Tensor) -> torch.Tensor:
    """||z_pred(t) - z_true(t)|| / (||z_pred(t)|| + ||z_true(t)||) per trajectory and time.

    Bounded by 1; zero where the states agree (0/0 at an all-zero state counts as 0).

    Arguments:
        z_pred, z_true: ``(batch, time, 2, n_bodies, dim)``.

    Returns:
        ``(batch, time)`` float64.

    Example:
        >>> z = torch.ones(2, 3, 2, 4, 2)
        >>> rollout_rel_error(z, z).max().item()
        0.0
    """
    _check_pair(z_pred, z_true)
    a, b = z_pred.detach().double().flatten(2), z_true.detach().double().flatten(2)
    denominator = a.norm(dim=-1) + b.norm(dim=-1)
    return (a - b).norm(dim=-1) / denominator.clamp_min(torch.finfo(torch.float64).tiny)


def geometric_mean(x: torch.Tensor, dim: int | tuple[int, ...] = 0, floor: float = 1e-300) -> torch.Tensor:
    """exp(mean(log x)) along ``dim``; values below ``floor`` (exact zeros) count as ``floor``."""
    return x.double().clamp_min(floor).log().mean(dim).exp()


def trajectory_energy(energy: Energy, z: torch.Tensor, params: dict, chunk: int = 4096) -> torch.Tensor:
    """H at every state of ``z (batch, time, 2, N, d)`` -> ``(batch, time)``, ``chunk`` states at a time.

    ``params``: name -> ``(batch, n_bodies)``, shared by all times of a trajectory.
    """
    _check_trajectories("z", z)
    batch, time = z.shape[:2]
    flat = z.flatten(0, 1)
    flat_params = {k: v.repeat_interleave(time, dim=0) for k, v in params.items()}
    out = []
    for lo in range(0, flat.shape[0], chunk):
        sel = slice(lo, lo + chunk)
        out.append(energy(flat[sel, 0], flat[sel, 1], {k: v[sel] for k, v in flat_params.items()}).detach())
    return torch.cat(out).reshape(batch, time)


def energy_drift(energy: Energy, z: torch.Tensor, params: dict, chunk: int = 4096) -> torch.Tensor:
    """|H(z(t)) - H(z(0))| / |H(z(0))| along each trajectory.

    Arguments:
        energy: ``H(q, p, params) -> (batch,)``: the true system's ``hamiltonian`` (for the drift of
            the true energy along predicted rollouts) or a learned model (along its own rollouts).
        z: ``(batch, time, 2, n_bodies, dim)``.
        params: name -> ``(batch, n_bodies)``.
        chunk: states evaluated at a time (bounds memory for large models).

    Returns:
        ``(batch, time)``, zero at t = 0.
    """
    with torch.no_grad():
        H = trajectory_energy(energy, z, params, chunk).double()
    return (H - H[:, :1]).abs() / H[:, :1].abs().clamp_min(torch.finfo(torch.float64).tiny)


def momentum_drift(z: torch.Tensor) -> dict[str, torch.Tensor]:
    """Drift of total linear and angular momentum (about the origin), relative to their scale at t = 0.

    Returns:
        ``{"linear": (batch, time), "angular": (batch, time)}``: ||P(t) - P(0)|| / sum_i ||p_i(0)|| and
        ||L(t) - L(0)|| / sum_i ||q_i(0)|| ||p_i(0)||.
    """
    _check_trajectories("z", z)
    q, p = z[:, :, 0].detach().double(), z[:, :, 1].detach().double()
    P = HamiltonianSystem.linear_momentum(p)
    L = HamiltonianSystem.angular_momentum(q, p)
    if q.shape[-1] == 2:  # the scalar z component: one axis, so that norms below apply in 2D and 3D
        L = L.unsqueeze(-1)
    tiny = torch.finfo(torch.float64).tiny
    p_scale = p[:, :1].norm(dim=-1).sum(-1)
    l_scale = (q[:, :1].norm(dim=-1) * p[:, :1].norm(dim=-1)).sum(-1)
    return {
        "linear": (P - P[:, :1]).norm(dim=-1) / p_scale.clamp_min(tiny),
        "angular": (L - L[:, :1]).norm(dim=-1) / l_scale.clamp_min(tiny),
    }


def equivariance_error(
    energy: Energy,
    group: Group,
    q: torch.Tensor,
    p: torch.Tensor,
    params: dict,
    n_elements: int = 8,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = torch.float64,
    translation_scale: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Invariance error of the energy and equivariance error of its vector field J grad H.

    Arguments:
        energy: ``H(q, p, params) -> (batch,)``; a module is cast to ``dtype`` for the check and
            restored afterwards.
        group: the group whose random elements act (rotations on q and p, translations on q).
        q, p: ``(batch, n_bodies, dim)``; params: name -> ``(batch, n_bodies)``.
        n_elements: random elements per system.
        generator: seeds the elements.
        dtype: evaluate in this dtype (float64 by default, so that the numbers measure the model and
            not float32 round-off); None keeps the inputs' dtype.

    Returns:
        ``{"energy": (n_elements, batch), "vector_field": (n_elements, batch)}`` relative errors.
    """
    module = energy if isinstance(energy, torch.nn.Module) else None
    original = (
        next(module.parameters()).dtype if module is not None and any(True for _ in module.parameters()) else None
    )
    if dtype is not None:
        q, p = q.to(dtype), p.to(dtype)
        params = {k: v.to(dtype) for k, v in params.items()}
        if original is not None:
            module.to(dtype)
    try:
        elements = group.sample(
            (n_elements, q.shape[0]), generator=generator, dtype=torch.float64, translation_scale=translation_scale
        )
        elements = Element(elements.R.to(q.device), elements.t.to(q.device))
        with torch.no_grad():
            e = equivariance_errors(energy, (q, p, params), elements)

        def field(q_, p_, params_):
            return tuple(x.detach() for x in hamiltonian_vector_field(energy, q_, p_, params_))

        f = equivariance_errors(field, (q, p, params), elements)
    finally:
        if original is not None:
            module.to(original)
    return {"energy": e, "vector_field": f}


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
    rollout: Rollout,
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
    _check_trajectories("z_true", z_true)
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
