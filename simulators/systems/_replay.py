"""Replaying an original generator's NumPy legacy random stream, one trajectory after another."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

#: one trajectory's draws, made in the original's order: its parameters (name -> array), positions and
#: velocities ``(n_bodies, dim)``; it is also given the samples the original stores for that trajectory,
#: since the originals draw their (zero-weighted) observation noise from the same stream
Draw = Callable[[np.random.RandomState, int], tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]


def replay_numpy_legacy(seed: int, sizes: Mapping[str, int], samples: Sequence[int], draw: Draw):
    """Every split's parameters and initial positions and velocities as ``numpy.random.seed(seed)`` and the
    original's call order give them: ``{split: (params, loc, vel)}``, float64 tensors with a leading batch axis."""
    rs = np.random.RandomState(seed)
    out = {}
    for (split, n), stored in zip(sizes.items(), samples, strict=True):
        rows = [draw(rs, stored) for _ in range(n)]
        params = {k: torch.from_numpy(np.stack([r[0][k] for r in rows])) for k in rows[0][0]} if rows else {}
        loc, vel = (torch.from_numpy(np.stack([r[i] for r in rows])) for i in (1, 2))
        out[split] = (params, loc, vel)
    return out
