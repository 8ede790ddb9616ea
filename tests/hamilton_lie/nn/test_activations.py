"""The lean SiLU: value and first, second and third derivatives equal PyTorch's SiLU."""

import torch

from hamilton_lie.nn import SiLU, silu


def _derivatives(act, z, w):
    y = act(z)
    (first,) = torch.autograd.grad((y * w).sum(), z, create_graph=True)
    (second,) = torch.autograd.grad((first * w.cos()).sum(), z, create_graph=False)
    return y, first, second


def test_silu_matches_torch_to_second_order():
    g = torch.Generator().manual_seed(0)
    # around zero, and far out where sigma(z) rounds to 0 or 1
    z = torch.cat([torch.randn(200, generator=g, dtype=torch.float64) * 3, torch.tensor([-40.0, 0.0, 40.0]).double()])
    w = torch.randn_like(z)
    ours = _derivatives(silu, z.clone().requires_grad_(), w)
    reference = _derivatives(torch.nn.functional.silu, z.clone().requires_grad_(), w)
    for a, b in zip(ours, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)


def test_silu_gradcheck_and_third_derivative():
    z = torch.randn(7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(silu, (z,))
    assert torch.autograd.gradgradcheck(silu, (z,))
    thirds = []
    for act in (SiLU(), torch.nn.SiLU()):
        (first,) = torch.autograd.grad(act(z).sum(), z, create_graph=True)
        (second,) = torch.autograd.grad(first.sum(), z, create_graph=True)
        thirds.append(torch.autograd.grad(second.sum(), z)[0])
    torch.testing.assert_close(thirds[0], thirds[1], rtol=1e-13, atol=1e-15)
