"""The interface shared by every Hamiltonian system: separable H(q, p) = T(p) + V(q).

Every system here has the Euclidean kinetic energy T = sum_i |p_i|^2 / (2 m_i), so a
subclass supplies only its potential, the analytic force -dV/dq and its samplers. States
are ``q, p`` of shape ``(batch, n_bodies, dim)``; trajectories add a time axis,
``(batch, time, n_bodies, dim)``. Per-trajectory parameters are a dict of tensors of shape
``(batch, n_bodies)`` (per body) or ``(batch, n_bodies, n_bodies)`` (per pair, e.g. a spring graph).
A system without a ``masses`` parameter has unit masses.
"""

from __future__ import annotations

from typing import ClassVar

import torch

Params = dict[str, torch.Tensor]


def broadcast_params(params: Params, q: torch.Tensor) -> Params:
    """Give per-trajectory parameters a time axis when ``q`` is a trajectory.

    Arguments:
        params: tensors of shape ``(batch, n_bodies)`` or ``(batch, n_bodies, n_bodies)``.
        q: ``(batch, n_bodies, dim)`` or ``(batch, time, n_bodies, dim)``.
    """
    if q.dim() == 4:
        return {k: v.unsqueeze(1) for k, v in params.items()}
    return params


class HamiltonianSystem:
    """A family of separable Hamiltonian systems of ``n_bodies`` bodies in ``dim`` dimensions.

    The constructor holds the physical settings (constants and sampling distributions);
    ``settings`` returns every one of them as plain JSON-able values, which is what a
    dataset records as ``system_settings``.

    Randomness comes only from the ``generator`` arguments. Samples are drawn on the
    generator's device (CPU when none is given) in float64 and then moved to ``device``, so
    a seed gives the same initial conditions whichever device integrates them.
    """

    name: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]]
    #: the parameters among ``param_names`` that are per pair of bodies, ``(batch, n_bodies, n_bodies)``
    pair_params: ClassVar[tuple[str, ...]] = ()
    #: True when the force is linear in q and acts on every spatial axis alike (F(q) = -A q with A
    #: acting on the body index); ``integrate`` then advances by the integrator's one-sample matrix.
    linear: ClassVar[bool] = False
    #: True for a system in a box with reflecting walls (:meth:`reflect`), which only integrators with
    #: ``handles_walls`` integrate; its walls stand at +-``box_size`` on every axis
    walls: ClassVar[bool] = False

    def __init__(self, n_bodies: int, dim: int):
        if not isinstance(n_bodies, int) or n_bodies < 1:
            raise ValueError(f"n_bodies must be a positive integer, got {n_bodies!r}")
        if dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3, got {dim!r}")
        self.n_bodies = n_bodies
        self.dim = dim

    # -- to be supplied by subclasses -------------------------------------------------
    @property
    def settings(self) -> dict:
        """Every physical constant and sampling setting, as JSON-able values."""
        raise NotImplementedError

    def sample_params(
        self, batch: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> Params:
        """Per-trajectory parameters, each ``(batch, n_bodies)`` float64."""
        raise NotImplementedError

    def sample_state(self, params: Params, generator: torch.Generator | None = None):
        """Initial ``q0, p0``, each ``(batch, n_bodies, dim)`` float64 on the params' device."""
        raise NotImplementedError

    def sample_splits(self, sizes: dict[str, int], seed: int, device: torch.device | str = "cpu"):
        """Every split's ``(params, q0, p0)`` at once, for a system that replays an original generator's random
        stream; None (the default) leaves the draws to the toolkit's per-split generators."""
        return None

    def potential(self, q: torch.Tensor, params: Params) -> torch.Tensor:
        """V(q): ``(batch, n_bodies, dim) -> (batch,)`` or ``(batch, time, n, dim) -> (batch, time)``."""
        raise NotImplementedError

    def force(self, q: torch.Tensor, params: Params) -> torch.Tensor:
        """-dV/dq, analytic: same shape as ``q``."""
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------
    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"{type(self).__name__}(n_bodies={self.n_bodies}, dim={self.dim}, {inner})"

    def check_state(self, q: torch.Tensor, p: torch.Tensor, params: Params) -> None:
        """Raise ``ValueError`` naming the expected and received shapes when they disagree."""
        expected = (self.n_bodies, self.dim)
        for name, x in (("q", q), ("p", p)):
            if x.dim() not in (3, 4) or tuple(x.shape[-2:]) != expected:
                raise ValueError(
                    f"{name} must have shape (batch, [time,] {self.n_bodies}, {self.dim}), got {tuple(x.shape)}"
                )
        if q.shape != p.shape:
            raise ValueError(f"q and p must have the same shape, got {tuple(q.shape)} and {tuple(p.shape)}")
        for key in self.param_names:
            if key not in params:
                raise ValueError(f"params is missing {key!r}; expected keys {list(self.param_names)}")
            shape = self.param_shape(key, q.shape[0])
            if tuple(params[key].shape) != shape:
                raise ValueError(f"params[{key!r}] must have shape {shape}, got {tuple(params[key].shape)}")

    def param_shape(self, key: str, batch: int) -> tuple[int, ...]:
        """``(batch, n_bodies)``, or ``(batch, n_bodies, n_bodies)`` for a per-pair parameter."""
        return (batch, self.n_bodies, self.n_bodies) if key in self.pair_params else (batch, self.n_bodies)

    @staticmethod
    def masses(params: Params, p: torch.Tensor) -> torch.Tensor:
        """``params["masses"]``, or unit masses for a system without them: ``(batch, [time,] n_bodies)``."""
        if "masses" in params:
            return broadcast_params(params, p)["masses"]
        return torch.ones(p.shape[:-1], dtype=p.dtype, device=p.device)

    def kick_drift_kick(
        self, q: torch.Tensor, p: torch.Tensor, params: Params, h: float, n_steps: int, weights: tuple[float, ...]
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``n_steps`` steps of size ``h``, each kick-drift-kick leapfrog steps of size ``w * h`` for w in
        ``weights``, through a fused kernel: ``q, p (batch, n_bodies, dim)``, or None where the system has no
        kernel for these tensors (the integrator then steps with PyTorch operations, the same to round-off).
        None here; :class:`GravitySystem` and :class:`ChargedSystem` have one for float64 on the CPU."""
        return None

    def reflect(self, q: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bodies that crossed a wall mirrored back inside, their momenta turned inward (``walls`` systems)."""
        return q, p

    def velocity(self, p: torch.Tensor, params: Params) -> torch.Tensor:
        """dH/dp = p / m, same shape as ``p`` (``p`` itself for unit masses)."""
        if "masses" not in params:
            return p
        return p / self.masses(params, p).unsqueeze(-1)

    def kinetic(self, p: torch.Tensor, params: Params) -> torch.Tensor:
        """T(p) = sum_i |p_i|^2 / (2 m_i): ``(..., n, dim) -> (...)``."""
        return (p.pow(2).sum(-1) / (2 * self.masses(params, p))).sum(-1)

    def hamiltonian(self, q: torch.Tensor, p: torch.Tensor, params: Params) -> torch.Tensor:
        """Exact H = T + V: ``(batch, [time,] n, dim) -> (batch, [time])``."""
        return self.kinetic(p, params) + self.potential(q, params)

    def vector_field(self, q: torch.Tensor, p: torch.Tensor, params: Params):
        """Hamilton's equations (dq/dt, dp/dt) = (dH/dp, -dH/dq), analytic (no autograd)."""
        return self.velocity(p, params), self.force(q, params)

    @staticmethod
    def linear_momentum(p: torch.Tensor) -> torch.Tensor:
        """Total linear momentum sum_i p_i: ``(..., n, dim) -> (..., dim)``."""
        return p.sum(-2)

    @staticmethod
    def angular_momentum(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Total angular momentum about the origin, sum_i q_i x p_i.

        Returns ``(...)`` in 2D (the scalar z component) and ``(..., 3)`` in 3D.
        """
        if q.shape[-1] == 2:
            return (q[..., 0] * p[..., 1] - q[..., 1] * p[..., 0]).sum(-1)
        return torch.linalg.cross(q, p, dim=-1).sum(-2)
