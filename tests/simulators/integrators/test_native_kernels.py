"""The fused C++ kernels of gravity and charges (forces, kick-drift-kick intervals) against the PyTorch
operations they replace."""

import os
import shutil
import subprocess
import sys

import pytest
import torch

from simulators import DOP853, ChargedSystem, GravitySystem, Leapfrog, Yoshida4, integrate, use_fused_kernels
from simulators._native import pairwise_kernels

pytestmark = pytest.mark.skipif(
    not (shutil.which("c++") and shutil.which("ninja")), reason="no C++ compiler or ninja to build the kernel"
)


def _sample(system, batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    params = system.sample_params(batch, generator=g)
    q, p = system.sample_state(params, generator=g)
    return q, p, params


def _relative(a, b):
    return ((a - b).abs().amax((-1, -2)) / b.abs().amax((-1, -2))).max().item()


SYSTEMS = [
    GravitySystem(5, 3, configuration="cluster"),
    GravitySystem(4, 2),
    ChargedSystem(6, 3),
    ChargedSystem(3, 2, softening=0.0),
]


def _name(system):
    return f"{type(system).__name__}-{system.n_bodies}-{system.dim}d"


@pytest.mark.parametrize("system", SYSTEMS, ids=_name)
def test_the_fused_force_equals_the_pytorch_force_to_round_off(system):
    """Each pair once against PyTorch's full matrix and batched product: float64 round-off, 1e-13 relative
    to the largest force of each system."""
    q, _, params = _sample(system, 256)
    assert system._kernels(q) is not None
    fused = system.force(q, params)
    with use_fused_kernels(False):
        assert system._kernels(q) is None
        plain = system.force(q, params)
    assert _relative(fused, plain) < 1e-13
    assert not torch.equal(fused, plain)  # the kernel ran: its round-off differs


@pytest.mark.parametrize("system", SYSTEMS, ids=_name)
@pytest.mark.parametrize("cls", [Leapfrog, Yoshida4])
def test_one_step_equals_the_pytorch_step_to_round_off(system, cls):
    """One step from the same state: the kernel's forces sum each pair once, PyTorch's the full matrix, so
    they differ by round-off only (float64: 1e-13 relative, a few hundred ulps of the largest force)."""
    assert pairwise_kernels() is not None
    q, p, params = _sample(system, 64)
    h = 1e-3
    with use_fused_kernels(False):
        plain = cls().steps(q, p, h, 1, lambda p: system.velocity(p, params), lambda q: system.force(q, params))
    fused = system.kick_drift_kick(q, p, params, h, 1, cls.weights)
    assert fused is not None
    # the change over one step, not the state, carries the kernel's arithmetic
    assert _relative(fused[1] - p, plain[1] - p) < 1e-12
    assert _relative(fused[0] - q, plain[0] - q) < 1e-12


def test_whole_trajectories_match_the_pytorch_path():
    """200 samples of a planetary system (not chaotic over this horizon): the two paths part by round-off
    growing slowly, far below the integrator's own error."""
    system = GravitySystem(5, 3, configuration="planetary")
    q, p, params = _sample(system, 32)
    t = 0.05 * torch.arange(200, dtype=torch.float64)
    qf, pf = integrate(system, q, p, params, t, method=Yoshida4(substeps=10))
    with use_fused_kernels(False):
        qp, pp = integrate(system, q, p, params, t, method=Yoshida4(substeps=10))
    assert _relative(qf, qp) < 1e-10 and _relative(pf, pp) < 1e-10
    assert not torch.equal(qf, qp)  # the kernel ran: its round-off differs


def test_adaptive_steps_through_a_close_encounter_match_the_pytorch_force():
    """DOP853 takes its steps from the state, so round-off could change its step sequence; on a cluster
    (close encounters) over a short horizon both paths stay within the tolerance's reach."""
    system = GravitySystem(5, 3, configuration="cluster")
    q, p, params = _sample(system, 16, seed=3)
    t = 0.05 * torch.arange(40, dtype=torch.float64)
    method = DOP853(rtol=1e-11, atol=1e-11)
    qf, pf = integrate(system, q, p, params, t, method=method)
    with use_fused_kernels(False):
        qp, pp = integrate(system, q, p, params, t, method=method)
    assert _relative(qf, qp) < 1e-7 and _relative(pf, pp) < 1e-7
    assert not torch.equal(qf, qp)


def test_a_trajectory_is_bit_identical_alone_or_in_any_batch():
    system = GravitySystem(5, 3, configuration="cluster")
    q, p, params = _sample(system, 9)
    t = 0.05 * torch.arange(20, dtype=torch.float64)
    qa, pa = integrate(system, q, p, params, t, method=Yoshida4(substeps=20))
    one = {k: v[4:5] for k, v in params.items()}
    qb, pb = integrate(system, q[4:5], p[4:5], one, t, method=Yoshida4(substeps=20))
    assert torch.equal(qa[4:5], qb) and torch.equal(pa[4:5], pb)


def test_float32_autograd_and_unbatched_states_take_the_pytorch_operations():
    system = GravitySystem(3, 2)
    q, p, params = _sample(system, 2)
    one = {k: v[0] for k, v in params.items()}
    assert system._kernels(q[0]) is None  # the kernels take (batch, n_bodies, dim) only
    assert _relative(system.force(q[0], one).unsqueeze(0), system.force(q, params)[:1]) < 1e-13
    assert system.kick_drift_kick(q.float(), p.float(), {k: v.float() for k, v in params.items()}, 0.01, 1, (1.0,)) is None
    assert system.kick_drift_kick(q.requires_grad_(), p, params, 0.01, 1, (1.0,)) is None


def test_without_a_compiler_one_warning_line_and_the_pytorch_steps(tmp_path):
    code = (
        "import torch\n"
        "from simulators import GravitySystem, Yoshida4, integrate, use_fused_kernels\n"
        "s = GravitySystem(3, 2); g = torch.Generator().manual_seed(0)\n"
        "params = s.sample_params(4, generator=g); q, p = s.sample_state(params, generator=g)\n"
        "t = torch.linspace(0, 1, 5, dtype=torch.float64)\n"
        "a = integrate(s, q, p, params, t, method=Yoshida4(substeps=4))\n"
        "with use_fused_kernels(False):\n"
        "    b = integrate(s, q, p, params, t, method=Yoshida4(substeps=4))\n"
        "print(all(torch.equal(x, y) for x, y in zip(a, b)))\n"
    )
    env = {**os.environ, "CXX": str(tmp_path / "no-compiler"), "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext")}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "True"  # the PyTorch steps, bit for bit
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "C++ N-body kernels unavailable" in lines[0], done.stderr[-3000:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_pytorch_steps_match_the_cpu_kernel():
    system = GravitySystem(5, 3, configuration="cluster")
    q, p, params = _sample(system, 16)
    t = 0.05 * torch.arange(10, dtype=torch.float64)
    qc, pc = integrate(system, q, p, params, t, method=Yoshida4(substeps=20))
    on = {k: v.cuda() for k, v in params.items()}
    qg, pg = integrate(system, q.cuda(), p.cuda(), on, t.cuda(), method=Yoshida4(substeps=20))
    assert _relative(qg.cpu(), qc) < 1e-10 and _relative(pg.cpu(), pc) < 1e-10
