import sys
from pathlib import Path

import pytest
import torch

from hamilton_lie.data import recipe_path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(1234)


@pytest.fixture(scope="session")
def tiny_h5(tmp_path_factory) -> Path:
    """The tiny recipe generated once per test session."""
    from hamilton_lie import generate_dataset, load_recipe

    out = tmp_path_factory.mktemp("data") / "tiny.h5"
    generate_dataset(load_recipe(recipe_path("tiny")), out)
    return out
