"""The README's Python examples run (on the tiny dataset instead of a full one)."""

import re


def _blocks(root):
    return re.findall(r"```python\n(.*?)```", (root / "README.md").read_text(), flags=re.S)


def test_readme_simulation_example(root):
    namespace = {}
    exec(_blocks(root)[0], namespace)
    energy = namespace["H"]
    assert energy.shape == (128, 500)
    assert ((energy - energy[:, :1]).abs() / energy[:, :1]).max() < 1e-9


def test_readme_training_data_example(root, tiny_h5):
    code = _blocks(root)[1].replace('"datasets/springs-2d.h5"', repr(str(tiny_h5))).replace("range(10)", "range(2)")
    namespace = {}
    exec(code, namespace)
    batch = namespace["batch"]
    assert batch["q"].shape[1:] == (5, 6, 2) and batch["params"]["k"].shape[1:] == (6,)


def test_readme_model_example(root):
    namespace = {}
    exec(_blocks(root)[2], namespace)
    assert namespace["H"].shape == (8,) and namespace["dq"].shape == (8, 6, 2)


def test_readme_analysis_example(root):
    namespace = {}
    exec(_blocks(root)[3], namespace)
    assert namespace["error"].shape == (16, 21)
    assert namespace["noether"]["angular"].max() < 1e-6  # SO(2)-invariant H: RK4 keeps L to its truncation error
    assert abs(namespace["robust"].ratio - 1) < 1e-9
