"""Shared lists that the tests parametrise over, and shared checks."""


import torch
from torch import nn

from hamilton_lie.data import recipe_names
from hamilton_lie.groups import list_groups
from hamilton_lie.models import list_models
from simulators import FixedStep, get_integrator, get_system, list_integrators, list_systems
from simulators.integrators import INTEGRATORS


class TrueEnergy(nn.Module):
    """A 'model' that is the exact Hamiltonian of a simulator system (separable by construction)."""

    separable = True

    def __init__(self, system):
        super().__init__()
        self.system = system

    def forward(self, q, p, params):
        return self.system.hamiltonian(q, p, params)


ALL_INTEGRATORS = tuple(list_integrators())
FIXED_STEP_INTEGRATORS = tuple(n for n in ALL_INTEGRATORS if issubclass(INTEGRATORS[n], FixedStep))


def make_integrator(name: str, substeps: int, tolerance: float):
    """The integrator ``name`` with ``substeps`` (fixed-step methods) or rtol = atol = ``tolerance`` (adaptive)."""
    if name in FIXED_STEP_INTEGRATORS:
        return get_integrator(name, substeps=substeps)
    return get_integrator(name, rtol=tolerance, atol=tolerance)


# Settings beyond the defaults that change a system's character: each runs in the lists below too.
_SYSTEM_VARIANTS = {"gravity": [{"configuration": "cluster", "n_bodies": 7}], "charged": [{"charges": "random"}]}
_BODIES = {2: 5, 3: 6}
_SHAPES = {"hnn-orbits": {2: 3}}  # HNN's orbits are two or three bodies in 2D only


# The generic tests take a system as a smooth Hamiltonian in free space: the NRI family's walls and force
# clipping (the originals' artefacts, tested on their own) are off there, and its unsoftened charges all
# alike (opposite ones may collide, which no fixed step follows)
_SMOOTH = {"nri-springs": {"walls": "none", "max_force": float("inf")},
           "nri-charged": {"walls": "none", "max_force": float("inf"), "probabilities": (0.0, 0.0, 1.0)}}  # fmt: skip


def _system_factories() -> dict:
    """(id, factory): every registered system in 2D and 3D, a lone body, and the variants above."""
    out = {}
    for name in list_systems():
        for dim, n in _SHAPES.get(name, _BODIES).items():
            out[f"{name}-{dim}d-{n}"] = lambda name=name, dim=dim, n=n: get_system(name, n_bodies=n, dim=dim,
                                                                                 **_SMOOTH.get(name, {}))  # fmt: skip
        for i, variant in enumerate(_SYSTEM_VARIANTS.get(name, [])):
            options = {"n_bodies": 5, "dim": 3, **variant}
            out[f"{name}-variant{i}"] = lambda name=name, options=options: get_system(name, **options)
    out["springs-2d-1"] = lambda: get_system("springs", n_bodies=1, dim=2)
    return out


ALL_SYSTEMS = _system_factories()

DATASET_RECIPES = tuple(recipe_names())
ACCURATE_RECIPES = ("springs-2d", "springs-3d", "gravity-2d", "gravity-3d", "gravity-3d-cluster", "charged-3d")

ALL_GROUPS = tuple(list_groups())
ALL_MODELS = tuple(list_models())

# relative tolerances of exact invariance checks, per dtype (training runs in float32)
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4}

# A small valid recipe, and edits that each break it in one way, with the message that must name it.
GOOD_RECIPE = """
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

BAD_RECIPE_EDITS = [
    (lambda s: "colour = 3\n" + s, "unknown key 'colour'"),
    (lambda s: s.replace("n_bodies = 3", 'n_bodies = "three"'), "n_bodies must be an integer"),
    (lambda s: s.replace("n_bodies = 3", "n_bodies = true"), "n_bodies must be an integer"),
    (lambda s: s.replace("dt = 0.1", "dt = -0.1"), "dt must be a positive number"),
    (lambda s: s.replace("train = 4", "train = -4"), "splits.train must be at least 1"),
    (lambda s: s.replace('"springs"', '"fluid"'), "unknown system 'fluid'"),
    (lambda s: s.replace('"leapfrog"', '"euler"'), "unknown integrator 'euler'"),
    (lambda s: s.replace("seed = 0\n", ""), "missing key 'seed'"),
    (lambda s: s.replace("dim = 2", "dim = 4"), "dim must be one of [2, 3]"),
    (lambda s: s + "\n[settings]\nstiffness = 2\n", "does not take"),
    (lambda s: s + "\n[settings]\nmass_range = [0, 1]\n", "mass_range must satisfy"),
    (lambda s: s.replace("test = 2", "test = 2\nextra = 1"), "unknown key 'splits.extra'"),
    (lambda s: s.replace("dt = 0.1", "dt = 0.1 0.2"), "not valid TOML"),
]


def assert_same_bits_for_thread_counts(fn, counts=(1, 2, 3)):
    """``fn()`` (a list of tensors) gives the same bits with each number of intra-op threads."""
    threads = torch.get_num_threads()
    results = []
    try:
        for n in counts:
            torch.set_num_threads(n)
            results.append(fn())
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            assert torch.equal(a, b)
