"""The trainer: learning, exact resumption, divergence handling, configs and presets, CLI errors."""

import json
import math
import re
from dataclasses import replace

import pytest
import torch
from torch.utils.data import default_collate

from hamilton_lie import HamiltonianDynamics, TrajectoryDataset, load_config, train
from hamilton_lie.cli import main
from hamilton_lie.nn import KNN
from hamilton_lie.training import (
    ConfigError,
    Distributed,
    TrainingDiverged,
    _loss,
    build_model,
    evaluate_mse,
    initial_model,
    load_checkpoint,
    preset_names,
    to_device,
    window_loss,
)

SMALL = ["model.dim_hidden=16", "model.num_layers=1", "model.num_heads=2", "train.batch_size=16"]


def _config(tiny_h5, out, *overrides, preset="springs-lietransformer-t2"):
    return load_config(preset, [f"data.path={tiny_h5}", f"train.out={out}", *SMALL, *overrides])


def test_training_lowers_the_loss(tiny_h5, tmp_path):
    config = _config(tiny_h5, tmp_path / "run", "train.epochs=12", "train.lr=1e-2", "model.dim_hidden=32")
    windows = TrajectoryDataset(tiny_h5, "train", 5, windows="random", seed=0)
    torch.manual_seed(config.train.seed)
    untrained = HamiltonianDynamics(build_model(config, windows.attrs))
    before = evaluate_mse(untrained, windows, 64, "rk4", 1, torch.float32, "cpu")
    result = train(config)
    assert result.finished and result.steps == 48
    trained = HamiltonianDynamics(build_model(config, windows.attrs))
    trained.model.load_state_dict(load_checkpoint(tmp_path / "run" / "last.pt")["model"])
    after = evaluate_mse(trained, windows, 64, "rk4", 1, torch.float32, "cpu")
    assert after < 0.5 * before, (before, after)
    # per window: one MSE per window whose mean is the mean MSE (every window has the same size)
    errors = evaluate_mse(trained, windows, 64, "rk4", 1, torch.float32, "cpu", per_window=True)
    assert errors.shape == (len(windows),) and bool((errors >= 0).all())
    assert math.isclose(float(errors.double().mean()), after, rel_tol=1e-5)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, 13))
    assert (tmp_path / "run" / "best.pt").exists() and (tmp_path / "run" / "config.toml").exists()


def test_metrics_record_the_largest_gradient_norm_before_clipping(tiny_h5, tmp_path):
    """The recorded norm of the first step against one computed here from the same start (the seeded
    initial model and epoch 0's windows) through autograd, with clipping on so that a norm recorded
    after clipping (1e-9) would fail. All windows form one batch, so the batch order cannot matter."""
    n = len(TrajectoryDataset(tiny_h5, "train", 5, windows="random", seed=0))
    extra = ["train.epochs=1", f"train.batch_size={n}", "train.grad_clip=1e-9"]
    config = _config(tiny_h5, tmp_path / "run", *extra)
    train(config)
    (record,) = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]

    windows = TrajectoryDataset(tiny_h5, "train", 5, windows="random", seed=config.train.seed)
    windows.set_epoch(0)
    batch = to_device(default_collate([windows[i] for i in range(n)]), torch.float32, "cpu")
    model = initial_model(config, windows.attrs)
    window_loss(HamiltonianDynamics(model), batch, "rk4", 1).backward()
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None]))
    assert float(norm) > 1e3 * config.train.grad_clip
    assert math.isclose(record["grad_norm_max"], float(norm), rel_tol=1e-4), (record["grad_norm_max"], float(norm))


@pytest.mark.parametrize("killed_at", [5, 7])
def test_kill_and_resume_gives_identical_weights(tiny_h5, tmp_path, killed_at):
    """SE(2) with random lifts, so the RNG state must be restored too. Checkpoints every 2 steps; a
    kill after step 5 loses step 5 (resume from step 4), after step 7 resumes mid-epoch from step 6."""
    extra = ["model.group=SE2", "model.lift_samples=2", "train.epochs=3", "train.checkpoint_every=2"]
    whole = train(_config(tiny_h5, tmp_path / "whole", *extra))
    config = _config(tiny_h5, tmp_path / "killed", *extra)
    partial = train(config, stop_after_steps=killed_at)
    assert not partial.finished and partial.steps == killed_at
    resumed = train(config, resume=True)
    assert resumed.finished and resumed.steps == whole.steps == 12
    a = load_checkpoint(tmp_path / "whole" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "killed" / "last.pt")["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_h5, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = _loss.to_device

    def poisoned(batch, dtype, device):
        out = original(batch, dtype, device)
        if "q" in out:
            calls["n"] += 1
            if calls["n"] == 6:  # after 4 training and 1 validation batch: training step 5, in epoch 2
                out["q"][0, 0, 0, 0] = float("nan")
        return out

    monkeypatch.setattr(_loss, "to_device", poisoned)
    config = _config(tiny_h5, tmp_path / "run", "train.epochs=3", "train.checkpoint_every=100")
    with pytest.raises(TrainingDiverged, match="non-finite training loss at step 5 .* keeps the last good state"):
        train(config)
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert (state["epoch"], state["step"]) == (1, 4)  # written at the end of epoch 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_refuses_to_overwrite_a_run_or_resume_nothing(tiny_h5, tmp_path):
    config = _config(tiny_h5, tmp_path / "run", "train.epochs=1")
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(config, resume=True)
    train(config)
    before = (tmp_path / "run" / "last.pt").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        train(config)
    assert (tmp_path / "run" / "last.pt").read_bytes() == before


@pytest.mark.parametrize("name", preset_names())
def test_presets_build(name):
    config = load_config(name)
    model = build_model(config, {"n_bodies": 6, "dim": 2})
    assert config.data.chunk_len == 5
    if name.startswith("springs-"):  # the reference protocol; the demo's presets are small and quick
        assert config.train.batch_size == 100 and config.train.lr == 1e-3
    if name == "springs-lietransformer-t2":
        assert sum(w.numel() for w in model.parameters()) == 841_641


def test_tuned_t2_preset_is_the_reference_with_four_departures():
    """``springs-lietransformer-t2-tuned`` differs from the reference preset only where its comment says."""
    reference, tuned = load_config("springs-lietransformer-t2"), load_config("springs-lietransformer-t2-tuned")
    departures = {"output_scale": 30.0, "pair_distance": True, "logits": "product", "pair_range": 3.0}
    assert tuned.model.options == {**reference.model.options, **departures}
    assert tuned.data == reference.data
    assert replace(tuned.train, out=reference.train.out) == reference.train


def test_overrides_are_toml_or_plain_strings():
    config = load_config("springs-mlp", ["train.out=runs/a", 'train.device="cpu"', "train.lr=2e-4", "model.hidden=8"])
    assert config.train.out == "runs/a" and config.train.lr == 2e-4 and config.model.options["hidden"] == 8


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.colour=1"], "unknown key 'train.colour'"),
        (["train.epochs=ten"], "train.epochs must be an integer"),
        (["train.lr=true"], "train.lr must be a number"),
        (["optimiser.lr=1"], "unknown section [optimiser]"),
        (["train.epochs=0"], "train.epochs must be at least 1"),
        (["data.windows=all"], "data.windows must be one of ['random', 'fixed']"),
        (["train.grad_clip=-1.0"], "train.grad_clip must be a positive number"),
    ],
)
def test_bad_configs(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config("springs-mlp", overrides)


def test_resolved_config_reads_back_equal(tmp_path):
    """What a run folder's config.toml holds (attention as a table too) loads back to the same config."""
    config = load_config("springs-lietransformer-t2", ['model.attention={kind="knn", neighbours=4}', "train.grad_clip=2.0"])
    (tmp_path / "config.toml").write_text(config.to_toml())
    assert load_config(tmp_path / "config.toml") == config
    assert build_model(config, {"n_bodies": 6, "dim": 2}).attention == KNN(neighbours=4)


def test_configs_of_0_1_0_with_flat_attention_keys_still_build():
    """0.1.0 wrote attention's options beside it: attention = "knn", neighbours = 32, rank = ..."""
    old = load_config("springs-lietransformer-t2", ['model.attention="knn"', "model.neighbours=4", "model.rank=8"])
    assert build_model(old, {"n_bodies": 6, "dim": 2}).attention == KNN(neighbours=4)
    with pytest.raises(ConfigError, match="belong in the attention table"):
        build_model(load_config("springs-lietransformer-t2", ["model.attention={kind='knn'}", "model.rank=8"]), {"n_bodies": 6, "dim": 2})


def test_training_reports_each_step_and_leaves_global_state_alone(tiny_h5, tmp_path):
    """The loop's collaborators: every step reaches the progress callback; torch's global generator is
    neither seeded nor consumed (initialisation and random lifts draw from the run's own streams)."""
    seen = []
    state = torch.get_rng_state()
    config = _config(tiny_h5, tmp_path / "run", "model.group=SE2", "model.lift_samples=2", "train.epochs=2")
    result = train(config, progress=seen.append)
    assert torch.equal(torch.get_rng_state(), state)
    assert [s.step for s in seen] == list(range(1, result.steps + 1)) and {s.total for s in seen} == {result.steps}
    assert [s.epoch for s in seen] == [1] * 4 + [2] * 4 and all(math.isfinite(s.loss) for s in seen)


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--set", "train.colour=1"], "unknown key 'train.colour'"),
        (["--set", "model.group=SE3", "--set", "model.lift_samples=24"], "the model acts in 3D but the dataset is 2D"),
        (["--set", "model.scalar_features=['masses','charges']"], "reads params ['charges']"),
        (["--set", "model.depth=3"], "does not take"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tiny_h5, tmp_path, capsys, extra, fragment):
    code, err = _cli(capsys, "train", "springs-lietransformer-t2", "--set", f"data.path={tiny_h5}",
                     "--set", f"train.out={tmp_path / 'run'}", *extra)  # fmt: skip
    assert code == 2 and len(err) == 1 and fragment in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "run").exists()


def test_cli_rejects_a_corrupted_or_foreign_checkpoint(tiny_h5, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "springs-lietransformer-t2", "--set", f"data.path={tiny_h5}", "--set", f"train.out={out}"]
    small = [x for s in SMALL + ["train.epochs=1"] for x in ("--set", s)]
    code, _ = _cli(capsys, *base, *small)
    assert code == 0
    # another model's checkpoint: the same run resumed with a different width
    code, err = _cli(capsys, *base, *small, "--set", "model.dim_hidden=24", "--resume")
    assert code == 2 and "differs from the checkpoint's (model.dim_hidden 16 -> 24)" in err[-1]
    code, err = _cli(capsys, *base, *small, "--set", "model.dim_hidden=24", "--resume", "--allow-changes")
    assert code == 2 and "does not fit the configured model" in err[-1]
    (out / "last.pt").write_bytes(b"not a checkpoint")
    code, err = _cli(capsys, *base, *small, "--resume")
    assert code == 2 and "not a readable checkpoint" in err[-1]


def test_two_process_gloo_run_matches_one_process(tiny_h5, tmp_path, root):
    """torchrun with 2 CPU processes (gloo) against one process with the same global batch, float64."""
    # 64 windows in global batches of 21: the last batch holds one window, so rank 1 has none there
    sets = [f"data.path={tiny_h5}", *SMALL, "train.epochs=2", "train.dtype=float64", "train.batch_size=21"]
    single = load_config("springs-lietransformer-t2", [*sets, f"train.out={tmp_path / 'one'}"])
    train(single)
    done = _torchrun(root, ["-m", "hamilton_lie"], [*sets, f"train.out={tmp_path / 'two'}"])
    assert done.returncode == 0, _worker_lines(done.stderr)
    one = load_checkpoint(tmp_path / "one" / "last.pt")
    two = load_checkpoint(tmp_path / "two" / "last.pt")
    assert one["step"] == two["step"] == 8  # 4 steps per epoch
    for key, value in one["model"].items():
        torch.testing.assert_close(two["model"][key], value, rtol=1e-9, atol=1e-12)
    metrics = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 2  # written once, by rank 0
    assert done.stdout.count("8 steps in") == 1  # one summary, from rank 0


def _torchrun(root, launch: list[str], sets: list[str]):
    """``hamilton-lie train springs-lietransformer-t2`` with ``--set`` overrides, in 2 CPU processes
    under torchrun; ``launch``: torchrun options and what it runs (``-m hamilton_lie`` or a script)."""
    import subprocess
    import sys

    args = [x for s in sets for x in ("--set", s)]
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *launch,
         "train", "springs-lietransformer-t2", *args],
        cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _worker_lines(stderr: str) -> str:
    """The start of torchrun's stderr without progress bars: the workers' own messages come before
    torchrun's traceback, which is all that the end of stderr shows."""
    lines = [x for x in stderr.replace("\r", "\n").splitlines() if x.strip() and "step/s" not in x]
    return "\n".join(lines[:60])


NAN_ON_RANK_1 = """
import os, sys
from hamilton_lie.training import _loss
from hamilton_lie.nn import KNN
original, calls = _loss.to_device, [0]

def poisoned(batch, dtype, device):
    out = original(batch, dtype, device)
    if "q" in out:  # not the nested params
        calls[0] += 1
        if os.environ["RANK"] == "1" and calls[0] == 6:  # rank 1 reads training batches only: step 6, epoch 2
            out["q"][0, 0, 0, 0] = float("nan")
    return out

_loss.to_device = poisoned
from hamilton_lie.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_nan_on_one_rank_stops_every_rank_at_the_same_step(tiny_h5, tmp_path, root):
    """Without agreement the clean rank would enter the gradient all-reduce alone and be killed there."""
    script = tmp_path / "nan_on_rank_1.py"
    script.write_text(NAN_ON_RANK_1)
    sets = [f"data.path={tiny_h5}", *SMALL, "train.epochs=3", "train.batch_size=20", "train.checkpoint_every=100"]
    # torchrun looks at its workers every 5 s, so that the first to stop cannot have the other
    # killed before it has spoken
    done = _torchrun(root, ["--monitor-interval=5", str(script)], [*sets, f"train.out={tmp_path / 'run'}"])
    assert done.returncode != 0
    assert done.stderr.count("error: non-finite training loss at step 6 (epoch 2)") == 2, _worker_lines(done.stderr)
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert (state["epoch"], state["step"]) == (1, 4)  # written by rank 0 at the end of epoch 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())


MANY_BODIES = """
system = "{system}"
n_bodies = 96
dim = 3
dt = 0.01
n_steps = 6
integrator = "leapfrog"
substeps = 2
seed = 0
batch_size = 2
[splits]
train = 4
val = 2
test = 2
[settings]
softening = 0.1
{extra}
"""


@pytest.mark.parametrize(
    "system, extra", [("gravity", 'configuration = "cluster"\nradius = 4.0'), ("charged", "radius = 4.0")],
    ids=["gravity", "charged"],
)  # fmt: skip
@pytest.mark.parametrize(
    "attention", ['{kind="knn", neighbours=16}', '{kind="linformer", rank=8, max_bodies=96}', '{kind="lowrank", rank=8}']
)
def test_many_bodies_train_end_to_end_with_linear_cost_attention(tmp_path, system, extra, attention):
    from hamilton_lie.data import generate_dataset, parse_recipe

    data = tmp_path / "many.h5"
    generate_dataset(parse_recipe(MANY_BODIES.format(system=system, extra=extra), "many"), data)
    scalars = '["masses"]' if system == "gravity" else '["masses", "charges"]'
    config = load_config(
        "springs-lietransformer-t2",
        [f"data.path={data}", f"train.out={tmp_path / 'run'}", "model.group=T3", f"model.scalar_features={scalars}",
         f"model.attention={attention}",
         "model.dim_hidden=16", "model.num_layers=1", "model.num_heads=2", "train.batch_size=2", "train.epochs=2",
         "data.chunk_len=3"],
    )  # fmt: skip
    result = train(config)
    assert result.finished and result.steps == 4 and math.isfinite(result.best_val_mse)


def test_a_short_last_batch_leaves_no_rank_without_a_window(tiny_h5):
    """Five windows in global batches of 2 over 2 ranks: the last batch has one window, so rank 1
    evaluates a stand-in with weight zero and the weighted shares still sum to one per batch."""
    data = TrajectoryDataset(tiny_h5, "train", 5, seed=0)
    order = torch.arange(5)
    ranks = [list(_loss.batches(data, order, 2, torch.float64, "cpu", Distributed(rank=r, world=2))) for r in range(2)]
    shares = [[share for _, share in batches] for batches in ranks]
    assert shares == [[0.5, 0.5, 1.0], [0.5, 0.5, 0.0]]
    assert [b["q"].shape[0] for b, _ in ranks[1]] == [1, 1, 1]
