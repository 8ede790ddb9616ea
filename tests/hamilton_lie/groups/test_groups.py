"""Lie groups against independent references: scipy's expm, round trips, invariance, derivatives."""

import math

import pytest
import scipy.linalg
import torch
from helpers import ALL_GROUPS

from hamilton_lie.groups import (
    FINITE_3D,
    SE2,
    SE3,
    SO3,
    Element,
    act,
    compose,
    cyclic_rotations,
    finite_rotations_3d,
    get_group,
    inverse,
    so3_exp,
    so3_log,
)


def _algebra_matrix(group, a):
    """The Lie algebra element as a (d+1) x (d+1) matrix, for scipy.linalg.expm."""
    d = group.dim
    m = torch.zeros(*a.shape[:-1], d + 1, d + 1, dtype=a.dtype)
    if group.name in ("SO2", "SE2"):
        m[..., 0, 1], m[..., 1, 0] = -a[..., 0], a[..., 0]
        if group.name == "SE2":
            m[..., :2, 2] = a[..., 1:]
    elif group.name in ("SO3", "SE3"):
        w = a[..., :3]
        m[..., 0, 1], m[..., 0, 2], m[..., 1, 2] = -w[..., 2], w[..., 1], -w[..., 0]
        m[..., 1, 0], m[..., 2, 0], m[..., 2, 1] = w[..., 2], -w[..., 1], w[..., 0]
        if group.name == "SE3":
            m[..., :3, 3] = a[..., 3:]
    elif group.name == "T":
        m[..., :d, d] = a
    return m


def _random_algebra(group, n, angle, generator):
    """Algebra vectors whose rotation angle is exactly ``angle``."""
    a = torch.randn(n, group.lie_dim, generator=generator, dtype=torch.float64)
    if group.name in ("SO2", "SE2"):
        a[:, 0] = angle * torch.sign(a[:, 0])
    elif group.name in ("SO3", "SE3"):
        a[:, :3] = angle * a[:, :3] / a[:, :3].norm(dim=-1, keepdim=True)
    return a


ROTATING = [name for name in ALL_GROUPS if name in ("SO2", "SE2", "SO3", "SE3")]
WITH_ALGEBRA = [name for name in ALL_GROUPS if not name.startswith("Trivial")]


@pytest.mark.parametrize("name", WITH_ALGEBRA)
@pytest.mark.parametrize("angle", [1e-5, 1e-3, 0.3, 2.0, 3.1, 10.0, 100.0])
def test_exp_matches_scipy_expm(name, angle, generator):
    group = get_group(name)
    a = _random_algebra(group, 4, angle, generator)
    g = group.exp(a)
    for i in range(4):
        ref = torch.from_numpy(scipy.linalg.expm(_algebra_matrix(group, a[i]).numpy()))
        torch.testing.assert_close(g.R[i], ref[: group.dim, : group.dim], rtol=0, atol=1e-12)
        torch.testing.assert_close(g.t[i], ref[: group.dim, group.dim], rtol=0, atol=1e-12 * (1 + angle))


@pytest.mark.parametrize("name", WITH_ALGEBRA)
@pytest.mark.parametrize("angle", [0.0, 1e-7, 1e-4, 1e-3, 0.5, 2.0, math.pi - 1e-3, math.pi - 1e-6])
def test_log_exp_round_trip_in_principal_domain(name, angle, generator):
    group = get_group(name)
    a = _random_algebra(group, 6, angle, generator)
    back = group.log(group.exp(a))
    # near pi the axis is recovered from a nearly singular symmetric part: about sqrt(eps) / (pi - angle) worse
    tol = 1e-12 if angle < 3 else 1e-8
    torch.testing.assert_close(back, a, rtol=0, atol=tol)


@pytest.mark.parametrize("name", ALL_GROUPS)
def test_exp_of_log_is_identity_map_on_elements(name, generator):
    group = get_group(name)
    g = group.sample((20,), generator=generator)
    again = group.exp(group.log(g)) if group.lie_dim else g
    torch.testing.assert_close(again.R, g.R, rtol=0, atol=1e-12)
    torch.testing.assert_close(again.t, g.t, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ALL_GROUPS)
def test_group_axioms(name, generator):
    group = get_group(name)
    a, b, c = (group.sample((5,), generator=generator) for _ in range(3))
    x = torch.randn(5, group.dim, generator=generator, dtype=torch.float64)
    lhs, rhs = compose(compose(a, b), c), compose(a, compose(b, c))
    torch.testing.assert_close(lhs.R, rhs.R, rtol=0, atol=1e-13)
    torch.testing.assert_close(lhs.t, rhs.t, rtol=0, atol=1e-13)
    e = compose(a, inverse(a))
    torch.testing.assert_close(e.R, group.identity((5,)).R, rtol=0, atol=1e-14)
    torch.testing.assert_close(e.t, torch.zeros(5, group.dim, dtype=torch.float64), rtol=0, atol=1e-14)
    torch.testing.assert_close(act(compose(a, b), x), act(a, act(b, x)), rtol=0, atol=1e-13)
    # the same operations as methods of the group (the interface every group has)
    torch.testing.assert_close(group.act(group.compose(a, group.inverse(a)), x), x, rtol=0, atol=1e-13)


def _lift_all(group, x, n_samples):
    lifted = group.lift(x, n_samples=n_samples)
    u, o = lifted.element, lifted.orbit
    B, N, S = u.shape
    d = group.dim
    flat = Element(u.R.reshape(B, N * S, d, d), u.t.reshape(B, N * S, d))
    return flat, o.reshape(B, N * S, -1)


def _pairs(group, u, o):
    ua = Element(u.R.unsqueeze(2), u.t.unsqueeze(2))
    ub = Element(u.R.unsqueeze(1), u.t.unsqueeze(1))
    return group.pair_features(ua, ub, o.unsqueeze(2), o.unsqueeze(1))


@pytest.mark.parametrize("mode", ["smooth", "log"])
@pytest.mark.parametrize("name", ALL_GROUPS)
def test_pair_features_invariant_under_left_multiplication(name, mode, generator):
    group = get_group(name)
    if group.rotations:
        group = type(group)(pair_features=mode)
    x = torch.randn(3, 5, group.dim, generator=generator, dtype=torch.float64)
    u, o = _lift_all(group, x, n_samples=3 if group.name in ("SE2", "SO3") else None)
    feats = _pairs(group, u, o)
    assert feats.shape[-1] == group.pair_dim
    g = group.sample((3, 1), generator=generator, translation_scale=3.0)
    moved = _pairs(group, compose(g, u), o)
    assert (moved - feats).abs().max() <= 1e-12


@pytest.mark.parametrize(
    "group, n_samples, rotations",
    [
        (SE2(), 6, cyclic_rotations(6)),
        (SE3("tetrahedral"), None, finite_rotations_3d("tetrahedral")),
        (SE3("octahedral"), None, finite_rotations_3d("octahedral")),
    ],
)
def test_grid_lift_commutes_with_grid_rotations(group, n_samples, rotations, generator):
    """lift(g x) = g lift(x) as sets, for g in the grid's group and any translation: the
    pair features of the two lifts agree after matching tokens."""
    x = torch.randn(2, 4, group.dim, generator=generator, dtype=torch.float64)
    base = _pairs(group, *_lift_all(group, x, n_samples)).flatten(1, 2)
    for R in rotations[1:5]:
        shift = torch.randn(group.dim, generator=generator, dtype=torch.float64)
        moved = _pairs(group, *_lift_all(group, x @ R.T + shift, n_samples)).flatten(1, 2)
        # the same multiset of pair features: compare sorted rows
        a = torch.sort(base.round(decimals=9), dim=1).values
        b = torch.sort(moved.round(decimals=9), dim=1).values
        assert torch.equal(a, b)


@pytest.mark.parametrize("name, order", list(FINITE_3D.items()))
def test_finite_rotation_groups(name, order):
    g = finite_rotations_3d(name)
    assert g.shape == (order, 3, 3)
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(g @ g.transpose(-1, -2), eye.expand_as(g), rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.linalg.det(g), torch.ones(order, dtype=torch.float64), rtol=0, atol=1e-12)
    # closed under multiplication
    products = (g.unsqueeze(0) @ g.unsqueeze(1)).reshape(-1, 1, 9)
    distance = (products - g.reshape(1, -1, 9)).abs().amax(-1).amin(-1)
    assert distance.max() < 1e-9


@pytest.mark.parametrize("where", ["identity", "near_pi"])
@pytest.mark.parametrize("name", ["SO2", "SE2", "SO3", "SE3"])
def test_exp_log_gradcheck_and_gradgradcheck(name, where, generator):
    group = get_group(name)
    angle = 1e-4 if where == "identity" else math.pi - 0.05
    a = _random_algebra(group, 3, angle, generator).requires_grad_(True)

    def exp_then_flatten(a):
        g = group.exp(a)
        return torch.cat([g.R.flatten(-2), g.t], -1)

    def log_of(a):
        return group.log(group.exp(a))

    assert torch.autograd.gradcheck(exp_then_flatten, (a,))
    assert torch.autograd.gradgradcheck(exp_then_flatten, (a,))
    assert torch.autograd.gradcheck(log_of, (a,))
    assert torch.autograd.gradgradcheck(log_of, (a,))


def test_so3_log_derivatives_finite_at_identity_and_switch_points():
    for angle in (0.0, 1e-3 * (1 - 1e-9), 1e-3 * (1 + 1e-9), math.pi - 1e-3 * (1 + 1e-9)):
        w = (
            torch.tensor([angle, 0.0, 0.0], dtype=torch.float64)
            @ so3_exp(torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)).T
        )
        r = so3_exp(w).requires_grad_(True)
        out = so3_log(r)
        (grad,) = torch.autograd.grad(out.sum(), r, create_graph=True)
        (hess,) = torch.autograd.grad(grad.pow(2).sum(), r)
        assert torch.isfinite(grad).all() and torch.isfinite(hess).all()
        torch.testing.assert_close(out.detach(), w, rtol=0, atol=1e-9)


def test_unknown_group_and_bad_points():
    with pytest.raises(ValueError, match="unknown group 'SE4'"):
        get_group("SE4")
    with pytest.raises(ValueError, match=r"acts on points of shape \(batch, n_bodies, 3\), got \(2, 5, 2\)"):
        SO3().lift(torch.zeros(2, 5, 2))
    with pytest.raises(ValueError, match="lifts to 24 samples"):
        SE3().lift(torch.zeros(1, 2, 3), n_samples=4)
