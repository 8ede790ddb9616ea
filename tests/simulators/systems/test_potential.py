"""Systems defined by a potential alone (``PotentialSystem``) and systems loaded by reference."""

import itertools
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from simulators import (
    DOP853,
    GravitySystem,
    PotentialSystem,
    Yoshida4,
    integrate,
    list_systems,
    load_system,
    register_system,
    system_class,
    use_fused_kernels,
)


class SoftGravity(PotentialSystem):
    """Gravity written as a potential only: its autograd force must equal GravitySystem's analytic one."""

    name = "test-soft-gravity"
    param_names = ("masses",)

    def __init__(self, n_bodies=4, dim=3, G=1.0, softening=0.05):
        super().__init__(n_bodies, dim)
        self.G, self.softening = G, softening

    def potential(self, q, params):
        i, j = torch.triu_indices(self.n_bodies, self.n_bodies, offset=1)
        m = params["masses"] if q.dim() == 3 else params["masses"].unsqueeze(1)
        r2 = (q[..., i, :] - q[..., j, :]).pow(2).sum(-1) + self.softening**2
        return -self.G * (m[..., i] * m[..., j] / r2.sqrt()).sum(-1)


class Unit(PotentialSystem):
    """No parameters at all: unit masses, and a batch size taken from nothing but the sampler's argument."""

    name = "test-unit-harmonic"
    param_names = ()

    def potential(self, q, params):
        return 0.5 * q.pow(2).sum((-1, -2))


@pytest.mark.parametrize("dim", [2, 3])
def test_autograd_force_equals_the_analytic_force(dim, generator):
    reference = GravitySystem(n_bodies=5, dim=dim, configuration="cluster", softening=0.05)
    params = reference.sample_params(16, generator=generator)
    q, _ = reference.sample_state(params, generator=generator)
    mine = SoftGravity(n_bodies=5, dim=dim, softening=0.05)
    torch.testing.assert_close(mine.potential(q, params), reference.potential(q, params), rtol=1e-13, atol=0)
    with torch.no_grad():  # integrators call the force without autograd; it must still work
        torch.testing.assert_close(mine.force(q, params), reference.force(q, params), rtol=1e-12, atol=1e-14)


def test_a_potential_system_integrates_like_the_analytic_one(generator):
    reference = GravitySystem(n_bodies=4, dim=3, configuration="cluster")
    params = reference.sample_params(3, generator=generator)
    q0, p0 = reference.sample_state(params, generator=generator)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    mine = SoftGravity(n_bodies=4, dim=3, softening=reference.softening)
    q_ref, _ = integrate(reference, q0, p0, params, t, method=Yoshida4(substeps=100))
    q_tight, _ = integrate(reference, q0, p0, params, t, method=DOP853(rtol=1e-12, atol=1e-12))
    q, p = integrate(mine, q0, p0, params, t, method=Yoshida4(substeps=100))
    assert (q - q_ref).abs().max() < 1e-11  # the same steps with equal forces: round-off apart
    assert (q - q_tight).abs().max() < 1e-4  # and the steps themselves accurate (close encounters included)
    assert mine.hamiltonian(q, p, params).shape == (3, 11)


class CompiledSoftGravity(SoftGravity):
    name = "test-compiled-soft-gravity"
    compile_force = True


@pytest.mark.skipif(not shutil.which("c++"), reason="torch.compile's CPU backend needs a C++ compiler")
def test_the_compiled_force_equals_autograd_to_round_off(generator):
    """Through fixed steps (one batch shape) and DOP853 (its batch of unfinished trajectories shrinks, so the
    compiled force meets several shapes): float64 round-off apart from the autograd force."""
    mine = CompiledSoftGravity(n_bodies=4, dim=3)
    reference = GravitySystem(n_bodies=4, dim=3, configuration="cluster")
    params = reference.sample_params(8, generator=generator)
    q0, p0 = reference.sample_state(params, generator=generator)
    compiled = mine.force(q0, params)
    assert mine.__dict__.get("_compiled") is not None  # compiled, not fallen back
    with use_fused_kernels(False):
        autograd = mine.force(q0, params)
    torch.testing.assert_close(compiled, autograd, rtol=1e-13, atol=1e-15)
    t = torch.linspace(0, 0.5, 6, dtype=torch.float64)
    for method in (Yoshida4(substeps=20), DOP853(rtol=1e-10, atol=1e-10)):
        q, p = integrate(mine, q0, p0, params, t, method=method)
        with use_fused_kernels(False):
            q_ref, p_ref = integrate(mine, q0, p0, params, t, method=method)
        torch.testing.assert_close(q, q_ref, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(p, p_ref, rtol=1e-10, atol=1e-12)


def test_a_failed_compilation_is_one_warning_line_then_autograd(tmp_path):
    code = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_potential import CompiledSoftGravity
        from simulators import GravitySystem, use_fused_kernels
        g = torch.Generator().manual_seed(0)
        reference = GravitySystem(n_bodies=3, dim=2, configuration="cluster")
        params = reference.sample_params(4, generator=g)
        q, _ = reference.sample_state(params, generator=g)
        mine = CompiledSoftGravity(n_bodies=3, dim=2)
        a = mine.force(q, params)
        with use_fused_kernels(False):
            b = mine.force(q, params)
        print(torch.equal(a, b), mine.__dict__["_compiled"] is None)
    """)
    env = {**os.environ, "CXX": str(tmp_path / "no-compiler"), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["True", "True"], done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "compiled force unavailable" in lines[0], done.stderr[-3000:]


def test_settings_are_read_back_from_the_constructor():
    assert SoftGravity(G=2.0).settings == {"G": 2.0, "softening": 0.05}
    assert Unit(3, 2).settings == {}

    class Forgetful(SoftGravity):
        name = "test-forgetful"

        def __init__(self, n_bodies=4, dim=3, stiffness=1.0):
            super().__init__(n_bodies, dim)

    with pytest.raises(TypeError, match=r"missing \['stiffness'\]"):
        _ = Forgetful().settings


def test_no_masses_parameter_means_unit_masses():
    system = Unit(3, 2)
    p = torch.tensor([[[1.0, 2.0], [0.0, 1.0], [3.0, 0.0]]], dtype=torch.float64)
    assert float(system.kinetic(p, {})) == pytest.approx((1 + 4 + 1 + 9) / 2)
    torch.testing.assert_close(system.velocity(p, {}), p)


def test_pair_distances_cover_each_pair_once():
    q = torch.tensor([[[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]], dtype=torch.float64)
    expected = [torch.dist(q[0, i], q[0, j]) for i, j in itertools.combinations(range(3), 2)]
    torch.testing.assert_close(PotentialSystem.pair_distances(q)[0], torch.stack(expected))


def test_pair_parameters_have_pair_shapes():
    class Graph(SoftGravity):
        name = "test-graph"
        param_names = ("masses", "edges")
        pair_params = ("edges",)

    system = Graph(n_bodies=3, dim=2)
    q = torch.zeros(2, 3, 2, dtype=torch.float64)
    system.check_state(q, q, {"masses": torch.ones(2, 3), "edges": torch.ones(2, 3, 3)})
    with pytest.raises(ValueError, match=r"params\['edges'\] must have shape \(2, 3, 3\)"):
        system.check_state(q, q, {"masses": torch.ones(2, 3), "edges": torch.ones(2, 3)})


def _write_module(folder, name, body):
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


SYSTEM_SOURCE = """
import torch
from simulators import PotentialSystem

class Quartic(PotentialSystem):
    name = "{name}"
    param_names = ()

    def potential(self, q, params):
        return q.pow(4).sum((-1, -2))

NOT_A_SYSTEM = 3
"""


def test_load_system_from_a_file_and_from_a_module(tmp_path, monkeypatch):
    _write_module(tmp_path, "quartic_file", SYSTEM_SOURCE.format(name="test-quartic-file"))
    cls = load_system("quartic_file.py:Quartic", relative_to=tmp_path)
    assert cls.name in list_systems() and system_class("test-quartic-file") is cls
    assert load_system(str(tmp_path / "quartic_file.py") + ":Quartic") is cls  # the same file: the same class
    monkeypatch.syspath_prepend(str(tmp_path))
    _write_module(tmp_path, "quartic_module", SYSTEM_SOURCE.format(name="test-quartic-module"))
    cls = load_system("quartic_module:Quartic")
    assert system_class("test-quartic-module") is cls and sys.modules["quartic_module"].Quartic is cls


def test_load_system_errors_name_the_reference(tmp_path):
    _write_module(tmp_path, "broken", "raise RuntimeError('boom')\n")
    _write_module(tmp_path, "clash", SYSTEM_SOURCE.format(name="springs"))
    _write_module(tmp_path, "other", SYSTEM_SOURCE.format(name="test-other"))
    cases = {
        "nowhere.py:X": "no such file",
        "broken.py:X": "importing .* failed: RuntimeError: boom",
        "other.py:NOT_A_SYSTEM": "not a HamiltonianSystem subclass",
        "other.py:Missing": "not a HamiltonianSystem subclass",
        "clash.py:Quartic": "a different system named 'springs' is already registered",
        "no_such_module_anywhere:X": "cannot import no_such_module_anywhere",
        ":X": "must be 'package.module:Class'",
    }
    for reference, message in cases.items():
        with pytest.raises(ValueError, match=message):
            load_system(reference, relative_to=tmp_path)
    # a failed import leaves nothing half-made behind
    assert not [m for m in sys.modules if m.startswith("_hamilton_lie_user_systems.broken")]


def test_register_system_takes_subclasses_only():
    with pytest.raises(TypeError):
        register_system(object)
