"""The interface shared by every Hamiltonian system: separable H(q, p) = T(p) + V(q).

Every system here has the Euclidean kinetic energy T = sum_i |p_i|^2 / (2 m_i), so a
subclass supplies only its potential, the analytic force -dV/dq and its samplers. States
are ``q, p`` of shape ``(batch, n_bodies, dim)``; trajectories add a time axis,
``(batch, time, n_bodies, dim)``. Per-trajectory parameters are a dict of tensors whose
leading axes are ``(batch, n_bodies)``.
"""

from __future__ import annotations

from typing import ClassVar

import torch

Params = dict[str, torch.Tensor]


def broadcast_params(params: Params, q: torch.Tensor) -> Params:
    """Give ``(batch, n_bodies)`` parameters a time axis when ``q`` is a trajectory.

    Arguments:
        params: tensors of shape ``(batch, n_bodies)``.
        q: ``(batch, n_bodies, dim)`` or ``(batch, time, n_bodies, dim)``.
    """
    if q.dim() == 4:
        return {k: v.unsqueeze(1) for k, v in params.items()}
    return params


def uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator | None) -> torch.Tensor:
    """float64 samples of U(low, high) drawn on the generator's device (CPU by default)."""
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=torch.float64)


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
    #: True when the force is linear in q and acts on every spatial axis alike (F(q) = -A q with A
    #: acting on the body index); ``integrate`` then advances by the integrator's one-sample matrix.
    linear: ClassVar[bool] = False

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
            if tuple(params[key].shape) != (q.shape[0], self.n_bodies):
                raise ValueError(
                    f"params[{key!r}] must have shape ({q.shape[0]}, {self.n_bodies}), got {tuple(params[key].shape)}"
                )

    def velocity(self, p: torch.Tensor, params: Params) -> torch.Tensor:
        """dH/dp = p / m, same shape as ``p``."""
        return p / broadcast_params(params, p)["masses"].unsqueeze(-1)

    def kinetic(self, p: torch.Tensor, params: Params) -> torch.Tensor:
        """T(p) = sum_i |p_i|^2 / (2 m_i): ``(..., n, dim) -> (...)``."""
        m = broadcast_params(params, p)["masses"]
        return (p.pow(2).sum(-1) / (2 * m)).sum(-1)

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


def sample_separated_positions(
    batch: int,
    n_bodies: int,
    dim: int,
    radius: float,
    min_separation: float,
    generator: torch.Generator | None,
    max_rounds: int = 1000,
) -> torch.Tensor:
    """Positions uniform in the ball of ``radius``, no two bodies closer than ``min_separation``.

    Rejection sampling by whole configurations: rows that violate the separation are drawn
    again (from the same generator, so the result is reproducible). This is exact (uniform,
    conditioned on the separation), but a configuration of N bodies is accepted with probability
    about exp(-lambda), lambda = N (N - 1) / 2 (min_separation / radius)^dim the expected number of
    close pairs, which vanishes for thousands of bodies. When lambda > 10, the bodies of close
    pairs are redrawn instead (the later body of each pair, until none is left): random sequential
    placement, which slightly favours spread-out configurations over the exact conditioned law.
    Returns ``(batch, n_bodies, dim)`` float64 with the centroid at the origin.

    Raises:
        ValueError: if after ``max_rounds`` some configuration still violates the separation,
            which means the bodies do not fit in the ball at that separation.
    """

    def draw(*shape: int) -> torch.Tensor:
        direction = torch.randn((*shape, dim), generator=generator, dtype=torch.float64)
        direction = direction / direction.norm(dim=-1, keepdim=True)
        r = radius * torch.rand((*shape, 1), generator=generator, dtype=torch.float64) ** (1.0 / dim)
        return direction * r

    def close_pairs(x: torch.Tensor) -> torch.Tensor:
        """``(k, n, n)``: True where body j > i is within the separation of body i."""
        later = torch.ones(n_bodies, n_bodies, dtype=torch.bool).triu(1)
        return (torch.cdist(x, x) < min_separation) & later

    expected_close = n_bodies * (n_bodies - 1) / 2 * (min_separation / radius) ** dim
    x = draw(batch, n_bodies)
    for _ in range(max_rounds):
        close = close_pairs(x)
        if not close.any():
            return x - x.mean(dim=1, keepdim=True)
        if expected_close <= 10:
            bad = close.any(dim=(-1, -2))
            x[bad] = draw(int(bad.sum()), n_bodies)
        else:
            movers = close.any(dim=-2)  # (batch, n): the later body of each close pair
            x[movers] = draw(int(movers.sum()))
    raise ValueError(f"could not place {n_bodies} bodies in a ball of radius {radius} at least {min_separation} apart")


def random_rotation(batch: int, generator: torch.Generator | None) -> torch.Tensor:
    """Rotations uniform on SO(3) (Haar measure): ``(batch, 3, 3)`` float64.

    A normalised 4-D Gaussian is a uniform unit quaternion, whose rotation matrix is uniform.
    """
    w, x, y, z = torch.randn((4, batch), generator=generator, dtype=torch.float64)
    n = torch.sqrt(w * w + x * x + y * y + z * z)
    return quaternion_to_matrix(w / n, x / n, y / n, z / n)


def quaternion_to_matrix(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The rotation of the unit quaternion (w, x, y, z), each component ``(...)``: ``(..., 3, 3)``."""
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).view(*w.shape, 3, 3)
