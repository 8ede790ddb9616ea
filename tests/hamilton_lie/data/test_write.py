"""``write_dataset`` (arrays from elsewhere) and ``import_dataset`` (the NRI and EGNN ``.npy`` sets)."""

import json

import h5py
import numpy as np
import pytest
import torch

from hamilton_lie.data import (
    DatasetError,
    Provenance,
    TrajectoryDataset,
    check_dataset,
    import_dataset,
    load_split,
    write_dataset,
)
from simulators import SpringSystem, Yoshida4, integrate

SPLITS = {"train": 6, "val": 2, "test": 2}


@pytest.fixture(scope="module")
def springs():
    system = SpringSystem(n_bodies=4, dim=2)
    g = torch.Generator().manual_seed(0)
    params = system.sample_params(10, generator=g)
    q0, p0 = system.sample_state(params, generator=g)
    t = 0.1 * torch.arange(12, dtype=torch.float64)
    q, p = integrate(system, q0, p0, params, t, method=Yoshida4(substeps=10))
    return system, t, q, p, params


def test_arrays_of_a_known_system_read_back_equal_with_their_energies(springs, tmp_path):
    system, t, q, p, params = springs
    out = write_dataset(tmp_path / "s.h5", t, q, p, params, system="springs", splits=SPLITS,
                        provenance=Provenance(source="a test", assumptions=("none",)))  # fmt: skip
    info = check_dataset(out)
    assert info.sizes == SPLITS and info.attrs["dt"] == pytest.approx(0.1)
    assert json.loads(info.attrs["source"]) == {"source": "a test", "format": "", "assumptions": ["none"]}
    lo = 0
    for split, n in SPLITS.items():
        data = load_split(out, split)
        part = {k: v[lo : lo + n] for k, v in params.items()}
        torch.testing.assert_close(data["q"], q[lo : lo + n], rtol=0, atol=0)
        torch.testing.assert_close(data["p"], p[lo : lo + n], rtol=0, atol=0)
        torch.testing.assert_close(data["params"]["k"], part["k"], rtol=0, atol=0)
        torch.testing.assert_close(data["energy"], system.hamiltonian(q[lo : lo + n], p[lo : lo + n], part))
        lo += n
    assert 0 < info.attrs["max_rel_energy_error"] < 1e-4
    with h5py.File(out) as f:
        assert all(ds.fletcher32 for ds in (f["train/q"], f["train/t"], f["train/params/k"], f["train/energy"]))


def test_data_of_an_unknown_hamiltonian_read_and_train_without_energies(springs, tmp_path):
    _, t, q, p, params = springs
    edges = torch.ones(10, 4, 4, dtype=torch.float64)  # a per-pair parameter
    out = write_dataset(tmp_path / "u.h5", t, q, p, {**params, "edges": edges}, system="not-a-system", splits=SPLITS)
    info = check_dataset(out)
    assert not info.system_known and np.isnan(info.attrs["max_rel_energy_error"])
    assert load_split(out, "test")["energy"] is None
    with pytest.raises(DatasetError, match="'not-a-system' is not registered"):
        info.system()
    item = TrajectoryDataset(out, "train", chunk_len=3)[0]
    assert item["params"]["edges"].shape == (4, 4) and item["q"].shape == (3, 4, 2)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: {**a, "t": a["t"] + 1}, "uniform grid 0, dt"),
        (lambda a: {**a, "t": a["t"] ** 2}, "uniform grid 0, dt"),
        (lambda a: {**a, "q": a["q"][:, :, :, :1]}, "dim 2 or 3"),
        (lambda a: {**a, "p": a["p"][:5]}, "p must have the shape of q"),
        (lambda a: {**a, "q": torch.where(a["q"] > 1, torch.nan, a["q"])}, "q contains NaN"),
        (lambda a: {**a, "params": {"masses": a["params"]["masses"][:, :3]}}, r"params\['masses'\] must have shape"),
        (lambda a: {**a, "params": {"masses": a["params"]["masses"]}}, "do not fit system 'springs'.*missing 'k'"),
        (lambda a: {**a, "splits": {"train": 6, "val": 2, "test": 1}}, "add up to the 10 trajectories"),
        (lambda a: {**a, "splits": {"train": 8, "test": 2}}, "splits must give the sizes"),
    ],
)
def test_bad_arrays_are_refused_before_writing(springs, tmp_path, change, message):
    _, t, q, p, params = springs
    args = change({"t": t, "q": q, "p": p, "params": params, "splits": SPLITS})
    with pytest.raises(DatasetError, match=message):
        write_dataset(tmp_path / "bad.h5", args["t"], args["q"], args["p"], args["params"], system="springs",
                      splits=args["splits"])  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def _save_original(folder, fmt, suffix, rng, lengths=(9, 9, 19), dim=2, n_bodies=5):
    """An NRI- or EGNN-format set as the originals save it: (n, T, dim, n_bodies) and per-split files."""
    arrays = {}
    for split, n, length in zip(("train", "valid", "test"), (6, 2, 2), lengths, strict=True):
        charges = rng.choice([-1.0, 1.0], size=(n, n_bodies, 1))
        arrays[split] = {
            "loc": rng.normal(size=(n, length, dim, n_bodies)),
            "vel": rng.normal(size=(n, length, dim, n_bodies)),
            "edges": charges @ charges.transpose(0, 2, 1) if "charged" in suffix
            else rng.choice([0.0, 1.0], size=(n, n_bodies, n_bodies)),  # fmt: skip
        }
        if fmt == "egnn":
            arrays[split]["charges"] = charges
        for name, value in arrays[split].items():
            np.save(folder / f"{name}_{split}{suffix}.npy", value)
    return arrays


@pytest.mark.parametrize("fmt, suffix, dim", [("nri", "_springs5", 2), ("nri", "_charged5", 2),
                                              ("egnn", "_charged5_initvel1small", 3)])  # fmt: skip
def test_an_original_set_imports_and_reads_back_equal(tmp_path, fmt, suffix, dim):
    original = _save_original(tmp_path, fmt, suffix, np.random.default_rng(1), dim=dim)
    out = import_dataset(fmt, tmp_path, suffix, tmp_path / "imported.h5", dt=0.1)
    info = check_dataset(out)
    assert info.attrs["system"] == f"nri-{'springs' if 'springs' in suffix else 'charged'}"
    assert info.attrs["max_rel_energy_error"] >= 0  # a known H: energies computed
    assert info.system_settings["walls"] == ("initial" if fmt == "egnn" else "reflecting")
    assumptions = json.loads(info.attrs["source"])["assumptions"]
    assert any("unit masses" in a for a in assumptions) and any("cut to its first 9" in a for a in assumptions)
    for split, name in (("train", "train"), ("val", "valid"), ("test", "test")):
        data, raw = load_split(out, split), original[name]
        np.testing.assert_array_equal(data["q"].numpy(), raw["loc"][:, :9].transpose(0, 1, 3, 2))
        np.testing.assert_array_equal(data["p"].numpy(), raw["vel"][:, :9].transpose(0, 1, 3, 2))
        np.testing.assert_array_equal(data["params"]["masses"].numpy(), 1.0)  # supplied by the reader
        with h5py.File(out) as f:
            assert "masses" not in f[split]["params"]
        window = TrajectoryDataset(out, split, chunk_len=3)[0]
        np.testing.assert_array_equal(window["params"]["masses"].numpy(), np.ones(5))
        if "springs" in suffix:
            np.testing.assert_array_equal(data["params"]["edges"].numpy(), raw["edges"])
        else:  # the charges' products are the original's edges, off the diagonal
            c = data["params"]["charges"].numpy()
            off = 1 - np.eye(5)
            np.testing.assert_array_equal(c[:, :, None] * c[:, None, :] * off, raw["edges"] * off)
            if fmt == "egnn":
                np.testing.assert_array_equal(c, raw["charges"][:, :, 0])


def test_import_names_the_missing_file(tmp_path):
    _save_original(tmp_path, "nri", "_springs5", np.random.default_rng(0))
    (tmp_path / "vel_valid_springs5.npy").unlink()
    with pytest.raises(DatasetError, match="vel_valid_springs5.npy: no such file"):
        import_dataset("nri", tmp_path, "_springs5", tmp_path / "x.h5", dt=0.1)
    assert not (tmp_path / "x.h5").exists()


def test_a_user_system_named_by_reference_is_recorded_with_its_source(root, tmp_path):
    from simulators import load_system

    reference = str(root / "examples" / "lennard_jones.py") + ":LennardJones"
    system = load_system(reference)(n_bodies=4, dim=2)
    g = torch.Generator().manual_seed(0)
    params = system.sample_params(10, generator=g)
    q0, p0 = system.sample_state(params, generator=g)
    t = 0.05 * torch.arange(8, dtype=torch.float64)
    q, p = integrate(system, q0, p0, params, t, method=Yoshida4(substeps=40))
    out = write_dataset(tmp_path / "lj.h5", t, q, p, params, system=reference, splits=SPLITS,
                        settings={"epsilon": 1.0, "sigma": 1.0, "radius": 2.5, "speed": 0.3})  # fmt: skip
    info = check_dataset(out)
    assert info.attrs["system"] == "lennard-jones" and info.attrs["system_source"] == reference
    assert info.system_known and 0 < info.attrs["max_rel_energy_error"] < 1e-5
    torch.testing.assert_close(load_split(out, "val")["energy"], system.hamiltonian(q[6:8], p[6:8], {
        k: v[6:8] for k, v in params.items()}))  # fmt: skip
