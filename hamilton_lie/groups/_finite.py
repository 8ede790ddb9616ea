"""Finite rotation groups: the cyclic groups C_n of the plane and the rotation groups of the Platonic solids."""

from __future__ import annotations

import itertools
import math

import torch

from ._series import rot2, so3_exp

Tensor = torch.Tensor


def _closure(generators: list[Tensor]) -> Tensor:
    """All products of the generators: the finite group they generate, ``(order, d, d)``, float64."""
    found = [torch.eye(generators[0].shape[-1], dtype=torch.float64)]
    keys = {tuple(torch.round(found[0] * 1e6).long().flatten().tolist())}
    frontier = list(found)
    while frontier:
        nxt = []
        for a, g in itertools.product(frontier, generators):
            m = g @ a
            key = tuple(torch.round(m * 1e6).long().flatten().tolist())
            if key not in keys:
                keys.add(key)
                found.append(m)
                nxt.append(m)
        frontier = nxt
    return torch.stack(found)


def _axis_angle(axis, angle) -> Tensor:
    a = torch.tensor(axis, dtype=torch.float64)
    return so3_exp(a / a.norm() * angle)


def cyclic_rotations(n: int) -> Tensor:
    """C_n: rotations by 2 pi k / n, ``(n, 2, 2)`` float64."""
    return rot2(2 * math.pi * torch.arange(n, dtype=torch.float64) / n)


def finite_rotations_3d(name: str) -> Tensor:
    """The tetrahedral (12), octahedral (24) or icosahedral (60) rotation group, ``(order, 3, 3)``."""
    third = 2 * math.pi / 3
    if name == "tetrahedral":
        gens = [_axis_angle((1, 1, 1), third), _axis_angle((0, 0, 1), math.pi)]
    elif name == "octahedral":
        gens = [_axis_angle((1, 1, 1), third), _axis_angle((0, 0, 1), math.pi / 2)]
    elif name == "icosahedral":
        phi = (1 + math.sqrt(5)) / 2
        gens = [_axis_angle((1, 1, 1), third), _axis_angle((0, 1, phi), 2 * math.pi / 5)]
    else:
        raise ValueError(f"unknown finite rotation group {name!r}; expected tetrahedral, octahedral or icosahedral")
    return _closure(gens)


FINITE_3D = {"tetrahedral": 12, "octahedral": 24, "icosahedral": 60}
