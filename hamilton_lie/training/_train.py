"""``train``: a configured run, assembled from its collaborators and handed to the loop."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable

import torch

from .._checks import check_device, check_output_folder
from .._distributed import Distributed
from .._errors import ConfigError, first_line
from .._files import exclusive
from ..data import TrajectoryDataset
from ..dynamics import HamiltonianDynamics
from ._build import data_identity, initial_state
from ._checkpoint import RunFolder
from ._config import Config
from ._loop import Progress, Run, TrainResult, fit
from ._loss import WindowLoss


def train(
    config: Config,
    *,
    resume: bool = False,
    progress: Callable[[Progress], None] | None = None,
    distributed: Distributed | None = None,
    stop_after_steps: int | None = None,
    allow_changes: bool = False,
) -> TrainResult:
    """Train the configured model into the run folder ``config.train.out``.

    Adam with cosine annealing stepped once per epoch; validation each epoch on the validation split;
    the best validation checkpoint is kept as ``best.pt``, the latest as ``last.pt``, one record per
    epoch in ``metrics.jsonl``.

    Arguments:
        config: a :class:`Config` (:func:`load_config` reads one from TOML or a preset).
        resume: continue from ``out/last.pt``.
        progress: called after every optimiser step with a :class:`Progress` (the CLI draws a bar).
        distributed: this process's place in a torchrun job (:meth:`Distributed.from_environment`);
            None: a single process.
        stop_after_steps: return after this many optimiser steps in total (as if killed right then;
            for tests of resumption).
        allow_changes: resume although the config differs from the checkpoint's (``train.out`` and
            ``train.device`` may always change).

    Raises:
        ConfigError, DatasetError: bad configuration or data, found before anything is written; a
            run that fails before its first checkpoint leaves no run folder behind.
        TrainingDiverged: a non-finite loss; ``last.pt`` keeps the last good state.
    """
    ddp = distributed or Distributed()
    store = RunFolder(check_output_folder(config.train.out))
    check_device(config.train.device)
    created = ddp.main and not store.root.exists()
    if ddp.main:  # the folder holds the run's lock, so it is made first (and removed if nothing is kept)
        store.root.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive(store.root) if ddp.main else contextlib.nullcontext():
            return _train(config, store, resume, progress, ddp, stop_after_steps, allow_changes)
    except BaseException:
        if created and not store.has_run():  # nothing worth keeping was written: leave no half-made folder
            shutil.rmtree(store.root, ignore_errors=True)
        raise


def _train(config: Config, store: RunFolder, resume, progress, ddp: Distributed, stop_after_steps, allow_changes):
    """:func:`train` within the run folder's lock (held by the main process)."""
    if resume and not store.has_run():
        raise ConfigError(f"{store.last}: nothing to resume")
    if not resume and store.has_run():
        raise ConfigError(f"{store.root}: already holds a run; pass --resume to continue it or choose another train.out")
    run = _assemble(config, ddp)
    if ddp.main:
        store.remove_stale_temporaries()
    if resume:
        _restore(run, store, allow_changes)
        if ddp.main:
            store.trim_metrics(run.position.epoch)
    elif ddp.main:
        store.create(config.to_toml())
    return fit(run, store, progress, ddp, stop_after_steps)


def _restore(run: Run, store: RunFolder, allow_changes: bool) -> None:
    """Load ``last.pt`` into ``run``, refusing a config that differs from the checkpoint's unless allowed."""
    state = store.load_last()
    changed = config_changes(state.get("config", {}), run.config.to_dict())
    if changed and not allow_changes:
        raise ConfigError(
            f"{store.last}: the config differs from the checkpoint's ({'; '.join(changed)}); resume with the "
            "checkpoint's settings, or allow the changes (--allow-changes)"
        )
    try:
        run.restore(state)
    except (RuntimeError, ValueError, KeyError) as e:
        raise ConfigError(f"{store.last}: does not fit the configured model: {first_line(e)}") from None


# where a run is, and on what, may change between its parts without changing what it computes
_FREE_TO_CHANGE = {"train.out", "train.device"}


def config_changes(old: dict, new: dict) -> list[str]:
    """``section.key old -> new`` for every setting of the nested configs that differs."""
    changes = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section, {}), new.get(section, {})
        for key in sorted(set(a) | set(b)):
            if f"{section}.{key}" not in _FREE_TO_CHANGE and a.get(key) != b.get(key):
                changes.append(f"{section}.{key} {a.get(key)!r} -> {b.get(key)!r}")
    return changes


def _assemble(config: Config, ddp: Distributed) -> Run:
    """The datasets, model, objective and optimiser of a run, checked against each other."""
    tc, dc = config.train, config.data
    train_set = _windows(dc, "train", dc.windows, tc.seed, dc.n_train)
    val_set = _windows(dc, "val", "random", tc.seed + 1, dc.n_val)
    model, generator = initial_state(config, train_set.attrs)
    missing = [k for k in getattr(model, "scalar_features", ()) if k not in train_set.param_names]
    if missing:
        raise ConfigError(f"the model reads params {missing} that {dc.path} does not have ({train_set.param_names})")
    device = ddp.device(tc.device)
    model = model.to(device=device, dtype=tc.torch_dtype)
    dynamics = HamiltonianDynamics(model)
    ddp.join(device)
    objective: torch.nn.Module = WindowLoss(dynamics, tc.method, tc.substeps)
    if ddp.world > 1:
        # a parameter that only shifts H (the readout's last bias) gets no gradient through J grad H
        objective = torch.nn.parallel.DistributedDataParallel(objective, find_unused_parameters=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=tc.epochs)
    return Run(config, model, dynamics, objective, optimizer, scheduler, train_set, val_set, device, generator,
               data_identity(train_set.attrs))  # fmt: skip


def _windows(dc, split: str, windows: str, seed: int, n: int | None) -> TrajectoryDataset:
    """A split's windows; a ``chunk_len`` or split size the file cannot supply is a config error."""
    try:
        return TrajectoryDataset(dc.path, split, dc.chunk_len, windows, seed, n)
    except ValueError as e:
        key = "data.chunk_len" if "chunk_len" in str(e) else f"data.n_{split}"
        raise ConfigError(f"{dc.path}: {key} does not fit the file: {e}") from None
