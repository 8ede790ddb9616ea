"""Dataset generation: schema v1, reproducibility, atomic writes, accuracy of the shipped recipes."""

import dataclasses
import json

import h5py
import numpy as np
import pytest
import torch
from helpers import ACCURATE_RECIPES

from hamilton_lie import HamiltonLieError, check_dataset, generate_dataset, load_recipe, load_split
from hamilton_lie.data import ROOT_ATTRS, Splits, parse_recipe, recipe_path
from simulators import DOP853, integrate


def _small(recipe, **splits):
    sizes = {"train": 3, "val": 1, "test": 1, **splits}
    return dataclasses.replace(recipe, splits=Splits(**sizes))


def test_schema_v1(tiny_h5, root):
    recipe = load_recipe(recipe_path("tiny"))
    with h5py.File(tiny_h5, "r") as f:
        assert set(ROOT_ATTRS) <= set(f.attrs)
        assert f.attrs["schema_version"] == 1 and f.attrs["system"] == "springs"
        assert json.loads(f.attrs["system_settings"]) == recipe.build_system().settings
        for split, n in recipe.splits.items():
            g = f[split]
            shape = (n, recipe.n_steps, recipe.n_bodies, recipe.dim)
            for name in ("q", "p"):
                assert g[name].shape == shape and g[name].dtype == np.float64
                assert g[name].chunks == (1, *shape[1:]) and g[name].fletcher32
            assert g["energy"].shape == shape[:2] and g["energy"].fletcher32
            assert set(g["params"]) == {"masses", "k"} and g["params/k"].shape == (n, recipe.n_bodies)
            np.testing.assert_allclose(g["t"][:], recipe.dt * np.arange(recipe.n_steps), rtol=1e-15)


ADAPTIVE_CLUSTER = """
system = "gravity"
n_bodies = 5
dim = 3
dt = 0.1
n_steps = 11
integrator = "dop853"
substeps = 1
rtol = 1e-10
atol = 1e-10
seed = 0
batch_size = 4
[splits]
train = 6
val = 2
test = 2
[settings]
configuration = "cluster"
"""


def test_each_trajectorys_integrator_steps_are_recorded(tmp_path, tiny_h5):
    """An adaptive recipe stores each trajectory's accepted steps, the counts integrate gives for the same
    initial states alone; a fixed-step recipe stores substeps per sample interval; info summarises them."""
    recipe = parse_recipe(ADAPTIVE_CLUSTER, "cluster")
    out = generate_dataset(recipe, tmp_path / "cluster.h5").path
    system, method = recipe.build_system(), recipe.build_integrator()
    counts = []
    for split in ("train", "val", "test"):
        data = load_split(out, split)
        with h5py.File(out, "r") as f:
            stored = f[split]["steps"][()]
        assert stored.dtype == np.int64 and stored.shape == (data["q"].shape[0],)
        for b in range(stored.shape[0]):
            params = {k: v[b : b + 1] for k, v in data["params"].items()}
            *_, steps = integrate(system, data["q"][b : b + 1, 0], data["p"][b : b + 1, 0], params, data["t"],
                                  method=method, return_steps=True)  # fmt: skip
            assert int(steps[0]) == stored[b]
        counts += stored.tolist()
    assert len(set(counts)) > 3  # close encounters: the trajectories need very different steps
    assert check_dataset(out).steps == (min(counts), int(np.median(counts)), max(counts))
    tiny = load_recipe("tiny")
    with h5py.File(tiny_h5, "r") as f:
        assert (f["train"]["steps"][()] == tiny.substeps * (tiny.n_steps - 1)).all()


def test_steps_of_the_wrong_kind_are_named(tmp_path, tiny_h5):
    import shutil

    from hamilton_lie.data import DatasetError

    broken = tmp_path / "broken.h5"
    shutil.copy(tiny_h5, broken)
    with h5py.File(broken, "r+") as f:
        n = f["val"]["steps"].shape[0]
        del f["val"]["steps"]
        f["val"].create_dataset("steps", data=np.ones(n))  # float64, not integers
    with pytest.raises(DatasetError, match=r"/val/steps must be \(\d+,\) integers"):
        check_dataset(broken, full=False)


def test_stored_energy_and_error_are_consistent(tiny_h5, root):
    system = load_recipe(recipe_path("tiny")).build_system()
    worst = 0.0
    for split in ("train", "val", "test"):
        data = load_split(tiny_h5, split)
        energy = system.hamiltonian(data["q"], data["p"], data["params"])
        torch.testing.assert_close(energy, data["energy"], rtol=1e-15, atol=0)
        with h5py.File(tiny_h5, "r") as f:
            worst = max(worst, float(f[split]["rel_energy_error"][:].max()))
    with h5py.File(tiny_h5, "r") as f:
        assert f.attrs["max_rel_energy_error"] == worst


def test_recipe_round_trips_through_file(tiny_h5, root):
    original = load_recipe(recipe_path("tiny"))
    with h5py.File(tiny_h5, "r") as f:
        again = parse_recipe(f.attrs["recipe"], name=original.name)
    assert again == original


@pytest.mark.parametrize("name, change", [
    ("gravity-2d", {"substeps": 4}),
    ("gravity-2d", {"integrator": "dop853", "rtol": 1e-10, "atol": 1e-10}),
    ("springs-2d", {}),
    ("nri-charged", {}),
    ("hnn-three-body", {}),
])  # fmt: skip
def test_same_seed_same_bytes_whatever_the_batch_size(tmp_path, root, name, change):
    # the default batch holds all three splits; batches of 2 cut them into pieces, which moves every
    # trajectory to another place in its tensors (vectorised kernels treat a tensor's tail differently)
    recipe = _small(load_recipe(recipe_path(name)), train=7)
    recipe = dataclasses.replace(recipe, n_steps=6, **change)
    generate_dataset(recipe, tmp_path / "a.h5")
    generate_dataset(dataclasses.replace(recipe, batch_size=2), tmp_path / "b.h5")
    generate_dataset(dataclasses.replace(recipe, seed=recipe.seed + 1), tmp_path / "c.h5")
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b, h5py.File(tmp_path / "c.h5") as c:
        for split in ("train", "val", "test"):
            names = ["q", "p", "energy", *(f"params/{k}" for k in a[split]["params"])]
            for array in names:
                assert a[split][array][:].tobytes() == b[split][array][:].tobytes(), (split, array)
            assert not np.array_equal(a[split]["q"][:], c[split]["q"][:])


def test_refuses_to_overwrite_without_force(tmp_path, root):
    recipe = _small(load_recipe(recipe_path("tiny")))
    out = tmp_path / "d.h5"
    generate_dataset(recipe, out)
    before = out.read_bytes()
    with pytest.raises(HamiltonLieError, match="already exists; pass --force"):
        generate_dataset(recipe, out)
    assert out.read_bytes() == before
    generate_dataset(recipe, out, force=True)
    check_dataset(out)


def test_failure_leaves_no_file(tmp_path, root, monkeypatch):
    recipe = dataclasses.replace(_small(load_recipe(recipe_path("tiny"))), batch_size=2)
    calls = []

    def failing(n):  # a crash between two batches, with part of the file written
        calls.append(n)
        if len(calls) == 2:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        generate_dataset(recipe, tmp_path / "e.h5", progress=failing)
    assert list(tmp_path.iterdir()) == []


def test_non_finite_integration_is_an_error(tmp_path, root):
    # a time step far beyond leapfrog's stability limit blows up
    recipe = dataclasses.replace(
        _small(load_recipe(recipe_path("tiny"))), dt=50.0, n_steps=200, integrator="leapfrog", substeps=1
    )
    with pytest.raises(HamiltonLieError, match="non-finite values; reduce dt or increase substeps"):
        generate_dataset(recipe, tmp_path / "f.h5")
    assert list(tmp_path.iterdir()) == []


def test_lzf_compression(tmp_path, root):
    recipe = dataclasses.replace(_small(load_recipe(recipe_path("tiny"))), compression="lzf")
    generate_dataset(recipe, tmp_path / "g.h5")
    with h5py.File(tmp_path / "g.h5") as f:
        assert f["train/q"].compression == "lzf"
    check_dataset(tmp_path / "g.h5")


@pytest.mark.parametrize("name", ACCURATE_RECIPES)
def test_accurate_recipes_agree_with_dop853(tmp_path, root, name):
    """Files from the accurate recipes against scipy DOP853 at rtol 1e-12.

    Springs over the whole trajectory; gravity and charges, which are chaotic, over the first 20 samples.
    """
    recipe = _small(load_recipe(recipe_path(name)))
    samples = recipe.n_steps if recipe.system == "springs" else 20
    out = generate_dataset(recipe, tmp_path / "h.h5").path
    data = load_split(out, "train")
    system = recipe.build_system()
    q0, p0 = data["q"][:, 0], data["p"][:, 0]
    t = data["t"][:samples]
    qd, pd = integrate(system, q0, p0, data["params"], t, method=DOP853(rtol=1e-12, atol=1e-12))
    q, p = data["q"][:, :samples], data["p"][:, :samples]
    num = ((q - qd).pow(2).sum((-1, -2)) + (p - pd).pow(2).sum((-1, -2))).sqrt()
    rel = num / (qd.pow(2).sum((-1, -2)) + pd.pow(2).sum((-1, -2))).sqrt()
    assert rel.max() < 1e-7, rel.max()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_generation_on_cuda_matches_cpu(tmp_path, root):
    recipe = _small(load_recipe(recipe_path("gravity-2d")))
    recipe = dataclasses.replace(recipe, n_steps=20)
    generate_dataset(recipe, tmp_path / "cpu.h5")
    generate_dataset(recipe, tmp_path / "gpu.h5", device="cuda")
    a, b = load_split(tmp_path / "cpu.h5", "train"), load_split(tmp_path / "gpu.h5", "train")
    assert torch.equal(a["params"]["masses"], b["params"]["masses"])
    torch.testing.assert_close(a["q"], b["q"], rtol=1e-10, atol=1e-12)
