"""hamilton_lie.nn.LayerNorm against torch.nn.LayerNorm, float64: values, first, second
(the C++ pass) and third derivatives with respect to the input, the output gradient and the weight;
gradgradcheck; independence of the thread count; the same state dict."""

import shutil

import pytest
import torch
from helpers import assert_same_bits_for_thread_counts

from hamilton_lie.nn import LayerNorm

pytestmark = pytest.mark.skipif(
    not (shutil.which("c++") and shutil.which("ninja")), reason="no C++ compiler or ninja to build the extension"
)


def _pair(C, dtype=torch.float64):
    torch.manual_seed(0)
    fast = LayerNorm(C).to(dtype)
    with torch.no_grad():  # away from the initial weight 1 and bias 0, so that both matter
        fast.weight.copy_(torch.randn(C))
        fast.bias.copy_(torch.randn(C))
    plain = torch.nn.LayerNorm(C).to(dtype)
    plain.load_state_dict(fast.state_dict())
    return fast, plain


def _derivatives(module, x, gy, order):
    """y, its input gradient dx for the output gradient gy (create_graph), and the gradients of a
    nonlinear function of dx with respect to x, gy and the weight; with order 3, also of a function
    of those."""
    y = module(x)
    (dx,) = torch.autograd.grad(y, x, gy, create_graph=True)
    weights = torch.linspace(-1, 2, x.shape[-1], dtype=x.dtype)
    second = torch.autograd.grad((dx.sin() * weights).sum(), (x, gy, module.weight), create_graph=order > 2)
    out = [y, dx, *second]
    if order > 2:
        out += torch.autograd.grad(sum((s.cos()).sum() for s in second), (x, gy, module.weight))
    return out


@pytest.mark.parametrize("C, rows", [(160, 600), (7, 10), (13, 70)])
def test_matches_torch_to_second_derivatives(C, rows):
    fast, plain = _pair(C)
    x = (3 * torch.randn(rows, C, dtype=torch.float64) + 1).requires_grad_(True)
    gy = torch.randn(rows, C, dtype=torch.float64, requires_grad=True)
    for a, b in zip(_derivatives(fast, x, gy, 2), _derivatives(plain, x, gy, 2), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)


def test_third_derivative_and_batched_input():
    fast, plain = _pair(9)
    x = torch.randn(2, 3, 9, dtype=torch.float64, requires_grad=True)
    gy = torch.randn(2, 3, 9, dtype=torch.float64, requires_grad=True)
    for a, b in zip(_derivatives(fast, x, gy, 3), _derivatives(plain, x, gy, 3), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_gradcheck_and_gradgradcheck():
    fast, _ = _pair(5)
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fast, (x,))
    assert torch.autograd.gradgradcheck(fast, (x,))


def test_float32_close_to_torch():
    fast, plain = _pair(160, torch.float32)
    x = torch.randn(100, 160, requires_grad=True)
    gy = torch.randn(100, 160, requires_grad=True)
    for a, b in zip(_derivatives(fast, x, gy, 2), _derivatives(plain, x, gy, 2), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_same_bits_whatever_the_thread_count():
    fast, _ = _pair(160, torch.float32)
    x = torch.randn(1000, 160, requires_grad=True)
    gy = torch.randn(1000, 160, requires_grad=True)
    assert_same_bits_for_thread_counts(lambda: _derivatives(fast, x, gy, 2))


def test_unfused_is_torch_and_state_dicts_agree():
    fast, plain = _pair(6)
    assert fast.state_dict().keys() == plain.state_dict().keys()
    fast.fused = False
    x = torch.randn(3, 6, dtype=torch.float64)
    assert torch.equal(fast(x), plain(x))
