"""Integrators for separable Hamiltonians, batched in torch, and a scipy DOP853 reference.

The symplectic methods (``leapfrog``, ``yoshida4``) need only the velocity dH/dp = v(p) and
the force -dH/dq = F(q), which is why they are written against two callables rather than
a system: the same steps integrate a learned separable energy. Their energy error stays
bounded over long times; ``rk4``'s drifts. ``dop853`` (scipy's adaptive 8th-order
Runge-Kutta, one trajectory at a time) is the accuracy reference for tests and checks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .system import HamiltonianSystem, Params

Velocity = Callable[[torch.Tensor], torch.Tensor]
Force = Callable[[torch.Tensor], torch.Tensor]

METHODS = ("leapfrog", "yoshida4", "rk4", "dop853")

# Yoshida (1990): the symmetric triple jump w1, w0, w1 of a 2nd-order step is 4th order
_CBRT2 = 2.0 ** (1.0 / 3.0)
YOSHIDA4_WEIGHTS = (1.0 / (2.0 - _CBRT2), -_CBRT2 / (2.0 - _CBRT2), 1.0 / (2.0 - _CBRT2))


def leapfrog_steps(q, p, h, n_steps: int, velocity: Velocity, force: Force, weights=(1.0,), f=None):
    """``n_steps`` steps of kick-drift-kick Stormer-Verlet, composed with ``weights``.

    Each step applies leapfrog with step ``w * h`` for each w in ``weights``; ``(1.0,)`` is
    plain leapfrog and :data:`YOSHIDA4_WEIGHTS` Yoshida's 4th-order method. The force at
    the end of one sub-step is the force at the start of the next, so each costs one force
    evaluation; pass the returned force back as ``f`` to carry that saving across calls.

    Arguments:
        q, p: ``(batch, n_bodies, dim)``.
        h: step size (float or tensor broadcastable to q).
        velocity: p -> dH/dp; force: q -> -dH/dq.
        f: ``force(q)`` if already known.

    Returns:
        ``q, p`` after ``n_steps`` steps, and the force at the new ``q``.
    """
    f = force(q) if f is None else f
    for _ in range(n_steps):
        for w in weights:
            p = p + (0.5 * w * h) * f
            q = q + (w * h) * velocity(p)
            f = force(q)
            p = p + (0.5 * w * h) * f
    return q, p, f


def rk4_steps(q, p, h, n_steps: int, velocity: Velocity, force: Force):
    """``n_steps`` steps of classical 4th-order Runge-Kutta on (dq, dp) = (v(p), F(q))."""
    for _ in range(n_steps):
        k1q, k1p = velocity(p), force(q)
        k2q, k2p = velocity(p + 0.5 * h * k1p), force(q + 0.5 * h * k1q)
        k3q, k3p = velocity(p + 0.5 * h * k2p), force(q + 0.5 * h * k2q)
        k4q, k4p = velocity(p + h * k3p), force(q + h * k3q)
        q = q + (h / 6) * (k1q + 2 * k2q + 2 * k3q + k4q)
        p = p + (h / 6) * (k1p + 2 * k2p + 2 * k3p + k4p)
    return q, p


def _check_times(t: torch.Tensor) -> None:
    if t.dim() != 1 or t.numel() < 1:
        raise ValueError(f"t must be a 1-D tensor of at least one time, got shape {tuple(t.shape)}")
    if t.numel() > 1 and not bool((t[1:] > t[:-1]).all()):
        raise ValueError("t must be strictly increasing")


def integrate(
    system: HamiltonianSystem,
    q0: torch.Tensor,
    p0: torch.Tensor,
    params: Params,
    t: torch.Tensor,
    *,
    method: str,
    substeps: int = 1,
    rtol: float = 1e-12,
    atol: float = 1e-12,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrate ``system`` from ``(q0, p0)`` at ``t[0]`` and sample the state at every time in ``t``.

    Arguments:
        system: the Hamiltonian system.
        q0, p0: ``(batch, n_bodies, dim)`` initial state (float64 recommended).
        params: per-trajectory parameters from ``system.sample_params``.
        t: ``(time,)`` strictly increasing sample times; ``t[0]`` is the initial time.
        method: ``"leapfrog"``, ``"yoshida4"``, ``"rk4"`` (fixed steps, batched torch on the
            inputs' device) or ``"dop853"`` (scipy, adaptive, per trajectory, CPU).
        substeps: fixed-step methods take this many equal steps between consecutive samples.
        rtol, atol: tolerances of ``dop853`` only (the fixed-step methods ignore them).

    Returns:
        ``q, p``, each ``(batch, time, n_bodies, dim)``; index 0 is the initial state.

    Raises:
        ValueError: for an unknown method, bad shapes or times, or ``substeps < 1``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(substeps, int) or substeps < 1:
        raise ValueError(f"substeps must be a positive integer, got {substeps!r}")
    system.check_state(q0, p0, params)
    if q0.dim() != 3:
        raise ValueError(f"q0 must be (batch, n_bodies, dim), got {tuple(q0.shape)}")
    t = torch.as_tensor(t, dtype=q0.dtype, device=q0.device)
    _check_times(t)
    if method == "dop853":
        return _integrate_scipy(system, q0, p0, params, t, rtol=rtol, atol=atol)

    def velocity(p):
        return system.velocity(p, params)

    def force(q):
        return system.force(q, params)

    weights = (1.0,) if method == "leapfrog" else YOSHIDA4_WEIGHTS

    def advance(q, p, h, f=None):
        """One sample interval; returns q, p and (symplectic methods) the force to reuse."""
        if method == "rk4":
            return (*rk4_steps(q, p, h, substeps, velocity, force), None)
        return leapfrog_steps(q, p, h, substeps, velocity, force, weights, f)

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
        qb, pb, _ = advance(eye[:, :n], eye[:, n:], gaps.mean() / substeps)
        step = torch.cat([qb, pb], dim=1)  # (batch, 2N, 2N)
        z = torch.cat([q0, p0], dim=1)  # (batch, 2N, dim)
        for k in range(1, t.numel()):
            z = step @ z
            q_out[:, k], p_out[:, k] = z[:, :n], z[:, n:]
        return q_out, p_out
    q, p, f = q0, p0, None
    for k in range(1, t.numel()):
        q, p, f = advance(q, p, gaps[k - 1] / substeps, f)
        q_out[:, k], p_out[:, k] = q, p
    return q_out, p_out


def _integrate_scipy(system, q0, p0, params, t, rtol, atol):
    from scipy.integrate import solve_ivp

    shape = q0.shape[1:]
    size = q0[0].numel()
    t_np = t.detach().cpu().numpy()
    q_out = np.empty((q0.shape[0], t_np.size, *shape))
    p_out = np.empty_like(q_out)
    for b in range(q0.shape[0]):
        row = {k: v[b : b + 1].detach().cpu() for k, v in params.items()}

        def fun(_, y, row=row):
            z = torch.from_numpy(y).view(2, 1, *shape)
            dq, dp = system.vector_field(z[0], z[1], row)
            return torch.cat([dq.reshape(-1), dp.reshape(-1)]).numpy()

        y0 = torch.cat([q0[b].reshape(-1), p0[b].reshape(-1)]).detach().cpu().double().numpy()
        if t_np.size == 1:
            ys = y0[:, None]
        else:
            sol = solve_ivp(fun, (t_np[0], t_np[-1]), y0, method="DOP853", t_eval=t_np, rtol=rtol, atol=atol)
            if not sol.success:
                raise RuntimeError(f"dop853 failed on trajectory {b}: {sol.message}")
            ys = sol.y
        q_out[b] = ys[:size].T.reshape(t_np.size, *shape)
        p_out[b] = ys[size:].T.reshape(t_np.size, *shape)
    to = {"dtype": q0.dtype, "device": q0.device}
    return torch.from_numpy(q_out).to(**to), torch.from_numpy(p_out).to(**to)
