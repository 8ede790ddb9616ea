"""Replaying an original generator's NumPy legacy random stream, one trajectory after another."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

#: ``none``: the toolkit's own generators; ``numpy-legacy``: the original's NumPy stream, replayed
REPLAYS = ("none", "numpy-legacy")

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


def check_replay(replay: str, original_samples: Sequence[int] | None = None) -> list[int] | None:
    """Validate a system's ``replay`` setting and, for originals whose stream holds noise draws, the samples
    they store per trajectory of train, val and test; returns those as ints."""
    if replay not in REPLAYS:
        raise ValueError(f"replay must be one of {REPLAYS}, got {replay!r}")
    if original_samples is None:
        return None
    samples = [int(x) for x in original_samples]
    if replay == "numpy-legacy" and len(samples) != 3:
        raise ValueError("replay needs original_samples: the samples the original stored per trajectory of "
                         f"train, val and test (their noise draws), got {original_samples}")  # fmt: skip
    return samples
