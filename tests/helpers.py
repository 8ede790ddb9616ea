"""Shared lists that the tests parametrise over, and shared checks."""

import torch
from torch import nn

from simulators import ChargedSystem, GravitySystem, SpringSystem


class TrueEnergy(nn.Module):
    """A 'model' that is the exact Hamiltonian of a simulator system (separable by construction)."""

    energy = "potential"

    def __init__(self, system):
        super().__init__()
        self.system = system

    def forward(self, q, p, params):
        return self.system.hamiltonian(q, p, params)


ALL_INTEGRATORS = ("leapfrog", "yoshida4", "rk4", "dop853")
FIXED_STEP_INTEGRATORS = ("leapfrog", "yoshida4", "rk4")

# (id, factory): every system in 2D and 3D, several body counts, both gravity configurations
ALL_SYSTEMS = {
    "springs-2d-6": lambda: SpringSystem(6, 2),
    "springs-3d-5": lambda: SpringSystem(5, 3),
    "springs-2d-1": lambda: SpringSystem(1, 2),
    "gravity-2d-4": lambda: GravitySystem(4, 2),
    "gravity-3d-5": lambda: GravitySystem(5, 3),
    "gravity-cluster-3d-7": lambda: GravitySystem(7, 3, configuration="cluster"),
    "charged-2d-5": lambda: ChargedSystem(5, 2, charges="random"),
    "charged-3d-6": lambda: ChargedSystem(6, 3),
}

DATASET_RECIPES = ("springs-2d-lieconv", "springs-2d", "springs-3d", "gravity-2d", "gravity-3d", "charged-3d", "tiny")
ACCURATE_RECIPES = ("springs-2d", "springs-3d", "gravity-2d", "gravity-3d", "charged-3d")

ALL_GROUPS = ("Trivial2", "Trivial3", "T2", "T3", "SO2", "SE2", "SO3", "SE3")

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
    (lambda s: s.replace("train = 4", "train = -4"), "splits.train must be a positive number"),
    (lambda s: s.replace('"springs"', '"fluid"'), "unknown system 'fluid'"),
    (lambda s: s.replace('"leapfrog"', '"euler"'), "unknown integrator 'euler'"),
    (lambda s: s.replace("seed = 0\n", ""), "missing key 'seed'"),
    (lambda s: s.replace("dim = 2", "dim = 4"), "dim must be 2 or 3"),
    (lambda s: s + "\n[settings]\nstiffness = 2\n", "does not take"),
    (lambda s: s + "\n[settings]\nmass_range = [0, 1]\n", "mass_range must satisfy"),
    (lambda s: s.replace("test = 2", "test = 2\nextra = 1"), "exactly the keys train, val, test"),
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
