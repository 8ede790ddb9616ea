"""Metrics of trajectories ``z (batch, time, 2, n_bodies, dim)``: state error, rollout error, energy and
momentum drift (the definitions are in :mod:`hamilton_lie.analysis`)."""

from __future__ import annotations

import torch

from simulators import HamiltonianSystem

from ..dynamics import EnergyFunction


def check_trajectories(name: str, z: torch.Tensor) -> None:
    if z.dim() != 5 or z.shape[2] != 2:
        raise ValueError(f"{name} must be (batch, time, 2, n_bodies, dim), got shape {tuple(z.shape)}")


def _check_pair(z_pred: torch.Tensor, z_true: torch.Tensor) -> None:
    check_trajectories("z_pred", z_pred)
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


def trajectory_energy(hamiltonian: EnergyFunction, z: torch.Tensor, params: dict, chunk: int = 4096) -> torch.Tensor:
    """H at every state of ``z (batch, time, 2, N, d)`` -> ``(batch, time)``, ``chunk`` states at a time.

    ``params``: name -> ``(batch, n_bodies)``, shared by all times of a trajectory.
    """
    check_trajectories("z", z)
    batch, time = z.shape[:2]
    flat = z.flatten(0, 1)
    flat_params = {k: v.repeat_interleave(time, dim=0) for k, v in params.items()}
    out = []
    for lo in range(0, flat.shape[0], chunk):
        sel = slice(lo, lo + chunk)
        out.append(hamiltonian(flat[sel, 0], flat[sel, 1], {k: v[sel] for k, v in flat_params.items()}).detach())
    return torch.cat(out).reshape(batch, time)


def energy_drift(
    hamiltonian: EnergyFunction, z: torch.Tensor, params: dict, chunk: int = 4096, scale: torch.Tensor | None = None
) -> torch.Tensor:
    """|H(z(t)) - H(z(0))| / scale along each trajectory.

    The scale that makes drifts comparable across systems is the size of the energies being exchanged,
    T(0) + |V(0)| (what :func:`energy_scale` computes and ``evaluate`` uses, the data files' scale too):
    for bound gravity and charges H(0) itself can be close to zero, and a drift relative to it says
    nothing. Without ``scale``, |H(z(0))|.

    Arguments:
        hamiltonian: ``H(q, p, params) -> (batch,)``: the true system's ``hamiltonian`` (for the drift of
            the true energy along predicted rollouts) or a learned model (along its own rollouts).
        z: ``(batch, time, 2, n_bodies, dim)``.
        params: name -> ``(batch, n_bodies)``.
        chunk: states evaluated at a time (bounds memory for large models).
        scale: ``(batch,)`` each trajectory's energy scale; None: |H(z(0))|.

    Returns:
        ``(batch, time)``, zero at t = 0.
    """
    with torch.no_grad():
        H = trajectory_energy(hamiltonian, z, params, chunk).double()
    scale = H[:, 0].abs() if scale is None else scale.to(dtype=torch.float64, device=H.device)
    return (H - H[:, :1]).abs() / scale.clamp_min(torch.finfo(torch.float64).tiny).unsqueeze(-1)


def energy_scale(kinetic: torch.Tensor, potential: torch.Tensor) -> torch.Tensor:
    """T + |V|, the scale of :func:`energy_drift`: ``(batch,)`` from the kinetic and potential energies
    ``(batch,)`` at t = 0. It equals |H| where V >= 0 (springs) and stays away from zero where H
    does not (bound gravity and charges)."""
    return kinetic.double() + potential.double().abs()


def momentum_drift(z: torch.Tensor) -> dict[str, torch.Tensor]:
    """Drift of total linear and angular momentum (about the origin), relative to their scale at t = 0.

    Returns:
        ``{"linear": (batch, time), "angular": (batch, time)}``: ||P(t) - P(0)|| / sum_i ||p_i(0)|| and
        ||L(t) - L(0)|| / sum_i ||q_i(0)|| ||p_i(0)||.
    """
    check_trajectories("z", z)
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
