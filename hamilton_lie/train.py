"""Training Hamiltonian energy models on trajectory windows, with checkpoints that resume exactly.

The loss is the LieConv/LieTransformer protocol: one random ``chunk_len``-sample window per
trajectory and epoch, rolled out from its first state through the learned dynamics J grad H
(torchdiffeq ``rk4`` on the data's time grid by default), mean squared error over the whole window
including t0. Adam with cosine annealing stepped once per epoch; validation each epoch on fixed
windows of the validation split; the best validation checkpoint is kept.

Exact resumption: data order, windows and random lifts all derive from ``train.seed`` and the
epoch, batches are read in-process, and ``last.pt`` holds the model, optimiser, scheduler, torch
RNG states and the position in the epoch; a run killed at any point and resumed with ``--resume``
ends with the same weights as an uninterrupted run on the same machine.

Beyond one machine: under ``torchrun --nproc_per_node=K -m hamilton_lie train ...`` each process
joins the process group torchrun describes (gloo on CPU, nccl on GPU), takes its share of every
global batch of ``train.batch_size`` windows (the DistributedSampler split, done in-process), and
DistributedDataParallel averages the gradients; only rank 0 validates and writes checkpoints and
metrics. With deterministic lifts (T(d), the trivial group, MLPs) the result equals a single-process
run with the same global batch to floating-point tolerance; random lifts are drawn per rank.

Run folder: ``config.toml`` (the resolved config), ``last.pt``, ``best.pt`` (dicts with ``model``,
``optimizer``, ``scheduler``, ``step``, ``epoch``, ...), ``metrics.jsonl`` (one JSON object per epoch:
``epoch``, ``step``, ``train_loss`` (mean over the epoch's steps), ``grad_norm_max`` (the largest
gradient norm of those steps, before clipping), ``val_mse``, ``lr``, ``seconds``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import default_collate
from tqdm import tqdm

from .config import Config, ConfigError
from .data import TrajectoryDataset
from .dynamics import HamiltonianDynamics, to_z
from .errors import HamiltonLieError
from .models import get_model, model_arguments

log = logging.getLogger(__name__)


class TrainingDiverged(HamiltonLieError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass(frozen=True)
class TrainResult:
    """What a call to :func:`train` did."""

    run_dir: Path
    steps: int
    epochs: int
    best_val_mse: float
    last_train_loss: float
    seconds: float
    finished: bool


def data_identity(attrs: dict) -> dict:
    """What a model is tied to in its training data: the system, body count and dimension."""
    return {"system": str(attrs["system"]), "n_bodies": int(attrs["n_bodies"]), "dim": int(attrs["dim"])}


def describe_data(identity: dict) -> str:
    return f"{identity['system']} with {identity['n_bodies']} bodies in {identity['dim']}D"


def build_model(config: Config, attrs: dict) -> torch.nn.Module:
    """The configured model, with ``n_bodies``/``dim`` taken from the data where the model asks for them.

    Raises:
        ConfigError: for unknown options, or a model that does not fit the data (dimension, body count,
            parameters missing from the dataset).
    """
    name, options = config.model.name, dict(config.model.options)
    try:
        accepted = model_arguments(name)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    for key, value in (("n_bodies", int(attrs["n_bodies"])), ("dim", int(attrs["dim"]))):
        if key in accepted and key not in options:
            options[key] = value
    if "scalar_features" in options:
        options["scalar_features"] = tuple(options["scalar_features"])
    try:
        model = get_model(name, **options)
    except TypeError as e:
        raise ConfigError(f"[model] has an option that {name!r} does not take ({e})") from None
    except ValueError as e:
        raise ConfigError(f"[model]: {e}") from None
    group = getattr(model, "group", None)
    model_dim = group.dim if group is not None else getattr(model, "dim", None)
    if model_dim is not None and model_dim != int(attrs["dim"]):
        raise ConfigError(f"the model acts in {model_dim}D but the dataset is {int(attrs['dim'])}D")
    if getattr(model, "n_bodies", int(attrs["n_bodies"])) != int(attrs["n_bodies"]):
        raise ConfigError(
            f"the model is built for {model.n_bodies} bodies but the dataset has {int(attrs['n_bodies'])}"
        )
    return model


def initial_model(config: Config, attrs: dict) -> torch.nn.Module:
    """The model a run of ``config`` starts from: :func:`build_model` under ``torch.manual_seed(train.seed)``,
    so the same config always starts from the same weights (``benchmarks/weight_drift.py`` rebuilds them)."""
    torch.manual_seed(config.train.seed)
    return build_model(config, attrs)


@dataclass(frozen=True)
class Distributed:
    """This process's place in a ``torchrun`` job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: torch.device) -> Distributed:
    """Join the process group that torchrun describes in the environment (gloo on CPU, nccl on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size())


def _finite_everywhere(loss: torch.Tensor, ddp: Distributed) -> bool:
    """Whether the loss is finite on every rank: a rank that stopped alone would leave the others
    waiting in the gradient all-reduce."""
    finite = torch.isfinite(loss.detach()).to(torch.float32).reshape(1)
    if ddp.world > 1:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return bool(finite.item())


class _WindowLoss(torch.nn.Module):
    """The training objective as one module call, so that DistributedDataParallel sees one forward
    (inside it the energy is evaluated once per solver stage) and one backward per step."""

    def __init__(self, dynamics: HamiltonianDynamics, method: str, substeps: int):
        super().__init__()
        self.dynamics, self.method, self.substeps = dynamics, method, substeps

    def forward(self, batch: dict) -> torch.Tensor:
        return window_loss(self.dynamics, batch, self.method, self.substeps)


def window_loss(
    dynamics: HamiltonianDynamics, batch: dict, method: str, substeps: int, per_window: bool = False
) -> torch.Tensor:
    """MSE between the rollout from each window's first state and the whole window (t0 included):
    a scalar, or with ``per_window`` each window's own MSE ``(B,)``.

    ``batch``: ``q, p (B, L, N, d)``, ``t (B, L)`` (equally spaced, so relative times are shared),
    ``params`` name -> ``(B, N)``.
    """
    q, p = batch["q"], batch["p"]
    t = batch["t"][0] - batch["t"][0, 0]
    z = dynamics.rollout(q[:, 0], p[:, 0], batch["params"], t, method=method, substeps=substeps)
    squared = (z - to_z(q, p)).pow(2)
    return squared.flatten(1).mean(1) if per_window else squared.mean()


def _batches(dataset: TrajectoryDataset, order: torch.Tensor, batch_size: int, dtype, device, ddp=Distributed()):
    """Batches in ``order``; under torchrun each rank gets its share of every global batch (as a
    DistributedSampler would) and the share's size relative to the global batch."""
    for idx in order.split(batch_size):
        mine = idx.tensor_split(ddp.world)[ddp.rank]
        share = len(mine) / len(idx)
        if len(mine) == 0:
            # a short last batch can leave a rank without windows; it still has to join the gradient
            # average, so it evaluates one window with weight zero
            mine = idx[:1]
        batch = default_collate([dataset[int(i)] for i in mine])
        batch = {k: v for k, v in batch.items() if k not in ("trajectory", "start")}
        yield _to(batch, dtype, device), share


def _to(batch: dict, dtype, device) -> dict:
    out = {}
    for k, v in batch.items():
        out[k] = _to(v, dtype, device) if isinstance(v, dict) else v.to(dtype=dtype, device=device)
    return out


def evaluate_mse(
    dynamics,
    dataset: TrajectoryDataset,
    batch_size: int,
    method: str,
    substeps: int,
    dtype,
    device,
    per_window: bool = False,
):
    """Mean window MSE over ``dataset`` (its current windows), without building training graphs; with
    ``per_window``, each window's MSE ``(len(dataset),)`` instead (the mean hides how the error is
    spread: on the spring data one system in 2000 can hold most of it)."""
    was_training = dynamics.training
    dynamics.eval()
    total, count, errors = 0.0, 0, []
    with torch.no_grad():
        for batch, _ in _batches(dataset, torch.arange(len(dataset)), batch_size, dtype, device):
            if per_window:
                errors.append(window_loss(dynamics, batch, method, substeps, per_window=True).cpu())
                continue
            n = batch["q"].shape[0]
            total += float(window_loss(dynamics, batch, method, substeps).detach()) * n
            count += n
    dynamics.train(was_training)
    return torch.cat(errors) if per_window else total / count


def _save(path: Path, state: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


# 2: attention channel c belongs to head c % H (heads innermost, hamilton_lie.head_products); format-1
# weights load without error into the new layout but compute another function, so they are refused
CHECKPOINT_FORMAT = 2


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint; raises HamiltonLieError naming the file for a missing, corrupted or
    outdated (another :data:`CHECKPOINT_FORMAT`) one."""
    path = Path(path)
    if not path.exists():
        raise HamiltonLieError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # torch raises several types for damaged files
        raise HamiltonLieError(f"{path}: not a readable checkpoint (corrupted?): {e}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise HamiltonLieError(f"{path}: not a hamilton-lie checkpoint (no 'model' entry)")
    if state.get("format", 1) != CHECKPOINT_FORMAT:
        raise HamiltonLieError(
            f"{path}: checkpoint format {state.get('format', 1)}, this hamilton-lie reads format "
            f"{CHECKPOINT_FORMAT} (attention heads are laid out differently); train the model again"
        )
    return state


def _write_config(run_dir: Path, config: Config) -> None:
    lines = []
    for section, values in config.to_dict().items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        lines.append("")
    (run_dir / "config.toml").write_text("\n".join(lines))


def train(
    config: Config, resume: bool = False, progress: bool = True, stop_after_steps: int | None = None
) -> TrainResult:
    """Train the configured model; see the module docstring.

    Arguments:
        config: a :class:`~hamilton_lie.config.Config`.
        resume: continue from ``out/last.pt``.
        progress: show a tqdm bar with the loss.
        stop_after_steps: return after this many optimiser steps in total (as if killed right then;
            for tests of resumption).

    Raises:
        ConfigError, DatasetError: bad configuration or data (nothing is written).
        TrainingDiverged: a non-finite loss; ``last.pt`` keeps the last good state.
    """
    tc = config.train
    dtype = {"float32": torch.float32, "float64": torch.float64}[tc.dtype]
    device = torch.device(tc.device)
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))  # under torchrun: one GPU per process
    run_dir = Path(tc.out)
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if resume and not last_path.exists():
        raise ConfigError(f"{last_path}: nothing to resume")
    if not resume and last_path.exists():
        raise ConfigError(f"{run_dir}: already holds a run; pass --resume to continue it or choose another train.out")

    train_set = TrajectoryDataset(
        config.data.path,
        "train",
        config.data.chunk_len,
        windows=config.data.windows,
        seed=tc.seed,
        n_trajectories=config.data.n_train,
    )
    val_set = TrajectoryDataset(
        config.data.path,
        "val",
        config.data.chunk_len,
        windows="random",
        seed=tc.seed + 1,
        n_trajectories=config.data.n_val,
    )
    model = initial_model(config, train_set.attrs)
    missing = [k for k in getattr(model, "scalar_features", ()) if k not in train_set.param_names]
    if missing:
        raise ConfigError(
            f"the model reads params {missing} that {config.data.path} does not have ({train_set.param_names})"
        )
    model = model.to(device=device, dtype=dtype)
    dynamics = HamiltonianDynamics(model)
    ddp = _init_distributed(device)
    objective: torch.nn.Module = _WindowLoss(dynamics, tc.method, tc.substeps)
    if ddp.world > 1:
        # a parameter that only shifts H (the readout's last bias) gets no gradient through J grad H
        objective = DistributedDataParallel(objective, find_unused_parameters=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=tc.epochs)

    epoch, batch_index, step, best = 0, 0, 0, math.inf
    if resume:
        state = load_checkpoint(last_path)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as e:
            raise ConfigError(f"{last_path}: does not fit the configured model: {str(e).splitlines()[0]}") from None
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        epoch, batch_index, step, best = state["epoch"], state["batch"], state["step"], state["best_val_mse"]
        torch.set_rng_state(state["rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
    elif ddp.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_config(run_dir, config)

    def snapshot(at_epoch: int, at_batch: int) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "epoch": at_epoch,
            "batch": at_batch,
            "best_val_mse": best,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "config": config.to_dict(),
            "data": data_identity(train_set.attrs),
        }

    batches_per_epoch = math.ceil(len(train_set) / tc.batch_size)
    bar = tqdm(
        total=tc.epochs * batches_per_epoch,
        initial=step,
        disable=not (progress and ddp.main),
        unit="step",
        desc=run_dir.name,
    )
    start, last_loss = time.perf_counter(), math.nan
    model.train()
    try:
        while epoch < tc.epochs:
            train_set.set_epoch(epoch)
            order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(tc.seed * 1_000_003 + epoch))
            losses, grad_norms = [], []
            remaining = order[batch_index * tc.batch_size :]
            batches = _batches(train_set, remaining, tc.batch_size, dtype, device, ddp)
            for b, (batch, share) in enumerate(batches, start=batch_index):
                # each rank's mean, weighted by its share: DDP's gradient average is then the global mean
                loss = objective(batch) * (share * ddp.world)
                if not _finite_everywhere(loss, ddp):
                    raise TrainingDiverged(
                        f"non-finite training loss at step {step + 1} (epoch {epoch + 1}); {last_path} keeps the "
                        "last good state: lower train.lr or set train.grad_clip"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                # the norm before clipping is recorded either way: a blow-up shows first in it
                grad_norm = torch.nn.utils.clip_grad_norm_(
                    model.parameters(), math.inf if tc.grad_clip is None else tc.grad_clip
                )
                optimizer.step()
                step += 1
                last_loss = float(loss.detach())
                losses.append(last_loss)
                grad_norms.append(float(grad_norm))
                bar.update(1)
                bar.set_postfix(loss=f"{last_loss:.3e}", epoch=epoch + 1)
                if step % tc.checkpoint_every == 0 and ddp.main:
                    _save(last_path, snapshot(epoch, b + 1))
                if stop_after_steps is not None and step >= stop_after_steps:
                    return TrainResult(run_dir, step, epoch, best, last_loss, time.perf_counter() - start, False)
            batch_index = 0
            scheduler.step()
            epoch += 1
            if not ddp.main:
                continue
            val = evaluate_mse(dynamics, val_set, tc.batch_size, tc.method, tc.substeps, dtype, device)
            record = {
                "epoch": epoch,
                "step": step,
                "train_loss": sum(losses) / len(losses) if losses else None,
                "grad_norm_max": max(grad_norms) if grad_norms else None,
                "val_mse": val,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - start,
            }
            with open(run_dir / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(record) + "\n")
            if val < best:
                best = val
                _save(best_path, snapshot(epoch, 0))
            _save(last_path, snapshot(epoch, 0))
            log.info("epoch %d: train %.3e, val %.3e", epoch, record["train_loss"] or math.nan, val)
    finally:
        bar.close()
    if ddp.world > 1:
        # the other ranks wait for rank 0's last validation and checkpoint, so that no process
        # tears the process group down while another still uses it
        dist.barrier()
    return TrainResult(run_dir, step, epoch, best, last_loss, time.perf_counter() - start, True)
