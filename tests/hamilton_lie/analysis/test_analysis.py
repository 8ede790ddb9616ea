"""Diagnostics on cases with known answers: the true dynamics, exactly invariant models, a T(2) model."""

import math

import pytest
import torch
from helpers import TrueEnergy

from hamilton_lie import HamiltonianDynamics, LieTransformer, analysis, groups, to_z
from simulators import GravitySystem, SpringSystem


def _springs(batch=6, seed=0, dim=2):
    system = SpringSystem(6, dim)
    g = torch.Generator().manual_seed(seed)
    params = system.sample_params(batch, generator=g)
    q, p = system.sample_state(params, generator=g)
    return system, q, p, params


def _exact(system, q, p, params, t):
    qe, pe = system.exact_solution(q, p, params, t)
    return to_z(qe, pe)


def test_metric_definitions_on_hand_made_trajectories():
    z_true = torch.ones(2, 3, 2, 4, 2, dtype=torch.float64)
    z_pred = z_true.clone()
    z_pred[1, 2] *= 3  # ||3z - z|| / (||3z|| + ||z||) = 1/2
    rel = analysis.rollout_rel_error(z_pred, z_true)
    assert rel.shape == (2, 3)
    assert rel[1, 2] == pytest.approx(0.5, rel=1e-15) and rel.sum() == pytest.approx(0.5, rel=1e-15)
    assert analysis.mse(z_pred, z_true) == pytest.approx(4 * 16 / (2 * 3 * 16), rel=1e-15)
    assert analysis.geometric_mean(torch.tensor([[1e-2, 1.0], [1e-4, 1.0]]), dim=0).tolist() == pytest.approx(
        [1e-3, 1.0]
    )
    with pytest.raises(ValueError, match="same shape"):
        analysis.rollout_rel_error(z_pred[:1], z_true)
    with pytest.raises(ValueError, match=r"\(batch, time, 2, n_bodies, dim\)"):
        analysis.mse(z_pred[0], z_true[0])


def test_true_dynamics_have_zero_error_drift_and_momentum_drift():
    """The model wrapping the true H, rolled out with RK4: errors at the integrator's level."""
    system, q, p, params = _springs()
    t = torch.linspace(0, 1, 21, dtype=torch.float64)
    z_exact = _exact(system, q, p, params, t)
    z = HamiltonianDynamics(TrueEnergy(system)).rollout(q, p, params, t, method="rk4", substeps=20)
    # h = 2.5e-3 against spring frequencies up to ~30: RK4's error (h omega)^4 / 120 per unit time ~ 1e-7
    assert analysis.rollout_rel_error(z, z_exact).max() < 1e-6
    assert analysis.energy_drift(system.hamiltonian, z, params).max() < 1e-6
    # the exact flow conserves both momenta to round-off; RK4 conserves the linear one exactly (a
    # linear invariant) and the angular one (quadratic) to its truncation error
    exact = analysis.momentum_drift(z_exact)
    assert exact["linear"].max() < 1e-12 and exact["angular"].max() < 1e-12
    drift = analysis.momentum_drift(z)
    assert drift["linear"].max() < 1e-13 and drift["angular"].max() < 1e-6


def test_energy_drift_sees_a_wrong_trajectory():
    system, q, p, params = _springs()
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    z = _exact(system, q, p, params, t)
    z[:, 2:, 1] *= 1.1  # momenta 10% too large from the third sample on
    drift = analysis.energy_drift(system.hamiltonian, z, params)
    kinetic = system.kinetic(z[:, 2, 1] / 1.1, params)
    expected = 0.21 * kinetic / system.hamiltonian(z[:, 0, 0], z[:, 0, 1], params)
    assert torch.allclose(drift[:, 2], expected, rtol=1e-10)
    assert drift[:, :2].max() < 1e-12


def test_energy_drift_on_the_scale_of_the_energies_exchanged():
    """Bound gravity: H(0) is a small difference of T and V, so a drift relative to |H(0)| is inflated
    by (T + |V|) / |H|; on the scale T(0) + |V(0)| it is the change of H over the energies in play."""
    system = GravitySystem(4, 2)
    g = torch.Generator().manual_seed(0)
    params = system.sample_params(3, generator=g)
    q, p = system.sample_state(params, generator=g)
    z = to_z(torch.stack([q, q], 1), torch.stack([p, 1.01 * p], 1))  # the second state: momenta 1% larger
    kinetic, potential = system.kinetic(p, params), system.potential(q, params)
    scale = analysis.energy_scale(kinetic, potential)
    assert torch.allclose(scale, kinetic + potential.abs(), rtol=0, atol=0)
    change = 0.0201 * kinetic  # (1.01^2 - 1) T
    drift = analysis.energy_drift(system.hamiltonian, z, params, scale=scale)
    assert torch.allclose(drift[:, 1], change / scale, rtol=1e-10)
    unscaled = analysis.energy_drift(system.hamiltonian, z, params)
    assert torch.allclose(unscaled[:, 1], change / (kinetic + potential).abs(), rtol=1e-10)
    assert (unscaled[:, 1] > drift[:, 1]).all()  # |H| < T + |V| when V < 0 < H


def test_energy_drift_along_its_own_rollout_measures_the_integrator():
    """Any H is conserved by its own exact flow, so the drift of H along its RK4 rollout is RK4's error
    and falls as h^4. (An untrained network is too close to linear over the data's range for RK4 to
    err at all, so a strongly nonlinear H, gravity's, stands in for a learned one: same code path.)"""
    system = GravitySystem(4, 2)
    g = torch.Generator().manual_seed(0)
    params = system.sample_params(3, generator=g)
    q, p = system.sample_state(params, generator=g)
    t = torch.linspace(0, 2, 6, dtype=torch.float64)
    dyn = HamiltonianDynamics(TrueEnergy(system))
    coarse = analysis.energy_drift(system.hamiltonian, dyn.rollout(q, p, params, t, method="rk4", substeps=2), params)
    fine = analysis.energy_drift(system.hamiltonian, dyn.rollout(q, p, params, t, method="rk4", substeps=16), params)
    assert coarse.max() > 1e-4  # measured 1.9e-3
    assert fine.max() < 1e-6  # measured 8.5e-8
    assert fine.max() < coarse.max() / 1000  # fourth order: 8x smaller steps, ~4000x smaller drift


@pytest.mark.parametrize("group", ["SE2", "T2", "SE3", "T3"])
def test_equivariance_error_of_exact_and_broken_symmetries(group):
    dim = int(group[-1])
    system, q, p, params = _springs(batch=4, dim=dim)
    errors = analysis.equivariance_error(
        TrueEnergy(system),
        groups.get_group(group),
        q,
        p,
        params,
        n_elements=3,
        generator=torch.Generator().manual_seed(0),
    )
    assert errors["energy"].shape == errors["vector_field"].shape == (3, 4)
    assert errors["energy"].max() < 1e-12 and errors["vector_field"].max() < 1e-12
    # a T(d) LieTransformer has no reason to be rotation invariant: its SE(d) error is far above
    # float64 round-off (an untrained one's energy is dominated by the exactly invariant kinetic term)
    torch.manual_seed(0)
    model = LieTransformer(groups.T(dim), ("masses", "k"), dim_hidden=16, num_layers=1, num_heads=2)
    broken = analysis.equivariance_error(
        model, groups.get_group(f"SE{dim}"), q.float(), p.float(), params, n_elements=3
    )
    assert broken["energy"].median() > 1e-7 and broken["vector_field"].median() > 1e-5
    assert next(model.parameters()).dtype == torch.float32  # evaluated in float64, restored afterwards


def test_rotation_robustness_is_one_for_exactly_invariant_dynamics():
    system, q, p, params = _springs(batch=8)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    z_exact = _exact(system, q, p, params, t)
    dyn = HamiltonianDynamics(TrueEnergy(system))

    def rollout(q0, p0, params_, times):
        return dyn.rollout(q0, p0, params_, times, method="rk4", substeps=2)

    result = analysis.rotation_robustness(rollout, q, p, params, t, z_exact, generator=torch.Generator().manual_seed(1))
    # the RK4 truncation error (~1e-5) is rotated along with the state; round-off is 1e-16
    assert result.error_original[:, 1:].min() > 1e-9
    assert result.ratio == pytest.approx(1.0, abs=1e-8)
    assert result.equivariance.max() < 1e-13
    assert math.isnan(float(result.ratio_t[0])) and torch.allclose(
        result.ratio_t[1:], torch.ones(10, dtype=torch.float64)
    )
    assert result.angles.shape == (8,) and float(result.angles.max()) <= math.pi
    # a continuous-rotation-invariant learned energy (SO(2) about the origin, canonical lift)
    model = LieTransformer(groups.SO2(), ("masses", "k"), dim_hidden=16, num_layers=1, num_heads=2).double().eval()
    learned = HamiltonianDynamics(model)
    learned_result = analysis.rotation_robustness(
        lambda *a: learned.rollout(*a, method="rk4"),
        q,
        p,
        params,
        t,
        z_exact,
        generator=torch.Generator().manual_seed(2),
    )
    assert learned_result.ratio == pytest.approx(1.0, abs=1e-9)
    assert learned_result.equivariance.max() < 1e-10


def test_rotation_angle_of_known_rotations():
    theta = torch.tensor([0.0, 0.3, -2.0, math.pi], dtype=torch.float64)
    R2 = torch.stack([torch.stack([theta.cos(), -theta.sin()], -1), torch.stack([theta.sin(), theta.cos()], -1)], -2)
    assert analysis.rotation_angle(R2).tolist() == pytest.approx([0.0, 0.3, 2.0, math.pi])
    R3 = torch.eye(3, dtype=torch.float64).repeat(4, 1, 1)
    R3[:, :2, :2] = R2
    assert analysis.rotation_angle(R3).tolist() == pytest.approx([0.0, 0.3, 2.0, math.pi], abs=1e-7)
