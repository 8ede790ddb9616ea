"""Lie groups acting on R^d: T(d), SO(2), SE(2), SO(3), SE(3), the trivial group, and finite rotation grids.

Every group here is a subgroup of the Euclidean group E(d), so an element is stored as a pair
``(R, t)``: a rotation matrix ``R (..., d, d)`` and a translation ``t (..., d)``, acting on points
as x -> R x + t. Composition, inversion and action are therefore shared; a group supplies its
Lie algebra coordinates (``exp``/``log``), random elements, how points are lifted to group
elements (``lift``), and the invariant features of pairs of lifted elements (``pair_features``).

Pair features come in two forms. ``"log"`` is the paper's log(u^-1 v) (Hutchinson et al., 2021,
sec. 3). The principal logarithm of a rotation jumps where the relative angle crosses pi, which a
model differentiated twice (Hamiltonian training) should not see; ``"smooth"`` (the default for
groups with rotations) instead gives the entries of u^-1 v itself: the relative rotation (cos and
sin of the angle in 2D, the matrix in 3D) and the relative translation R_u^T (t_v - t_u). Both are
exactly invariant under left multiplication, u, v -> g u, g v.
"""

from simulators import Registry

from ._base import Group, Lifted
from ._elements import Element, act, compose, inverse, relative, rotate
from ._finite import FINITE_3D, cyclic_rotations, finite_rotations_3d
from ._rigid import SE2, SE3
from ._rotations import SO2, SO3
from ._series import so3_exp, so3_log
from ._translations import T, Trivial

GROUPS: Registry[Group] = Registry("group")
for _name, _factory in {
    "Trivial2": lambda: Trivial(2),
    "Trivial3": lambda: Trivial(3),
    "T2": lambda: T(2),
    "T3": lambda: T(3),
    "SO2": SO2,
    "SE2": SE2,
    "SO3": SO3,
    "SE3": SE3,
}.items():
    GROUPS.register(_name, _factory)


def register_group(name: str, factory) -> None:
    """Make ``factory(**options) -> Group`` available to configs as ``model.group = "name"``."""
    GROUPS.register(name, factory)


def list_groups() -> list[str]:
    """The registered group names: ``SE2 SE3 SO2 SO3 T2 T3 Trivial2 Trivial3`` and any registered since."""
    return GROUPS.names()


def get_group(name: str, **options) -> Group:
    """Build a group by its config name (``T2``, ``SE2``, ``SE3``, ...); ``options`` go to its constructor."""
    return GROUPS.build(name, **options)


__all__ = [
    "FINITE_3D",
    "SE2",
    "SE3",
    "SO2",
    "SO3",
    "Element",
    "Group",
    "Lifted",
    "T",
    "Trivial",
    "act",
    "compose",
    "cyclic_rotations",
    "finite_rotations_3d",
    "get_group",
    "inverse",
    "list_groups",
    "register_group",
    "relative",
    "rotate",
    "so3_exp",
    "so3_log",
]
