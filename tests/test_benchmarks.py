"""The benchmark scripts still run (small sizes); their figures are reported, not asserted."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import springs  # noqa: E402  (the data-efficiency figure lives with the benchmark that owns its rows)
from common import RECORDED_KEYS, SCHEMA  # noqa: E402

from hamilton_lie.data import recipe_path


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, args",
    [
        ("simulate.py", ["--quick", "--part", "speed", "--part", "lieconv", "--part", "rebound"]),
        ("model.py", ["--quick", "--part", "throughput", "--part", "invariance", "--part", "scaling"]),
        ("scale.py", ["--quick"]),
        ("train_step.py", ["--quick", "--batches", "4", "8"]),
        ("springs.py", ["--quick", "--models", "t2", "mlp", "--seeds", "0", "1"]),
    ],
)
def test_benchmark_script_runs(root, tmp_path, script, args):
    if script == "springs.py":
        out = []
    elif script in ("simulate.py", "model.py"):  # one file per part
        out = ["--out-dir", str(tmp_path)]
    else:
        out = ["--out", str(tmp_path / "out.json")]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / script), *args, *out],
        cwd=root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "|" in done.stdout  # printed a table
    if script == "train_step.py":
        scaling = json.loads((tmp_path / "out.json").read_text())["batch_scaling"]
        assert [r["batch"] for r in scaling] == [4, 8] and all(r["median_step_seconds"] > 0 for r in scaling)
    written = sorted(tmp_path.glob("*.json"))
    if script == "simulate.py":
        assert {f.name for f in written} >= {"simulate_speed.json", "simulate_lieconv.json"}
    if script == "model.py":
        assert {f.name for f in written} == {"model_throughput.json", "model_invariance.json", "model_scaling.json"}
    for f in written:
        assert_shared_layout(json.loads(f.read_text()), f.name)


def assert_shared_layout(record: dict, name: str) -> None:
    """A results file ties its figures to a commit, a torch version, a device and a date."""
    assert record["schema"] == SCHEMA, name
    rec = record["recorded"]
    assert set(RECORDED_KEYS) <= set(rec) <= {*RECORDED_KEYS, "note"}, name
    assert re.fullmatch(r"[0-9a-f]{40}(\+changes)?", rec["commit"]), name
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", rec["torch"]), name
    assert rec["device"] == "cpu" or re.fullmatch(r"cuda \(.+\)", rec["device"]), name
    assert isinstance(rec["threads"], int) and rec["threads"] > 0, name
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rec["date"]), name


def test_every_committed_result_records_its_commit_torch_device_and_date(root):
    files = sorted((root / "benchmarks" / "results").glob("*.json"))
    assert len(files) > 10
    for f in files:
        assert_shared_layout(json.loads(f.read_text()), f.name)


@pytest.mark.slow
def test_springs_ablation_is_named_by_its_tag(root):
    def springs(*args):
        script = str(root / "benchmarks" / "springs.py")
        return subprocess.run([sys.executable, script, *args], cwd=root, capture_output=True, text=True, timeout=600)

    done = springs("--quick", "--models", "t2-range", "--set", "model.pair_range=1.5", "--tag", "r1.5")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| t2-range-r1.5 | 16 |" in done.stdout
    refused = springs("--quick", "--set", "model.pair_range=1.5")
    assert refused.returncode == 2 and "--tag" in refused.stderr


def test_worst_window_reports_the_true_spring_forces(root, tiny_h5, tmp_path):
    from hamilton_lie import TrajectoryDataset, load_config, train

    run = tmp_path / "mlp"
    train(load_config("demo-mlp", [f"data.path={tiny_h5}", f"train.out={run}", "train.epochs=1"]))
    out = tmp_path / "worst.json"
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "worst_window.py"), str(run),
         "--data", str(tiny_h5), "--system", "3", "--out", str(out)],
        cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    # the springs' force in closed form (simulators/systems/_springs.py): F_i = -2 S k_i (q_i - c), S = sum k,
    # c = sum k q / S; not the autograd path the script takes
    item = TrajectoryDataset(tiny_h5, "test", 5, windows="random", seed=12345)[3]
    q, k = item["q"][0], item["params"]["k"]
    c = (k[:, None] * q).sum(0) / k.sum()
    expected = (2 * k.sum() * k[:, None] * (q - c)).norm(dim=-1)
    assert record["start"] == item["start"]
    np.testing.assert_allclose([float(b["true force"]) for b in record["bodies"]], expected, atol=1e-3)
    (errors,) = record["force_error"].values()
    assert len(errors) == 6 and all(np.isfinite(errors))


def test_test_draws_evaluates_fresh_test_splits(root, tiny_h5, tmp_path):
    from hamilton_lie import HamiltonianDynamics, TrajectoryDataset, load_config, train
    from hamilton_lie.analysis import load_trained

    run = tmp_path / "mlp"
    train(load_config("demo-mlp", [f"data.path={tiny_h5}", f"train.out={run}", "train.epochs=1"]))
    out, cache = tmp_path / "draws.json", tmp_path / "cache"
    command = [
        sys.executable, str(root / "benchmarks" / "test_draws.py"), str(run), "--data", str(tiny_h5),
        "--recipe", str(recipe_path("tiny")), "--draws", "2", "--systems", "6",
        "--cache", str(cache), "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (record,) = json.loads(out.read_text())["runs"]
    draws = record["draws"]
    assert [d["seed"] for d in draws] == [0, 1, 2] and [d["systems"] for d in draws[1:]] == [6, 6]
    drawn = sorted(cache.glob("*.h5"))
    assert len(drawn) == 2
    # fresh seeds give other systems than the benchmark's split and than each other
    firsts = [TrajectoryDataset(f, "test", 5)[0]["q"][0] for f in (tiny_h5, *drawn)]
    assert not torch.equal(firsts[0], firsts[1]) and not torch.equal(firsts[1], firsts[2])
    # draw 1's mean, recomputed through HamiltonianDynamics.rollout on the same windows (seed 12345)
    windows = TrajectoryDataset(drawn[0], "test", 5, windows="random", seed=12345)
    model, _, _ = load_trained(run, windows.attrs)
    dtype = next(model.parameters()).dtype
    errors = []
    for item in windows:
        params = {k: v[None].to(dtype) for k, v in item["params"].items()}
        q, p, t = item["q"].to(dtype), item["p"].to(dtype), item["t"].to(dtype)
        z = HamiltonianDynamics(model).rollout(q[:1], p[:1], params, t, method="rk4")[0]
        errors.append(float((z.detach() - torch.stack([q, p], 1)).pow(2).mean()))
    assert draws[1]["mean"] == pytest.approx(float(np.mean(errors)), rel=1e-4)
    # the cached draws are reused: a second run gives the same numbers
    again = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and json.loads(out.read_text())["runs"][0]["draws"] == draws


def test_weight_drift_rebuilds_the_initial_weights(root, tiny_h5, tmp_path):
    """A run trained with a negligible learning rate shows no drift (so the script rebuilt exactly the
    trainer's initial weights); the same run with the preset's rate shows drift in every kind that
    gets a gradient."""
    from hamilton_lie import load_config, train

    runs = {}
    for lr in ("1e-12", "1e-3"):
        runs[lr] = tmp_path / f"lr{lr}"
        overrides = [f"data.path={tiny_h5}", f"train.out={runs[lr]}", "train.epochs=2", f"train.lr={lr}"]
        train(load_config("demo-mlp", overrides))
    out = tmp_path / "drift.json"
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "weight_drift.py"), *map(str, runs.values()),
         "--data", str(tiny_h5), "--out", str(out)],
        cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    still, moved = (record["runs"][str(runs[lr])]["kinds"] for lr in ("1e-12", "1e-3"))
    assert still.keys() == moved.keys() and len(still) >= 4
    *trained, energy_offset = still  # the output bias: a constant in H, so no gradient reaches it
    for kind in still:
        assert still[kind]["change"] < 1e-9, kind  # Adam moves each weight by at most ~lr per step
    for kind in trained:
        assert moved[kind]["change"] > 1e-5, kind
    assert moved[energy_offset]["change"] == 0.0


def test_springs_draws_the_data_efficiency_figure_from_its_results(root, tmp_path):
    out = tmp_path / "figure.png"
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "springs.py"), "--figure", str(out)],
        cwd=root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.stat().st_size > 5000


def test_data_efficiency_draws_the_median_over_seeds_and_every_run():
    rows = [{"model": "t2", "n_train": 100, "test_mse_5": v} for v in (1e-4, 3e-5, 2e-3)]
    rows.append({"model": "t2", "n_train": 400, "test_mse_5": 1e-5})
    fig = springs.data_efficiency(rows)
    (ax,) = fig.axes
    (line,) = ax.lines
    np.testing.assert_array_equal(line.get_xdata(), [100, 400])
    np.testing.assert_array_equal(line.get_ydata(), [1e-4, 1e-5])
    (dots,) = ax.collections
    assert sorted(map(tuple, dots.get_offsets().data)) == sorted((r["n_train"], r["test_mse_5"]) for r in rows)


def test_data_efficiency_tells_apart_models_whose_colours_repeat():
    """More models than twice the colours (the springs study has 18): every model's style differs."""
    rows = [{"model": f"m{i:02d}", "n_train": n, "test_mse_5": 1e-3 / (i + 1)} for i in range(20) for n in (100, 400)]
    (ax,) = springs.data_efficiency(rows).axes
    styles = {(line.get_color(), line.get_linestyle(), line.get_marker()) for line in ax.lines}
    assert len(styles) == 20
    assert [line.get_linestyle() for line in ax.lines].count("--") == 8
    assert [line.get_linestyle() for line in ax.lines].count("-.") == 4
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"m{i:02d}" for i in range(20)]


def test_benchmark_pages_show_the_tables_their_results_generate(root):
    """Every generated table on the benchmark pages and data cards is what `report.py` makes of the JSON."""
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "report.py"), "--check"], cwd=root, capture_output=True, text=True
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    import report

    names = {m.group("name") for page in report.PAGES for m in report.BLOCK.finditer(page.read_text())}
    assert names == set(report.TABLES)  # every table is shown somewhere


def test_report_replaces_a_stale_table_and_names_its_source(root):
    import report

    stale = "Intro.\n\n<!-- table: model-invariance -->\n| typed | by hand |\n<!-- end table -->\nAfter.\n"
    fresh = report.render(stale)
    results = json.loads((root / "benchmarks" / "results" / "model_invariance.json").read_text())
    assert "typed" not in fresh and fresh.startswith("Intro.") and fresh.endswith("<!-- end table -->\nAfter.\n")
    assert fresh.count("| SE(") == len(results["rows"])
    assert f"model_invariance.json`: {results['recorded']['commit'][:7]}" in fresh
    assert report.render(fresh) == fresh


def test_benchmark_page_is_a_reference_not_a_log(root):
    assert len((root / "benchmarks" / "README.md").read_text().splitlines()) <= 150
    assert len((root / "README.md").read_text().splitlines()) <= 150
