"""The FC-HNN baseline (Greydanus et al., 2019): an MLP on the flattened state, no symmetry."""

from __future__ import annotations

import torch

from ..nn import mlp
from ._base import EnergyModel


class MLPHamiltonian(EnergyModel):
    """H(q, p, params) = MLP([q, p, scalars] flattened), with the energy-model interface.

    Arguments:
        n_bodies, dim: the system size it is built for (the input layer depends on it).
        scalar_features: per-body parameters fed to the network, e.g. ``("masses", "k")``.
        hidden: width of the hidden layers (default 256); num_layers: hidden layers (default 3).
        energy: ``"potential"`` (V from q and scalars, plus the analytic kinetic term) or ``"full"``.
        output_scale: multiplies the network's output (see :class:`EnergyModel`).
    """

    def __init__(
        self,
        n_bodies: int,
        dim: int,
        scalar_features: tuple[str, ...] = ("masses", "k"),
        hidden: int = 256,
        num_layers: int = 3,
        energy: str = "full",
        output_scale: float = 1.0,
    ):
        super().__init__(dim, scalar_features, energy, output_scale)
        self.n_bodies = n_bodies
        per_body = dim * (2 if energy == "full" else 1) + len(self.scalar_features)
        self.net = mlp([n_bodies * per_body, *[hidden] * num_layers, 1])

    def check_inputs(self, q: torch.Tensor, p: torch.Tensor, params: dict) -> None:
        super().check_inputs(q, p, params)
        if q.shape[1] != self.n_bodies:
            raise ValueError(
                f"this MLPHamiltonian was built for {self.n_bodies} bodies, got q of shape {tuple(q.shape)}"
            )

    def network(self, q, p, params, mask=None, generator=None) -> torch.Tensor:
        """The learned part ``(B,)``; ``mask`` and ``generator`` are accepted for interface parity."""
        parts = [q] + ([p] if self.energy == "full" else [])
        parts.append(self.scalars(params))
        return self.net(torch.cat(parts, -1).flatten(1)).squeeze(-1)
