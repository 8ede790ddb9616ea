"""The fused location kernels (hamilton_lie._kernels.location_mlp) against the PyTorch form of the same MLP
(MultiheadKernelMLP with fused=False), float64: values, first and second derivatives, both code paths
of the C++ kernel (width 16, fixed at compile time, and any other width), partial tiles and several
chunks; independence of the thread count; a whole model with and without them."""

import shutil
import sys

import pytest
import torch
from helpers import assert_same_bits_for_thread_counts

from hamilton_lie import LieTransformer, groups, hamiltonian_vector_field
from hamilton_lie._kernels import extension, location_mlp
from hamilton_lie.nn import KNN, Full, MultiheadKernelMLP, fused_kernels_available, use_fused_kernels
from hamilton_lie.testing import assert_equivariant

# where a compiler and ninja are present the extension must build: a failed build fails these tests
pytestmark = pytest.mark.skipif(
    not (shutil.which("c++") and shutil.which("ninja")), reason="no C++ compiler or ninja to build the extension"
)


def test_extension_builds():
    assert extension() is not None and fused_kernels_available()


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and torch.backends.openmp.is_available()), reason="PyTorch without OpenMP"
)
def test_extension_runs_on_threads():
    # without -fopenmp, at::parallel_for silently compiles to a serial loop
    assert extension().parallel()


def _pair(in_dim, heads, width, dtype=torch.float64):
    torch.manual_seed(0)
    plain = MultiheadKernelMLP(in_dim, heads, width).to(dtype)
    with torch.no_grad():  # non-zero biases, so that every parameter gradient is exercised
        for w in plain.parameters():
            w.add_(0.3 * torch.randn_like(w))
    fast = MultiheadKernelMLP(in_dim, heads, width, fused=True).to(dtype)
    fast.load_state_dict(plain.state_dict())
    return plain, fast


def _training_derivatives(module, x, g):
    """What Hamiltonian training takes: out, grad_x <g, out> with create_graph, and the gradients of a
    function of that with respect to x and every weight."""
    out = module(x)
    (gx,) = torch.autograd.grad(out, x, g, create_graph=True)
    # the output bias does not reach grad_x: its entry is None for both forms
    second = torch.autograd.grad((gx.sin() * gx).sum(), [x, *module.parameters()], allow_unused=True)
    return out, gx, tuple(t for t in second if t is not None)


# 1100 pairs: three chunks of 512, the last with a partial tile; widths 16 (specialised) and 5
@pytest.mark.parametrize("in_dim, heads, width, n", [(2, 8, 16, 1100), (3, 4, 5, 1100), (4, 2, 16, 7)])
def test_matches_pytorch_to_second_derivatives(in_dim, heads, width, n):
    plain, fast = _pair(in_dim, heads, width)
    x = torch.randn(n, in_dim, dtype=torch.float64, requires_grad=True)
    g = torch.randn(n, heads, dtype=torch.float64)
    for a, b in zip(_training_derivatives(fast, x, g)[:2], _training_derivatives(plain, x, g)[:2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    for a, b in zip(_training_derivatives(fast, x, g)[2], _training_derivatives(plain, x, g)[2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)
    # gradients of the output itself: parameters alone, and x with the parameters (one kernel call)
    for with_x in (False, True):
        first = torch.autograd.grad((fast(x) * g).sum(), [x] * with_x + list(fast.parameters()))
        reference = torch.autograd.grad((plain(x) * g).sum(), [x] * with_x + list(plain.parameters()))
        for a, b in zip(first, reference, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_float32_close_to_float64():
    plain, fast = _pair(2, 8, 16)
    fast32 = MultiheadKernelMLP(2, 8, 16, fused=True)
    fast32.load_state_dict({k: v.float() for k, v in fast.state_dict().items()})
    x = torch.randn(300, 2, dtype=torch.float64)
    torch.testing.assert_close(fast32(x.float()).double(), plain(x), rtol=1e-5, atol=1e-5)


def test_gradcheck_and_gradgradcheck():
    torch.manual_seed(1)
    heads, width, in_dim = 2, 3, 2
    tensors = [
        torch.randn(5, in_dim),
        torch.randn(heads * width, in_dim),
        torch.randn(heads * width),
        torch.randn(heads, width, width),
        torch.randn(heads, width),
        torch.randn(heads, width),
        torch.randn(heads),
    ]
    tensors = [t.double().requires_grad_() for t in tensors]
    assert torch.autograd.gradcheck(location_mlp.kernel_mlp, tensors)
    assert torch.autograd.gradgradcheck(location_mlp.kernel_mlp, tensors)


def test_third_derivative_raises_clearly():
    _, fast = _pair(2, 2, 4)
    x = torch.randn(9, 2, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad(fast(x).sum(), x, create_graph=True)
    torch.autograd.grad(gx.pow(2).sum(), x, retain_graph=True)  # the second derivative is fine
    # a second derivative that is itself to be differentiated is refused when it is built
    with pytest.raises(RuntimeError, match="third derivative .*use_fused_kernels"):
        torch.autograd.grad(gx.pow(2).sum(), x, create_graph=True)


def test_same_bits_whatever_the_thread_count():
    _, fast = _pair(2, 8, 16, dtype=torch.float32)
    x = torch.randn(2000, 2, requires_grad=True)
    g = torch.randn(2000, 8)

    def derivatives():
        out, gx, second = _training_derivatives(fast, x, g)
        return [out, gx, *second]

    assert_same_bits_for_thread_counts(derivatives)


@pytest.mark.parametrize("attention", [Full(), KNN(neighbours=4)])
def test_model_with_and_without_fused_kernels(attention):
    torch.manual_seed(0)
    options = dict(dim_hidden=16, num_layers=2, num_heads=2, attention=attention)
    plain = LieTransformer(groups.T(2), ("masses", "k"), fused_kernels=False, **options).double()
    fast = LieTransformer(groups.T(2), ("masses", "k"), fused_kernels=True, **options).double()
    fast.load_state_dict(plain.state_dict())
    q, p = torch.randn(3, 6, 2, dtype=torch.float64), torch.randn(3, 6, 2, dtype=torch.float64)
    params = {"masses": torch.rand(3, 6, dtype=torch.float64) + 0.5, "k": torch.rand(3, 6, dtype=torch.float64)}
    torch.testing.assert_close(fast(q, p, params), plain(q, p, params), rtol=1e-12, atol=0)
    for a, b in zip(
        hamiltonian_vector_field(fast, q, p, params), hamiltonian_vector_field(plain, q, p, params), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)
    translations = groups.T(2).sample((4,), generator=torch.Generator().manual_seed(2))
    assert_equivariant(fast, groups.T(2), (q, p, params), elements=translations, rtol=1e-10)


def test_switch_turns_the_kernels_off_for_a_block_and_restores_them():
    _, fast = _pair(2, 2, 4)
    x = torch.randn(9, 2, dtype=torch.float64, requires_grad=True)
    assert location_mlp.usable(x, fast.first.weight, fast.hidden_w)
    with use_fused_kernels(False):
        assert not fused_kernels_available() and not location_mlp.usable(x, fast.first.weight, fast.hidden_w)
        with use_fused_kernels(True):
            assert fused_kernels_available()
        assert not fused_kernels_available()
        out = fast(x)
        (gx,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        # the PyTorch form: differentiable a third time, which the fused kernels refuse
        (third,) = torch.autograd.grad(torch.autograd.grad(gx.pow(2).sum(), x, create_graph=True)[0].sum(), x)
        assert torch.isfinite(third).all()
    assert fused_kernels_available()
    with pytest.raises(KeyError), use_fused_kernels(False):
        raise KeyError("an error inside the block")
    assert fused_kernels_available()  # restored on the way out
