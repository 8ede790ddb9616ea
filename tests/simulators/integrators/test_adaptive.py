"""The batched adaptive pairs (RK45, DOP853) against SciPy's solve_ivp run one trajectory at a time, and
against Kepler's analytic orbit."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from simulators import DOP853, RK45, GravitySystem, integrate

# a two-body Kepler orbit (unit masses, G = 1, so mu = 2) of semi-major axis 1 and eccentricity 1/2
MU, A, E = 2.0, 1.0, 0.5
MEAN_MOTION = math.sqrt(MU / A**3)


def _kepler(t: np.ndarray):
    """The analytic orbit at times ``t``, periapsis at t = 0, centre of mass at rest at the origin:
    ``q, p (T, 2, 2)``."""
    mean_anomaly = MEAN_MOTION * t
    ecc = mean_anomaly.copy()
    for _ in range(50):  # Newton on Kepler's equation E - e sin E = M
        ecc = ecc - (ecc - E * np.sin(ecc) - mean_anomaly) / (1 - E * np.cos(ecc))
    b = A * math.sqrt(1 - E**2)
    rate = MEAN_MOTION / (1 - E * np.cos(ecc))
    r = np.stack([A * (np.cos(ecc) - E), b * np.sin(ecc)], -1)
    v = np.stack([-A * np.sin(ecc) * rate, b * np.cos(ecc) * rate], -1)
    return np.stack([-r / 2, r / 2], -2), np.stack([-v / 2, v / 2], -2)


def _kepler_error(method, t0: float, t: np.ndarray) -> float:
    system = GravitySystem(2, 2, softening=0.0, configuration="cluster")
    qa, pa = _kepler(t0 + t)
    params = {"masses": torch.ones(1, 2, dtype=torch.float64)}
    q, p = integrate(system, torch.tensor(qa[:1]), torch.tensor(pa[:1]), params, torch.tensor(t), method=method)
    return max(np.abs(q[0].numpy() - qa).max(), np.abs(p[0].numpy() - pa).max())


@pytest.mark.parametrize("cls, steps", [(RK45, (0.2, 0.1, 0.05)), (DOP853, (0.4, 0.2, 0.1))])
def test_one_step_error_falls_as_h_to_the_order_plus_one(cls, steps):
    """Tolerances of 1 accept the first step, which covers the whole interval: one step from apoapsis, whose
    error against the analytic orbit falls as h^6 (RK45) and h^9 (DOP853): measured slopes 6.00 and 9.03."""
    errors = [_kepler_error(cls(rtol=1.0, atol=1.0), math.pi / MEAN_MOTION, np.array([0.0, h])) for h in steps]
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - (cls.order + 1)) < 0.3, (errors, slope)


@pytest.mark.parametrize("cls", [RK45, DOP853])
def test_the_error_follows_the_tolerance_over_three_orbits(cls):
    """Three periods of the eccentric orbit: the error against the analytic solution falls at least 20x for
    each 100x in tolerance and stays within 1e4 x the tolerance (measured: 52x-98x and 950x for RK45,
    90x-200x and 140x for DOP853)."""
    t = np.linspace(0.0, 3 * 2 * math.pi / MEAN_MOTION, 31)
    tolerances = (1e-7, 1e-9, 1e-11)
    errors = [_kepler_error(cls(rtol=tol, atol=tol), 0.0, t) for tol in tolerances]
    assert all(err < 1e4 * tol for err, tol in zip(errors, tolerances, strict=True)), errors
    assert all(a > 20 * b for a, b in zip(errors, errors[1:], strict=False)), errors


def _cluster(batch, seed=0):
    """Five bodies in a 3D cluster: close encounters, so the trajectories need very different steps."""
    system = GravitySystem(5, 3, configuration="cluster")
    g = torch.Generator().manual_seed(seed)
    params = system.sample_params(batch, generator=g)
    q, p = system.sample_state(params, generator=g)
    return system, q, p, params


@pytest.mark.parametrize("method", [RK45(rtol=1e-9, atol=1e-9), DOP853(rtol=1e-12, atol=1e-12)])
def test_each_trajectory_takes_scipys_steps(method):
    """The batch against solve_ivp on each trajectory alone, the same vector field: equal to round-off as the
    chaotic dynamics amplify it (over t = 1 the largest difference is 1e-12; it grows about tenfold per 0.6
    time units, to 4e-8 at t = 5 in the most chaotic of these six)."""
    system, q, p, params = _cluster(6)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    qb, pb, steps = integrate(system, q, p, params, t, method=method, return_steps=True)
    assert steps.dtype == torch.int64 and len(set(steps.tolist())) > 1  # each its own steps
    for b in range(q.shape[0]):
        row = {k: v[b : b + 1] for k, v in params.items()}

        def fun(_, y, row=row):
            z = torch.from_numpy(y).view(2, 1, 5, 3)
            dq, dp = system.vector_field(z[0], z[1], row)
            return torch.cat([dq.reshape(-1), dp.reshape(-1)]).numpy()

        y0 = torch.cat([q[b].reshape(-1), p[b].reshape(-1)]).numpy()
        sol = solve_ivp(fun, (0.0, 1.0), y0, method=type(method).__name__, t_eval=t.numpy(), rtol=method.rtol,
                        atol=method.atol)  # fmt: skip
        ys = sol.y.T.reshape(11, 2, 5, 3)
        np.testing.assert_allclose(qb[b].numpy(), ys[:, 0], rtol=0, atol=1e-11)
        np.testing.assert_allclose(pb[b].numpy(), ys[:, 1], rtol=0, atol=1e-11)
        # without t_eval, solve_ivp returns the time of every accepted step
        every = solve_ivp(fun, (0.0, 1.0), y0, method=type(method).__name__, rtol=method.rtol, atol=method.atol)
        assert int(steps[b]) == every.t.size - 1


@pytest.mark.parametrize("method", [RK45(rtol=1e-9, atol=1e-9), DOP853(rtol=1e-11, atol=1e-11)])
def test_a_trajectory_is_bit_identical_alone_or_in_any_batch(method):
    system, q, p, params = _cluster(16)
    t = torch.linspace(0, 5, 11, dtype=torch.float64)
    qa, pa = integrate(system, q, p, params, t, method=method)
    qh, ph = integrate(system, q[5:13], p[5:13], {k: v[5:13] for k, v in params.items()}, t, method=method)
    assert torch.equal(qh, qa[5:13]) and torch.equal(ph, pa[5:13])
    q1, p1 = integrate(system, q[9:10], p[9:10], {k: v[9:10] for k, v in params.items()}, t, method=method)
    assert torch.equal(q1, qa[9:10]) and torch.equal(p1, pa[9:10])


def test_a_singular_trajectory_fails_naming_it():
    system = GravitySystem(2, 2, softening=0.0, configuration="cluster")
    # trajectory 0 a circular orbit; trajectory 1 two bodies at one point (an infinite force)
    q = torch.tensor([[[-0.5, 0.0], [0.5, 0.0]], [[0.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    p = torch.zeros_like(q)
    p[0, :, 1] = torch.tensor([-0.5, 0.5]) * math.sqrt(2)
    params = {"masses": torch.ones(2, 2, dtype=torch.float64)}
    t = torch.linspace(0, 1, 3, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="failed on trajectory 1"):
        integrate(system, q, p, params, t, method=DOP853())


def _bouncing(q0, v0, t, box):
    """Free motion between walls at +-box: the free line folded into the box (a triangle wave)."""
    u = torch.remainder(q0 + v0 * t + box, 4 * box)
    back = u > 2 * box
    return torch.where(back, 3 * box - u, u - box), torch.where(back, -v0, v0)


@pytest.mark.parametrize("cls", [RK45, DOP853])
def test_walls_reflect_free_bodies_exactly(cls):
    """Springs of zero strength: each body flies straight and bounces off the walls at +-1, about ten times
    over t = 8; the exact solution folds the free line into the box."""
    from simulators import get_system

    system = get_system("nri-springs", n_bodies=4, dim=2, box_size=1.0, vel_norm=1.3, max_force=float("inf"),
                        probabilities=(1.0, 0.0, 0.0))  # fmt: skip
    g = torch.Generator().manual_seed(3)
    params = system.sample_params(6, generator=g)
    q0, p0 = system.sample_state(params, generator=g)
    t = torch.linspace(0, 8, 41, dtype=torch.float64)
    q, p = integrate(system, q0, p0, params, t, method=cls(rtol=1e-12, atol=1e-12))
    qe, pe = _bouncing(q0.unsqueeze(1), p0.unsqueeze(1), t.view(1, -1, 1, 1), 1.0)
    torch.testing.assert_close(q, qe, rtol=0, atol=1e-12)
    torch.testing.assert_close(p, pe, rtol=0, atol=1e-12)


def test_walls_keep_the_energy_of_springs_in_a_small_box():
    """Springs in a box of half-width 1 (bodies bounce every few tenths): reflections do not change the
    energy, so DOP853's error control is all that is left (measured: below 1e-11 over t = 10), and
    tightening the tolerance converges the trajectory."""
    from simulators import get_system

    system = get_system("nri-springs", n_bodies=5, dim=2, box_size=1.0, vel_norm=1.0, max_force=float("inf"))
    g = torch.Generator().manual_seed(0)
    params = system.sample_params(4, generator=g)
    q0, p0 = system.sample_state(params, generator=g)
    t = torch.linspace(0, 10, 21, dtype=torch.float64)
    q, p = integrate(system, q0, p0, params, t, method=DOP853(rtol=1e-12, atol=1e-12))
    assert bool((q.abs() <= 1.0).all())
    energy = system.hamiltonian(q, p, params)
    assert ((energy - energy[:, :1]).abs() / energy[:, :1].abs()).max() < 1e-10
    q_tight, _ = integrate(system, q0, p0, params, t, method=DOP853(rtol=1e-14, atol=1e-14))
    assert (q - q_tight).abs().max() < 1e-9


def test_fixed_step_methods_count_their_substeps():
    from simulators import Yoshida4

    system, q, p, params = _cluster(3)
    t = torch.linspace(0, 0.5, 6, dtype=torch.float64)
    q1, p1, steps = integrate(system, q, p, params, t, method=Yoshida4(substeps=7), return_steps=True)
    assert steps.tolist() == [35, 35, 35]
    q2, p2 = integrate(system, q, p, params, t, method=Yoshida4(substeps=7))
    assert torch.equal(q1, q2) and torch.equal(p1, p2)
