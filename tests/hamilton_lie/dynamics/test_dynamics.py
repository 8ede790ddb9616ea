"""Learned dynamics against the simulators: vector fields, rollouts, adjoint gradients."""

import pytest
import torch
from helpers import TrueEnergy

from hamilton_lie import HamiltonianDynamics, LieTransformer, groups
from hamilton_lie.dynamics import from_z, to_z
from simulators import GravitySystem, SpringSystem, get_integrator, integrate


def _sample(system, batch=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    params = system.sample_params(batch, generator=g)
    q, p = system.sample_state(params, generator=g)
    return q, p, params


def _rel(a, b):
    a, b = a.detach(), b.detach()
    return float((a - b).flatten(1).norm(dim=-1).max() / b.flatten(1).norm(dim=-1).min())


@pytest.mark.parametrize("system", [SpringSystem(6, 2), GravitySystem(4, 3)], ids=["springs", "gravity"])
def test_vector_field_of_true_energy_is_the_analytic_field(system):
    q, p, params = _sample(system)
    dq, dp = HamiltonianDynamics(TrueEnergy(system))(q, p, params)
    dq_ref, dp_ref = system.vector_field(q, p, params)
    assert _rel(dq, dq_ref) <= 1e-12 and _rel(dp, dp_ref) <= 1e-12


def test_z_helpers_round_trip():
    q, p = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    z = to_z(q, p)
    assert z.shape == (2, 2, 5, 3)
    q2, p2 = from_z(z)
    assert torch.equal(q, q2) and torch.equal(p, p2)


@pytest.mark.parametrize("method", ["rk4", "leapfrog", "yoshida4"])
@pytest.mark.parametrize("system", [SpringSystem(6, 2), GravitySystem(4, 2)], ids=["springs", "gravity"])
def test_rollout_reproduces_the_simulator_with_the_same_method(system, method, monkeypatch):
    monkeypatch.setattr(type(system), "linear", False)  # the simulator steps exactly as the rollout does
    q, p, params = _sample(system)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    rollout = HamiltonianDynamics(TrueEnergy(system)).integrate(q, p, params, t, method=method, substeps=10)
    qs, ps = integrate(system, q, p, params, t, method=get_integrator(method, substeps=10))
    assert rollout.z.shape == (3, 11, 2, system.n_bodies, system.dim)
    # torchdiffeq's rk4 is the 3/8 rule, the simulator's classical RK4: equal to O(h^5) per step, not
    # to round-off (for linear systems every 4-stage 4th-order method is the same Taylor polynomial)
    tol = 1e-7 if method == "rk4" and system.name == "gravity" else 1e-11
    assert _rel(rollout.q.detach(), qs) <= tol and _rel(rollout.p.detach(), ps) <= tol
    evaluations_per_step = {"rk4": 4, "leapfrog": 1, "yoshida4": 3}[method]
    assert rollout.nfe == evaluations_per_step * 10 * 10 + (method != "rk4")


def test_adaptive_rollout_against_the_exact_spring_solution():
    system = SpringSystem(6, 2)
    q, p, params = _sample(system)
    t = torch.linspace(0, 2, 21, dtype=torch.float64)
    rollout = HamiltonianDynamics(TrueEnergy(system)).integrate(
        q, p, params, t, method="dopri5", rtol=1e-11, atol=1e-12
    )
    qe, pe = system.exact_solution(q, p, params, t)
    assert _rel(rollout.q, qe) <= 1e-7 and _rel(rollout.p, pe) <= 1e-7


def test_rk4_on_the_data_grid_counts_four_evaluations_per_step():
    system = SpringSystem(6, 2)
    q, p, params = _sample(system)
    t = torch.linspace(0, 0.4, 5, dtype=torch.float64)
    dyn = HamiltonianDynamics(TrueEnergy(system))
    one = dyn.integrate(q, p, params, t, method="rk4", substeps=1).nfe
    three = dyn.integrate(q, p, params, t, method="rk4", substeps=3).nfe
    assert one == 4 * 4 and three == 4 * 4 * 3


def test_adjoint_gradients_match_direct_gradients():
    torch.manual_seed(0)
    model = LieTransformer(groups.T(2), ("masses", "k"), dim_hidden=16, num_layers=1, num_heads=2).double()
    dyn = HamiltonianDynamics(model)
    q, p, params = _sample(SpringSystem(4, 2), batch=2)
    t = torch.linspace(0, 0.3, 4, dtype=torch.float64)
    target = torch.randn(2, 4, 2, 4, 2, dtype=torch.float64)
    grads = []
    for adjoint in (False, True):
        model.zero_grad()
        z = dyn.rollout(q, p, params, t, method="dopri5", rtol=1e-10, atol=1e-12, adjoint=adjoint)
        (z - target).pow(2).mean().backward()
        # a parameter that only shifts H by a constant (the last bias) gets None directly, zeros by adjoint
        grads.append(
            torch.cat([(torch.zeros_like(w) if w.grad is None else w.grad).flatten() for w in model.parameters()])
        )
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-8)


def test_training_rollout_differentiates_through_the_vector_field():
    torch.manual_seed(0)
    model = LieTransformer(groups.SE2(), ("masses", "k"), dim_hidden=16, num_layers=1, num_heads=2, lift_samples=2)
    q, p, params = (x.float() if torch.is_tensor(x) else x for x in _sample(SpringSystem(5, 2)))
    params = {k: v.float() for k, v in params.items()}
    z = HamiltonianDynamics(model).rollout(q, p, params, torch.linspace(0, 0.2, 3), method="rk4")
    z.pow(2).mean().backward()
    with_grad = [w for w in model.parameters() if w.grad is not None]
    assert len(with_grad) >= len(list(model.parameters())) - 1  # all but the readout's last bias
    assert all(torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0 for w in with_grad)


def test_bad_arguments():
    system = SpringSystem(3, 2)
    q, p, params = _sample(system)
    model = LieTransformer(groups.T(2), ("masses", "k"), dim_hidden=8, num_layers=1, num_heads=2, energy="full")
    dyn = HamiltonianDynamics(model.double())
    t = torch.linspace(0, 0.2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="need a separable energy"):
        dyn.rollout(q, p, params, t, method="leapfrog")
    with pytest.raises(ValueError, match="unknown method 'rk5'"):
        dyn.rollout(q, p, params, t, method="rk5")
    with pytest.raises(ValueError, match="substeps must be a positive integer"):
        dyn.rollout(q, p, params, t, method="rk4", substeps=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_rollout_on_cuda_matches_cpu():
    torch.manual_seed(0)
    model = LieTransformer(groups.SE2(), ("masses", "k"), dim_hidden=16, num_layers=2, num_heads=2, lift_samples=4)
    model = model.double().eval()
    q, p, params = _sample(SpringSystem(6, 2))
    t = torch.linspace(0, 0.5, 6, dtype=torch.float64)
    cpu = HamiltonianDynamics(model).rollout(q, p, params, t, method="rk4", substeps=2)
    model.cuda()
    on = {k: v.cuda() for k, v in params.items()}
    gpu = HamiltonianDynamics(model).rollout(q.cuda(), p.cuda(), on, t.cuda(), method="rk4", substeps=2)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-9, atol=1e-11)
