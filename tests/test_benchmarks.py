"""The benchmark scripts still run (small sizes); their figures are reported, not asserted."""

import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, args",
    [
        ("simulate.py", ["--quick", "--part", "speed", "--part", "lieconv"]),
        ("model.py", ["--quick", "--part", "throughput", "--part", "invariance", "--part", "scaling"]),
        ("scale.py", ["--quick"]),
        ("train_step.py", ["--quick"]),
        ("springs.py", ["--quick", "--models", "t2", "mlp"]),
    ],
)
def test_benchmark_script_runs(root, tmp_path, script, args):
    out = [] if script == "springs.py" else ["--out", str(tmp_path / "out.json")]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / script), *args, *out],
        cwd=root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "|" in done.stdout  # printed a table
