"""Random draws shared by the systems and by ``hamilton_lie``: the single copy of each.

Every function draws from an explicit ``torch.Generator`` (the global generator when None) in float64.
"""

from __future__ import annotations

import math

import torch


def uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator | None) -> torch.Tensor:
    """float64 samples of U(low, high) drawn on the generator's device (CPU by default)."""
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=torch.float64)


def sample_separated_positions(
    batch: int,
    n_bodies: int,
    dim: int,
    radius: float,
    min_separation: float,
    generator: torch.Generator | None,
    max_rounds: int = 1000,
) -> torch.Tensor:
    """Positions uniform in the ball of ``radius``, no two bodies closer than ``min_separation``.

    Rejection sampling by whole configurations: rows that violate the separation are drawn
    again (from the same generator, so the result is reproducible). This is exact (uniform,
    conditioned on the separation), but a configuration of N bodies is accepted with probability
    about exp(-lambda), lambda = N (N - 1) / 2 (min_separation / radius)^dim the expected number of
    close pairs, which vanishes for thousands of bodies. When lambda > 10, the bodies of close
    pairs are redrawn instead (the later body of each pair, until none is left): random sequential
    placement, which slightly favours spread-out configurations over the exact conditioned law.
    Returns ``(batch, n_bodies, dim)`` float64 with the centroid at the origin.

    Raises:
        ValueError: if after ``max_rounds`` some configuration still violates the separation,
            which means the bodies do not fit in the ball at that separation.
    """

    def draw(*shape: int) -> torch.Tensor:
        direction = torch.randn((*shape, dim), generator=generator, dtype=torch.float64)
        direction = direction / direction.norm(dim=-1, keepdim=True)
        r = radius * torch.rand((*shape, 1), generator=generator, dtype=torch.float64) ** (1.0 / dim)
        return direction * r

    def close_pairs(x: torch.Tensor) -> torch.Tensor:
        """``(k, n, n)``: True where body j > i is within the separation of body i."""
        later = torch.ones(n_bodies, n_bodies, dtype=torch.bool).triu(1)
        return (torch.cdist(x, x) < min_separation) & later

    expected_close = n_bodies * (n_bodies - 1) / 2 * (min_separation / radius) ** dim
    x = draw(batch, n_bodies)
    for _ in range(max_rounds):
        close = close_pairs(x)
        if not close.any():
            return x - x.mean(dim=1, keepdim=True)
        if expected_close <= 10:
            bad = close.any(dim=(-1, -2))
            x[bad] = draw(int(bad.sum()), n_bodies)
        else:
            movers = close.any(dim=-2)  # (batch, n): the later body of each close pair
            x[movers] = draw(int(movers.sum()))
    raise ValueError(f"could not place {n_bodies} bodies in a ball of radius {radius} at least {min_separation} apart")


def random_rotations(
    shape: tuple[int, ...] | int,
    dim: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Rotations uniform on SO(``dim``) (Haar measure): ``(*shape, dim, dim)``.

    In 2D the angle is uniform on [0, 2 pi); in 3D a normalised 4-D Gaussian is a uniform unit
    quaternion, whose rotation matrix is uniform. Drawn in float64 on the generator's device (the
    CPU by default), then converted to ``dtype`` and moved to ``device``, so a seed gives the same
    rotations whichever device uses them.
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if dim == 2:
        theta = 2 * math.pi * torch.rand(shape, generator=generator, dtype=torch.float64)
        c, s = torch.cos(theta), torch.sin(theta)
        R = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    elif dim == 3:
        w, x, y, z = torch.randn((4, *shape), generator=generator, dtype=torch.float64)
        n = torch.sqrt(w * w + x * x + y * y + z * z)
        R = quaternion_to_matrix(w / n, x / n, y / n, z / n)
    else:
        raise ValueError(f"dim must be 2 or 3, got {dim!r}")
    return R.to(dtype=dtype, device=device)


def quaternion_to_matrix(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The rotation of the unit quaternion (w, x, y, z), each component ``(...)``: ``(..., 3, 3)``."""
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]  # fmt: skip
    return torch.stack(rows, dim=-1).view(*w.shape, 3, 3)
