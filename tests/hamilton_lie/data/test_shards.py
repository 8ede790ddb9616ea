"""Generation across processes (torchrun): shard files joined by virtual datasets read like one process's file."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from hamilton_lie.data import (
    DatasetError,
    TrajectoryDataset,
    check_dataset,
    generate_dataset,
    load_split,
    parse_recipe,
)
from hamilton_lie.data._generate import _write
from hamilton_lie.data._shards import join_shards, shard_path, shard_range

# odd split sizes, so that the shards differ in size; an adaptive integrator, so that step counts differ
HEADER = """
n_bodies = 3
dim = 3
dt = 0.1
n_steps = 12
seed = 5
batch_size = 4

[splits]
train = 7
val = 3
test = 1
"""
CLUSTER = 'system = "gravity"\nintegrator = "dop853"\nsubsteps = 1\nrtol = 1e-9\natol = 1e-9\n' + HEADER + """
[settings]
configuration = "cluster"
"""
TINY = 'system = "springs"\nintegrator = "yoshida4"\nsubsteps = 3\n' + HEADER


def _contents(path: Path) -> dict:
    """Every array of the file by name, and its root attributes less the ones that say when and how it was written."""
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
        attrs = {k: str(v) for k, v in f.attrs.items() if k not in ("created", "shards")}
    return {"arrays": arrays, "attrs": attrs}


def _assert_same(joined: Path, single: Path) -> None:
    a, b = _contents(joined), _contents(single)
    assert a["attrs"] == b["attrs"]
    assert sorted(a["arrays"]) == sorted(b["arrays"])
    for name, value in b["arrays"].items():
        assert a["arrays"][name].dtype == value.dtype, name
        np.testing.assert_array_equal(a["arrays"][name], value, err_msg=name)  # bit for bit


def test_shards_cover_every_trajectory_once():
    for n in (0, 1, 2, 7, 100):
        for world in (1, 2, 3, 8):
            ranges = [shard_range(n, rank, world) for rank in range(world)]
            assert ranges[0][0] == 0 and ranges[-1][1] == n
            assert all(hi == lo for (_, hi), (lo, _) in zip(ranges, ranges[1:], strict=False))
            assert max(hi - lo for lo, hi in ranges) - min(hi - lo for lo, hi in ranges) <= 1


@pytest.mark.parametrize("world", [2, 3])
def test_joined_shards_equal_one_process_bit_for_bit(tmp_path, world):
    """Three shards of a one-trajectory split leave two shards empty there."""
    recipe = parse_recipe(CLUSTER, "cluster")
    single = generate_dataset(recipe, tmp_path / "single.h5").path
    out = tmp_path / "joined" / "cluster.h5"
    for rank in range(world):
        shard = shard_path(out, rank, world)
        shard.parent.mkdir(parents=True, exist_ok=True)
        _write(recipe, shard, shard, torch.device("cpu"), None, (rank, world))
        assert check_dataset(shard).sizes["train"] == np.diff(shard_range(7, rank, world)).item()
    join_shards(out, out, world)
    _assert_same(out, single)
    info = check_dataset(out)
    assert info.attrs["shards"] == world and info.steps == check_dataset(single).steps
    assert info.attrs["max_rel_energy_error"] == check_dataset(single).attrs["max_rel_energy_error"]
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(load_split(out, split)["q"], load_split(single, split)["q"])
    windows = TrajectoryDataset(out, "train", chunk_len=4, windows="fixed", seed=0)
    assert len(windows) == 7


def test_joined_file_refuses_a_missing_or_damaged_shard(tmp_path):
    recipe = parse_recipe(TINY, "tiny")
    out = tmp_path / "tiny.h5"
    for rank in range(2):
        shard = shard_path(out, rank, 2)
        shard.parent.mkdir(exist_ok=True)
        _write(recipe, shard, shard, torch.device("cpu"), None, (rank, 2))
    join_shards(out, out, 2)
    check_dataset(out)
    moved = shard_path(out, 1, 2).rename(tmp_path / "elsewhere.h5")
    for read in (check_dataset, lambda p: load_split(p, "train"), lambda p: TrajectoryDataset(p, "train", 4)):
        with pytest.raises(DatasetError, match=r"its shard .*1-of-2\.h5 is missing"):
            read(out)
    moved.rename(shard_path(out, 1, 2))
    # the folder moves with the file: the shards are found relative to it
    (tmp_path / "moved").mkdir()
    out.rename(tmp_path / "moved" / out.name)
    shard_path(out, 0, 2).parent.rename(tmp_path / "moved" / shard_path(out, 0, 2).parent.name)
    check_dataset(tmp_path / "moved" / out.name)


@pytest.mark.parametrize("recipe", [TINY, CLUSTER], ids=["fixed-step", "adaptive"])
def test_torchrun_generate_with_two_gloo_processes(tmp_path, recipe):
    (tmp_path / "recipe.toml").write_text(recipe)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "hamilton_lie", "generate", "recipe.toml", "--out", "joined/data.h5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == 1 and "joined from 2 shards" in done.stdout  # one summary, by rank 0
    assert sorted(p.name for p in (tmp_path / "joined" / "data.shards").iterdir()) == ["0-of-2.h5", "1-of-2.h5"]
    single = generate_dataset(parse_recipe(recipe, "recipe"), tmp_path / "single.h5").path
    _assert_same(tmp_path / "joined" / "data.h5", single)
    again = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "hamilton_lie", "generate", "recipe.toml", "--out", "joined/data.h5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert again.returncode != 0 and "already exists" in again.stderr
