"""A plain multilayer perceptron with SiLU activations, the readout and pointwise layer of every model."""

from __future__ import annotations

from torch import nn

from ._activations import SiLU


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` with SiLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(SiLU())
    return nn.Sequential(*layers)
