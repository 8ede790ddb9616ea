"""Hostile but realistic inputs and faults: each gives one line on stderr naming the file and the field,
exit code 2, no traceback, and leaves the output path as it was (absent, or unchanged byte for byte)."""

import contextlib
import json
import math
import resource
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import torch

from hamilton_lie import load_config, train
from hamilton_lie.cli import main
from hamilton_lie.data import recipe_path

TRAIN = "springs-lietransformer-t2"
SMALL = ["model.dim_hidden=16", "model.num_layers=1", "model.num_heads=2", "train.batch_size=16", "train.epochs=1"]


def _run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_one_line(code: int, err: str, *fragments: str) -> None:
    """Exit code 2 and exactly one stderr line, the CLI's error line, holding every fragment."""
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("hamilton-lie: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _sets(*items):
    return [x for s in items for x in ("--set", s)]


@pytest.fixture
def data(tiny_h5, tmp_path):
    """A private copy of the tiny dataset, for tests that damage it."""
    path = tmp_path / "data.h5"
    shutil.copy(tiny_h5, path)
    return path


@pytest.fixture(scope="module")
def trained(tiny_h5, tmp_path_factory):
    """A small trained run (its folder), made once."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", TRAIN, *_sets(f"data.path={tiny_h5}", f"train.out={run}", *SMALL)]) == 0
    return run


# -- item 3: a checkpoint that would run code when unpickled --------------------------------------------
class _WritesAFile:
    """Unpickling this calls open(marker, "w"): what a crafted checkpoint could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_checkpoint_is_refused_without_running_its_code(trained, tiny_h5, tmp_path, capsys):
    marker = tmp_path / "pwned"
    state = torch.load(trained / "best.pt", weights_only=True)
    state["extra"] = _WritesAFile(marker)
    torch.save(state, tmp_path / "crafted.pt")
    code, err = _run(capsys, "evaluate", tmp_path / "crafted.pt", "--data", tiny_h5)
    assert_one_line(code, err, "crafted.pt", "refused")
    assert not marker.exists()
    # the same through train --resume
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    torch.save(state, run / "last.pt")
    before = (run / "last.pt").read_bytes()
    code, err = _run(capsys, "train", TRAIN, "--resume", *_sets(f"data.path={tiny_h5}", f"train.out={run}", *SMALL))
    assert_one_line(code, err, "last.pt", "refused")
    assert not marker.exists() and (run / "last.pt").read_bytes() == before


def test_a_checkpoint_without_its_optimizer_cannot_resume(trained, tiny_h5, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    state = torch.load(run / "last.pt", weights_only=True)
    del state["optimizer"]
    torch.save(state, run / "last.pt")
    before = (run / "metrics.jsonl").read_bytes()
    code, err = _run(capsys, "train", TRAIN, "--resume", *_sets(f"data.path={tiny_h5}", f"train.out={run}", *SMALL))
    assert_one_line(code, err, "last.pt", "'optimizer'")
    assert (run / "metrics.jsonl").read_bytes() == before


# -- item 4: the time grid ------------------------------------------------------------------------------
def _flip_a_bit_of(path, dataset):
    """Flip one bit of ``dataset``'s stored bytes, behind HDF5's back (as a bad disk would)."""
    with h5py.File(path, "r") as f:
        ds = f[dataset]
        offset = ds.id.get_chunk_info(0).byte_offset if ds.chunks else ds.id.get_offset()
    with open(path, "r+b") as fh:
        fh.seek(offset + 8)  # inside t[1]
        byte = fh.read(1)
        fh.seek(offset + 8)
        fh.write(bytes([byte[0] ^ 0x10]))


def test_a_flipped_bit_in_the_time_grid_is_caught(data, capsys):
    _flip_a_bit_of(data, "/test/t")
    code, err = _run(capsys, "info", data)
    assert_one_line(code, err, str(data), "/test/t")


@pytest.mark.parametrize("value", [0.5, math.nan, math.inf])
def test_a_time_grid_that_is_not_k_dt_is_refused(data, trained, tmp_path, capsys, value):
    """Written through h5py (checksums stay valid), as a file without checksums on t would hold it."""
    with h5py.File(data, "r+") as f:
        f["test/t"][3] = value
    for argv in (["info", data], ["evaluate", trained, "--data", data]):
        code, err = _run(capsys, *argv)
        assert_one_line(code, err, str(data), "/test/t", "time grid")
    assert not (trained / "metrics.json").exists()


def test_new_files_checksum_every_array(tiny_h5):
    with h5py.File(tiny_h5, "r") as f:
        assert f.attrs["schema_minor"] >= 1
        arrays = []
        f.visititems(lambda name, obj: arrays.append(obj) if isinstance(obj, h5py.Dataset) else None)
        assert arrays and all(ds.fletcher32 for ds in arrays), [ds.name for ds in arrays if not ds.fletcher32]


# -- item 6: non-finite per-trajectory parameters ------------------------------------------------------
def test_nan_masses_are_refused_by_info_train_and_evaluate(data, trained, tmp_path, capsys):
    with h5py.File(data, "r+") as f:
        for split in ("train", "val", "test"):
            f[f"{split}/params/masses"][0, 0] = math.nan
    code, err = _run(capsys, "info", data)
    assert_one_line(code, err, str(data), "params/masses", "NaN")
    run = tmp_path / "run"
    code, err = _run(capsys, "train", TRAIN, *_sets(f"data.path={data}", f"train.out={run}", *SMALL))
    assert_one_line(code, err, str(data), "params/masses", "NaN")
    assert not run.exists()
    code, err = _run(capsys, "evaluate", trained, "--data", data)
    assert_one_line(code, err, str(data), "params/masses", "NaN")
    assert not (trained / "metrics.json").exists()


def test_plot_refuses_non_finite_or_damaged_metrics(trained, tiny_h5, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    assert main(["evaluate", str(run), "--data", str(tiny_h5), "--rollout-steps", "5"]) == 0
    capsys.readouterr()
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["rollout_rel_error"]["median"][1] = math.nan
    (run / "metrics.json").write_text(json.dumps(metrics))
    code, err = _run(capsys, "plot", run, "--out", tmp_path / "figures")
    assert_one_line(code, err, "metrics.json", "NaN")
    (run / "metrics.json").write_text('{"mse": 0.1, "rollout')
    code, err = _run(capsys, "plot", run, "--out", tmp_path / "figures")
    assert_one_line(code, err, "metrics.json")
    (run / "metrics.json").unlink()
    data = (run / "rollouts.npz").read_bytes()
    (run / "rollouts.npz").write_bytes(data[: len(data) // 2])
    code, err = _run(capsys, "plot", run, "--out", tmp_path / "figures")
    assert_one_line(code, err, "rollouts.npz")
    assert not (tmp_path / "figures").exists()


def test_training_that_diverges_before_any_checkpoint_says_so(tiny_h5, tmp_path, capsys):
    run = tmp_path / "run"
    code, err = _run(capsys, "train", TRAIN, *_sets(f"data.path={tiny_h5}", f"train.out={run}", *SMALL, "train.lr=1e30"))
    lines = [line for line in err.replace("\r", "\n").splitlines() if "error" in line]
    assert code == 2 and len(lines) == 1 and "no checkpoint was written before it" in lines[0], err
    assert not run.exists()  # no half-made run folder


# -- item 9: every other hostile input: one line, exit 2, the output path untouched ------------------
@contextlib.contextmanager
def _read_only(folder):
    """``folder`` made unwritable, for root too (an immutable folder); skips where that cannot be done."""
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot make a folder read-only here (chattr +i)")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def _recipe(root, tmp_path, edit=lambda s: s, name="r.toml"):
    path = tmp_path / name
    path.write_text(edit((recipe_path("tiny")).read_text()))
    return path


RECIPE_CASES = {
    "not UTF-8": (lambda path: path.write_bytes(b"\xff\xfe system = 1"), "not UTF-8"),
    "too large for memory": (
        lambda path: path.write_text(path.read_text().replace("train = 64", "train = 1000000000")
                                     .replace("batch_size", "x").replace("seed = 0", "seed = 0\nbatch_size = 100000000")),
        "GiB of memory",
    ),  # fmt: skip
    "seed beyond int64": (lambda path: path.write_text(path.read_text().replace("seed = 0", f"seed = {2**63}")), "seed must be at most"),
}


@pytest.mark.parametrize("case", RECIPE_CASES)
def test_bad_recipes(root, tmp_path, capsys, case):
    recipe = _recipe(root, tmp_path)
    damage, fragment = RECIPE_CASES[case]
    damage(recipe)
    code, err = _run(capsys, "generate", recipe, "--out", tmp_path / "out.h5")
    assert_one_line(code, err, str(recipe), fragment)
    assert not (tmp_path / "out.h5").exists()


def test_an_hdf5_file_given_as_recipe_or_config(tiny_h5, tmp_path, capsys):
    code, err = _run(capsys, "generate", tiny_h5, "--out", tmp_path / "out.h5")
    assert_one_line(code, err, str(tiny_h5), "not a recipe")
    code, err = _run(capsys, "train", tiny_h5)
    assert_one_line(code, err, str(tiny_h5), "not a config")
    assert not (tmp_path / "out.h5").exists()


def test_bad_output_paths_are_refused_before_generating(root, tmp_path, capsys):
    recipe = _recipe(root, tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    cases = [
        (tmp_path / "folder", "is a folder"),
        (tmp_path / "file" / "out.h5", "is a file, not a folder"),
        (locked / "out.h5", "cannot write in"),
    ]
    with _read_only(locked):
        for out, fragment in cases:
            code, err = _run(capsys, "generate", recipe, "--out", out)
            assert_one_line(code, err, str(out), fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder", "locked", "r.toml"]
    assert list((tmp_path / "folder").iterdir()) == [] and (tmp_path / "file").read_text() == "x"


def _rewrite_attr(path, key, value):
    with h5py.File(path, "r+") as f:
        f.attrs[key] = value


DATASET_CASES = {
    "schema_version a string": (lambda p: _rewrite_attr(p, "schema_version", "1"), "'schema_version' must be an integer"),
    "n_bodies a float": (lambda p: _rewrite_attr(p, "n_bodies", 6.5), "'n_bodies' must be an integer"),
    "system_settings not JSON": (lambda p: _rewrite_attr(p, "system_settings", "{mass"), "'system_settings' is not a JSON object"),
    "energy as text": (lambda p: _replace(p, "train/energy", np.full((64, 20), "x", dtype="S1")), "/train/energy holds"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:5000]), "not a readable HDF5 file"),
}


def _replace(path, name, array):
    with h5py.File(path, "r+") as f:
        del f[name]
        f[name] = array


@pytest.mark.parametrize("case", DATASET_CASES)
def test_damaged_datasets(data, trained, tmp_path, capsys, case):
    damage, fragment = DATASET_CASES[case]
    damage(data)
    for argv in (["info", data], ["evaluate", trained, "--data", data]):
        code, err = _run(capsys, *argv)
        assert_one_line(code, err, str(data), fragment)
    run = tmp_path / "run"
    code, err = _run(capsys, "train", TRAIN, *_sets(f"data.path={data}", f"train.out={run}", *SMALL))
    assert_one_line(code, err, str(data), fragment)
    assert not run.exists() and not (trained / "metrics.json").exists()


TRAIN_CASES = {
    "negative lr": (["train.lr=-1e-3"], "train.lr must be a positive number"),
    "NaN lr": (["train.lr=nan"], "train.lr must be a positive number"),
    "negative weight decay": (["train.weight_decay=-0.1"], "train.weight_decay must be at least 0.0"),
    "NaN weight decay": (["train.weight_decay=nan"], "train.weight_decay must be at least 0.0"),
    "unknown method": (["train.method=rk5"], "train.method must be one of"),
    "negative grad clip": (["train.grad_clip=-1.0"], "train.grad_clip must be a positive number"),
    "no such device": (["train.device=cuda:99"], "no such device"),
    "not a device": (["train.device=gpu"], "not a torch device"),
    "chunk longer than the trajectories": (["data.chunk_len=50"], "data.chunk_len does not fit the file"),
    "more training systems than the file": (["data.n_train=1000"], "data.n_train does not fit the file"),
    "more validation systems than the file": (["data.n_val=1000"], "data.n_val does not fit the file"),
}


@pytest.mark.parametrize("case", TRAIN_CASES)
def test_bad_training_settings(tiny_h5, tmp_path, capsys, case):
    extra, fragment = TRAIN_CASES[case]
    run = tmp_path / "run"
    code, err = _run(capsys, "train", TRAIN, *_sets(f"data.path={tiny_h5}", f"train.out={run}", *SMALL, *extra))
    assert_one_line(code, err, fragment)
    assert not run.exists()


def test_a_config_that_is_not_utf8(tmp_path, capsys):
    (tmp_path / "c.toml").write_bytes(b"[train]\nout = \"\xff\"")
    code, err = _run(capsys, "train", tmp_path / "c.toml")
    assert_one_line(code, err, "c.toml", "not UTF-8")


def test_bad_run_folders(tiny_h5, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    with _read_only(locked):
        for out, fragment in ((tmp_path / "file", "is a file, not a folder"), (locked / "run", "cannot write in")):
            code, err = _run(capsys, "train", TRAIN, *_sets(f"data.path={tiny_h5}", f"train.out={out}", *SMALL))
            assert_one_line(code, err, str(out), fragment)
    assert (tmp_path / "file").read_text() == "x" and list(locked.iterdir()) == []


def test_devices_that_do_not_exist(tiny_h5, trained, tmp_path, capsys):
    code, err = _run(capsys, "generate", "tiny", "--out", tmp_path / "out.h5", "--device", "cuda:99")
    assert_one_line(code, err, "cuda:99", "no such device")
    code, err = _run(capsys, "evaluate", trained, "--data", tiny_h5, "--device", "cuda:99")
    assert_one_line(code, err, "cuda:99", "no such device")
    assert not (tmp_path / "out.h5").exists() and not (trained / "metrics.json").exists()


def test_evaluating_into_a_folder_that_cannot_be_written(trained, tiny_h5, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    with _read_only(run):
        code, err = _run(capsys, "evaluate", run, "--data", tiny_h5)
        assert_one_line(code, err, str(run), "cannot write in")
    assert not (run / "metrics.json").exists()


def test_plot_into_a_file(trained, tiny_h5, tmp_path, capsys):
    (tmp_path / "figures").write_text("x")
    code, err = _run(capsys, "plot", trained, "--out", tmp_path / "figures")
    assert_one_line(code, err, "figures", "is a file, not a folder")
    assert (tmp_path / "figures").read_text() == "x"


# -- items 7 and 8: races, kills and leaks ---------------------------------------------------------------
SLOW_RECIPE = """
system = "gravity"
n_bodies = 4
dim = 2
dt = 0.01
n_steps = 40
integrator = "leapfrog"
substeps = 10
seed = 0
batch_size = 50
[splits]
train = 2000
val = 10
test = 10
"""
# a signal must land while the file is being written: with the fused N-body kernel SLOW_RECIPE takes under a
# second, so the interrupted runs take a hundred times the steps (a minute or more) at the same file size
LONG_RECIPE = SLOW_RECIPE.replace("substeps = 10", "substeps = 1000")


def _default_sigint():
    # a suite started in the background of a non-interactive shell can inherit SIGINT ignored or blocked, and
    # the child would then never see the interrupt: give it what a user's terminal gives
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _cli_process(*argv, cwd):
    return subprocess.Popen([sys.executable, "-m", "hamilton_lie", *map(str, argv)], cwd=cwd, preexec_fn=_default_sigint,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("hamilton-lie:")]


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_two_generates_to_one_file_give_one_file(root, tmp_path):
    recipe = tmp_path / "slow.toml"
    recipe.write_text(SLOW_RECIPE)
    out = tmp_path / "out" / "data.h5"
    first, second = (_cli_process("generate", recipe, "--out", out, cwd=root) for _ in range(2))
    results = [(p.wait(timeout=300), p.stderr.read()) for p in (first, second)]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    (err,) = [e for code, e in results if code == 2]
    (line,) = _error_lines(err)
    assert "in use by process" in line or "already exists" in line or "appeared while" in line, line
    assert main(["info", str(out)]) == 0
    assert _leftovers(out.parent) == []


def _wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.parametrize("signal_, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_terminated_generate_leaves_nothing_behind(root, tmp_path, signal_, code):
    recipe = tmp_path / "slow.toml"
    recipe.write_text(LONG_RECIPE)
    folder = tmp_path / "out"
    process = _cli_process("generate", recipe, "--out", folder / "data.h5", cwd=root)
    _wait_for(lambda: folder.exists() and any(".tmp-" in p for p in _leftovers(folder)))
    process.send_signal(signal_)
    assert process.wait(timeout=60) == code
    assert _error_lines(process.stderr.read())[-1] in ("hamilton-lie: terminated", "hamilton-lie: interrupted")
    assert list(folder.iterdir()) == []


def test_a_killed_generate_leaves_a_temporary_that_the_next_run_removes(root, tmp_path, capsys):
    recipe = tmp_path / "slow.toml"
    recipe.write_text(LONG_RECIPE)
    folder = tmp_path / "out"
    process = _cli_process("generate", recipe, "--out", folder / "data.h5", cwd=root)
    _wait_for(lambda: folder.exists() and any(".tmp-" in p for p in _leftovers(folder)))
    process.kill()
    process.wait(timeout=60)
    assert any(".tmp-" in p for p in _leftovers(folder))  # SIGKILL cannot be handled
    small = tmp_path / "small.toml"
    small.write_text(SLOW_RECIPE.replace("train = 2000", "train = 10"))
    assert main(["generate", str(small), "--out", str(folder / "data.h5")]) == 0
    assert _leftovers(folder) == []


def test_two_trains_into_one_folder_do_not_interleave(root, tiny_h5, tmp_path):
    run = tmp_path / "run"
    args = ["train", TRAIN, *_sets(f"data.path={tiny_h5}", f"train.out={run}", *SMALL[:-1], "train.epochs=3")]
    first, second = (_cli_process(*args, cwd=root) for _ in range(2))
    results = [(p.wait(timeout=300), p.stderr.read()) for p in (first, second)]
    assert sorted(code for code, _ in results) == [0, 2], results
    (err,) = [e for code, e in results if code == 2]
    (line,) = _error_lines(err)
    assert "in use by process" in line or "already holds a run" in line, line
    epochs = [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3] and _leftovers(run) == []


def test_the_metrics_log_ends_where_the_checkpoint_does(tiny_h5, tmp_path):
    """A kill after epoch 2's record was appended but before its checkpoint: resuming from epoch 1's
    checkpoint runs epoch 2 again, and the log must hold it once."""
    run = tmp_path / "run"
    config = load_config(TRAIN, [f"data.path={tiny_h5}", f"train.out={run}", *SMALL[:-1], "train.epochs=2"])

    def keep_epoch_1(progress):
        if progress.epoch == 2 and not (tmp_path / "epoch1.pt").exists():
            shutil.copy(run / "last.pt", tmp_path / "epoch1.pt")

    train(config, progress=keep_epoch_1)
    shutil.copy(tmp_path / "epoch1.pt", run / "last.pt")
    stale = run / ".last.pt.tmp-999999999"  # a temporary of a process that is gone
    stale.write_bytes(b"half a checkpoint")
    train(config, resume=True)
    epochs = [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2] and not stale.exists()


# -- item 5: a write error during generate (a file-size limit standing in for a full disk) --------------
def _limited(blocks_kib: int):
    """preexec_fn: limit the files this process writes to ``blocks_kib`` KiB (what `ulimit -f` does)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (blocks_kib * 1024, blocks_kib * 1024))


def test_a_dataset_over_the_file_size_limit_is_refused_up_front(root, tmp_path):
    recipe = tmp_path / "slow.toml"
    recipe.write_text(SLOW_RECIPE)
    folder = tmp_path / "out"
    folder.mkdir()
    done = subprocess.run([sys.executable, "-m", "hamilton_lie", "generate", str(recipe), "--out", str(folder / "d.h5")],
                          cwd=root, capture_output=True, text=True, preexec_fn=_limited(500), timeout=120)  # fmt: skip
    assert_one_line(done.returncode, done.stderr, str(recipe), "file-size limit")
    assert list(folder.iterdir()) == []


WRITE_FAILS_MIDWAY = """
import sys
from hamilton_lie.data import _generate
_generate._file_bytes = lambda recipe, world=1: 0  # no up-front refusal and no reservation: the writes themselves fail
from hamilton_lie.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_write_error_midway_stops_with_one_line_and_no_leftovers(root, tmp_path):
    recipe = tmp_path / "slow.toml"
    recipe.write_text(SLOW_RECIPE)
    folder = tmp_path / "out"
    folder.mkdir()
    script = tmp_path / "midway.py"
    script.write_text(WRITE_FAILS_MIDWAY)
    done = subprocess.run([sys.executable, str(script), "generate", str(recipe), "--out", str(folder / "d.h5")],
                          cwd=root, capture_output=True, text=True, preexec_fn=_limited(500), timeout=120)  # fmt: skip
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])  # not a segfault (-11)
    (line,) = _error_lines(done.stderr)
    assert str(folder / "d.h5") in line and "File too large" in line, line
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr[-3000:]
    assert list(folder.iterdir()) == []
