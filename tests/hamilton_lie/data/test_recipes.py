"""Recipe parsing: every shipped recipe, and every kind of bad recipe."""

import dataclasses
import re

import pytest
from helpers import BAD_RECIPE_EDITS, DATASET_RECIPES, GOOD_RECIPE

from hamilton_lie.data import RecipeError, load_recipe, parse_recipe, recipe_path
from simulators import DOP853, Yoshida4

GOOD = GOOD_RECIPE


@pytest.mark.parametrize("name", DATASET_RECIPES)
def test_shipped_recipes_parse(root, name):
    recipe = load_recipe(recipe_path(name))
    system = recipe.build_system()
    assert (system.n_bodies, system.dim) == (recipe.n_bodies, recipe.dim)


def test_lieconv_recipe_is_the_published_protocol(root):
    r = load_recipe(recipe_path("springs-2d-lieconv"))
    assert (r.system, r.n_bodies, r.dim, r.integrator, r.substeps, r.n_steps) == ("springs", 6, 2, "rk4", 1, 500)
    assert r.dt == pytest.approx(5 / 499, rel=1e-15)
    assert (r.splits.train, r.splits.val, r.splits.test) == (3000, 200, 2000)


def test_good_recipe_fields():
    r = parse_recipe(GOOD)
    assert r.settings == {} and r.compression == "none" and r.text == GOOD
    assert dataclasses.replace(r, text="") == dataclasses.replace(parse_recipe(GOOD), text="")


@pytest.mark.parametrize("edit, message", BAD_RECIPE_EDITS)
def test_bad_recipes_raise_recipe_error(edit, message):
    with pytest.raises(RecipeError, match=re.escape(message)) as info:
        parse_recipe(edit(GOOD), name="bad.toml")
    assert str(info.value).startswith("bad.toml: ")


def test_recipe_builds_its_integrator_with_the_options_that_apply():
    assert parse_recipe(GOOD.replace('"leapfrog"', '"yoshida4"')).build_integrator() == Yoshida4(substeps=2)
    dop = parse_recipe("rtol = 1e-10\natol = 1e-11\n" + GOOD.replace('"leapfrog"', '"dop853"'))
    assert dop.build_integrator() == DOP853(rtol=1e-10, atol=1e-11)


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="cannot read recipe"):
        load_recipe(tmp_path / "nope.toml")


def test_with_splits_changes_only_the_sizes_and_keeps_the_text_true(root):
    recipe = load_recipe(recipe_path("demo"))
    small = recipe.with_splits(5, 6, 7)
    assert (small.splits.train, small.splits.val, small.splits.test) == (5, 6, 7)
    assert parse_recipe(small.text).splits == small.splits
    assert small.settings == recipe.settings and (small.dt, small.seed, small.n_steps) == (
        recipe.dt,
        recipe.seed,
        recipe.n_steps,
    )
