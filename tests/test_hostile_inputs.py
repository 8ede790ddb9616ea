"""Hostile but realistic inputs and faults: each gives one line on stderr naming the file and the field,
exit code 2, no traceback, and leaves the output path as it was (absent, or unchanged byte for byte)."""

import json
import math
import shutil

import h5py
import pytest
import torch

from hamilton_lie.cli import main

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
        assert f.attrs["schema_minor"] == 1
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
