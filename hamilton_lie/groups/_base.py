"""The interface of every group: Lie algebra coordinates, random elements, lifting and pair features."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from simulators import random_rotations

from ._elements import Element, act, compose, inverse, relative
from ._finite import cyclic_rotations

Tensor = torch.Tensor


@dataclass(frozen=True)
class Lifted:
    """Points lifted to group elements.

    Attributes:
        element: ``(batch, n, samples)`` elements.
        orbit: ``(batch, n, samples, orbit_dim)`` orbit invariants (empty where the action is transitive).
    """

    element: Element
    orbit: Tensor


class Group:
    """A Lie group acting on R^``dim`` by rotations and/or translations.

    Attributes:
        dim: dimension of the space acted on.
        lie_dim: dimension of the Lie algebra (length of ``log`` vectors).
        orbit_dim: number of orbit invariants per lifted point.
        rotations: whether the group contains rotations (then vector features are rotated into
            each lifted element's frame).
        translations: whether it contains translations.
    """

    name: str = "group"
    lie_dim: int
    orbit_dim: int = 0
    rotations: bool = False
    translations: bool = False

    # every group here is a subgroup of E(d), so these are shared: group.compose(a, b) etc.
    compose = staticmethod(compose)
    inverse = staticmethod(inverse)
    act = staticmethod(act)

    def __init__(self, dim: int, pair_features: str = "smooth"):
        if dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3, got {dim!r}")
        if pair_features not in ("smooth", "log"):
            raise ValueError(f"pair_features must be 'smooth' or 'log', got {pair_features!r}")
        self.dim = dim
        self.pair_mode = pair_features

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # Lie algebra
    def exp(self, a: Tensor) -> Element:
        """Algebra coordinates ``(..., lie_dim)`` -> elements."""
        raise NotImplementedError

    def log(self, g: Element) -> Tensor:
        """Elements -> principal algebra coordinates ``(..., lie_dim)``."""
        raise NotImplementedError

    def identity(self, shape=(), dtype=torch.float64, device="cpu") -> Element:
        eye = torch.eye(self.dim, dtype=dtype, device=device).expand(*shape, self.dim, self.dim)
        return Element(eye, torch.zeros(*shape, self.dim, dtype=dtype, device=device))

    def sample(self, shape, generator=None, dtype=torch.float64, device="cpu", translation_scale=1.0) -> Element:
        """Random elements: Haar-random rotations (where the group has them) and Gaussian translations."""
        shape = tuple(shape)
        g = self.identity(shape, dtype, device)
        R, t = g.R, g.t
        if self.rotations:
            R = random_rotations(shape, self.dim, generator, dtype, device)
        if self.translations:
            t = translation_scale * torch.randn((*shape, self.dim), generator=generator, dtype=torch.float64)
            t = t.to(dtype=dtype, device=device)
        return Element(R, t)

    # lifting and features
    def lift(self, x: Tensor, n_samples: int = 1, random: bool = False, generator=None) -> Lifted:
        """Lift points ``x (batch, n, dim)`` to ``n_samples`` elements each, g with g . origin = x
        (up to orbit), plus orbit invariants.

        ``random=False`` uses a deterministic grid of stabiliser samples, so that the lift commutes
        exactly with the grid's rotations; ``random=True`` offsets the grid by a random stabiliser
        element per point (equivariant in distribution).
        """
        raise NotImplementedError

    @property
    def pair_dim(self) -> int:
        """Length of ``pair_features`` (including both points' orbit invariants)."""
        raise NotImplementedError

    def pair_features(self, u: Element, v: Element, orbit_u: Tensor, orbit_v: Tensor) -> Tensor:
        """Invariant features of pairs: log(u^-1 v) (or its smooth form) and both orbit invariants.

        Shapes broadcast: ``u, v (...)``, orbits ``(..., orbit_dim)`` -> ``(..., pair_dim)``.
        """
        rel = relative(u, v)
        feats = self.log(rel) if self.pair_mode == "log" else self._smooth(rel)
        return torch.cat([feats, orbit_u.expand(*feats.shape[:-1], -1), orbit_v.expand(*feats.shape[:-1], -1)], -1)

    def _smooth(self, rel: Element) -> Tensor:
        return self.log(rel)

    def lift_size(self, requested: int) -> int:
        """How many elements ``lift`` gives each point when ``requested`` are asked for."""
        return requested if self.rotations else 1

    def _check_points(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"{self!r} acts on points of shape (batch, n_bodies, {self.dim}), got {tuple(x.shape)}")


class _RotationGroup(Group):
    """Shared lifting for groups with rotations: a frame per point, times stabiliser samples."""

    rotations = True

    def _grid(self, n: int, dtype, device) -> Tensor:
        """``n`` stabiliser rotations ``(n, dim, dim)``: C_n in 2D, the finite group in 3D."""
        if self.dim == 2:
            return cyclic_rotations(n).to(dtype=dtype, device=device)
        return self.finite.to(dtype=dtype, device=device)

    def _frames(self, x: Tensor) -> Tensor:
        """A rotation per point ``(batch, n, dim, dim)``: identity for SE(d), where the stabiliser is all rotations."""
        return torch.eye(self.dim, dtype=x.dtype, device=x.device).expand(*x.shape[:2], self.dim, self.dim)

    def _random_stabiliser(self, x: Tensor, generator) -> Tensor:
        """A random stabiliser rotation per point ``(batch, n, 1, dim, dim)``: any rotation for SE(d)."""
        return random_rotations(x.shape[:2], self.dim, generator, x.dtype, x.device).unsqueeze(2)

    def _samples(self, x, n_samples, random, generator):
        """Lifted rotations ``(batch, n, samples, dim, dim)``: frame @ [random offset] @ grid."""
        grid = self._grid(n_samples, x.dtype, x.device)  # (S, d, d)
        frames = self._frames(x).unsqueeze(2)  # (B, N, 1, d, d)
        if random:
            return frames @ self._random_stabiliser(x, generator) @ grid
        return frames @ grid
