"""Energies, analytic forces, samplers and conservation laws of every system."""


import pytest
import torch
from helpers import ALL_SYSTEMS

from simulators import GravitySystem, Leapfrog, SpringSystem, get_integrator, get_system, integrate, random_rotations


def _sample(system, batch=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    params = system.sample_params(batch, generator=g)
    q, p = system.sample_state(params, generator=g)
    return q, p, params


@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_vector_field_is_autograd_of_hamiltonian(name):
    system = ALL_SYSTEMS[name]()
    q, p, params = _sample(system)
    q.requires_grad_(True)
    p.requires_grad_(True)
    dh_dq, dh_dp = torch.autograd.grad(system.hamiltonian(q, p, params).sum(), [q, p])
    dq, dp = system.vector_field(q.detach(), p.detach(), params)
    for analytic, reference in ((dq, dh_dp), (dp, -dh_dq)):
        err = (analytic - reference).norm(dim=(-1, -2))
        if system.n_bodies > 1:
            assert (err / reference.norm(dim=(-1, -2))).max() <= 1e-12, err.max()
        else:  # a lone body feels no force: both sides vanish to round-off
            assert err.max() <= 1e-15 * (1 + q.detach().abs().max())


@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_each_trajectorys_vector_field_is_the_same_in_any_batch(name):
    """Bit for bit, so that generated data do not depend on ``batch_size``: vectorised CPU kernels treat a
    tensor's last elements differently (torch's pow does), which moves a trajectory's last bits with its
    place in the batch."""
    system = ALL_SYSTEMS[name]()
    q, p, params = _sample(system, batch=203)
    q = q * 1.7  # away from the sampled configuration, where forces are larger
    dq, dp = system.vector_field(q, p, params)
    # short windows put many different elements into a tensor's tail
    for lo, hi in [(0, 203), (100, 203)] + [(lo, lo + n) for lo in range(200) for n in (1, 2, 3)]:
        part = {k: v[lo:hi] for k, v in params.items()}
        dq_part, dp_part = system.vector_field(q[lo:hi], p[lo:hi], part)
        assert torch.equal(dq_part, dq[lo:hi]) and torch.equal(dp_part, dp[lo:hi]), (lo, hi)


@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_hamiltonian_on_trajectories_matches_per_state(name):
    system = ALL_SYSTEMS[name]()
    q, p, params = _sample(system, batch=3)
    t = torch.linspace(0, 0.2, 4, dtype=torch.float64)
    qs, ps = integrate(system, q, p, params, t, method=Leapfrog(substeps=2))
    energy = system.hamiltonian(qs, ps, params)
    assert energy.shape == (3, 4)
    for k in range(4):
        torch.testing.assert_close(energy[:, k], system.hamiltonian(qs[:, k], ps[:, k], params), rtol=1e-14, atol=0)


def test_spring_potential_matches_pairwise_definition():
    system = SpringSystem(7, 3)
    q, p, params = _sample(system, batch=5)
    k = params["k"]
    diff = q.unsqueeze(2) - q.unsqueeze(1)
    reference = 0.5 * (k.unsqueeze(2) * k.unsqueeze(1) * diff.pow(2).sum(-1)).sum((-1, -2))
    torch.testing.assert_close(system.potential(q, params), reference, rtol=1e-13, atol=0)


def test_spring_potential_keeps_precision_far_from_origin():
    system = SpringSystem(6, 2)
    q, _, params = _sample(system)
    shifted = system.potential(q + 1e6, params)
    torch.testing.assert_close(shifted, system.potential(q, params), rtol=1e-9, atol=0)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("name", ["gravity", "charged"])
def test_inverse_distance_potential_matches_pair_sum(name, dim):
    system = get_system(name, n_bodies=5, dim=dim)
    q, _, params = _sample(system, batch=4)
    a = params["masses"] if name == "gravity" else params["charges"]
    strength = -system.G if name == "gravity" else system.coulomb
    expected = torch.zeros(4, dtype=torch.float64)
    for i in range(5):
        for j in range(i + 1, 5):
            r2 = (q[:, i] - q[:, j]).pow(2).sum(-1)
            expected += strength * a[:, i] * a[:, j] / torch.sqrt(r2 + system.softening**2)
    torch.testing.assert_close(system.potential(q, params), expected, rtol=1e-13, atol=0)


@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_invariance_under_rotation_translation_and_permutation(name):
    system = ALL_SYSTEMS[name]()
    q, p, params = _sample(system, batch=6)
    g = torch.Generator().manual_seed(7)
    rot = random_rotations(6, system.dim, g)
    shift = torch.randn(6, 1, system.dim, generator=g, dtype=torch.float64)
    perm = torch.randperm(system.n_bodies, generator=g)
    q2 = (q @ rot.transpose(-1, -2) + shift)[:, perm]
    p2 = (p @ rot.transpose(-1, -2))[:, perm]
    params2 = {k: v[:, perm][:, :, perm] if k in system.pair_params else v[:, perm] for k, v in params.items()}
    torch.testing.assert_close(
        system.hamiltonian(q2, p2, params2), system.hamiltonian(q, p, params), rtol=1e-12, atol=0
    )
    # forces rotate with the system
    torch.testing.assert_close(
        system.force(q2, params2), (system.force(q, params) @ rot.transpose(-1, -2))[:, perm], rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("name", ALL_SYSTEMS)
def test_sampling_is_reproducible_and_well_formed(name):
    system = ALL_SYSTEMS[name]()
    a = _sample(system, batch=5, seed=3)
    b = _sample(system, batch=5, seed=3)
    c = _sample(system, batch=5, seed=4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    q, p, params = a
    assert q.dtype == torch.float64 and q.shape == (5, system.n_bodies, system.dim)
    assert set(params) == set(system.param_names)
    assert all(v.shape == system.param_shape(k, 5) for k, v in params.items())
    assert "masses" not in params or (params["masses"] > 0).all()


def test_spring_defaults_are_the_lieconv_benchmark():
    system = SpringSystem()
    assert (system.n_bodies, system.dim) == (6, 2)
    g = torch.Generator().manual_seed(0)
    params = system.sample_params(20000, generator=g)
    q, p = system.sample_state(params, generator=g)
    m, k = params["masses"], params["k"]
    assert 0.1 <= m.min() and m.max() <= 3.1 and abs(m.mean() - 1.6) < 0.02
    assert 0 <= k.min() and k.max() <= 5 and abs(k.mean() - 2.5) < 0.03
    assert abs(q.std() - 0.4) < 0.005 and abs(p.std() - 0.6) < 0.005


def test_planetary_gravity_starts_bound_and_separated():
    system = GravitySystem(5, 3)
    q, p, params = _sample(system, batch=200)
    assert (system.hamiltonian(q, p, params) < 0).all()
    d = torch.cdist(q, q) + torch.eye(5, dtype=q.dtype) * 1e9
    assert d.amin() > 4 * system.softening
    torch.testing.assert_close(system.linear_momentum(p), torch.zeros(200, 3, dtype=torch.float64), atol=1e-15, rtol=0)


def test_cluster_gravity_meets_virial_ratio_and_separation():
    system = GravitySystem(6, 2, configuration="cluster", virial_ratio=0.8)
    q, p, params = _sample(system, batch=100)
    ratio = 2 * system.kinetic(p, params) / system.potential(q, params).abs()
    torch.testing.assert_close(ratio, torch.full_like(ratio, 0.8), rtol=1e-12, atol=0)
    d = torch.cdist(q, q) + torch.eye(6, dtype=q.dtype) * 1e9
    assert d.amin() >= system.min_separation


def test_balanced_charges_are_neutral():
    system = get_system("charged", n_bodies=6, dim=3)
    _, _, params = _sample(system, batch=50)
    assert (params["charges"].sum(-1) == 0).all()
    assert set(params["charges"].unique().tolist()) == {-1.0, 1.0}


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown system 'fluid'"):
        get_system("fluid")
    with pytest.raises(ValueError, match="dim must be 2 or 3"):
        SpringSystem(4, 5)
    with pytest.raises(ValueError, match="softening must be non-negative"):
        GravitySystem(3, 2, softening=-0.1)
    system = SpringSystem(6, 2)
    q, p, params = _sample(system, batch=2)
    with pytest.raises(ValueError, match=r"q must have shape \(batch, \[time,\] 6, 2\), got \(2, 5, 2\)"):
        system.check_state(q[:, :5], p[:, :5], params)
    with pytest.raises(ValueError, match="missing 'k'"):
        system.check_state(q, p, {"masses": params["masses"]})


@pytest.mark.parametrize("name", ["nri-springs", "nri-charged", "gaussian-gravity", "hnn-orbits"])
def test_the_replaying_systems_check_their_replay_setting(name):
    with pytest.raises(ValueError, match=r"replay must be one of \('none', 'numpy-legacy'\), got 'numpy'"):
        get_system(name, replay="numpy")
    if name != "hnn-orbits":  # HNN's stream holds no noise draws
        with pytest.raises(ValueError, match="replay needs original_samples"):
            get_system(name, replay="numpy-legacy", original_samples=[10, 10])


def test_angular_momentum_2d_and_3d():
    q = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]], dtype=torch.float64)
    p = torch.tensor([[[0.0, 3.0, 0.0], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    torch.testing.assert_close(
        SpringSystem.angular_momentum(q, p), torch.tensor([[2.0, 0.0, 3.0]], dtype=torch.float64)
    )
    torch.testing.assert_close(
        SpringSystem.angular_momentum(q[..., :2], p[..., :2]), torch.tensor([3.0], dtype=torch.float64)
    )


def test_springs_per_axis_scales_give_oriented_data():
    system = SpringSystem(6, 2, q_scale=[0.6, 0.15], p_scale=[0.5, 0.1])
    g = torch.Generator().manual_seed(0)
    params = system.sample_params(4000, generator=g)
    q, p = system.sample_state(params, generator=g)
    # 24000 draws per axis: the sample standard deviation is within 2% of the scale
    assert q.std(dim=(0, 1)).tolist() == pytest.approx([0.6, 0.15], rel=0.02)
    assert p.std(dim=(0, 1)).tolist() == pytest.approx([0.5, 0.1], rel=0.02)
    assert system.settings["q_scale"] == [0.6, 0.15]
    assert SpringSystem(6, 2).settings["q_scale"] == 0.4  # a scalar stays a scalar in the file's settings
    with pytest.raises(ValueError, match="q_scale must be a number or 2 numbers"):
        SpringSystem(6, 2, q_scale=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="p_scale must be non-negative"):
        SpringSystem(6, 2, p_scale=-1.0)


def test_separated_positions_for_many_bodies():
    """Whole-configuration rejection would essentially never accept 512 bodies; pairs are repaired."""
    from simulators._random import sample_separated_positions

    g = torch.Generator().manual_seed(0)
    x = sample_separated_positions(2, 512, 3, radius=5.0, min_separation=0.3, generator=g)
    d = torch.cdist(x, x) + 1e9 * torch.eye(512, dtype=torch.float64)
    assert d.min() >= 0.3 and x.norm(dim=-1).max() <= 10.0
    assert x.mean(dim=1).abs().max() < 1e-12
    with pytest.raises(ValueError, match="could not place 512 bodies"):
        sample_separated_positions(1, 512, 3, radius=0.5, min_separation=0.3, generator=g, max_rounds=20)


def test_nri_walls_mirror_bodies_and_turn_their_velocities_inward():
    system = get_system("nri-springs")
    q = torch.tensor([[[5.5, 0.0], [-6.0, 4.0], [1.0, -5.25], [0.0, 0.0], [4.9, -4.9]]], dtype=torch.float64)
    p = torch.tensor([[[1.0, 1.0], [-1.0, 1.0], [1.0, -2.0], [1.0, 1.0], [1.0, -1.0]]], dtype=torch.float64)
    q2, p2 = system.reflect(q, p)
    expected_q = [[4.5, 0.0], [-4.0, 4.0], [1.0, -4.75], [0.0, 0.0], [4.9, -4.9]]
    expected_p = [[-1.0, 1.0], [1.0, 1.0], [1.0, 2.0], [1.0, 1.0], [1.0, -1.0]]
    torch.testing.assert_close(q2[0], torch.tensor(expected_q, dtype=torch.float64))
    torch.testing.assert_close(p2[0], torch.tensor(expected_p, dtype=torch.float64))


def test_nri_clipping_and_walls_are_the_originals_and_can_be_switched_off(generator):
    clipped, exact = get_system("nri-charged"), get_system("nri-charged", max_force=float("inf"))
    q = torch.tensor([[[0.0, 0.0], [0.05, 0.0], [2.0, 0.0], [0.0, 2.0], [-2.0, -2.0]]], dtype=torch.float64)
    params = {"charges": torch.tensor([[1.0, -1.0, 1.0, 1.0, -1.0]], dtype=torch.float64)}
    assert exact.force(q, params).abs().max() > 100  # 1 / 0.05^2 = 400
    assert clipped.force(q, params).abs().max() == 100  # each component to +-0.1 / dt, as the original
    with torch.enable_grad():  # unclipped, the force is the potential's gradient
        x = q.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(exact.potential(x, params).sum(), x)
    torch.testing.assert_close(exact.force(q, params), -grad)
    q0, p0 = clipped.sample_state(clipped.sample_params(2, generator=generator), generator=generator)
    with pytest.raises(ValueError, match="reflecting walls, which leapfrog does not handle"):
        integrate(clipped, q0, p0, {"charges": torch.ones(2, 5, dtype=torch.float64)}, torch.arange(3.0),
                  method=Leapfrog())  # fmt: skip


def test_nri_springs_in_a_box_keep_their_energy_with_the_originals_steps(generator):
    """Symplectic Euler with elastic walls: the energy error stays at the scheme's O(h) and does not drift."""
    system = get_system("nri-springs", max_force=float("inf"))
    params = system.sample_params(8, generator=generator)
    q0, p0 = system.sample_state(params, generator=generator)
    t = 0.1 * torch.arange(200, dtype=torch.float64)
    q, p = integrate(system, q0, p0, params, t, method=get_integrator("symplectic-euler", substeps=100))
    assert q.abs().max() <= system.box_size
    energy = system.hamiltonian(q, p, params)
    error = (energy - energy[:, :1]).abs() / energy[:, :1]
    assert error.max() < 1e-2 and error[:, 100:].max() < 2 * error[:, 1:100].max() + 1e-12
