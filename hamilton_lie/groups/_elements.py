"""Group elements of subgroups of E(d) as pairs (R, t), and the operations every group here shares."""

from __future__ import annotations

from dataclasses import dataclass

import torch

Tensor = torch.Tensor


@dataclass(frozen=True)
class Element:
    """Group elements ``(R, t)``: ``R (..., d, d)``, ``t (..., d)``; acting as x -> R x + t."""

    R: Tensor
    t: Tensor

    @property
    def shape(self) -> torch.Size:
        return self.t.shape[:-1]


def compose(a: Element, b: Element) -> Element:
    """a b: (R_a R_b, R_a t_b + t_a), broadcasting over leading dimensions."""
    return Element(a.R @ b.R, (a.R @ b.t.unsqueeze(-1)).squeeze(-1) + a.t)


def inverse(a: Element) -> Element:
    """a^-1 = (R^T, -R^T t)."""
    rt = a.R.transpose(-1, -2)
    return Element(rt, -(rt @ a.t.unsqueeze(-1)).squeeze(-1))


def act(a: Element, x: Tensor) -> Tensor:
    """a . x = R x + t for points ``x (..., d)`` broadcasting against ``a``."""
    return (a.R @ x.unsqueeze(-1)).squeeze(-1) + a.t


def rotate(a: Element, v: Tensor) -> Tensor:
    """The linear part only, R v: how vectors (momenta, velocities) transform."""
    return (a.R @ v.unsqueeze(-1)).squeeze(-1)


def relative(a: Element, b: Element) -> Element:
    """a^-1 b = (R_a^T R_b, R_a^T (t_b - t_a)), without forming a^-1 separately."""
    rt = a.R.transpose(-1, -2)
    return Element(rt @ b.R, (rt @ (b.t - a.t).unsqueeze(-1)).squeeze(-1))
