"""The training objective: roll out from each window's first state and compare with the whole window.

The LieConv/LieTransformer protocol: one ``chunk_len``-sample window per trajectory, rolled out from
its first state through the learned dynamics J grad H (torchdiffeq ``rk4`` on the data's time grid by
default), mean squared error over the whole window including t0.
"""

from __future__ import annotations

import torch
from torch.utils.data import default_collate

from .._distributed import Distributed
from ..data import TrajectoryDataset
from ..dynamics import HamiltonianDynamics, to_z


def window_loss(
    dynamics: HamiltonianDynamics,
    batch: dict,
    method: str,
    substeps: int,
    per_window: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """MSE between the rollout from each window's first state and the whole window (t0 included):
    a scalar, or with ``per_window`` each window's own MSE ``(B,)``.

    ``batch``: ``q, p (B, L, N, d)``, ``t (B, L)`` (equally spaced, so relative times are shared),
    ``params`` name -> ``(B, N)``. ``generator`` drives the model's random lifts in training mode.
    """
    q, p = batch["q"], batch["p"]
    t = batch["t"][0] - batch["t"][0, 0]
    rollout = dynamics.integrate(q[:, 0], p[:, 0], batch["params"], t, method=method, substeps=substeps, generator=generator)
    squared = (rollout.z - to_z(q, p)).pow(2)
    return squared.flatten(1).mean(1) if per_window else squared.mean()


class WindowLoss(torch.nn.Module):
    """The training objective as one module call, so that DistributedDataParallel sees one forward
    (inside it the energy is evaluated once per solver stage) and one backward per step."""

    def __init__(self, dynamics: HamiltonianDynamics, method: str, substeps: int):
        super().__init__()
        self.dynamics, self.method, self.substeps = dynamics, method, substeps

    def forward(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        return window_loss(self.dynamics, batch, self.method, self.substeps, generator=generator)


def batches(dataset: TrajectoryDataset, order: torch.Tensor, batch_size: int, dtype, device, ddp=Distributed()):
    """Batches of the windows in ``order``, converted to ``dtype`` on ``device``, each with the share of
    the global batch it holds. Under torchrun each rank gets its share of every global batch (as a
    DistributedSampler would)."""
    for idx in order.split(batch_size):
        mine = idx.tensor_split(ddp.world)[ddp.rank]
        share = len(mine) / len(idx)
        if len(mine) == 0:
            # a short last batch can leave a rank without windows; it still has to join the gradient
            # average, so it evaluates one window with weight zero
            mine = idx[:1]
        batch = default_collate([dataset[int(i)] for i in mine])
        batch = {k: v for k, v in batch.items() if k not in ("trajectory", "start")}
        yield to_device(batch, dtype, device), share


def to_device(batch: dict, dtype, device) -> dict:
    """Every tensor of a (nested) batch dict as ``dtype`` on ``device``."""
    return {k: to_device(v, dtype, device) if isinstance(v, dict) else v.to(dtype=dtype, device=device) for k, v in batch.items()}


def evaluate_mse(
    dynamics: HamiltonianDynamics,
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
        for batch, _ in batches(dataset, torch.arange(len(dataset)), batch_size, dtype, device):
            if per_window:
                errors.append(window_loss(dynamics, batch, method, substeps, per_window=True).cpu())
                continue
            n = batch["q"].shape[0]
            total += float(window_loss(dynamics, batch, method, substeps).detach()) * n
            count += n
    dynamics.train(was_training)
    return torch.cat(errors) if per_window else total / count
