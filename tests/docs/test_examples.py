"""The Python examples of the README and the documentation pages run (on the tiny dataset and a
one-epoch run instead of full ones), and the tables that restate the code agree with it."""

import inspect
import re

import pytest
import torch

from hamilton_lie import load_config, train
from hamilton_lie.data import recipe_names
from simulators import list_systems, system_class


def _blocks(path, language="python"):
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(), flags=re.S)


def _run(code: str) -> dict:
    namespace = {}
    exec(code, namespace)
    return namespace


def test_readme_example(root):
    (code,) = _blocks(root / "README.md")
    namespace = _run(code)
    assert namespace["error"].shape == (16, 51) and namespace["drift"].shape == (16, 51)
    assert abs(namespace["robust"].ratio - 1) < 1e-9


def test_simulation_example(root):
    namespace = _run(_blocks(root / "docs" / "guide" / "simulate.md")[0])
    energy = namespace["H"]
    assert energy.shape == (128, 500)
    assert ((energy - energy[:, :1]).abs() / energy[:, :1]).max() < 1e-9


def test_reading_example(root, tiny_h5):
    code = _blocks(root / "docs" / "guide" / "read.md")[0]
    batch = _run(code.replace('"datasets/springs-2d.h5"', repr(str(tiny_h5))).replace("range(10)", "range(2)"))["batch"]
    assert batch["q"].shape[1:] == (5, 6, 2) and batch["params"]["k"].shape[1:] == (6,)


def test_model_example(root):
    namespace = _run(_blocks(root / "docs" / "concepts" / "groups.md")[0])
    assert namespace["H"].shape == (8,) and namespace["dq"].shape == (8, 6, 2)


def test_trained_model_example(root, tiny_h5, tmp_path):
    run = tmp_path / "run"
    train(load_config("demo-gaattention", [f"data.path={tiny_h5}", f"train.out={run}", "train.epochs=1"]))
    code = _blocks(root / "docs" / "guide" / "evaluate.md")[0]
    namespace = _run(code.replace('"runs/demo/gaattention"', repr(str(run))).replace('"runs/demo/demo.h5"', repr(str(tiny_h5))))
    z, test = namespace["z"], namespace["test"]
    assert z.dtype == torch.float64 and z.shape == (4, test["t"].shape[0], 2, 6, 2)
    torch.testing.assert_close(z[:, 0, 0], test["q"][:4, 0])


def test_analysis_example(root):
    namespace = _run(_blocks(root / "docs" / "guide" / "evaluate.md")[1])
    assert namespace["error"].shape == (16, 21)
    assert namespace["noether"]["angular"].max() < 1e-6  # SO(2)-invariant H: RK4 keeps L to its truncation error
    assert abs(namespace["robust"].ratio - 1) < 1e-9


def test_extending_examples(root, monkeypatch):
    """The new energy model and the new group of docs/extending.md (its first block is the user system,
    run by tests/test_user_physics.py); the registrations last for this test only."""
    from hamilton_lie.groups import GROUPS
    from hamilton_lie.models import MODELS, get_model

    for registry in (MODELS, GROUPS):
        monkeypatch.setattr(registry, "_factories", dict(registry._factories))
    blocks = _blocks(root / "docs" / "extending.md")
    model_code, check, group_code = (next(b for b in blocks if key in b) for key in
                                     ("class PairPotential", "assert_equivariant(model", "register_group("))  # fmt: skip
    namespace = _run(model_code + check)  # assert_equivariant raises if the model is not invariant
    model = get_model("pair-potential", hidden=8).double()
    assert isinstance(model, namespace["PairPotential"])
    assert model(namespace["q"], namespace["p"], namespace["params"]).shape == (4,)
    _run(group_code)
    assert "SE3-icosahedral" in GROUPS


def test_settings_table_lists_every_constructor_setting(root):
    """docs/guide/generate.md's [settings] table names, per registered system, exactly the constructor's
    keyword arguments after n_bodies and dim, with their defaults."""
    text = (root / "docs" / "guide" / "generate.md").read_text()
    rows = {m.group(1): m.group(3) for m in re.finditer(r"^\| `([\w-]+)` \| `(\w+)` \| (.*) \|$", text, flags=re.M)}
    assert set(rows) == set(list_systems())
    for name, cell in rows.items():
        parameters = list(inspect.signature(system_class(name).__init__).parameters.values())[3:]
        parts = re.split(r"`(\w+)`", cell)  # [before, key, text after it, key, text, ...]
        documented = dict(zip(parts[1::2], parts[2::2], strict=True))
        assert list(documented) == [p.name for p in parameters], name
        for parameter in parameters:
            default = parameter.default
            expected = f'"{default}"' if isinstance(default, str) else str(default)
            assert documented[parameter.name].strip().startswith(expected), (name, parameter.name, expected)


@pytest.mark.parametrize("page", ["README.md", "docs/guide/train.md"])
def test_presets_named_in_the_docs_exist(root, page):
    from hamilton_lie.training import preset_names

    # as a command's argument, in backticks or as a run's label in a table: "train NAME", "`NAME`", "(NAME)"
    named = set(re.findall(r"(?:train |`|\()((?:demo|springs)-[\w-]+)(?=[`) ])", (root / page).read_text()))
    named -= set(recipe_names())
    assert named and named <= set(preset_names()), named - set(preset_names())
