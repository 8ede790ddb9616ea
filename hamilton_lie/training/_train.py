"""``train``: a configured run, assembled from its collaborators and handed to the loop."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .._errors import ConfigError
from ..data import TrajectoryDataset
from ..dynamics import HamiltonianDynamics
from ._build import data_identity, initial_state
from ._checkpoint import RunFolder
from ._config import Config
from ._distributed import Distributed
from ._loop import Progress, Run, TrainResult, fit
from ._loss import WindowLoss


def train(
    config: Config,
    *,
    resume: bool = False,
    progress: Callable[[Progress], None] | None = None,
    distributed: Distributed | None = None,
    stop_after_steps: int | None = None,
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

    Raises:
        ConfigError, DatasetError: bad configuration or data (nothing is written).
        TrainingDiverged: a non-finite loss; ``last.pt`` keeps the last good state.
    """
    ddp = distributed or Distributed()
    store = RunFolder(config.train.out)
    if resume and not store.has_run():
        raise ConfigError(f"{store.last}: nothing to resume")
    if not resume and store.has_run():
        raise ConfigError(f"{store.root}: already holds a run; pass --resume to continue it or choose another train.out")
    run = _assemble(config, ddp)
    if resume:
        state = store.load_last()
        try:
            run.restore(state)
        except RuntimeError as e:
            raise ConfigError(f"{store.last}: does not fit the configured model: {str(e).splitlines()[0]}") from None
    elif ddp.main:
        store.create(config.to_toml())
    return fit(run, store, progress, ddp, stop_after_steps)


def _assemble(config: Config, ddp: Distributed) -> Run:
    """The datasets, model, objective and optimiser of a run, checked against each other."""
    tc, dc = config.train, config.data
    train_set = TrajectoryDataset(dc.path, "train", dc.chunk_len, windows=dc.windows, seed=tc.seed, n_trajectories=dc.n_train)
    val_set = TrajectoryDataset(dc.path, "val", dc.chunk_len, windows="random", seed=tc.seed + 1, n_trajectories=dc.n_val)
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
