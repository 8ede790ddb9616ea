"""The training loop: epochs of optimiser steps, validation, checkpoints, with its collaborators passed in.

The loop owns no output of its own: it writes through a :class:`~._checkpoint.RunFolder` (checkpoints
and the metrics log), reports each step to a ``progress`` callback (the CLI draws a bar from it),
learns its place in a multi-process job from a :class:`~hamilton_lie.training.Distributed`, and draws random
lifts from the run's explicit ``torch.Generator``. Data order and windows derive from ``train.seed``
and the epoch, so a run killed at any point and resumed from ``last.pt`` ends with the same weights as
an uninterrupted one on the same machine.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .._distributed import Distributed
from .._errors import TrainingDiverged
from .._seeds import epoch_seed
from ..data import TrajectoryDataset
from ..dynamics import HamiltonianDynamics
from ._checkpoint import CHECKPOINT_FORMAT, RunFolder
from ._config import Config
from ._loss import batches, evaluate_mse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What a call to :func:`~hamilton_lie.training.train` did."""

    run_dir: Path
    steps: int
    epochs: int
    best_val_mse: float
    last_train_loss: float
    seconds: float
    finished: bool


@dataclass(frozen=True)
class Progress:
    """One optimiser step done: the step count, the run's total, the epoch (from 1) and the step's loss."""

    step: int
    total: int
    epoch: int
    loss: float


@dataclass
class Position:
    """Where a run stands: the epoch, the next batch in it, optimiser steps so far, best validation MSE."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    best: float = math.inf


@dataclass
class Run:
    """Everything one training run works on."""

    config: Config
    model: torch.nn.Module
    dynamics: HamiltonianDynamics
    objective: torch.nn.Module  # the window loss, wrapped for DistributedDataParallel under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    train_set: TrajectoryDataset
    val_set: TrajectoryDataset
    device: torch.device
    generator: torch.Generator
    identity: dict
    position: Position = field(default_factory=Position)
    last_loss: float = math.nan

    @property
    def dtype(self) -> torch.dtype:
        return self.config.train.torch_dtype

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_set) / self.config.train.batch_size)

    def snapshot(self, batch: int) -> dict:
        """The checkpoint of the run as it stands, to resume at ``batch`` of the current epoch."""
        pos = self.position
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": pos.step,
            "epoch": pos.epoch,
            "batch": batch,
            "best_val_mse": pos.best,
            "rng": self.generator.get_state(),
            "config": self.config.to_dict(),
            "data": self.identity,
        }

    def restore(self, state: dict) -> None:
        """Continue from a checkpoint of this run (written by :meth:`snapshot`)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.position = Position(state["epoch"], state["batch"], state["step"], state["best_val_mse"])
        self.generator.set_state(state["rng"])


def fit(
    run: Run,
    store: RunFolder,
    progress: Callable[[Progress], None] | None = None,
    ddp: Distributed = Distributed(),
    stop_after_steps: int | None = None,
) -> TrainResult:
    """Train ``run`` to its last epoch (or ``stop_after_steps`` steps in total, as if killed then).

    Only the main process writes to ``store``. Raises :class:`TrainingDiverged` on a non-finite loss.
    """
    start, pos = time.perf_counter(), run.position
    run.model.train()
    while pos.epoch < run.config.train.epochs:
        losses, norms = _epoch(run, store, progress, ddp, stop_after_steps)
        if stop_after_steps is not None and pos.step >= stop_after_steps:
            return _result(run, store, start, finished=False)
        pos.batch = 0
        run.scheduler.step()
        pos.epoch += 1
        if ddp.main:
            _end_epoch(run, store, losses, norms, time.perf_counter() - start)
    # the other ranks wait for rank 0's last validation and checkpoint, so that no process tears the
    # process group down while another still uses it
    ddp.barrier()
    return _result(run, store, start, finished=True)


def _result(run: Run, store: RunFolder, start: float, finished: bool) -> TrainResult:
    pos = run.position
    return TrainResult(store.root, pos.step, pos.epoch, pos.best, run.last_loss, time.perf_counter() - start, finished)


def _epoch(run: Run, store: RunFolder, progress, ddp: Distributed, stop_after_steps) -> tuple[list, list]:
    """The optimiser steps of the current epoch from ``position.batch`` on: their losses and gradient norms."""
    tc, pos = run.config.train, run.position
    run.train_set.set_epoch(pos.epoch)
    order = torch.randperm(len(run.train_set), generator=torch.Generator().manual_seed(epoch_seed(tc.seed, pos.epoch)))
    remaining = order[pos.batch * tc.batch_size :]
    losses, norms = [], []
    for b, (batch, share) in enumerate(batches(run.train_set, remaining, tc.batch_size, run.dtype, run.device, ddp), start=pos.batch):
        loss, norm = _step(run, store, batch, share, ddp)
        losses.append(loss)
        norms.append(norm)
        run.last_loss = loss
        if progress is not None:
            progress(Progress(pos.step, tc.epochs * run.steps_per_epoch, pos.epoch + 1, loss))
        if pos.step % tc.checkpoint_every == 0 and ddp.main:
            store.save_last(run.snapshot(batch=b + 1))
        if stop_after_steps is not None and pos.step >= stop_after_steps:
            break
    return losses, norms


def _step(run: Run, store: RunFolder, batch: dict, share: float, ddp: Distributed) -> tuple[float, float]:
    """One optimiser step; returns the loss and the gradient norm before clipping."""
    tc, pos = run.config.train, run.position
    # each rank's mean, weighted by its share: DDP's gradient average is then the global mean
    loss = run.objective(batch, run.generator) * (share * ddp.world)
    if not ddp.all_finite(loss):
        kept = f"{store.last} keeps the last good state" if store.has_run() else "no checkpoint was written before it"
        raise TrainingDiverged(
            f"non-finite training loss at step {pos.step + 1} (epoch {pos.epoch + 1}); {kept}: lower train.lr or "
            "set train.grad_clip"
        )
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    # the norm before clipping is recorded either way: a blow-up shows first in it
    limit = math.inf if tc.grad_clip is None else tc.grad_clip
    norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), limit)
    run.optimizer.step()
    pos.step += 1
    return float(loss.detach()), float(norm)


def _end_epoch(run: Run, store: RunFolder, losses: list, norms: list, seconds: float) -> None:
    """Validate, log the epoch's record, and checkpoint (``best.pt`` when validation improved)."""
    tc, pos = run.config.train, run.position
    val = evaluate_mse(run.dynamics, run.val_set, tc.batch_size, tc.method, tc.substeps, run.dtype, run.device)
    record = {
        "epoch": pos.epoch,
        "step": pos.step,
        "train_loss": sum(losses) / len(losses) if losses else None,
        "grad_norm_max": max(norms) if norms else None,
        "val_mse": val,
        "lr": run.optimizer.param_groups[0]["lr"],
        "seconds": seconds,
    }
    store.append(record)
    if val < pos.best:
        pos.best = val
        store.save_best(run.snapshot(batch=0))
    store.save_last(run.snapshot(batch=0))
    log.info("epoch %d: train %.3e, val %.3e", pos.epoch, record["train_loss"] or math.nan, val)
