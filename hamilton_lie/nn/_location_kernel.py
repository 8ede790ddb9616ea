"""The location kernel: one small MLP per attention head on the invariant pair features."""

from __future__ import annotations

import math

import torch
from torch import nn

from .._kernels import location_mlp


class MultiheadKernelMLP(nn.Module):
    """One small MLP per head, evaluated together: ``(..., P) -> (..., H)``, or with ``per_head_input``
    each head on its own input, ``(..., H, P) -> (..., H)``.

    The first layer is one Linear to H * width (per-head weights with ``per_head_input``); the hidden
    and output layers are per-head weights, all applied as batched matrix products, so the parameter
    count equals H separate MLPs. With ``fused`` (and a shared input), CPU float tensors go through
    the fused C++ kernel: the same MLP and derivatives in vectorised loops, keeping only the inputs.
    """

    def __init__(self, in_dim: int, heads: int, width: int, per_head_input: bool = False, fused: bool = False):
        super().__init__()
        self.heads, self.width, self.per_head_input, self.fused = heads, width, per_head_input, fused
        if per_head_input:
            self.first_w = nn.Parameter(torch.empty(heads, in_dim, width))
            self.first_b = nn.Parameter(torch.zeros(heads, width))
            nn.init.uniform_(self.first_w, -1 / math.sqrt(in_dim), 1 / math.sqrt(in_dim))
        else:
            self.first = nn.Linear(in_dim, heads * width)
        self.hidden_w = nn.Parameter(torch.empty(heads, width, width))
        self.hidden_b = nn.Parameter(torch.zeros(heads, width))
        self.out_w = nn.Parameter(torch.empty(heads, width))
        self.out_b = nn.Parameter(torch.zeros(heads))
        bound = 1 / math.sqrt(width)
        nn.init.uniform_(self.hidden_w, -bound, bound)
        nn.init.uniform_(self.out_w, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-2] if self.per_head_input else x.shape[:-1]
        tail = (self.hidden_w, self.hidden_b, self.out_w, self.out_b)
        if self.per_head_input:
            xh = x.reshape(-1, self.heads, x.shape[-1]).permute(1, 2, 0)  # (H, P, n)
            out = location_mlp.after_first_layer(
                torch.baddbmm(self.first_b.unsqueeze(-1), self.first_w.transpose(1, 2), xh), *tail
            )
        else:
            flat = x.reshape(-1, x.shape[-1])
            mlp = location_mlp.reference
            if self.fused and location_mlp.usable(flat, self.first.weight, self.hidden_w):
                mlp = location_mlp.kernel_mlp
            out = mlp(flat, self.first.weight, self.first.bias, *tail)
        return out.reshape(*lead, self.heads)
