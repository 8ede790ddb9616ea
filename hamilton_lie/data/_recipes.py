"""Dataset recipes: the TOML files that say how a dataset is generated.

A recipe names the system and its physical settings, the integrator and its step, the sizes of the
splits and the seed. The shipped recipes live in ``hamilton_lie/data/recipes/`` and load by name
(``load_recipe("tiny")``); ``datasets/README.md`` holds their data cards. Parsing is strict (the
toolkit's one TOML loader): an unknown key, a wrong type or a bad value raises :class:`RecipeError`
naming the file and the key.

```toml
system = "springs"            # springs | gravity | charged, or a user system: "my_systems.py:LennardJones"
n_bodies = 6
dim = 2
dt = 0.1                      # interval between stored samples
n_steps = 100                 # samples per trajectory, t = 0, dt, ..., (n_steps-1) dt
integrator = "yoshida4"       # leapfrog | yoshida4 | rk4 | dop853
substeps = 10                 # integrator steps per stored sample (fixed-step integrators)
seed = 0
[splits]
train = 3000
val = 200
test = 200
[settings]                    # optional: the system constructor's keyword arguments
```
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from simulators import HamiltonianSystem, Integrator, get_system, list_integrators, list_systems, load_system
from simulators.integrators import INTEGRATORS
from simulators.systems import is_reference, resolve_reference

from .. import _toml
from .._errors import RecipeError
from .._presets import recipe_names, shipped_recipe
from .._toml import NOT_IN_TOML, at_least, one_of, positive, within

COMPRESSIONS = ("none", "lzf", "gzip")


@dataclass(frozen=True)
class Splits:
    """Number of trajectories in each split."""

    train: int = field(metadata=at_least(1))
    val: int = field(metadata=at_least(1))
    test: int = field(metadata=at_least(1))

    def items(self):
        return (("train", self.train), ("val", self.val), ("test", self.test))


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe. ``text`` keeps the TOML source, which the dataset stores verbatim.

    Attributes:
        system: a registered system name (``springs``, ``gravity``, ``charged``). The TOML may instead
            name a user-defined class, ``"package.module:Class"`` or ``"path/file.py:Class"`` (relative to
            the recipe's folder); parsing loads and registers it, and ``system`` is then its name.
        n_bodies, dim: bodies per system and spatial dimension (2 or 3).
        dt: interval between stored samples; ``n_steps`` samples per trajectory.
        integrator: a registered integrator name; ``substeps`` integrator steps per sample (fixed-step
            integrators), ``rtol`` and ``atol`` its tolerances (``dop853``).
        seed: the seed every random draw derives from.
        splits: sizes of train, val and test.
        settings: keyword arguments of the system's constructor (physical constants).
        compression: ``none`` (default), ``lzf`` or ``gzip``.
        batch_size: trajectories integrated together (memory vs speed; does not change the data).
        name: where it came from (usually the file path), for messages.
        folder: the recipe's folder, which relative system references are taken from.
        system_source: the absolute reference of a user-defined system (empty for built-in ones).
    """

    system: str
    n_bodies: int = field(metadata=at_least(1))
    dim: int = field(metadata=one_of(2, 3))
    dt: float = field(metadata=positive())
    n_steps: int = field(metadata=at_least(2))
    integrator: str
    substeps: int = field(metadata=at_least(1))
    seed: int = field(metadata=within(0, 2**63 - 1))  # stored as an HDF5 int64 attribute
    splits: Splits
    settings: dict = field(default_factory=dict)
    compression: str = field(default="none", metadata=one_of(*COMPRESSIONS))
    batch_size: int = field(default=1000, metadata=at_least(1))
    rtol: float = field(default=1e-12, metadata=positive())
    atol: float = field(default=1e-12, metadata=positive())
    name: str = field(default="recipe", metadata=NOT_IN_TOML)
    text: str = field(default="", metadata=NOT_IN_TOML)
    folder: str = field(default=".", metadata=NOT_IN_TOML, compare=False)
    system_source: str = field(default="", metadata=NOT_IN_TOML)

    def build_system(self) -> HamiltonianSystem:
        """The simulator this recipe describes."""
        try:
            return get_system(self.system, n_bodies=self.n_bodies, dim=self.dim, **self.settings)
        except TypeError as e:
            raise RecipeError(f"{self.name}: [settings] has a key that {self.system} does not take ({e})") from None
        except ValueError as e:
            raise RecipeError(f"{self.name}: [settings]: {e}") from None

    def build_integrator(self) -> Integrator:
        """The integrator this recipe describes, with the options that apply to it."""
        cls = INTEGRATORS[self.integrator]
        options = {"substeps": self.substeps, "rtol": self.rtol, "atol": self.atol}
        return cls(**{k: v for k, v in options.items() if k in cls.__dataclass_fields__})

    def with_splits(self, train: int, val: int, test: int) -> Recipe:
        """The same physics, time grid and seed with other split sizes (e.g. a quick small version).

        The TOML text is rewritten to match, so the file written from it records what it holds.
        """
        sizes = {"train": train, "val": val, "test": test}
        lines, section = [], None
        for line in self.text.splitlines():
            header = re.match(r"\s*\[([^\]]+)\]", line)
            section = header.group(1).strip() if header else section
            key = re.match(r"\s*(train|val|test)\s*=", line)
            lines.append(f"{key.group(1)} = {sizes[key.group(1)]}" if section == "splits" and key else line)
        return parse_recipe("\n".join(lines) + "\n", self.name, self.folder)


def parse_recipe(text: str, name: str = "recipe", folder: str | Path = ".") -> Recipe:
    """Parse recipe TOML ``text``; ``name`` (usually the file path) prefixes error messages; a relative
    ``path/file.py:Class`` system reference is taken from ``folder``."""
    recipe = _toml.from_table(Recipe, _toml.parse(text, name, RecipeError), name, RecipeError)
    recipe = dataclasses.replace(recipe, name=name, text=text, folder=str(folder))
    if is_reference(recipe.system):
        try:
            cls = load_system(recipe.system, relative_to=folder)
        except ValueError as e:
            raise RecipeError(f"{name}: system: {e}") from None
        recipe = dataclasses.replace(recipe, system=cls.name, system_source=resolve_reference(recipe.system, folder))
    for key, known in (("system", list_systems()), ("integrator", list_integrators())):
        if getattr(recipe, key) not in known:
            raise RecipeError(f"{name}: unknown {key} {getattr(recipe, key)!r}; expected one of {known}")
    recipe.build_system()  # settings errors surface now, not after a long run
    return recipe


def load_recipe(source: str | Path) -> Recipe:
    """Read and parse a recipe: a TOML file, or the name of a shipped recipe (``"tiny"``, ``"nri-springs"``;
    :func:`recipe_names` lists them)."""
    path = shipped_recipe(source) or Path(source)
    if not path.exists() and path.suffix != ".toml" and len(path.parts) == 1:
        raise RecipeError(f"{source}: no such recipe file or shipped recipe; shipped recipes are {recipe_names()}")
    return parse_recipe(_toml.read(path, RecipeError, "recipe"), name=str(path), folder=path.parent)
