"""How every seed in the toolkit is derived from a user's seed: the single place, so that streams never collide."""

from __future__ import annotations

import numpy as np


def split_seed(seed: int, split_index: int) -> int:
    """Independent seed for one dataset split, so that split sizes never shift another split's draws."""
    return int(np.random.SeedSequence([seed, split_index]).generate_state(1, dtype=np.uint64)[0] >> 1)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's draws (window starts, batch order) from a run's seed."""
    return seed * 1_000_003 + epoch
