"""Building the C++ kernels: from a regular (non-editable) install, after a killed build, and without a
compiler. Each runs in fresh processes with a fresh extensions folder, so each builds from scratch."""

import os
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(
    not (shutil.which("c++") and shutil.which("ninja")), reason="no C++ compiler or ninja to build the extension"
)

# the fused and the PyTorch form of one model: the same energy and forces, and the kernels really ran
PARITY = """
import sys, torch
import hamilton_lie
from hamilton_lie import LieTransformer, groups, hamiltonian_vector_field
from hamilton_lie.nn import fused_kernels_available, use_fused_kernels
print(hamilton_lie.__file__)
torch.manual_seed(0)
model = LieTransformer(groups.SE2(), ("masses", "k"), dim_hidden=16, num_layers=1, num_heads=2, lift_samples=2).double().eval()
q, p = torch.randn(3, 6, 2, dtype=torch.float64), torch.randn(3, 6, 2, dtype=torch.float64)
params = {"masses": torch.rand(3, 6, dtype=torch.float64) + 0.5, "k": torch.rand(3, 6, dtype=torch.float64)}
fast = (model(q, p, params), *hamiltonian_vector_field(model, q, p, params))
with use_fused_kernels(False):
    plain = (model(q, p, params), *hamiltonian_vector_field(model, q, p, params))
for a, b in zip(fast, plain):
    torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)
print("fused" if fused_kernels_available() else "pytorch")
"""


def _python(code: str, env: dict, cwd, timeout: float):
    return subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def test_a_regular_install_builds_its_kernels_even_after_a_killed_first_build(root, tmp_path):
    """``pip install .`` (not editable) must ship every source the build needs, the header too. Its first
    build is killed (kill -9) midway, which leaves torch's lock file behind: the next process must still
    build the kernels, within a time limit, instead of waiting on that file forever, and they must match
    the PyTorch form."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(target), str(root)], check=True, capture_output=True, timeout=600)  # fmt: skip
    env = {"PYTHONPATH": str(target), "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext")}
    build = "from hamilton_lie.nn import fused_kernels_available; fused_kernels_available()"
    first = subprocess.Popen([sys.executable, "-c", build], env={**os.environ, **env}, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "ext").glob("*/lock")):
        assert time.monotonic() < deadline and first.poll() is None, "the build never started"
        time.sleep(0.1)
    first.kill()
    first.wait()
    assert list((tmp_path / "ext").glob("*/lock"))  # what the killed build left behind
    done = _python(PARITY, env, tmp_path, 900)
    assert done.returncode == 0, done.stderr[-3000:]
    installed, used = done.stdout.split()[-2:]
    assert installed.startswith(str(target)) and used == "fused", done.stdout
    assert "WARNING" not in done.stderr, done.stderr[-3000:]


def test_without_a_compiler_one_warning_line_and_the_pytorch_path(tmp_path):
    done = _python(PARITY + "import logging\n", {"CXX": str(tmp_path / "no-compiler"),
                   "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext")}, tmp_path, 300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "pytorch"
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "C++ attention kernels unavailable" in lines[0], done.stderr[-3000:]
