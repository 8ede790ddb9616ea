"""Generation split across processes: each writes a shard file, and one file joins them as virtual datasets.

Under ``torchrun --nproc_per_node=K -m hamilton_lie generate RECIPE`` process k of K integrates trajectories
``[n k / K, n (k + 1) / K)`` of every split (the same initial states as a single process draws, so the same
arrays) into ``NAME.shards/k-of-K.h5`` beside the output. Each shard is a complete dataset of its slice.
The output ``NAME.h5`` then holds every per-trajectory array as an HDF5 virtual dataset over the shards, so
it reads like a single-process file; the shards must stay beside it (readers check that they are there:
a virtual dataset would otherwise read a missing shard as its fill value).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._writer import hdf5_file

# what a virtual dataset reads where a source is missing: NaN fails every reader's full check
_FILL = {"f": np.nan, "i": -1}


def shard_path(out: Path, rank: int, world: int) -> Path:
    """Where process ``rank`` of ``world`` writes its shard of ``out``: ``NAME.shards/RANK-of-WORLD.h5``."""
    return out.parent / f"{out.stem}.shards" / f"{rank}-of-{world}{out.suffix}"


def shard_range(n: int, rank: int, world: int) -> tuple[int, int]:
    """The trajectories ``[lo, hi)`` of a split of ``n`` that process ``rank`` of ``world`` generates."""
    return n * rank // world, n * (rank + 1) // world


def join_shards(path: Path, out: Path, world: int) -> float:
    """Write into ``path`` (the temporary of ``out``) a dataset whose arrays are virtual datasets over the
    ``world`` shards of ``out``; returns the largest relative energy error over them."""
    import h5py

    shards = [shard_path(out, rank, world) for rank in range(world)]
    files = [h5py.File(s, "r") for s in shards]
    try:
        first = files[0]
        max_error = max(float(f.attrs["max_rel_energy_error"]) for f in files)
        with hdf5_file(path, out, 0) as joined:
            attrs = {k: v for k, v in first.attrs.items() if k != "shard"}
            joined.attrs.update({**attrs, "max_rel_energy_error": max_error, "shards": world})
            for split in first:
                group = joined.create_group(split)
                group.create_dataset("t", data=first[split]["t"][()], fletcher32=True)
                for name in _arrays(first[split]):
                    _virtual(group, name, [f[split][name] for f in files], shards, out.parent)
    finally:
        for f in files:
            f.close()
    return max_error


def _arrays(group) -> list[str]:
    """The per-trajectory arrays of a split: everything but the time grid, ``params/...`` included."""
    import h5py

    names = []
    group.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) and name != "t" else None)
    return names


def _virtual(group, name: str, parts: list, shards: list[Path], folder: Path) -> None:
    """``group[name]``: the shards' ``parts`` stacked along the first axis, as a virtual dataset."""
    import h5py

    n = sum(p.shape[0] for p in parts)
    layout = h5py.VirtualLayout(shape=(n, *parts[0].shape[1:]), dtype=parts[0].dtype)
    at = 0
    for part, shard in zip(parts, shards, strict=True):
        if part.shape[0]:
            # relative to the joined file, which HDF5 resolves from the joined file's folder: the dataset and
            # its shards can move together
            source = h5py.VirtualSource(os.path.relpath(shard, folder), part.name, shape=part.shape)
            layout[at : at + part.shape[0]] = source
        at += part.shape[0]
    group.create_virtual_dataset(name, layout, fillvalue=_FILL[parts[0].dtype.kind])
