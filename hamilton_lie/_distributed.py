"""This process's place in a ``torchrun`` job, read from the environment once, by the CLI.

Under ``torchrun --nproc_per_node=K -m hamilton_lie train ...`` each process joins the process group
torchrun describes (gloo on CPU, nccl on GPU), takes its share of every global batch, and
DistributedDataParallel averages the gradients; only rank 0 validates and writes. Under
``torchrun ... -m hamilton_lie generate RECIPE`` each process integrates its share of every split into a
shard file, and rank 0 joins them (:func:`hamilton_lie.data.generate_dataset`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Distributed:
    """A process's rank among ``world`` processes and its ``local_rank`` on its machine (0 of 1 alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls, environ=os.environ) -> Distributed:
        """What torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` say (a single process when unset)."""
        return cls(int(environ.get("RANK", "0")), int(environ.get("WORLD_SIZE", "1")), int(environ.get("LOCAL_RANK", "0")))

    @property
    def main(self) -> bool:
        """Whether this process validates and writes (rank 0)."""
        return self.rank == 0

    def device(self, device: str | torch.device) -> torch.device:
        """``device`` for this process: a bare ``cuda`` under torchrun is the GPU of this process's local rank."""
        device = torch.device(device)
        if device.type == "cuda" and device.index is None and self.world > 1:
            return torch.device("cuda", self.local_rank)
        return device

    def join(self, device: torch.device) -> None:
        """Join the process group (gloo on CPU, nccl on GPU); nothing to do alone."""
        import torch.distributed as dist

        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")

    def _reduce(self, value: torch.Tensor, op: str) -> float:
        """``value`` (one element, on the group's device) reduced over every rank with ``op`` (MIN or MAX)."""
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(value, op=getattr(dist.ReduceOp, op))
        return float(value.item())

    def all_true(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every rank of a gloo group: a rank that failed alone must not leave the
        others waiting at the next collective."""
        return bool(self._reduce(torch.tensor([float(flag)]), "MIN"))

    def maximum(self, value: float) -> float:
        """The largest of every rank's ``value`` (a gloo group)."""
        return self._reduce(torch.tensor([value], dtype=torch.float64), "MAX")

    def all_finite(self, loss: torch.Tensor) -> bool:
        """Whether the loss is finite on every rank: a rank that stopped alone would leave the others
        waiting in the gradient all-reduce."""
        return bool(self._reduce(torch.isfinite(loss.detach()).to(torch.float32).reshape(1), "MIN"))

    def barrier(self) -> None:
        """Wait for every rank (alone: nothing to wait for)."""
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()
