"""TrajectoryDataset and file validation, including every kind of damaged file."""

import re
import shutil

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hamilton_lie import TrajectoryDataset, check_dataset
from hamilton_lie.data import DatasetError, recipe_path


def test_all_windows_match_the_file(tiny_h5):
    ds = TrajectoryDataset(tiny_h5, "train", chunk_len=5)
    with h5py.File(tiny_h5) as f:
        n, T = f["train/q"].shape[:2]
        assert len(ds) == n * (T - 4)
        for index in (0, 1, T - 5, T - 4, len(ds) - 1):
            item = ds[index]
            traj, start = divmod(index, T - 4)
            assert (item["trajectory"], item["start"]) == (traj, start)
            np.testing.assert_array_equal(item["q"].numpy(), f["train/q"][traj, start : start + 5])
            np.testing.assert_array_equal(item["p"].numpy(), f["train/p"][traj, start : start + 5])
            np.testing.assert_array_equal(item["t"].numpy(), f["train/t"][start : start + 5])
            np.testing.assert_array_equal(item["params"]["k"].numpy(), f["train/params/k"][traj])
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_random_windows_are_seeded_per_epoch(tiny_h5):
    a = TrajectoryDataset(tiny_h5, "train", chunk_len=5, windows="random", seed=3)
    b = TrajectoryDataset(tiny_h5, "train", chunk_len=5, windows="random", seed=3)
    assert len(a) == 64
    starts = [a[i]["start"] for i in range(len(a))]
    assert starts == [b[i]["start"] for i in range(len(b))]
    assert len(set(starts)) > 5 and max(starts) <= 15
    a.set_epoch(1)
    assert [a[i]["start"] for i in range(len(a))] != starts


def test_fixed_windows_are_drawn_once(tiny_h5):
    fixed = TrajectoryDataset(tiny_h5, "train", chunk_len=5, windows="fixed", seed=3)
    fresh = TrajectoryDataset(tiny_h5, "train", chunk_len=5, windows="random", seed=3)
    starts = [fixed[i]["start"] for i in range(len(fixed))]
    assert len(fixed) == 64 and len(set(starts)) > 5
    assert starts == [fresh[i]["start"] for i in range(len(fresh))]  # epoch 0 is the same draw
    for epoch in (1, 7):
        fixed.set_epoch(epoch)
        fresh.set_epoch(epoch)
        assert [fixed[i]["start"] for i in range(len(fixed))] == starts
        assert [fresh[i]["start"] for i in range(len(fresh))] != starts


def test_subset_and_dtype(tiny_h5):
    ds = TrajectoryDataset(tiny_h5, "val", chunk_len=3, n_trajectories=4, dtype=torch.float32)
    assert len(ds) == 4 * 18
    item = ds[0]
    assert item["q"].dtype == torch.float32 and item["params"]["masses"].dtype == torch.float32


def test_dataloader_with_two_workers(tiny_h5):
    ds = TrajectoryDataset(tiny_h5, "train", chunk_len=5, windows="random", seed=1)
    ds[0]  # open a handle in the parent: workers must not share it
    serial = list(DataLoader(ds, batch_size=16, num_workers=0))
    parallel = list(DataLoader(ds, batch_size=16, num_workers=2))
    assert len(serial) == len(parallel) == 4
    for x, y in zip(serial, parallel, strict=True):
        assert torch.equal(x["q"], y["q"]) and torch.equal(x["params"]["k"], y["params"]["k"])
        assert x["q"].shape == (16, 5, 6, 2)


def test_bad_arguments(tiny_h5):
    with pytest.raises(ValueError, match=r"chunk_len must be an integer in \[1, 20\]"):
        TrajectoryDataset(tiny_h5, "train", chunk_len=21)
    with pytest.raises(ValueError, match="split must be one of"):
        TrajectoryDataset(tiny_h5, "training", chunk_len=2)
    with pytest.raises(ValueError, match="n_trajectories must be in"):
        TrajectoryDataset(tiny_h5, "train", chunk_len=2, n_trajectories=65)


@pytest.fixture
def damaged(tiny_h5, tmp_path):
    """A writable copy of the tiny dataset."""
    path = tmp_path / "copy.h5"
    shutil.copy(tiny_h5, path)
    return path


def _flip_bytes_in_chunk(path, dataset, chunk_index=0):
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(chunk_index)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        byte = fh.read(1)
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match=r"absent.h5: no such file$"):
        check_dataset(tmp_path / "absent.h5")


def test_a_missing_file_beside_its_recipe_names_the_generate_command(tmp_path, root):
    (tmp_path / "tiny.toml").write_text((recipe_path("tiny")).read_text())
    expected = f"tiny.h5: no such file; make it with: hamilton-lie generate {tmp_path / 'tiny.toml'}"
    with pytest.raises(DatasetError, match=re.escape(expected)):
        TrajectoryDataset(tmp_path / "tiny.h5", "train", chunk_len=2)


def test_truncated_file(damaged):
    size = damaged.stat().st_size
    with open(damaged, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(DatasetError, match="not a readable HDF5 file"):
        check_dataset(damaged)


def test_not_hdf5(tmp_path):
    path = tmp_path / "text.h5"
    path.write_text("hello")
    with pytest.raises(DatasetError, match="not a readable HDF5 file"):
        TrajectoryDataset(path, "train", chunk_len=2)


def test_corrupted_chunk_fails_checksum(damaged):
    _flip_bytes_in_chunk(damaged, "test/q", chunk_index=3)
    with pytest.raises(DatasetError, match="failed checksum or corrupted data"):
        check_dataset(damaged)
    # the structure is intact, so a lazy dataset opens, and the read of the bad window fails
    ds = TrajectoryDataset(damaged, "test", chunk_len=5)
    ds[0]
    with pytest.raises(DatasetError, match="/test/q"):
        ds[3 * ds.windows_per_trajectory]


def test_nan_in_file(damaged):
    with h5py.File(damaged, "r+") as f:
        f["val/p"][2, 4, 0, 1] = np.nan
    with pytest.raises(DatasetError, match="/val/p contains NaN or inf"):
        check_dataset(damaged)
    ds = TrajectoryDataset(damaged, "val", chunk_len=5, windows="all")
    with pytest.raises(DatasetError, match="contains NaN or inf"):
        ds[2 * ds.windows_per_trajectory]


def test_inf_in_energy(damaged):
    with h5py.File(damaged, "r+") as f:
        f["train/energy"][0, 0] = np.inf
    with pytest.raises(DatasetError, match="/train/energy contains NaN or inf"):
        check_dataset(damaged)


def test_schema_mismatch(damaged):
    with h5py.File(damaged, "r+") as f:
        f.attrs["schema_version"] = 2
    with pytest.raises(DatasetError, match="schema version 2, but this hamilton-lie reads version 1"):
        TrajectoryDataset(damaged, "train", chunk_len=2)


def test_missing_field(damaged):
    with h5py.File(damaged, "r+") as f:
        del f["test/params/k"]
    with pytest.raises(DatasetError, match="missing dataset /test/params/k"):
        check_dataset(damaged, full=False)


def test_wrong_shape(damaged):
    with h5py.File(damaged, "r+") as f:
        del f["val/energy"]
        f["val"].create_dataset("energy", data=np.zeros((16, 3)))
    with pytest.raises(DatasetError, match=r"/val/energy has shape \(16, 3\), expected \(16, 20\)"):
        check_dataset(damaged, full=False)
