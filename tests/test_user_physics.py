"""The walk-through of docs/extending.md, run as a user would: a system in a file of their own, outside the
package, through the command line (generate, info, train, evaluate)."""

import ast
import json
import re
import subprocess
import sys

import pytest
import torch

from simulators import DOP853, load_system


def _blocks(root, language):
    return re.findall(rf"```{language}\n(.*?)```", (root / "docs" / "extending.md").read_text(), flags=re.S)


def test_the_documented_system_is_the_shipped_example_and_short(root):
    code, recipe = _blocks(root, "python")[0], _blocks(root, "toml")[0]
    assert code == (root / "examples" / "lennard_jones.py").read_text()
    assert recipe == (root / "examples" / "lennard-jones.toml").read_text()
    tree = ast.parse(code)
    statements = [n for n in ast.walk(tree) if isinstance(n, ast.stmt) and not isinstance(n, (ast.ClassDef, ast.FunctionDef))]
    docstrings = [n for n in statements if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)]
    assert len(statements) - len(docstrings) <= 20  # "a new system in about 20 lines"
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names]
    modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [x for x in imported + modules if x.startswith("_") or "._" in x]  # public names only


def _cli(args, cwd, timeout=600):
    done = subprocess.run([sys.executable, "-m", "hamilton_lie", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_walk_through_runs_from_a_user_folder(root, tmp_path):
    code, recipe = _blocks(root, "python")[0], _blocks(root, "toml")[0]
    (tmp_path / "lennard_jones.py").write_text(code)
    small = re.sub(r"train = \d+", "train = 20", re.sub(r"(val|test) = \d+", r"\1 = 4", recipe))
    (tmp_path / "lj.toml").write_text(small)
    out = _cli(["generate", "lj.toml"], tmp_path)
    error = float(re.search(r"max relative energy error (\S+)\)", out).group(1))
    assert error < 1e-6
    assert "not loaded: --load-system" in _cli(["info", "lj.h5"], tmp_path)
    _cli(["train", "demo-t2", "--set", "data.path=lj.h5", "--set", 'model.scalar_features=["masses"]',
          "--set", "train.out=run", "--set", "train.epochs=1", "--set", "train.batch_size=10",
          "--set", "model.dim_hidden=8", "--set", "model.num_layers=1"], tmp_path)  # fmt: skip
    unloaded = _cli(["evaluate", "run", "--rollout-steps", "5"], tmp_path)
    assert "energy drift is measured along the learned H only" in unloaded
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["energy_drift"]) == {"learned"}
    _cli(["--load-system", "lennard_jones.py:LennardJones", "evaluate", "run", "--rollout-steps", "5"], tmp_path)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["energy_drift"]) == {"true", "learned"} and "notes" not in metrics


def test_the_example_data_match_a_high_accuracy_reference(root):
    """The recipe's fixed steps against DOP853 at 1e-13 on the same initial states: the error the data card of
    a user system would state (measured 1.3e-5 at most over t = 4.95 on these four)."""
    from hamilton_lie.data import load_recipe

    recipe = load_recipe(root / "examples" / "lennard-jones.toml")
    system = recipe.build_system()
    assert type(system) is load_system(str(root / "examples" / "lennard_jones.py") + ":LennardJones")
    g = torch.Generator().manual_seed(0)
    params = system.sample_params(4, generator=g)
    q0, p0 = system.sample_state(params, generator=g)
    t = recipe.dt * torch.arange(recipe.n_steps, dtype=torch.float64)
    from simulators import integrate

    q, _ = integrate(system, q0, p0, params, t, method=recipe.build_integrator())
    q_ref, _ = integrate(system, q0, p0, params, t, method=DOP853(rtol=1e-13, atol=1e-13))
    assert (q - q_ref).abs().max() < 1e-4


@pytest.mark.parametrize("reference", ["lennard_jones.py:Nope", "missing.py:LennardJones"])
def test_a_bad_reference_is_one_line(root, tmp_path, reference):
    (tmp_path / "lennard_jones.py").write_text(_blocks(root, "python")[0])
    (tmp_path / "lj.toml").write_text(_blocks(root, "toml")[0].replace("lennard_jones.py:LennardJones", reference))
    done = subprocess.run([sys.executable, "-m", "hamilton_lie", "generate", "lj.toml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "lj.toml: system:" in lines[0], done.stderr
