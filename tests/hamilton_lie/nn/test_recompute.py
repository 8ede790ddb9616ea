"""Recomputation: first and second derivatives equal plain autograd's, for a generic function, for
pairwise attention (gathered, dense and all-token) and for whole models, while nothing per pair is kept."""

from functools import partial

import pytest
import torch

from hamilton_lie import LieTransformer, hamiltonian_vector_field
from hamilton_lie.groups import SE2, T
from hamilton_lie.nn import KNN, Full, LieSelfAttention, _attention, recomputed


def _function(B, M, K, C):
    def fn(q, k, pairs, w, index):
        keys = k.gather(1, index.reshape(B, -1, 1).expand(-1, -1, C)).view(B, index.shape[1], K, C)
        return (torch.sin(q.unsqueeze(2) * keys) * torch.tanh(pairs @ w)).sum(2)

    return fn


def _second_order(y_of, inputs, wrt_first):
    """A loss on the first derivative of sum(y^3) (as training differentiates J grad H), and its
    gradients for every input."""
    y = y_of()
    first = torch.autograd.grad(y.pow(3).sum(), wrt_first, create_graph=True)
    loss = sum(g.pow(2).sum() + g.sin().sum() for g in first)
    return (y, *first, *torch.autograd.grad(loss, inputs))


@pytest.mark.parametrize("rows", [1, 3, 7, 100])
def test_recomputed_matches_autograd_to_second_order(rows):
    torch.manual_seed(0)
    B, M, K, C, P = 2, 7, 3, 4, 2
    q = torch.randn(B, M, C, dtype=torch.float64, requires_grad=True)
    k = torch.randn(B, M, C, dtype=torch.float64, requires_grad=True)
    pairs = torch.randn(B, M, K, P, dtype=torch.float64, requires_grad=True)
    w = torch.randn(P, C, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, M, (B, M, K))
    fn = _function(B, M, K, C)
    inputs = (q, k, pairs, w)
    plain = _second_order(lambda: fn(*inputs, index), inputs, (q, pairs, k))
    lean = _second_order(
        lambda: recomputed(fn, inputs, (True, False, True, False), (index,), rows=rows), inputs, (q, pairs, k)
    )
    for a, b in zip(plain, lean, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


def test_recomputed_first_derivative_for_weights_and_a_third_derivative_refused():
    torch.manual_seed(1)
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)

    def fn(x, w):
        return torch.tanh(x @ w)

    y = recomputed(fn, (x, w), (True, False), rows=2)
    gw_lean, gx = torch.autograd.grad(y.sum(), (w, x), create_graph=True)
    gw_plain = torch.autograd.grad(fn(x, w).sum(), w)[0]
    torch.testing.assert_close(gw_lean, gw_plain, rtol=1e-13, atol=1e-13)
    with pytest.raises(RuntimeError, match="first and second derivatives only"):
        torch.autograd.grad(gx.sum(), x, create_graph=True)


def test_recomputed_bad_arguments():
    x = torch.randn(1, 2, 3)
    with pytest.raises(ValueError, match="split has 2 entries for 1 tensors"):
        recomputed(torch.sin, (x,), (True, False))
    with pytest.raises(ValueError, match="rows must be positive"):
        recomputed(torch.sin, (x,), (True,), rows=0)


def _layer_inputs(B, M, K, dense_index: bool, masked: bool):
    g = torch.Generator().manual_seed(2)
    f = torch.randn(B, M, 8, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.randn(B, M, 2, generator=g, dtype=torch.float64, requires_grad=True)
    if dense_index:
        index, pairs = None, x.unsqueeze(1) - x.unsqueeze(2)
        mask = (torch.rand(B, M, M, generator=g) > 0.3) if masked else None
    else:
        index = torch.cdist(x, x).topk(K, largest=False).indices
        pairs = torch.gather(x.unsqueeze(1) - x.unsqueeze(2), 2, index.unsqueeze(-1).expand(B, M, K, 2))
        mask = (torch.rand(B, M, K, generator=g) > 0.3) if masked else None
    return f, x, pairs, index, mask


@pytest.mark.parametrize("logits", ["sum", "product", "mlp", "content"])
@pytest.mark.parametrize("normalisation", ["softmax", "dot_product"])
@pytest.mark.parametrize("neighbourhood", ["gathered", "dense", "all"])
def test_recomputed_attention_equals_plain_attention(logits, normalisation, neighbourhood, monkeypatch):
    """Output, first derivatives (f and positions) and second derivatives (every weight) of one layer,
    with a padding mask; ``gathered`` and ``dense`` are the two ways k-nearest attention is computed."""
    monkeypatch.setattr(_attention, "DENSE_FACTOR", 0 if neighbourhood == "gathered" else 32)
    monkeypatch.setattr(_attention, "RECOMPUTE_CHUNK_PAIRS", 6)  # several chunks, the last one short
    torch.manual_seed(0)
    plain = LieSelfAttention(8, 2, pair_dim=2, kernel_dim=4, logits=logits, normalisation=normalisation).double()
    lean = LieSelfAttention(
        8, 2, pair_dim=2, kernel_dim=4, logits=logits, normalisation=normalisation, recompute_pairs=0
    ).double()
    lean.load_state_dict(plain.state_dict())
    results = []
    for layer in (plain, lean):
        f, x, pairs, index, mask = _layer_inputs(2, 7, 3, neighbourhood == "all", masked=True)
        wrt = (f, x) if logits != "content" else (f,)  # content logits do not see positions
        inputs = (*wrt, *layer.parameters())
        results.append(_second_order(partial(layer, f, pairs, index, mask), inputs, wrt))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("group, samples, attn", [(T(2), 1, KNN(neighbours=3)), (SE2(), 4, KNN(neighbours=3)), (T(2), 1, Full())])
def test_recomputing_model_trains_like_the_plain_model(group, samples, attn):
    """H, the vector field, and the gradients of a loss on the vector field, with padded bodies."""
    config = dict(
        dim_hidden=16, num_layers=2, num_heads=2, kernel_dim=8, lift_samples=samples, attention=attn
    )
    torch.manual_seed(0)
    # PyTorch's location kernels: with the fused ones, all-token attention never recomputes
    config["fused_kernels"] = isinstance(attn, KNN)
    plain = LieTransformer(group, ("masses", "k"), recompute_pairs=None, **config).double()
    lean = LieTransformer(group, ("masses", "k"), recompute_pairs=0, **config).double()
    lean.load_state_dict(plain.state_dict())
    g = torch.Generator().manual_seed(3)
    q = torch.randn(3, 6, 2, generator=g, dtype=torch.float64)
    p = torch.randn(3, 6, 2, generator=g, dtype=torch.float64)
    params = {
        "masses": 1 + torch.rand(3, 6, generator=g, dtype=torch.float64),
        "k": torch.rand(3, 6, generator=g, dtype=torch.float64),
    }
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1, 4:] = False
    outs = []
    for model in (plain, lean):
        model.eval()
        h = model(q, p, params, mask)
        dq, dp = hamiltonian_vector_field(lambda *a, model=model: model(*a, mask), q, p, params, create_graph=True)
        # the readout's last bias does not move the vector field: its gradient is None in both
        grads = torch.autograd.grad(dq.pow(2).sum() + dp.pow(2).sum(), tuple(model.parameters()), allow_unused=True)
        outs.append((h, dq, dp, *grads))
    for a, b in zip(*outs, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "logits, fused, all_tokens, expected",
    [
        ("sum", True, True, False),  # a few floats per pair kept: never recomputed
        ("content", False, True, False),
        ("sum", False, True, True),  # PyTorch's kernel MLP keeps ~hundreds of floats per pair
        ("mlp", True, True, True),  # the combining MLP runs as PyTorch operations
        ("sum", True, False, True),  # gathered keys and values per neighbour
    ],
)
def test_when_attention_recomputes(logits, fused, all_tokens, expected):
    layer = LieSelfAttention(8, 2, pair_dim=2, kernel_dim=4, logits=logits, normalisation="softmax",
                             recompute_pairs=10, fused=fused).double()  # fmt: skip
    f, x, pairs, index, mask = _layer_inputs(2, 7, 3, all_tokens, masked=False)
    assert layer._recompute(11, pairs, index) is expected
    assert layer._recompute(10, pairs, index) is False  # not above the threshold
    with torch.no_grad():
        assert layer._recompute(11, pairs, index) is False  # no derivatives to take
