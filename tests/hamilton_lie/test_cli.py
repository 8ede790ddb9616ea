"""The CLI: success paths, and one clean error line with exit code 2 for every kind of bad input."""

import subprocess
import sys

import h5py
import pytest
from helpers import BAD_RECIPE_EDITS, GOOD_RECIPE

from hamilton_lie.cli import main

RECIPE = GOOD_RECIPE


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_clean_error(code, err, *fragments):
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("hamilton-lie: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_generate_then_info(tmp_path, capsys):
    recipe = tmp_path / "small.toml"
    recipe.write_text(RECIPE)
    code, out, _ = _run(capsys, "generate", recipe)
    assert code == 0 and "wrote" in out
    assert (tmp_path / "small.h5").exists()
    code, out, _ = _run(capsys, "info", tmp_path / "small.h5")
    assert code == 0
    assert "springs: 3 bodies in 2D" in out and "train 4, val 2, test 2" in out and "verified" in out


@pytest.mark.parametrize("edit, fragment", BAD_RECIPE_EDITS)
def test_bad_recipe(tmp_path, capsys, edit, fragment):
    recipe = tmp_path / "bad.toml"
    recipe.write_text(edit(RECIPE))
    code, _, err = _run(capsys, "generate", recipe, "--out", tmp_path / "out.h5")
    _assert_clean_error(code, err, str(recipe), fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_generate_refuses_overwrite(tmp_path, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text(RECIPE)
    assert _run(capsys, "generate", recipe)[0] == 0
    before = (tmp_path / "r.h5").read_bytes()
    code, _, err = _run(capsys, "generate", recipe)
    _assert_clean_error(code, err, "r.h5", "--force")
    assert (tmp_path / "r.h5").read_bytes() == before
    assert _run(capsys, "generate", recipe, "--force")[0] == 0


def _make(tmp_path, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text(RECIPE)
    assert _run(capsys, "generate", recipe)[0] == 0
    return tmp_path / "r.h5"


def _truncate(path):
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 3)


def _corrupt(path):
    with h5py.File(path, "r") as f:
        info = f["train/p"].id.get_chunk_info(1)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + 8)
        fh.write(b"\x00\x01\x02\x03")


def _nan(path):
    with h5py.File(path, "r+") as f:
        f["test/q"][1, 2, 0, 0] = float("nan")


def _schema(path):
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = 7


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda p: p.unlink(), "no such file"),
        (_truncate, "not a readable HDF5 file"),
        (_corrupt, "failed checksum"),
        (_nan, "contains NaN or inf"),
        (_schema, "schema version 7"),
    ],
)
def test_info_on_bad_files(tmp_path, capsys, damage, fragment):
    path = _make(tmp_path, capsys)
    damage(path)
    code, _, err = _run(capsys, "info", path)
    _assert_clean_error(code, err, str(path), fragment)


def test_shipped_recipes_and_presets_work_from_any_folder(tmp_path):
    """Through the console entry point, in a folder outside the repository: a shipped recipe's name writes
    datasets/NAME.h5 there, a preset trains on it, a missing shipped dataset names the command that makes
    it, and bad input exits 2 with one line."""

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "hamilton_lie", *args], cwd=tmp_path, capture_output=True, text=True)

    ok = cli("generate", "tiny")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "datasets" / "tiny.h5").is_file()
    trained = cli("train", "demo-mlp", "--set", "data.path=datasets/tiny.h5", "--set", "train.out=run",
                  "--set", "train.epochs=1", "--set", "train.batch_size=8")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "run" / "best.pt").is_file()
    missing = cli("info", "datasets/springs-2d.h5")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "hamilton-lie: error: datasets/springs-2d.h5: no such file; make it with: hamilton-lie generate springs-2d"
    )
    unknown = cli("generate", "no-such-recipe")
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    assert "no such recipe file or shipped recipe" in unknown.stderr and "springs-2d" in unknown.stderr
    bad = cli("info", str(tmp_path / "missing.h5"))
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"hamilton-lie: error: {tmp_path / 'missing.h5'}: no such file"


def test_import_an_nri_set_then_refuse_bad_input(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("valid", 2), ("test", 2)):
        np.save(tmp_path / f"loc_{split}_springs5.npy", rng.normal(size=(n, 6, 2, 5)))
        np.save(tmp_path / f"vel_{split}_springs5.npy", rng.normal(size=(n, 6, 2, 5)))
        np.save(tmp_path / f"edges_{split}_springs5.npy", rng.choice([0.0, 1.0], size=(n, 5, 5)))
    code, out, _ = _run(capsys, "import", "nri", tmp_path, "--suffix", "_springs5", "--dt", "0.1", "--out",
                        tmp_path / "nri.h5")  # fmt: skip
    assert code == 0 and "nri-springs: 5 bodies in 2D" in out and "assumed: unit masses" in out
    code, _, err = _run(capsys, "import", "nri", tmp_path, "--suffix", "_springs5", "--dt", "-1", "--out", tmp_path / "x.h5")
    _assert_clean_error(code, err, "--dt must be positive")
    code, _, err = _run(capsys, "import", "nri", tmp_path, "--suffix", "_charged5", "--dt", "0.1", "--out", tmp_path / "x.h5")
    _assert_clean_error(code, err, "loc_train_charged5.npy: no such file")
    code, _, err = _run(capsys, "--load-system", "nowhere.py:X", "info", tmp_path / "nri.h5")
    _assert_clean_error(code, err, "--load-system", "no such file")
