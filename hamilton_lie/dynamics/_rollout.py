"""Rollouts of the Hamiltonian dynamics of energy models.

A state is ``q, p`` of shape ``(batch, n_bodies, dim)``; torchdiffeq integrates the stacked
``z = torch.stack([q, p], dim=-3)`` of shape ``(batch, 2, n_bodies, dim)`` (:func:`to_z`,
:func:`from_z`). Rollouts use torchdiffeq's ``odeint`` (any of its methods; ``adjoint=True`` uses
``odeint_adjoint``), or the symplectic integrators of ``simulators`` (``leapfrog``, ``yoshida4``) for
separable energies (models with ``energy="potential"``: H = V(q) + sum |p|^2 / 2m).

Note on fixed-grid methods: torchdiffeq's ``rk4`` (the 3/8-rule variant of classical RK4, so it
agrees with ``simulators``' classical ``rk4`` to the methods' 4th order, not to round-off) steps only
at the requested times, ignoring ``rtol``/``atol``; ``substeps`` here inserts equally spaced steps
between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from simulators import get_integrator
from simulators.integrators import INTEGRATORS

from ._vector_field import from_z, hamiltonian_vector_field, to_z


def solver_names() -> list[str]:
    """The methods a rollout takes: torchdiffeq's solvers and the symplectic integrators of ``simulators``."""
    from torchdiffeq._impl.odeint import SOLVERS  # the solvers odeint dispatches to, by name

    return sorted(set(SOLVERS) | {name for name in INTEGRATORS.names() if INTEGRATORS[name].symplectic})


FIXED_GRID = ("euler", "midpoint", "heun2", "heun3", "rk4", "explicit_adams", "implicit_adams")


def refine_grid(t: torch.Tensor, substeps: int) -> torch.Tensor:
    """``t (T,)`` with ``substeps - 1`` equally spaced times inserted in every interval: ``((T-1) substeps + 1,)``."""
    frac = torch.arange(substeps, dtype=t.dtype, device=t.device) / substeps
    inner = (t[:-1, None] + (t[1:] - t[:-1])[:, None] * frac).flatten()
    return torch.cat([inner, t[-1:]])


@dataclass
class Rollout:
    """A rollout and what it cost.

    Attributes:
        z: ``(batch, time, 2, n_bodies, dim)``; index 0 of the time axis is the initial state.
        nfe: evaluations of the vector field (energy + gradient) it took.
    """

    z: torch.Tensor
    nfe: int

    @property
    def q(self) -> torch.Tensor:
        return self.z[:, :, 0]

    @property
    def p(self) -> torch.Tensor:
        return self.z[:, :, 1]


class _Field(nn.Module):
    """f(t, z) for torchdiffeq, bound to one batch's parameters; counts its own evaluations."""

    def __init__(self, model: nn.Module, params: dict, create_graph: bool, generator: torch.Generator | None):
        super().__init__()
        self.model = model
        self.params = params
        self.create_graph = create_graph
        self.generator = generator
        self.nfe = 0

    def forward(self, t, z):
        self.nfe += 1
        q, p = from_z(z)
        dq, dp = hamiltonian_vector_field(self.model, q, p, self.params, self.create_graph, self.generator)
        return to_z(dq, dp)


class HamiltonianDynamics(nn.Module):
    """The dynamics f(t, z) = J grad H(z) of an energy model, and rollouts of it.

    Arguments:
        model: an energy model ``model(q, p, params) -> (batch,)``, e.g. a :class:`~hamilton_lie.LieTransformer`.

    Example:
        >>> import torch
        >>> from hamilton_lie import LieTransformer, groups
        >>> model = LieTransformer(groups.T(2), ("masses", "k"), dim_hidden=16, num_layers=1, num_heads=2)
        >>> dyn = HamiltonianDynamics(model)
        >>> q0, p0 = torch.randn(3, 6, 2), torch.randn(3, 6, 2)
        >>> params = {"masses": torch.ones(3, 6), "k": torch.ones(3, 6)}
        >>> dyn.rollout(q0, p0, params, torch.linspace(0, 0.4, 5), method="rk4").shape
        torch.Size([3, 5, 2, 6, 2])
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, q, p, params, create_graph: bool = False, generator: torch.Generator | None = None):
        """The vector field ``(dq, dp)`` at ``q, p (batch, n_bodies, dim)``."""
        return hamiltonian_vector_field(self.model, q, p, params, create_graph, generator)

    def rollout(self, q0, p0, params, t, method: str = "rk4", **kwargs) -> torch.Tensor:
        """Integrate from ``q0, p0`` and return ``z (batch, time, 2, n_bodies, dim)``; see :meth:`integrate`."""
        return self.integrate(q0, p0, params, t, method=method, **kwargs).z

    def integrate(
        self,
        q0: torch.Tensor,
        p0: torch.Tensor,
        params: dict,
        t: torch.Tensor,
        method: str = "rk4",
        substeps: int = 1,
        rtol: float = 1e-7,
        atol: float = 1e-9,
        adjoint: bool = False,
        create_graph: bool | None = None,
        generator: torch.Generator | None = None,
    ) -> Rollout:
        """Roll out the learned dynamics.

        Arguments:
            q0, p0: ``(batch, n_bodies, dim)`` initial state at ``t[0]``.
            params: per-body parameters, name -> ``(batch, n_bodies)``.
            t: ``(time,)`` increasing times.
            method: a torchdiffeq method (``rk4``, ``dopri5``, ``dopri8``, ...) or ``leapfrog`` /
                ``yoshida4`` (symplectic; needs a separable energy, ``energy="potential"``).
            substeps: fixed-step methods take this many equal steps between consecutive times.
            rtol, atol: tolerances of adaptive torchdiffeq methods (ignored by fixed-step ones).
            adjoint: integrate with ``odeint_adjoint`` (memory O(1) in the number of steps; gradients
                by a backward solve, torchdiffeq methods only).
            create_graph: keep the graph through the vector field (default: when grad is enabled),
                which training needs and evaluation does not.
            generator: drives the model's random lifts in training mode.

        Returns:
            A :class:`Rollout` with ``z`` and the number of vector-field evaluations.

        Raises:
            ValueError: for an unknown method, ``substeps < 1``, or a symplectic method with an
                energy that is not separable.
        """
        if not isinstance(substeps, int) or substeps < 1:
            raise ValueError(f"substeps must be a positive integer, got {substeps!r}")
        t = torch.as_tensor(t, dtype=q0.dtype, device=q0.device)
        if t.dim() != 1 or (t.numel() > 1 and not bool((t[1:] > t[:-1]).all())):
            raise ValueError(f"t must be a 1-D increasing tensor of times, got shape {tuple(t.shape)}")
        create_graph = torch.is_grad_enabled() if create_graph is None else create_graph
        if method in INTEGRATORS and INTEGRATORS[method].symplectic:
            integrator = get_integrator(method, substeps=substeps)
            return self._symplectic(q0, p0, params, t, integrator, create_graph, generator)
        field = _Field(self.model, params, create_graph, generator)
        return Rollout(_odeint(field, to_z(q0, p0), t, method, substeps, rtol, atol, adjoint).transpose(0, 1), field.nfe)

    def _symplectic(self, q0, p0, params, t, integrator, create_graph, generator) -> Rollout:
        if not getattr(self.model, "separable", False):
            raise ValueError(
                "leapfrog and yoshida4 need a separable energy H = V(q) + sum |p|^2 / 2m: build the model "
                "with energy='potential', or use a torchdiffeq method such as 'rk4'"
            )
        masses = params["masses"].unsqueeze(-1)
        counter = [0]

        def velocity(p):
            return p / masses

        def force(q):
            counter[0] += 1
            _, dp = hamiltonian_vector_field(self.model, q, torch.zeros_like(q), params, create_graph, generator)
            return dp

        states = [to_z(q0, p0)]
        q, p, f = q0, p0, None
        for k in range(1, t.numel()):
            q, p, f = integrator.advance(q, p, t[k] - t[k - 1], velocity, force, f)
            states.append(to_z(q, p))
        return Rollout(torch.stack(states, dim=1), counter[0])


def _odeint(field: _Field, z0, t, method: str, substeps: int, rtol: float, atol: float, adjoint: bool):
    """torchdiffeq's solution ``(time, batch, 2, N, d)``, with ``substeps`` steps per interval on fixed grids."""
    # imported on use: torchdiffeq loads scipy.integrate, 0.4 s that `import hamilton_lie` need not pay
    from torchdiffeq import odeint, odeint_adjoint

    options = {}
    if method in FIXED_GRID and substeps > 1:
        # an explicit grid: `step_size` would let round-off add a step past t[-1] and interpolate
        options["grid_constructor"] = lambda func, y0, times: refine_grid(times, substeps)
    solve = odeint_adjoint if adjoint else odeint
    extra = {"adjoint_params": tuple(field.model.parameters())} if adjoint else {}
    try:
        return solve(field, z0, t, rtol=rtol, atol=atol, method=method, options=options, **extra)
    except (ValueError, AssertionError, KeyError) as e:
        if "method" in str(e) or isinstance(e, KeyError):
            raise ValueError(f"unknown method {method!r}; torchdiffeq offers rk4, dopri5, dopri8, ...") from e
        raise
