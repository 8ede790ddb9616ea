"""Shared lists that the tests parametrise over."""

from simulators import ChargedSystem, GravitySystem, SpringSystem

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
