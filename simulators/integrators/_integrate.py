"""``integrate``: one call that checks its inputs and hands them to an integrator object."""

from __future__ import annotations

import torch

from .._registry import Registry
from ..systems import HamiltonianSystem, Params
from ._adaptive import DOP853, RK45
from ._base import Integrator
from ._runge_kutta import RK4
from ._symplectic import Leapfrog, SymplecticEuler, Yoshida4

INTEGRATORS: Registry[Integrator] = Registry("integrator")
for _cls in (Leapfrog, Yoshida4, RK4, DOP853, RK45, SymplecticEuler):
    INTEGRATORS.register(_cls.name, _cls)


def get_integrator(name: str, **options) -> Integrator:
    """The integrator registered as ``name`` (``leapfrog``, ``yoshida4``, ``rk4``, ``dop853``) with ``options``."""
    return INTEGRATORS.build(name, **options)


def list_integrators() -> list[str]:
    """The registered integrator names."""
    return INTEGRATORS.names()


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
    method: Integrator | str,
    return_steps: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Integrate ``system`` from ``(q0, p0)`` at ``t[0]`` and sample the state at every time in ``t``.

    Arguments:
        system: the Hamiltonian system.
        q0, p0: ``(batch, n_bodies, dim)`` initial state (float64 recommended).
        params: per-trajectory parameters from ``system.sample_params``, each ``(batch, n_bodies)``.
        t: ``(time,)`` strictly increasing sample times; ``t[0]`` is the initial time.
        method: an integrator object, e.g. ``Yoshida4(substeps=10)`` or ``DOP853(rtol=1e-13, atol=1e-13)``
            (all run batched in torch on the inputs' device; the adaptive ``DOP853`` and ``RK45`` give
            each trajectory its own steps), or a registered name for one with its defaults (``"rk4"``: one step per sample).
        return_steps: also return how many steps each trajectory took.

    Returns:
        ``q, p``, each ``(batch, time, n_bodies, dim)``; index 0 is the initial state; with ``return_steps``
        also ``steps (batch,)`` int64: the accepted steps of an adaptive method, ``substeps`` per sample
        interval of a fixed-step one.

    Raises:
        ValueError: for an unknown method, or shapes or times that do not fit.

    Example:
        >>> from simulators import SpringSystem, Yoshida4
        >>> system = SpringSystem(n_bodies=3, dim=2)
        >>> g = torch.Generator().manual_seed(0)
        >>> params = system.sample_params(2, generator=g)
        >>> q0, p0 = system.sample_state(params, generator=g)
        >>> t = torch.linspace(0, 1, 11, dtype=torch.float64)
        >>> q, p = integrate(system, q0, p0, params, t, method=Yoshida4(substeps=10))
        >>> q.shape
        torch.Size([2, 11, 3, 2])
    """
    if isinstance(method, str):
        method = get_integrator(method)
    if not isinstance(method, Integrator):
        raise ValueError(f"method must be an Integrator or one of {list_integrators()}, got {method!r}")
    system.check_state(q0, p0, params)
    if system.walls and not method.handles_walls:
        walled = [n for n in list_integrators() if get_integrator(n).handles_walls]
        raise ValueError(f"{type(system).__name__} has reflecting walls, which {method.name} does not handle; use {walled}")
    if q0.dim() != 3:
        raise ValueError(f"q0 must be (batch, n_bodies, dim), got {tuple(q0.shape)}")
    t = torch.as_tensor(t, dtype=q0.dtype, device=q0.device)
    _check_times(t)
    if return_steps:
        return method.integrate_counted(system, q0, p0, params, t)
    return method.integrate(system, q0, p0, params, t)
