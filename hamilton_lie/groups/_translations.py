"""Groups without rotations: the trivial group (no symmetry) and the translations T(d)."""

from __future__ import annotations

from ._base import Group, Lifted
from ._elements import Element


class Trivial(Group):
    """The trivial group: no symmetry. Lifting keeps absolute positions as 'orbit invariants',
    so a LieTransformer over it is the plain (non-equivariant) transformer baseline."""

    name = "Trivial"
    lie_dim = 0

    def __init__(self, dim: int = 2):
        super().__init__(dim, "log")
        self.orbit_dim = dim

    def __repr__(self):
        return f"Trivial({self.dim})"

    def exp(self, a):
        return self.identity(a.shape[:-1], a.dtype, a.device)

    def log(self, g):
        return g.t.new_zeros(*g.shape, 0)

    def lift(self, x, n_samples=1, random=False, generator=None):
        self._check_points(x)
        return Lifted(self.identity((*x.shape[:2], 1), x.dtype, x.device), x.unsqueeze(2))

    @property
    def pair_dim(self):
        return 2 * self.dim


class T(Group):
    """Translations of R^d: exactly invariant models see only relative positions."""

    name = "T"
    translations = True

    def __init__(self, dim: int = 2):
        super().__init__(dim, "log")
        self.lie_dim = dim

    def __repr__(self):
        return f"T({self.dim})"

    def exp(self, a):
        e = self.identity(a.shape[:-1], a.dtype, a.device)
        return Element(e.R, a)

    def log(self, g):
        return g.t

    def lift(self, x, n_samples=1, random=False, generator=None):
        self._check_points(x)
        e = self.identity((*x.shape[:2], 1), x.dtype, x.device)
        return Lifted(Element(e.R, x.unsqueeze(2)), x.new_zeros(*x.shape[:2], 1, 0))

    @property
    def pair_dim(self):
        return self.dim
