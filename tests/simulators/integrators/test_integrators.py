"""Integrators against independent references: the exact spring flow, DOP853, conservation laws."""

import numpy as np
import pytest
import torch
from helpers import ALL_INTEGRATORS, ALL_SYSTEMS, FIXED_STEP_INTEGRATORS, make_integrator

from simulators import DOP853, GravitySystem, SpringSystem, get_integrator, integrate
from simulators.integrators import INTEGRATORS


def _sample(system, batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    params = system.sample_params(batch, generator=g)
    q, p = system.sample_state(params, generator=g)
    return q, p, params


def _rel_state_error(q, p, q_ref, p_ref):
    num = ((q - q_ref).pow(2).sum((-1, -2)) + (p - p_ref).pow(2).sum((-1, -2))).sqrt()
    return num / (q_ref.pow(2).sum((-1, -2)) + p_ref.pow(2).sum((-1, -2))).sqrt()


def test_exact_spring_solution_matches_dop853():
    system = SpringSystem(6, 2)
    q, p, params = _sample(system, 4)
    t = torch.linspace(0, 5, 101, dtype=torch.float64)
    qe, pe = system.exact_solution(q, p, params, t)
    qd, pd = integrate(system, q, p, params, t, method=DOP853(rtol=1e-13, atol=1e-13))
    assert _rel_state_error(qd, pd, qe, pe).max() < 1e-10
    energy = system.hamiltonian(qe, pe, params)
    assert ((energy - energy[:, :1]).abs() / energy[:, :1]).max() < 1e-12


def test_exact_spring_solution_handles_zero_modes():
    # with all k = 0 the bodies move freely: q(t) = q0 + t p0 / m
    system = SpringSystem(3, 2)
    q, p, params = _sample(system, 2)
    params = {"masses": params["masses"], "k": torch.zeros_like(params["k"])}
    t = torch.tensor([0.0, 0.5, 2.0], dtype=torch.float64)
    qe, pe = system.exact_solution(q, p, params, t)
    expected = q.unsqueeze(1) + t.view(1, -1, 1, 1) * (p / params["masses"].unsqueeze(-1)).unsqueeze(1)
    torch.testing.assert_close(qe, expected, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(pe, p.unsqueeze(1).expand_as(pe), rtol=1e-13, atol=1e-14)


def _fitted_order(system, q, p, params, t, method, steps, q_ref, p_ref):
    """Slope of log(error at t[-1]) against log(steps), and the errors."""
    errors = []
    for n in steps:
        qs, ps = integrate(system, q, p, params, t, method=get_integrator(method, substeps=int(n)))
        errors.append(float(_rel_state_error(qs[:, -1], ps[:, -1], q_ref[:, -1], p_ref[:, -1]).max()))
    return -np.polyfit(np.log(steps), np.log(errors), 1)[0], errors


@pytest.mark.parametrize("method", FIXED_STEP_INTEGRATORS)
@pytest.mark.parametrize("linear_path", [True, False])
def test_convergence_order_against_exact_solution(method, linear_path, monkeypatch):
    order = INTEGRATORS[method].order
    # springs with moderate stiffness: errors span several decades above round-off
    monkeypatch.setattr(SpringSystem, "linear", linear_path)
    system = SpringSystem(4, 2, mass_range=(1.0, 2.0), k_range=(0.5, 1.5))
    q, p, params = _sample(system, 3)
    t = torch.tensor([0.0, 2.0], dtype=torch.float64)
    qe, pe = system.exact_solution(q, p, params, t)
    slope, errors = _fitted_order(system, q, p, params, t, method, np.array([8, 16, 32, 64]), qe, pe)
    assert errors[-1] > 1e-13, "errors reached round-off: the fit would be meaningless"
    assert abs(slope - order) < 0.25, (slope, errors)


def test_convergence_order_on_nonlinear_gravity():
    system = GravitySystem(3, 2)
    q, p, params = _sample(system, 2)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    qd, pd = integrate(system, q, p, params, t, method=DOP853(rtol=1e-13, atol=1e-14))
    for method in FIXED_STEP_INTEGRATORS:
        order = INTEGRATORS[method].order
        slope, errors = _fitted_order(system, q, p, params, t, method, np.array([20, 40, 80, 160]), qd, pd)
        assert abs(slope - order) < 0.3, (method, slope, errors)


def _long_run_energy_errors(method, n_steps):
    # two bodies on a spring: a harmonic oscillator with omega h = 0.1
    system = SpringSystem(2, 2)
    params = {
        "masses": torch.tensor([[1.0, 1.0]], dtype=torch.float64),
        "k": torch.tensor([[0.5, 0.5]], dtype=torch.float64),
    }
    q = torch.tensor([[[1.0, 0.0], [-1.0, 0.0]]], dtype=torch.float64)
    p = torch.tensor([[[0.0, 0.3], [0.0, -0.3]]], dtype=torch.float64)
    omega = float(np.sqrt(2 * 2 * 0.5 * 0.5 / 0.5))  # A = 2 (S k - k k^T); reduced mass 1/2
    h = 0.1 / omega
    samples = 100
    t = torch.arange(samples + 1, dtype=torch.float64) * h * (n_steps // samples)
    monkey = SpringSystem.linear
    SpringSystem.linear = False  # step by step: this is a test of the steppers themselves
    try:
        qs, ps = integrate(system, q, p, params, t, method=get_integrator(method, substeps=n_steps // samples))
    finally:
        SpringSystem.linear = monkey
    energy = system.hamiltonian(qs, ps, params)[0]
    return ((energy - energy[0]) / energy[0]).abs().numpy()


@pytest.mark.parametrize("n_steps", [pytest.param(100_000, marks=pytest.mark.slow), 20_000])
def test_symplectic_energy_error_bounded_rk4_drifts(n_steps):
    results = {m: _long_run_energy_errors(m, n_steps) for m in FIXED_STEP_INTEGRATORS}
    assert {m for m in results if INTEGRATORS[m].symplectic} == {"leapfrog", "yoshida4", "symplectic-euler"}
    for method, err in results.items():
        if INTEGRATORS[method].symplectic:
            # bounded: the second half's worst no worse than the first half's (a drift would double it)
            early, late = err[1 : len(err) // 2].max(), err[len(err) // 2 :].max()
            assert late <= 1.5 * early + 1e-14, (method, early, late)
        else:  # rk4 is dissipative: energy falls steadily, error grows roughly linearly in time
            assert err[-1] > 5 * err[10] and err[-1] > err[len(err) // 2] * 1.5, (method, err[[10, len(err) // 2, -1]])


@pytest.mark.parametrize("method", ALL_INTEGRATORS)
@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_linear_momentum_conserved(name, method):
    system = ALL_SYSTEMS[name]()
    q, p, params = _sample(system, 3)
    t = torch.linspace(0, 1, 6, dtype=torch.float64)
    qs, ps = integrate(system, q, p, params, t, method=make_integrator(method, substeps=20, tolerance=1e-10))
    momentum = system.linear_momentum(ps)
    scale = ps.norm(dim=-1).mean()
    drift = (momentum - momentum[:, :1]).norm(dim=-1).max() / scale
    if method == "dop853":
        # scipy's error control acts per component, not on the total: conserved to its tolerance only
        assert drift < 1e-8, drift
    else:
        assert drift < 1e-12, drift


@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_yoshida4_agrees_with_dop853_at_small_steps(name):
    system = ALL_SYSTEMS[name]()
    q, p, params = _sample(system, 2)
    t = torch.linspace(0, 0.5, 6, dtype=torch.float64)
    qy, py = integrate(system, q, p, params, t, method=get_integrator("yoshida4", substeps=1000))
    qd, pd = integrate(system, q, p, params, t, method=DOP853(rtol=1e-13, atol=1e-13))
    assert _rel_state_error(qy, py, qd, pd).max() < 1e-9


def test_linear_path_equals_step_by_step(monkeypatch):
    system = SpringSystem(6, 3)
    q, p, params = _sample(system, 5)
    t = torch.arange(30, dtype=torch.float64) * 0.05
    fast = integrate(system, q, p, params, t, method=get_integrator("yoshida4", substeps=7))
    monkeypatch.setattr(SpringSystem, "linear", False)
    slow = integrate(system, q, p, params, t, method=get_integrator("yoshida4", substeps=7))
    assert _rel_state_error(*fast, *slow).max() < 1e-13


def test_nonuniform_times_and_single_time():
    system = SpringSystem(3, 2)
    q, p, params = _sample(system, 2)
    t = torch.tensor([0.0, 0.1, 0.4, 0.5], dtype=torch.float64)
    qs, ps = integrate(system, q, p, params, t, method=get_integrator("yoshida4", substeps=200))
    qe, pe = system.exact_solution(q, p, params, t)
    assert _rel_state_error(qs, ps, qe, pe).max() < 1e-9
    q1, p1 = integrate(system, q, p, params, t[:1], method="rk4")
    assert torch.equal(q1[:, 0], q) and torch.equal(p1[:, 0], p)


def test_integrate_rejects_bad_arguments():
    system = SpringSystem(3, 2)
    q, p, params = _sample(system, 2)
    t = torch.linspace(0, 1, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown integrator 'euler'"):
        integrate(system, q, p, params, t, method="euler")
    with pytest.raises(ValueError, match="method must be an Integrator"):
        integrate(system, q, p, params, t, method=3)
    with pytest.raises(ValueError, match="substeps must be a positive integer"):
        get_integrator("rk4", substeps=0)
    with pytest.raises(ValueError, match="rtol must be a positive number"):
        DOP853(rtol=-1.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        integrate(system, q, p, params, t.flip(0), method="rk4")
