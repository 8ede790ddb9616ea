"""The fused C++ kick-drift-kick kernel of gravity and charges against the PyTorch steps it replaces."""

import os
import shutil
import subprocess
import sys

import pytest
import torch

from simulators import ChargedSystem, GravitySystem, Leapfrog, Yoshida4, integrate
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


@pytest.mark.parametrize("system", SYSTEMS, ids=lambda s: f"{type(s).__name__}-{s.n_bodies}-{s.dim}d")
@pytest.mark.parametrize("cls", [Leapfrog, Yoshida4])
def test_one_step_equals_the_pytorch_step_to_round_off(system, cls):
    """One step from the same state: the kernel's forces sum each pair once, PyTorch's the full matrix, so
    they differ by round-off only (float64: 1e-13 relative, a few hundred ulps of the largest force)."""
    assert pairwise_kernels() is not None
    q, p, params = _sample(system, 64)
    h = 1e-3
    plain = cls(substeps=1, fused=False).steps(q, p, h, 1, lambda p: system.velocity(p, params),
                                                lambda q: system.force(q, params))  # fmt: skip
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
    qp, pp = integrate(system, q, p, params, t, method=Yoshida4(substeps=10, fused=False))
    assert _relative(qf, qp) < 1e-10 and _relative(pf, pp) < 1e-10
    assert not torch.equal(qf, qp)  # the kernel ran: its round-off differs


def test_a_trajectory_is_bit_identical_alone_or_in_any_batch():
    system = GravitySystem(5, 3, configuration="cluster")
    q, p, params = _sample(system, 9)
    t = 0.05 * torch.arange(20, dtype=torch.float64)
    qa, pa = integrate(system, q, p, params, t, method=Yoshida4(substeps=20))
    one = {k: v[4:5] for k, v in params.items()}
    qb, pb = integrate(system, q[4:5], p[4:5], one, t, method=Yoshida4(substeps=20))
    assert torch.equal(qa[4:5], qb) and torch.equal(pa[4:5], pb)


def test_float32_autograd_and_walls_take_the_pytorch_steps():
    system = GravitySystem(3, 2)
    q, p, params = _sample(system, 2)
    assert system.kick_drift_kick(q.float(), p.float(), {k: v.float() for k, v in params.items()}, 0.01, 1, (1.0,)) is None
    assert system.kick_drift_kick(q.requires_grad_(), p, params, 0.01, 1, (1.0,)) is None


def test_without_a_compiler_one_warning_line_and_the_pytorch_steps(tmp_path):
    code = (
        "import torch\n"
        "from simulators import GravitySystem, Yoshida4, integrate\n"
        "s = GravitySystem(3, 2); g = torch.Generator().manual_seed(0)\n"
        "params = s.sample_params(4, generator=g); q, p = s.sample_state(params, generator=g)\n"
        "t = torch.linspace(0, 1, 5, dtype=torch.float64)\n"
        "a = integrate(s, q, p, params, t, method=Yoshida4(substeps=4))\n"
        "b = integrate(s, q, p, params, t, method=Yoshida4(substeps=4, fused=False))\n"
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
