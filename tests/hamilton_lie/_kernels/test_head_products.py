"""The per-head products (hamilton_lie._kernels.head_products) against torch.einsum, float64: values, first,
second and third derivatives (each product's backward is built from the two products themselves),
eight heads (one SIMD vector in C++) and other head counts, strided operands; independence of the
thread count; the einsum fallback."""

import shutil

import pytest
import torch
from helpers import assert_same_bits_for_thread_counts

from hamilton_lie._kernels import head_products

pytestmark = pytest.mark.skipif(
    not (shutil.which("c++") and shutil.which("ninja")), reason="no C++ compiler or ninja to build the extension"
)


def _operands(heads, dtype=torch.float64, B=3, R=5, K=4, D=6):
    g = torch.Generator().manual_seed(heads)
    x = torch.randn(B, R, D, heads, dtype=dtype, generator=g, requires_grad=True)
    y = torch.randn(B, K, D, heads, dtype=dtype, generator=g, requires_grad=True)
    w = torch.randn(B, R, K, heads, dtype=dtype, generator=g, requires_grad=True)
    return x, y, w


@pytest.mark.parametrize("heads", [8, 3])
def test_values_match_einsum(heads):
    x, y, w = _operands(heads)
    torch.testing.assert_close(
        head_products.head_dot(x, y), torch.einsum("brdh,bkdh->brkh", x, y), rtol=1e-14, atol=1e-14
    )
    torch.testing.assert_close(
        head_products.head_mix(w, y), torch.einsum("brkh,bkdh->brdh", w, y), rtol=1e-14, atol=1e-14
    )


@pytest.mark.parametrize("heads", [8, 3])
def test_gradcheck_to_third_order(heads):
    x, y, w = _operands(heads, B=2, R=3, K=2, D=3)
    for fn, args in ((head_products.head_dot, (x, y)), (head_products.head_mix, (w, y))):
        assert torch.autograd.gradcheck(fn, args)
        assert torch.autograd.gradgradcheck(fn, args)

    # a third derivative, against einsum's
    def third(fn, args):
        out = fn(*args)
        (g1,) = torch.autograd.grad(out.pow(3).sum(), args[0], create_graph=True)
        (g2,) = torch.autograd.grad(g1.pow(2).sum(), args[1], create_graph=True)
        return torch.autograd.grad(g2.sin().sum(), args)

    def dot_ref(a, b):
        return torch.einsum("brdh,bkdh->brkh", a, b)

    def mix_ref(a, b):
        return torch.einsum("brkh,bkdh->brdh", a, b)

    for fn, ref, args in ((head_products.head_dot, dot_ref, (x, y)), (head_products.head_mix, mix_ref, (w, y))):
        for a, b in zip(third(fn, args), third(ref, args), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)  # values up to 1e4


def test_strided_operands():
    x, y, w = _operands(8, R=6, K=6)
    # row slices (as recomputation takes), a transposed weight tensor and a non-dense tail
    xs, wt, yt = x[:, 1:4], w.transpose(1, 2), y.transpose(2, 3).contiguous().transpose(2, 3)
    assert not yt.is_contiguous()
    torch.testing.assert_close(head_products.head_dot(xs, yt), torch.einsum("brdh,bkdh->brkh", xs, yt))
    torch.testing.assert_close(head_products.head_mix(wt, x), torch.einsum("brkh,bkdh->brdh", wt, x))


def test_float32_close_to_float64():
    x, y, w = _operands(8)
    torch.testing.assert_close(
        head_products.head_dot(x.float(), y.float()).double(), head_products.head_dot(x, y), rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        head_products.head_mix(w.float(), y.float()).double(), head_products.head_mix(w, y), rtol=1e-5, atol=1e-5
    )


def test_same_bits_whatever_the_thread_count():
    x, y, w = _operands(8, dtype=torch.float32, B=40, R=6, K=6, D=20)
    assert_same_bits_for_thread_counts(lambda: [head_products.head_dot(x, y), head_products.head_mix(w, y)])


def test_fallback_is_einsum_and_mismatched_shapes_raise():
    x, y, w = _operands(3)
    assert torch.equal(head_products.head_dot(x, y, fused=False), torch.einsum("brdh,bkdh->brkh", x, y))
    assert torch.equal(head_products.head_mix(w, y, fused=False), torch.einsum("brkh,bkdh->brdh", w, y))
    with pytest.raises(RuntimeError, match="do not match"):
        head_products.head_dot(x, y[..., :2])
    with pytest.raises(RuntimeError, match="do not match"):
        head_products.head_mix(w[:, :, :3], y)
