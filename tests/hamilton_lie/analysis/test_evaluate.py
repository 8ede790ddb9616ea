"""evaluate, plot and demo: every metric of hamilton_lie.analysis in the JSON, every figure written, clean errors,
and rotation robustness telling a T(2) model from an invariant one on oriented data."""

import json

import pytest
import torch
from matplotlib.figure import Figure

from hamilton_lie import analysis, check_dataset, generate_dataset, groups, load_config, plotting, train
from hamilton_lie.analysis import equivariance_error, evaluate, format_metrics, load_trained
from hamilton_lie.analysis._evaluate import N_EXAMPLES
from hamilton_lie.cli import main
from hamilton_lie.data import TrajectoryDataset, parse_recipe, recipe_path
from simulators import SpringSystem, random_rotations

# the demo's oriented spring data (12x wider along x than along y), fewer systems
ORIENTED = """
system = "springs"
n_bodies = 6
dim = 2
dt = 0.02
n_steps = 30
integrator = "yoshida4"
substeps = 20
seed = 0
[splits]
train = 200
val = 16
test = 32
[settings]
q_scale = [0.6, 0.05]
p_scale = [0.6, 0.05]
"""
DOCUMENTED_METRICS = ("mse", "rollout_rel_error", "energy_drift", "equivariance_error", "rotation_robustness")


@pytest.fixture(scope="module")
def oriented_h5(tmp_path_factory):
    out = tmp_path_factory.mktemp("oriented") / "oriented.h5"
    generate_dataset(parse_recipe(ORIENTED, "oriented"), out)
    return out


def _train(data, out, preset, *overrides):
    config = load_config(preset, [f"data.path={data}", f"train.out={out}", "train.checkpoint_every=1000", *overrides])
    train(config)
    return out


@pytest.fixture(scope="module")
def mlp_run(oriented_h5, tmp_path_factory):
    return _train(oriented_h5, tmp_path_factory.mktemp("runs") / "mlp", "demo-mlp", "train.epochs=20")


@pytest.fixture(scope="module")
def t2_run(oriented_h5, tmp_path_factory):
    """A small T(2) LieTransformer trained on the oriented data (never shown a rotated system)."""
    return _train(
        oriented_h5,
        tmp_path_factory.mktemp("runs") / "t2",
        "demo-t2",
        "model.output_scale=1.0",
        "model.pair_distance=false",
        'model.logits="sum"',
        "model.fused_kernels=true",
        "model.dim_hidden=24",
        "train.epochs=15",
        "train.lr=1e-2",
        "train.batch_size=25",
    )


def test_evaluate_json_has_every_design_metric(mlp_run, oriented_h5, capsys):
    code = main(["evaluate", str(mlp_run), "--data", str(oriented_h5), "--rollout-steps", "20"])
    out, _ = capsys.readouterr()
    assert code == 0, out
    metrics = json.loads((mlp_run / "metrics.json").read_text())
    for key in DOCUMENTED_METRICS:
        assert key in metrics, key
    assert len(metrics["t"]) == 20 and metrics["rollout_steps"] == 20 and metrics["n_trajectories"] == 32
    drifts = [metrics["energy_drift"][k] for k in ("true", "learned")]
    drifts += [metrics["momentum_drift"][k] for k in ("linear", "angular")]
    for summary in (metrics["rollout_rel_error"], *drifts):
        assert set(summary) == {"geomean", "median", "q25", "q75"} and len(summary["median"]) == 20
    assert all(summary["q75"][0] == 0.0 for summary in drifts)  # measured from the rollout's own start
    assert metrics["rollout_rel_error"]["q75"][0] < 1e-7  # the float32 model's start is the data rounded
    assert metrics["equivariance_error"]["group"] == "SE2"
    assert metrics["rotation_robustness"]["ratio"] > 0 and len(metrics["rotation_robustness"]["angles"]) == 32
    assert "test MSE" in out and "rotation ratio" in out and "metrics.json" in out
    assert (mlp_run / "rollouts.npz").exists()
    # the baselines' rows beside the model's, scored on the same windows as the model
    assert "zero force" in out and "held" in out
    windows = TrajectoryDataset(oriented_h5, "test", 5, windows="random", seed=0)
    squared = []
    for w in windows:
        t = (w["t"] - w["t"][0]).view(-1, 1, 1)
        q = w["q"][0] + t * w["p"][0] / w["params"]["masses"].unsqueeze(-1)
        squared.append(torch.cat([(q - w["q"]).flatten(), (w["p"][0] - w["p"]).flatten()]).pow(2).mean())
    assert metrics["baselines"]["zero_force"]["mse"] == pytest.approx(float(torch.stack(squared).mean()), rel=1e-12)
    assert metrics["baselines"]["held"]["rollout_rel_error"]["median"][0] == 0.0
    assert metrics["baselines"]["held"]["mse"] > metrics["baselines"]["zero_force"]["mse"] > 0


def test_rotation_robustness_separates_t2_from_exact_invariance(t2_run, oriented_h5):
    """Trained on systems elongated along x, a T(2) model is worse on rotated systems; the true
    dynamics (exactly invariant) give 1 in test_analysis.py."""
    metrics, _ = evaluate(t2_run, oriented_h5, rollout_steps=30)
    assert metrics["mse"] < 0.01  # it did learn the unrotated systems (untrained: ~0.2)
    assert metrics["rotation_robustness"]["ratio"] > 1.5, metrics["rotation_robustness"]["ratio"]
    assert metrics["equivariance_error"]["energy"]["median"] > 1e-4


def test_group_errors_and_drift_on_the_physical_scale(t2_run, oriented_h5):
    """H's SE(2) error is |H(g x) - H(x)| over the true T(0) + |V(0)| (a learned potential's constant is
    arbitrary), the vector field's is that of the network's V alone (the exact kinetic term is
    equivariant and would dilute it), on the elements evaluate draws; both drifts share that scale."""
    n = N_EXAMPLES  # the examples then hold the learned H along every rollout
    metrics, examples = evaluate(t2_run, oriented_h5, rollout_steps=5, n_trajectories=n)
    model = load_trained(t2_run, check_dataset(oriented_h5).attrs)[0].double()
    test = analysis.TestSet.read(oriented_h5, n, 5)  # (through the module: pytest would collect a Test* name)
    q0, p0 = test.z[:, 0, 0], test.z[:, 0, 1]
    system = SpringSystem(6, 2)
    scale = system.kinetic(p0, test.params) + system.potential(q0, test.params)
    errors = {}
    for name, energy in {"learned": model.learned_energy, "whole": model}.items():
        g = torch.Generator().manual_seed(0)
        random_rotations((n,), 2, g, dtype=torch.float64)  # evaluate's rotations come first from its generator
        errors[name] = equivariance_error(energy, groups.SE2(), q0, p0, test.params, 4, g, energy_scale=scale)
    reported = metrics["equivariance_error"]
    assert reported["energy"]["median"] == pytest.approx(float(errors["learned"]["energy"].median()), rel=1e-9)
    assert reported["vector_field"]["median"] == pytest.approx(float(errors["learned"]["vector_field"].median()), rel=1e-9)
    # the same energy change either way (the kinetic term cancels); the whole field is diluted by p / m
    torch.testing.assert_close(errors["whole"]["energy"], errors["learned"]["energy"], rtol=1e-9, atol=0)
    assert (errors["whole"]["vector_field"] < errors["learned"]["vector_field"]).all()
    learned_h = torch.as_tensor(examples["energy_learned"])
    drift = (learned_h[:, -1] - learned_h[:, 0]).abs() / scale
    assert metrics["energy_drift"]["learned"]["median"][-1] == pytest.approx(float(drift.quantile(0.5)), rel=1e-12)


def test_plot_writes_every_figure(mlp_run, oriented_h5, tmp_path, capsys):
    assert main(["evaluate", str(mlp_run), "--data", str(oriented_h5), "--rollout-steps", "10"]) == 0
    capsys.readouterr()
    code = main(["plot", str(mlp_run), "--out", str(tmp_path / "fig"), "--pdf"])
    out, err = capsys.readouterr()
    assert code == 0, err
    names = {p.name for p in (tmp_path / "fig").iterdir()}
    expected = {"rollout_error", "energy", "momentum", "rotation", f"trajectories_{mlp_run.name}", "training"}
    assert names == {f"{n}.{ext}" for n in expected for ext in ("png", "pdf")}
    assert all((tmp_path / "fig" / n).stat().st_size > 5000 for n in names)


def test_training_curves_show_gradient_norms_where_the_records_have_them(mlp_run):
    history = plotting.load_run(mlp_run)["history"]
    assert all(r["grad_norm_max"] > 0 for r in history)
    fig = plotting.plot_training({"a": history})
    assert len(fig.axes) == 2
    (line,) = fig.axes[1].lines
    assert list(line.get_ydata()) == [r["grad_norm_max"] for r in history]
    older = [{k: v for k, v in r.items() if k != "grad_norm_max"} for r in history]
    assert len(plotting.plot_training({"old": older}).axes) == 1


def test_figures_have_labelled_axes(mlp_run, oriented_h5):
    metrics, examples = evaluate(mlp_run, oriented_h5, rollout_steps=10, n_trajectories=8)
    history = plotting.load_run(mlp_run)["history"]
    figures = [
        plotting.plot_rollout_error({"a": metrics, "b": metrics}),
        plotting.plot_energy_drift({"a": metrics}),
        plotting.plot_momentum_drift({"a": metrics}),
        plotting.plot_rotation_robustness({"a": metrics}),
        plotting.plot_trajectories(examples),
        plotting.plot_training({"a": history}),
    ]
    for fig in figures:
        assert isinstance(fig, Figure)
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel(), fig
            assert ax.lines or ax.collections
    assert len(figures[0].axes[0].get_legend().get_texts()) == 2
    assert "a" in format_metrics({"a": metrics}, markdown=True).splitlines()[2]


def _one_error_line(code, err, *fragments):
    lines = [line for line in err.strip().splitlines() if line.strip() and "evaluate rollouts" not in line]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_evaluate_and_plot_bad_input(mlp_run, tiny_h5, tmp_path, capsys):
    _one_error_line(main(["evaluate", str(tmp_path / "nothing")]), capsys.readouterr()[1], "no such checkpoint")
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    code = main(["evaluate", str(tmp_path / "broken.pt"), "--data", str(tiny_h5)])
    _one_error_line(code, capsys.readouterr()[1], "broken.pt", "corrupted")
    old = torch.load(mlp_run / "best.pt", weights_only=False)
    del old["format"]  # as written before the head layout changed
    torch.save(old, tmp_path / "old.pt")
    code = main(["evaluate", str(tmp_path / "old.pt"), "--data", str(tiny_h5)])
    _one_error_line(code, capsys.readouterr()[1], "old.pt", "checkpoint format 1", "train the model again")
    three_d = tmp_path / "three.h5"
    generate_dataset(
        parse_recipe(
            ORIENTED.replace("dim = 2", "dim = 3").replace("[0.6, 0.05]", "0.3").replace("train = 200", "train = 2"),
            "three",
        ),
        three_d,
    )
    code = main(["evaluate", str(mlp_run), "--data", str(three_d)])
    _one_error_line(code, capsys.readouterr()[1], "6 bodies in 2D", "3D")
    code = main(["evaluate", str(mlp_run), "--rollout-steps", "1"])
    _one_error_line(code, capsys.readouterr()[1], "--rollout-steps")
    (tmp_path / "empty").mkdir()
    _one_error_line(main(["plot", str(tmp_path / "empty")]), capsys.readouterr()[1], "metrics")
    _one_error_line(main(["plot", str(mlp_run), str(mlp_run)]), capsys.readouterr()[1], "--out")


def test_demo_end_to_end_on_a_small_setting(root, tmp_path, capsys):
    recipe = tmp_path / "demo.toml"
    recipe.write_text(
        (recipe_path("demo"))
        .read_text()
        .replace("train = 400", "train = 50")
        .replace("test = 100", "test = 8")
        .replace("n_steps = 60", "n_steps = 12")
    )
    code = main(["demo", "--recipe", str(recipe), "--out-dir", str(tmp_path / "demo"), "--epochs", "1", "--seeds", "0", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    for run in ("gaattention", "t2", "mlp", "gaattention-seed1", "t2-seed1", "mlp-seed1"):
        assert (tmp_path / "demo" / run / "metrics.json").exists(), run
    for figure in ("rotation", "overview"):
        assert (tmp_path / "demo" / "figures" / f"{figure}.png").exists()
    table = (tmp_path / "demo" / "summary.md").read_text()
    assert table.strip() in out
    for label in ("gaattention (demo-gaattention)", "t2 (demo-t2)", "mlp (demo-mlp)", "median over seeds [0, 1]"):
        assert label in table
    seed0, seed1 = (json.loads((tmp_path / "demo" / run / "metrics.json").read_text()) for run in ("mlp", "mlp-seed1"))
    # the median of two seeds is their mean, as the summary's median row says
    row = next(line for line in table.splitlines()[::-1] if line.startswith("| mlp (demo-mlp)"))
    assert f"{(seed0['mse'] + seed1['mse']) / 2:.3g}" == row.split("|")[2].strip()
    assert seed0["mse"] != seed1["mse"]
