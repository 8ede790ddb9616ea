"""Recipe parsing: every shipped recipe, and every kind of bad recipe."""

import dataclasses

import pytest
from helpers import DATASET_RECIPES

from hamilton_lie import RecipeError, load_recipe, parse_recipe

GOOD = """
system = "springs"
n_bodies = 3
dim = 2
dt = 0.1
n_steps = 10
integrator = "leapfrog"
substeps = 2
seed = 0
[splits]
train = 4
val = 2
test = 2
"""


@pytest.mark.parametrize("name", DATASET_RECIPES)
def test_shipped_recipes_parse(root, name):
    recipe = load_recipe(root / "datasets" / f"{name}.toml")
    system = recipe.build_system()
    assert (system.n_bodies, system.dim) == (recipe.n_bodies, recipe.dim)


def test_lieconv_recipe_is_the_published_protocol(root):
    r = load_recipe(root / "datasets" / "springs-2d-lieconv.toml")
    assert (r.system, r.n_bodies, r.dim, r.integrator, r.substeps, r.n_steps) == ("springs", 6, 2, "rk4", 1, 500)
    assert r.dt == pytest.approx(5 / 499, rel=1e-15)
    assert (r.splits.train, r.splits.val, r.splits.test) == (3000, 200, 2000)


def test_good_recipe_fields():
    r = parse_recipe(GOOD)
    assert r.settings == {} and r.compression == "none" and r.text == GOOD
    assert dataclasses.replace(r, text="") == dataclasses.replace(parse_recipe(GOOD), text="")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: "colour = 3\n" + s, "unknown key 'colour'"),
        (lambda s: s.replace("n_bodies = 3", 'n_bodies = "three"'), "n_bodies must be an integer"),
        (lambda s: s.replace("n_bodies = 3", "n_bodies = true"), "n_bodies must be an integer"),
        (lambda s: s.replace("dt = 0.1", "dt = -0.1"), "dt must be a positive number"),
        (lambda s: s.replace("train = 4", "train = -4"), "splits.train must be a positive number"),
        (lambda s: s.replace('"springs"', '"fluid"'), "unknown system 'fluid'"),
        (lambda s: s.replace('"leapfrog"', '"euler"'), "unknown integrator 'euler'"),
        (lambda s: s.replace("seed = 0\n", ""), "missing key 'seed'"),
        (lambda s: s.replace("dim = 2", "dim = 4"), "dim must be 2 or 3"),
        (lambda s: s + "\n[settings]\nstiffness = 2\n", "does not take"),
        (lambda s: s + "\n[settings]\nmass_range = [0, 1]\n", "mass_range must satisfy"),
        (lambda s: s.replace("test = 2", "test = 2\nextra = 1"), "exactly the keys train, val, test"),
        (lambda s: s.replace("dt = 0.1", "dt = 0.1 0.2"), "not valid TOML"),
    ],
)
def test_bad_recipes_raise_recipe_error(edit, message):
    with pytest.raises(RecipeError, match=message) as info:
        parse_recipe(edit(GOOD), name="bad.toml")
    assert str(info.value).startswith("bad.toml: ")


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="cannot read recipe"):
        load_recipe(tmp_path / "nope.toml")
