"""What every energy model shares: input checks, the analytic kinetic term and masked pooling."""

from __future__ import annotations

import torch
from torch import nn

ENERGY_HEADS = ("potential", "full")


def kinetic_energy(p: torch.Tensor, masses: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """sum_i |p_i|^2 / (2 m_i) over real bodies: ``(B, N, d), (B, N)[, mask (B, N)] -> (B,)``."""
    if mask is not None:  # a padded body gets infinite mass: no kinetic energy, no velocity
        masses = masses.masked_fill(~mask, float("inf"))
    return (p.pow(2).sum(-1) / (2 * masses)).sum(-1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None, dim: int = 1) -> torch.Tensor:
    """Mean of ``x (..., N, ...)`` over axis ``dim``, counting only entries where ``mask (..., N)`` is True."""
    if mask is None:
        return x.mean(dim)
    w = mask.unsqueeze(-1).to(x.dtype)
    return (x * w).sum(dim) / w.sum(dim).clamp_min(1)


class EnergyModel(nn.Module):
    """Base of the energy models: H(q, p, params) -> ``(B,)``, a scalar per system.

    A subclass supplies :meth:`network`, the learned part. With ``energy="potential"`` the network sees
    positions and per-body scalars only and predicts V(q); the kinetic term sum |p|^2 / 2m is added
    exactly, so H is separable (``separable``) and symplectic integrators apply. With ``energy="full"``
    the network predicts H(q, p) itself.

    Arguments:
        dim: the dimension of the space the bodies move in (2 or 3).
        scalar_features: names of the per-body parameters fed to the network, e.g. ``("masses", "k")``.
        energy: ``"potential"`` (needs ``masses`` among the scalar features) or ``"full"``.
        output_scale: multiplies the network's output (1: the references' models). A freshly
            initialised network's output and its gradients are of order 1, and Adam moves each weight
            by about the learning rate per step, so energies with steep gradients (springs: |grad V| of
            order 10 to 100) take many steps to reach; a scale near their size starts learning the
            forces sooner.
    """

    def __init__(self, dim: int, scalar_features: tuple[str, ...], energy: str, output_scale: float = 1.0):
        super().__init__()
        scalar_features = tuple(scalar_features)
        if energy not in ENERGY_HEADS:
            raise ValueError(f"energy must be one of {ENERGY_HEADS}, got {energy!r}")
        if energy == "potential" and "masses" not in scalar_features:
            raise ValueError("energy='potential' adds sum |p|^2 / 2m, so scalar_features must include 'masses'")
        if not output_scale > 0:
            raise ValueError(f"output_scale must be positive, got {output_scale!r}")
        self.dim, self.scalar_features, self.energy = dim, scalar_features, energy
        self.output_scale = float(output_scale)

    @property
    def separable(self) -> bool:
        """Whether H = V(q) + sum |p|^2 / 2m exactly (``energy="potential"``)."""
        return self.energy == "potential"

    def network(self, q, p, params, mask=None, generator=None) -> torch.Tensor:
        """The learned part before ``output_scale``, ``(B,)``: V(q) with the potential head, H(q, p) with
        the full one."""
        raise NotImplementedError

    def forward(self, q, p, params, mask=None, generator=None) -> torch.Tensor:
        """H(q, p): ``q, p (B, N, d)``, ``params`` name -> ``(B, N)``, optional ``mask (B, N)`` of real
        (not padded) bodies -> ``(B,)``. ``generator`` drives random lifts in training mode.

        Raises:
            ValueError: for shapes, dtypes or devices that do not fit, naming what was expected.
        """
        out = self.learned_energy(q, p, params, mask, generator)
        if self.energy == "potential":
            out = out + kinetic_energy(p, params["masses"], mask)
        return out

    def learned_energy(self, q, p, params, mask=None, generator=None) -> torch.Tensor:
        """The learned part of H, ``(B,)``: ``output_scale`` times the network's output, which is V(q) with
        the potential head (H without the exact kinetic term) and all of H with the full one. Arguments
        and checks as :meth:`forward`."""
        self.check_inputs(q, p, params)
        return self.output_scale * self.network(q, p, params, mask, generator)

    def check_inputs(self, q: torch.Tensor, p: torch.Tensor, params: dict) -> None:
        """Raise ``ValueError`` naming expected and received shapes, dtypes and devices."""
        if q.dim() != 3 or q.shape[-1] != self.dim:
            raise ValueError(f"q must have shape (batch, n_bodies, {self.dim}), got {tuple(q.shape)}")
        if p.shape != q.shape:
            raise ValueError(f"p must have the shape of q, {tuple(q.shape)}, got {tuple(p.shape)}")
        if p.dtype != q.dtype or p.device != q.device:
            raise ValueError(f"q and p must share dtype and device, got {q.dtype}/{q.device} and {p.dtype}/{p.device}")
        for name in self.scalar_features:
            if name not in params:
                raise ValueError(f"params must contain {name!r} (shape (batch, n_bodies)); got keys {sorted(params)}")
            value = params[name]
            if tuple(value.shape) != tuple(q.shape[:2]):
                raise ValueError(f"params[{name!r}] must have shape {tuple(q.shape[:2])}, got {tuple(value.shape)}")
            if value.device != q.device:
                raise ValueError(f"params[{name!r}] is on {value.device} but q is on {q.device}")
        weight = next(self.parameters())
        if q.dtype != weight.dtype or q.device != weight.device:
            raise ValueError(f"inputs are {q.dtype} on {q.device} but the model is {weight.dtype} on {weight.device}")

    def scalars(self, params: dict) -> torch.Tensor:
        """The per-body scalar features stacked: ``(B, N, len(scalar_features))``."""
        return torch.stack([params[k] for k in self.scalar_features], -1)
