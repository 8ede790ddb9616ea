"""Dataset recipes: the TOML files in ``datasets/`` that say how a dataset is generated.

A recipe names the system and its physical settings, the integrator and its step, the
sizes of the splits and the seed; see ``datasets/README.md`` for each shipped recipe and
DESIGN.md for the fixed keys. Parsing is strict: an unknown key, a wrong type or a bad
value raises :class:`RecipeError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from simulators import METHODS, SYSTEMS, HamiltonianSystem, get_system

from .errors import RecipeError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

COMPRESSIONS = ("none", "lzf", "gzip")


@dataclass(frozen=True)
class Splits:
    """Number of trajectories in each split."""

    train: int
    val: int
    test: int

    def items(self):
        return (("train", self.train), ("val", self.val), ("test", self.test))


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe. ``text`` keeps the TOML source, which the dataset stores verbatim.

    Attributes:
        system: ``springs``, ``gravity`` or ``charged``.
        n_bodies, dim: bodies per system and spatial dimension.
        dt: interval between stored samples; ``n_steps`` samples per trajectory.
        integrator: one of ``simulators.METHODS``; ``substeps`` integrator steps per sample.
        seed: the seed every random draw derives from.
        splits: sizes of train, val and test.
        settings: keyword arguments of the system's constructor (physical constants).
        compression: ``none`` (default), ``lzf`` or ``gzip``.
        batch_size: trajectories integrated together (memory vs speed; does not change the data).
        rtol, atol: tolerances for ``integrator = "dop853"``.
    """

    system: str
    n_bodies: int
    dim: int
    dt: float
    n_steps: int
    integrator: str
    substeps: int
    seed: int
    splits: Splits
    settings: dict = field(default_factory=dict)
    compression: str = "none"
    batch_size: int = 1000
    rtol: float = 1e-12
    atol: float = 1e-12
    name: str = "recipe"
    text: str = ""

    def build_system(self) -> HamiltonianSystem:
        """The simulator this recipe describes."""
        try:
            return get_system(self.system, n_bodies=self.n_bodies, dim=self.dim, **self.settings)
        except TypeError as e:
            raise RecipeError(f"{self.name}: [settings] has a key that {self.system} does not take ({e})") from None
        except ValueError as e:
            raise RecipeError(f"{self.name}: [settings]: {e}") from None

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
        return parse_recipe("\n".join(lines) + "\n", self.name)


_TOP_KEYS = {f.name for f in dataclasses.fields(Recipe)} - {"name", "text"}


def _expect(name: str, key: str, value, kind: type | tuple[type, ...], what: str):
    # bool is an int in Python; a recipe that says `n_bodies = true` is a mistake
    if isinstance(value, bool) or not isinstance(value, kind):
        raise RecipeError(f"{name}: {key} must be {what}, got {value!r}")
    return value


def parse_recipe(text: str, name: str = "recipe") -> Recipe:
    """Parse recipe TOML ``text``; ``name`` (usually the file path) prefixes error messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"{name}: not valid TOML ({e})") from None
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise RecipeError(f"{name}: unknown key {unknown[0]!r}; allowed keys are {sorted(_TOP_KEYS)}")
    required = ["system", "n_bodies", "dim", "dt", "n_steps", "integrator", "substeps", "seed", "splits"]
    missing = [k for k in required if k not in raw]
    if missing:
        raise RecipeError(f"{name}: missing key {missing[0]!r}")

    system = _expect(name, "system", raw["system"], str, "a string")
    if system not in SYSTEMS:
        raise RecipeError(f"{name}: unknown system {system!r}; expected one of {sorted(SYSTEMS)}")
    ints = {}
    for key, low in (("n_bodies", 1), ("dim", 2), ("n_steps", 2), ("substeps", 1), ("seed", 0), ("batch_size", 1)):
        if key in raw:
            v = _expect(name, key, raw[key], int, "an integer")
            if v < low:
                raise RecipeError(f"{name}: {key} must be at least {low}, got {v}")
            ints[key] = v
    if ints["dim"] not in (2, 3):
        raise RecipeError(f"{name}: dim must be 2 or 3, got {ints['dim']}")
    floats = {}
    for key in ("dt", "rtol", "atol"):
        if key in raw:
            v = float(_expect(name, key, raw[key], (int, float), "a number"))
            if not (math.isfinite(v) and v > 0):
                raise RecipeError(f"{name}: {key} must be a positive number, got {raw[key]!r}")
            floats[key] = v
    integrator = _expect(name, "integrator", raw["integrator"], str, "a string")
    if integrator not in METHODS:
        raise RecipeError(f"{name}: unknown integrator {integrator!r}; expected one of {list(METHODS)}")
    compression = _expect(name, "compression", raw.get("compression", "none"), str, "a string")
    if compression not in COMPRESSIONS:
        raise RecipeError(f"{name}: compression must be one of {list(COMPRESSIONS)}, got {compression!r}")

    splits_raw = _expect(name, "splits", raw["splits"], dict, "a table [splits]")
    if set(splits_raw) != {"train", "val", "test"}:
        raise RecipeError(f"{name}: [splits] must have exactly the keys train, val, test; got {sorted(splits_raw)}")
    sizes = {}
    for key, v in splits_raw.items():
        _expect(name, f"splits.{key}", v, int, "an integer")
        if v < 1:
            raise RecipeError(f"{name}: splits.{key} must be a positive number of trajectories, got {v}")
        sizes[key] = v
    settings = dict(_expect(name, "settings", raw.get("settings", {}), dict, "a table [settings]"))

    recipe = Recipe(
        system=system,
        integrator=integrator,
        compression=compression,
        splits=Splits(**sizes),
        settings=settings,
        name=name,
        text=text,
        **ints,
        **floats,
    )
    recipe.build_system()  # settings errors surface now, not after a long run
    return recipe


def load_recipe(path: str | Path) -> Recipe:
    """Read and parse the recipe at ``path``."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise RecipeError(f"{path}: cannot read recipe ({e.strerror or e})") from None
    return parse_recipe(text, name=str(path))
