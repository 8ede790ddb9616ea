"""Lie groups acting on R^d: T(d), SO(2), SE(2), SO(3), SE(3), the trivial group, and finite rotation grids.

Every group here is a subgroup of the Euclidean group E(d), so an element is stored as a pair
``(R, t)``: a rotation matrix ``R (..., d, d)`` and a translation ``t (..., d)``, acting on points
as x -> R x + t. Composition, inversion and action are therefore shared; a group supplies its
Lie algebra coordinates (``exp``/``log``), random elements, how points are lifted to group
elements (``lift``), and the invariant features of pairs of lifted elements (``pair_features``).

Numerics: ``exp`` and ``log`` switch to Taylor series near the identity and (for SO(3)) to an
eigenvector formula near angle pi, with the "double where" trick so that first and second
derivatives stay finite at the switch points; tests check them with gradcheck and gradgradcheck.

Pair features come in two forms. ``"log"`` is the paper's log(u^-1 v) (Hutchinson et al., 2021,
sec. 3). The principal logarithm of a rotation jumps where the relative angle crosses pi, which a
model differentiated twice (Hamiltonian training) should not see; ``"smooth"`` (the default for
groups with rotations) instead gives the entries of u^-1 v itself: the relative rotation (cos and
sin of the angle in 2D, the matrix in 3D) and the relative translation R_u^T (t_v - t_u). Both are
exactly invariant under left multiplication, u, v -> g u, g v.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from simulators.system import quaternion_to_matrix

Tensor = torch.Tensor

# Below _SERIES (radians) the closed forms with cancellations ((1 - cos x) / x^2 loses about
# eps / x^2) give way to Taylor series carried to x^8, whose truncation error at 0.1 is below 1e-19.
# so3_log's own series is shorter and switches earlier; near pi it changes method (see there).
_SERIES = 0.1
_LOG_SMALL = 1e-3
_NEAR_PI = 1e-3


# -- elements -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Element:
    """Group elements ``(R, t)``: ``R (..., d, d)``, ``t (..., d)``; acting as x -> R x + t."""

    R: Tensor
    t: Tensor

    @property
    def shape(self) -> torch.Size:
        return self.t.shape[:-1]


def compose(a: Element, b: Element) -> Element:
    """a b: (R_a R_b, R_a t_b + t_a), broadcasting over leading dimensions."""
    return Element(a.R @ b.R, (a.R @ b.t.unsqueeze(-1)).squeeze(-1) + a.t)


def inverse(a: Element) -> Element:
    """a^-1 = (R^T, -R^T t)."""
    rt = a.R.transpose(-1, -2)
    return Element(rt, -(rt @ a.t.unsqueeze(-1)).squeeze(-1))


def act(a: Element, x: Tensor) -> Tensor:
    """a . x = R x + t for points ``x (..., d)`` broadcasting against ``a``."""
    return (a.R @ x.unsqueeze(-1)).squeeze(-1) + a.t


def rotate(a: Element, v: Tensor) -> Tensor:
    """The linear part only, R v: how vectors (momenta, velocities) transform."""
    return (a.R @ v.unsqueeze(-1)).squeeze(-1)


def relative(a: Element, b: Element) -> Element:
    """a^-1 b = (R_a^T R_b, R_a^T (t_b - t_a)), without forming a^-1 separately."""
    rt = a.R.transpose(-1, -2)
    return Element(rt @ b.R, (rt @ (b.t - a.t).unsqueeze(-1)).squeeze(-1))


# -- scalar helpers with safe derivatives ------------------------------------------------------
def _series_or(theta2: Tensor, series: tuple[float, ...], closed) -> Tensor:
    """sum_k series[k] theta2^k where theta2 < _SERIES^2, else closed(safe theta2); NaN-free gradients."""
    small = theta2 < _SERIES**2
    safe = torch.where(small, torch.full_like(theta2, 1.0), theta2)
    value = torch.zeros_like(theta2)
    for c in reversed(series):
        value = value * theta2 + c
    return torch.where(small, value, closed(safe))


# Taylor coefficients in theta^2 of the functions below
_SINC = (1.0, -1 / 6, 1 / 120, -1 / 5040, 1 / 362880)  # sin x / x
_COSC = (1 / 2, -1 / 24, 1 / 720, -1 / 40320, 1 / 3628800)  # (1 - cos x) / x^2
_SINC3 = (1 / 6, -1 / 120, 1 / 5040, -1 / 362880, 1 / 39916800)  # (x - sin x) / x^3
_HALF_COT = (1.0, -1 / 12, -1 / 720, -1 / 30240, -1 / 1209600)  # (x / 2) cot(x / 2)
_VINV = (1 / 12, 1 / 720, 1 / 30240, 1 / 1209600, 1 / 47900160)  # (1 - (x / 2) cot(x / 2)) / x^2


def _sinc(theta: Tensor) -> Tensor:
    """sin(x) / x."""
    return _series_or(theta * theta, _SINC, lambda t2: torch.sin(t2.sqrt()) / t2.sqrt())


def _cosc(theta2: Tensor) -> Tensor:
    """(1 - cos x) / x^2 as a function of x^2."""
    return _series_or(theta2, _COSC, lambda t2: (1 - torch.cos(t2.sqrt())) / t2)


def _one_minus_cos_over(theta: Tensor) -> Tensor:
    """(1 - cos x) / x."""
    return theta * _cosc(theta * theta)


def _half_cot_half(theta: Tensor) -> Tensor:
    """(x / 2) cot(x / 2), smooth on (-2 pi, 2 pi)."""
    return _series_or(theta * theta, _HALF_COT, lambda t2: (t2.sqrt() / 2) / torch.tan(t2.sqrt() / 2))


def _rot2(theta: Tensor) -> Tensor:
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def _hat(w: Tensor) -> Tensor:
    """so(3) vector ``(..., 3)`` -> skew matrix ``(..., 3, 3)``."""
    z = torch.zeros_like(w[..., 0])
    x, y, zz = w[..., 0], w[..., 1], w[..., 2]
    return torch.stack([torch.stack([z, -zz, y], -1), torch.stack([zz, z, -x], -1), torch.stack([-y, x, z], -1)], -2)


def _vee(m: Tensor) -> Tensor:
    """Skew part of a matrix as a vector: vee((M - M^T) / 2)."""
    return 0.5 * torch.stack(
        [m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1
    )


def so3_exp(w: Tensor) -> Tensor:
    """Rodrigues' formula: ``(..., 3) -> (..., 3, 3)``, Taylor-guarded at 0."""
    t2 = (w * w).sum(-1)
    a = _series_or(t2, _SINC, lambda s: torch.sin(s.sqrt()) / s.sqrt())
    b = _cosc(t2)
    k = _hat(w)
    eye = torch.eye(3, dtype=w.dtype, device=w.device)
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def so3_log(r: Tensor) -> Tensor:
    """Principal logarithm ``(..., 3, 3) -> (..., 3)`` with angle in [0, pi].

    Three regimes: a Taylor series near the identity, the closed form theta / (2 sin theta) vee(R -
    R^T) in between, and near pi the axis from the symmetric part R + R^T (whose largest diagonal
    entry is well conditioned), signed by the skew part.
    """
    v = _vee(r)  # sin(theta) n
    cos = ((r[..., 0, 0] + r[..., 1, 1] + r[..., 2, 2]) - 1) / 2
    x = 1 - cos  # theta^2 / 2 - ..., from the trace: smooth even at the identity
    small = x < _LOG_SMALL**2 / 2
    near_pi = cos < -1 + _NEAR_PI**2 / 2
    mid = ~(small | near_pi)
    sin_safe = torch.where(mid | near_pi, (v * v).sum(-1), torch.ones_like(x)).clamp_min(1e-300).sqrt()
    theta = torch.atan2(sin_safe, cos)
    # small: theta / (2 sin theta) = 1/2 + theta^2/12 + 7 theta^4/720, theta^2 = 2x + x^2/3 + O(x^3)
    t2 = 2 * x + x * x / 3
    factor_small = 1 + t2 / 6 + 7 * t2 * t2 / 360
    factor_mid = theta / torch.where(mid, sin_safe, torch.ones_like(x))
    w = torch.where(small[..., None], factor_small[..., None] * v, factor_mid[..., None] * v)
    if bool(near_pi.any()):
        sym = (r + r.transpose(-1, -2)) / 2 - cos[..., None, None] * torch.eye(3, dtype=r.dtype, device=r.device)
        # sym = (1 - cos) n n^T: take the column with the largest diagonal entry
        diag = torch.diagonal(sym, dim1=-2, dim2=-1)
        col = diag.argmax(-1, keepdim=True)
        n = torch.gather(sym, -1, col.unsqueeze(-2).expand(*sym.shape[:-1], 1)).squeeze(-1)
        n = n / torch.gather(diag, -1, col).clamp_min(1e-300).sqrt()
        n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-300)
        sign = torch.where((n * v).sum(-1, keepdim=True) < 0, -1.0, 1.0).to(r.dtype)
        w = torch.where(near_pi[..., None], sign * n * theta[..., None], w)
    return w


def _so3_left_jacobian(w: Tensor, inverse_: bool) -> Tensor:
    """V(w) (for SE(3) exp) or its inverse (for log): ``(..., 3) -> (..., 3, 3)``."""
    t2 = (w * w).sum(-1)
    k = _hat(w)
    eye = torch.eye(3, dtype=w.dtype, device=w.device)
    if inverse_:
        # V^-1 = I - K / 2 + c K^2, c = (1 - (x / 2) cot(x / 2)) / x^2
        c = _series_or(t2, _VINV, lambda s: (1 - (s.sqrt() / 2) / torch.tan(s.sqrt() / 2)) / s)
        return eye - k / 2 + c[..., None, None] * (k @ k)
    c = _series_or(t2, _SINC3, lambda s: (s.sqrt() - torch.sin(s.sqrt())) / (s * s.sqrt()))
    return eye + _cosc(t2)[..., None, None] * k + c[..., None, None] * (k @ k)


# -- finite rotation groups --------------------------------------------------------------------
def _closure(generators: list[Tensor]) -> Tensor:
    """All products of the generators: the finite group they generate, ``(order, d, d)``, float64."""
    found = [torch.eye(generators[0].shape[-1], dtype=torch.float64)]
    keys = {tuple(torch.round(found[0] * 1e6).long().flatten().tolist())}
    frontier = list(found)
    while frontier:
        nxt = []
        for a, g in itertools.product(frontier, generators):
            m = g @ a
            key = tuple(torch.round(m * 1e6).long().flatten().tolist())
            if key not in keys:
                keys.add(key)
                found.append(m)
                nxt.append(m)
        frontier = nxt
    return torch.stack(found)


def _axis_angle(axis, angle) -> Tensor:
    a = torch.tensor(axis, dtype=torch.float64)
    return so3_exp(a / a.norm() * angle)


def cyclic_rotations(n: int) -> Tensor:
    """C_n: rotations by 2 pi k / n, ``(n, 2, 2)`` float64."""
    return _rot2(2 * math.pi * torch.arange(n, dtype=torch.float64) / n)


def finite_rotations_3d(name: str) -> Tensor:
    """The tetrahedral (12), octahedral (24) or icosahedral (60) rotation group, ``(order, 3, 3)``."""
    third = 2 * math.pi / 3
    if name == "tetrahedral":
        gens = [_axis_angle((1, 1, 1), third), _axis_angle((0, 0, 1), math.pi)]
    elif name == "octahedral":
        gens = [_axis_angle((1, 1, 1), third), _axis_angle((0, 0, 1), math.pi / 2)]
    elif name == "icosahedral":
        phi = (1 + math.sqrt(5)) / 2
        gens = [_axis_angle((1, 1, 1), third), _axis_angle((0, 1, phi), 2 * math.pi / 5)]
    else:
        raise ValueError(f"unknown finite rotation group {name!r}; expected tetrahedral, octahedral or icosahedral")
    return _closure(gens)


FINITE_3D = {"tetrahedral": 12, "octahedral": 24, "icosahedral": 60}


def random_rotations(shape, dim: int, generator=None, dtype=torch.float64, device="cpu") -> Tensor:
    """Haar-random rotations ``(*shape, dim, dim)``, drawn on the CPU generator then moved."""
    shape = tuple(shape)
    if dim == 2:
        theta = 2 * math.pi * torch.rand(shape, generator=generator, dtype=torch.float64)
        return _rot2(theta).to(dtype=dtype, device=device)
    q = torch.randn((*shape, 4), generator=generator, dtype=torch.float64)
    q = q / q.norm(dim=-1, keepdim=True)
    return quaternion_to_matrix(*q.unbind(-1)).to(dtype=dtype, device=device)


# -- groups ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lifted:
    """Points lifted to group elements.

    Attributes:
        element: ``(batch, n, samples)`` elements.
        orbit: ``(batch, n, samples, orbit_dim)`` orbit invariants (empty where the action is transitive).
    """

    element: Element
    orbit: Tensor


class Group:
    """A Lie group acting on R^``dim`` by rotations and/or translations.

    Attributes:
        dim: dimension of the space acted on.
        lie_dim: dimension of the Lie algebra (length of ``log`` vectors).
        orbit_dim: number of orbit invariants per lifted point.
        rotations: whether the group contains rotations (then vector features are rotated into
            each lifted element's frame).
        translations: whether it contains translations.
    """

    name: str = "group"
    lie_dim: int
    orbit_dim: int = 0
    rotations: bool = False
    translations: bool = False

    # every group here is a subgroup of E(d), so these are shared: group.compose(a, b) etc.
    compose = staticmethod(compose)
    inverse = staticmethod(inverse)
    act = staticmethod(act)

    def __init__(self, dim: int, pair_features: str = "smooth"):
        if dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3, got {dim!r}")
        if pair_features not in ("smooth", "log"):
            raise ValueError(f"pair_features must be 'smooth' or 'log', got {pair_features!r}")
        self.dim = dim
        self.pair_mode = pair_features

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # Lie algebra
    def exp(self, a: Tensor) -> Element:
        """Algebra coordinates ``(..., lie_dim)`` -> elements."""
        raise NotImplementedError

    def log(self, g: Element) -> Tensor:
        """Elements -> principal algebra coordinates ``(..., lie_dim)``."""
        raise NotImplementedError

    def identity(self, shape=(), dtype=torch.float64, device="cpu") -> Element:
        eye = torch.eye(self.dim, dtype=dtype, device=device).expand(*shape, self.dim, self.dim)
        return Element(eye, torch.zeros(*shape, self.dim, dtype=dtype, device=device))

    def sample(self, shape, generator=None, dtype=torch.float64, device="cpu", translation_scale=1.0) -> Element:
        """Random elements: Haar-random rotations (where the group has them) and Gaussian translations."""
        shape = tuple(shape)
        g = self.identity(shape, dtype, device)
        R, t = g.R, g.t
        if self.rotations:
            R = random_rotations(shape, self.dim, generator, dtype, device)
        if self.translations:
            t = translation_scale * torch.randn((*shape, self.dim), generator=generator, dtype=torch.float64)
            t = t.to(dtype=dtype, device=device)
        return Element(R, t)

    # lifting and features
    def lift(self, x: Tensor, n_samples: int = 1, random: bool = False, generator=None) -> Lifted:
        """Lift points ``x (batch, n, dim)`` to ``n_samples`` elements each, g with g . origin = x
        (up to orbit), plus orbit invariants.

        ``random=False`` uses a deterministic grid of stabiliser samples, so that the lift commutes
        exactly with the grid's rotations; ``random=True`` offsets the grid by a random stabiliser
        element per point (equivariant in distribution).
        """
        raise NotImplementedError

    @property
    def pair_dim(self) -> int:
        """Length of ``pair_features`` (including both points' orbit invariants)."""
        raise NotImplementedError

    def pair_features(self, u: Element, v: Element, orbit_u: Tensor, orbit_v: Tensor) -> Tensor:
        """Invariant features of pairs: log(u^-1 v) (or its smooth form) and both orbit invariants.

        Shapes broadcast: ``u, v (...)``, orbits ``(..., orbit_dim)`` -> ``(..., pair_dim)``.
        """
        rel = relative(u, v)
        feats = self.log(rel) if self.pair_mode == "log" else self._smooth(rel)
        return torch.cat([feats, orbit_u.expand(*feats.shape[:-1], -1), orbit_v.expand(*feats.shape[:-1], -1)], -1)

    def _smooth(self, rel: Element) -> Tensor:
        return self.log(rel)

    def lift_size(self, requested: int) -> int:
        """How many elements ``lift`` gives each point when ``requested`` are asked for."""
        return requested if self.rotations else 1

    def _check_points(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"{self!r} acts on points of shape (batch, n_bodies, {self.dim}), got {tuple(x.shape)}")


class Trivial(Group):
    """The trivial group: no symmetry. Lifting keeps absolute positions as 'orbit invariants',
    so a LieTransformer over it is the plain (non-equivariant) transformer baseline."""

    name = "Trivial"
    lie_dim = 0

    def __init__(self, dim: int = 2):
        super().__init__(dim, "log")
        self.orbit_dim = dim

    def __repr__(self):
        return f"Trivial({self.dim})"

    def exp(self, a):
        return self.identity(a.shape[:-1], a.dtype, a.device)

    def log(self, g):
        return g.t.new_zeros(*g.shape, 0)

    def lift(self, x, n_samples=1, random=False, generator=None):
        self._check_points(x)
        return Lifted(self.identity((*x.shape[:2], 1), x.dtype, x.device), x.unsqueeze(2))

    @property
    def pair_dim(self):
        return 2 * self.dim


class T(Group):
    """Translations of R^d: exactly invariant models see only relative positions."""

    name = "T"
    translations = True

    def __init__(self, dim: int = 2):
        super().__init__(dim, "log")
        self.lie_dim = dim

    def __repr__(self):
        return f"T({self.dim})"

    def exp(self, a):
        e = self.identity(a.shape[:-1], a.dtype, a.device)
        return Element(e.R, a)

    def log(self, g):
        return g.t

    def lift(self, x, n_samples=1, random=False, generator=None):
        self._check_points(x)
        e = self.identity((*x.shape[:2], 1), x.dtype, x.device)
        return Lifted(Element(e.R, x.unsqueeze(2)), x.new_zeros(*x.shape[:2], 1, 0))

    @property
    def pair_dim(self):
        return self.dim


class _RotationGroup(Group):
    """Shared lifting for groups with rotations: a frame per point, times stabiliser samples."""

    rotations = True

    def _grid(self, n: int, dtype, device) -> Tensor:
        """``n`` stabiliser rotations ``(n, dim, dim)``: C_n in 2D, the finite group in 3D."""
        if self.dim == 2:
            return cyclic_rotations(n).to(dtype=dtype, device=device)
        return self.finite.to(dtype=dtype, device=device)

    def _frames(self, x: Tensor) -> Tensor:
        """A rotation per point ``(batch, n, dim, dim)``: identity for SE(d), where the stabiliser is all rotations."""
        return torch.eye(self.dim, dtype=x.dtype, device=x.device).expand(*x.shape[:2], self.dim, self.dim)

    def _random_stabiliser(self, x: Tensor, generator) -> Tensor:
        """A random stabiliser rotation per point ``(batch, n, 1, dim, dim)``: any rotation for SE(d)."""
        return random_rotations(x.shape[:2], self.dim, generator, x.dtype, x.device).unsqueeze(2)

    def _samples(self, x, n_samples, random, generator):
        """Lifted rotations ``(batch, n, samples, dim, dim)``: frame @ [random offset] @ grid."""
        grid = self._grid(n_samples, x.dtype, x.device)  # (S, d, d)
        frames = self._frames(x).unsqueeze(2)  # (B, N, 1, d, d)
        if random:
            return frames @ self._random_stabiliser(x, generator) @ grid
        return frames @ grid


class SO2(_RotationGroup):
    """Rotations of the plane. Not transitive: orbits are circles, the orbit invariant is |x|.

    Lifting is canonical (the rotation taking the x-axis to x's direction) and exactly equivariant;
    the stabiliser of a non-zero point is trivial, so one sample suffices.
    """

    name = "SO2"
    lie_dim = 1
    orbit_dim = 1

    def __init__(self, pair_features: str = "smooth"):
        super().__init__(2, pair_features)

    def exp(self, a):
        R = _rot2(a[..., 0])
        return Element(R, a.new_zeros(*a.shape[:-1], 2))

    def log(self, g):
        return torch.atan2(g.R[..., 1, 0], g.R[..., 0, 0]).unsqueeze(-1)

    def _smooth(self, rel):
        return torch.stack([rel.R[..., 0, 0], rel.R[..., 1, 0]], -1)

    def lift_size(self, requested):
        return 1

    def lift(self, x, n_samples=1, random=False, generator=None):
        self._check_points(x)
        r = x.norm(dim=-1, keepdim=True)
        # (cos, sin) of the direction; a point at the origin gets the identity frame
        safe = torch.where(r > 0, r, torch.ones_like(r))
        c = torch.where(r > 0, x[..., :1] / safe, torch.ones_like(r))
        s = torch.where(r > 0, x[..., 1:] / safe, torch.zeros_like(r))
        R = torch.stack([torch.cat([c, -s], -1), torch.cat([s, c], -1)], -2)
        return Lifted(Element(R.unsqueeze(2), torch.zeros_like(x).unsqueeze(2)), r.unsqueeze(2))

    @property
    def pair_dim(self):
        return (1 if self.pair_mode == "log" else 2) + 2


class SE2(_RotationGroup):
    """Rigid motions of the plane. Each point lifts to ``n_samples`` frames at the point, rotated by
    the cyclic grid C_n (randomly offset in training), so the eval model is exactly invariant to
    translations and to rotations by multiples of 2 pi / n."""

    name = "SE2"
    lie_dim = 3
    translations = True

    def __init__(self, pair_features: str = "smooth"):
        super().__init__(2, pair_features)

    def exp(self, a):
        theta, v = a[..., 0], a[..., 1:]
        sc, oc = _sinc(theta), _one_minus_cos_over(theta)
        t = torch.stack([sc * v[..., 0] - oc * v[..., 1], oc * v[..., 0] + sc * v[..., 1]], -1)
        return Element(_rot2(theta), t)

    def log(self, g):
        theta = torch.atan2(g.R[..., 1, 0], g.R[..., 0, 0])
        a, b = _half_cot_half(theta), theta / 2
        t = g.t
        v = torch.stack([a * t[..., 0] + b * t[..., 1], -b * t[..., 0] + a * t[..., 1]], -1)
        return torch.cat([theta.unsqueeze(-1), v], -1)

    def _smooth(self, rel):
        return torch.cat([rel.R[..., :, 0], rel.t], -1)

    def lift(self, x, n_samples=1, random=False, generator=None):
        self._check_points(x)
        R = self._samples(x, n_samples, random, generator)
        t = x.unsqueeze(2).expand(*x.shape[:2], n_samples, 2)
        return Lifted(Element(R, t), x.new_zeros(*x.shape[:2], n_samples, 0))

    @property
    def pair_dim(self):
        return 3 if self.pair_mode == "log" else 4


class SO3(_RotationGroup):
    """Rotations of space. Orbits are spheres (invariant |x|); the stabiliser of a point is the
    rotations about its direction. Each point lifts to a frame whose third axis is its direction,
    turned about that axis by ``n_samples`` equally spaced angles (randomly offset in training)."""

    name = "SO3"
    lie_dim = 3
    orbit_dim = 1

    def __init__(self, pair_features: str = "smooth"):
        super().__init__(3, pair_features)

    def exp(self, a):
        return Element(so3_exp(a), a.new_zeros(a.shape))

    def log(self, g):
        return so3_log(g.R)

    def _smooth(self, rel):
        return rel.R.flatten(-2)

    def _frames(self, x):
        # a frame (e1, e2, n) with n = x / |x|: e1 from the coordinate axis least aligned with n
        r = x.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
        n = x / r
        axis = torch.nn.functional.one_hot(n.abs().argmin(-1), 3).to(x.dtype)
        e1 = torch.linalg.cross(axis, n, dim=-1)
        e1 = e1 / e1.norm(dim=-1, keepdim=True)
        e2 = torch.linalg.cross(n, e1, dim=-1)
        return torch.stack([e1, e2, n], -1)

    def _grid(self, n, dtype, device):
        theta = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
        R = torch.zeros(n, 3, 3, dtype=torch.float64)
        R[:, :2, :2] = _rot2(theta)
        R[:, 2, 2] = 1
        return R.to(dtype=dtype, device=device)

    def _random_stabiliser(self, x, generator):
        # only turns about the point's own direction (the frame's third axis) fix the point
        theta = 2 * math.pi * torch.rand(x.shape[:2], generator=generator, dtype=torch.float64)
        R = torch.zeros(*x.shape[:2], 3, 3, dtype=torch.float64)
        R[..., :2, :2] = _rot2(theta)
        R[..., 2, 2] = 1
        return R.to(dtype=x.dtype, device=x.device).unsqueeze(2)

    def lift(self, x, n_samples=1, random=False, generator=None):
        self._check_points(x)
        R = self._samples(x, n_samples, random, generator)
        r = x.norm(dim=-1, keepdim=True).unsqueeze(2).expand(*x.shape[:2], n_samples, 1)
        return Lifted(Element(R, torch.zeros(*R.shape[:-1], dtype=x.dtype, device=x.device)), r)

    @property
    def pair_dim(self):
        return (3 if self.pair_mode == "log" else 9) + 2


class SE3(_RotationGroup):
    """Rigid motions of space. Each point lifts to the frames of a finite rotation group at the
    point (``finite``: tetrahedral, octahedral or icosahedral; randomly rotated in training), so
    the eval model is exactly invariant to translations and to that finite group."""

    name = "SE3"
    lie_dim = 6
    translations = True

    def __init__(self, finite: str = "octahedral", pair_features: str = "smooth"):
        super().__init__(3, pair_features)
        self.finite_name = finite
        self.finite = finite_rotations_3d(finite)

    def __repr__(self):
        return f"SE3(finite={self.finite_name!r})"

    def exp(self, a):
        w, v = a[..., :3], a[..., 3:]
        V = _so3_left_jacobian(w, inverse_=False)
        return Element(so3_exp(w), (V @ v.unsqueeze(-1)).squeeze(-1))

    def log(self, g):
        w = so3_log(g.R)
        v = (_so3_left_jacobian(w, inverse_=True) @ g.t.unsqueeze(-1)).squeeze(-1)
        return torch.cat([w, v], -1)

    def _smooth(self, rel):
        return torch.cat([rel.R.flatten(-2), rel.t], -1)

    def lift_size(self, requested):
        return self.finite.shape[0]

    def lift(self, x, n_samples=None, random=False, generator=None):
        self._check_points(x)
        n = self.finite.shape[0]
        if n_samples not in (None, n):
            raise ValueError(f"SE3 with the {self.finite_name} grid lifts to {n} samples, got n_samples={n_samples}")
        R = self._samples(x, n, random, generator)
        t = x.unsqueeze(2).expand(*x.shape[:2], n, 3)
        return Lifted(Element(R, t), x.new_zeros(*x.shape[:2], n, 0))

    @property
    def pair_dim(self):
        return 6 if self.pair_mode == "log" else 12


GROUPS = {
    "Trivial2": lambda: Trivial(2),
    "Trivial3": lambda: Trivial(3),
    "T2": lambda: T(2),
    "T3": lambda: T(3),
    "SO2": SO2,
    "SE2": SE2,
    "SO3": SO3,
    "SE3": SE3,
}


def get_group(name: str) -> Group:
    """Build a group by its config name: ``Trivial2 T2 SO2 SE2 Trivial3 T3 SO3 SE3``."""
    if name not in GROUPS:
        raise ValueError(f"unknown group {name!r}; expected one of {sorted(GROUPS)}")
    return GROUPS[name]()
