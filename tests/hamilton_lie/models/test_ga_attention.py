"""GAAttention: exact invariance to continuous rotations, translations and permutations (float64 and
float32, each to its tolerance), reflections as configured, equivariant vector field, clear errors."""

import pytest
import torch
from helpers import TOLERANCE

from hamilton_lie import GAAttention, get_model, groups, hamiltonian_vector_field
from hamilton_lie.models._ga_attention import n_invariants, product_invariants
from hamilton_lie.testing import assert_equivariant


def _inputs(dim, batch=3, n=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, n, dim, generator=g, dtype=torch.float64)
    p = torch.randn(batch, n, dim, generator=g, dtype=torch.float64)
    params = {
        "masses": torch.rand(batch, n, generator=g, dtype=torch.float64) + 0.5,
        "k": torch.rand(batch, n, generator=g, dtype=torch.float64),
    }
    return q.to(dtype), p.to(dtype), {k: v.to(dtype) for k, v in params.items()}


def _model(dim, dtype=torch.float64, **options):
    torch.manual_seed(0)
    return GAAttention(dim, dim_hidden=16, num_layers=2, num_heads=2, **options).to(dtype)


CASES = [(d, r, e) for d in (2, 3) for r in (2, 3) for e in ("full", "potential")]


@pytest.mark.parametrize("dtype", TOLERANCE)
@pytest.mark.parametrize("dim, rank, energy", CASES)
@pytest.mark.parametrize("reflections", [True, False])
def test_exactly_invariant_to_rotations_translations_and_permutations(dim, rank, energy, reflections, dtype):
    model = _model(dim, dtype, rank=rank, energy=energy, reflections=reflections)
    q, p, params = _inputs(dim, dtype=dtype)
    group, rtol = groups.get_group(f"SE{dim}"), TOLERANCE[dtype]
    generator = torch.Generator().manual_seed(1)
    assert_equivariant(model, group, (q, p, params), rtol=rtol, generator=generator, translation_scale=10.0)
    field = lambda q_, p_, params_: hamiltonian_vector_field(model, q_, p_, params_)  # noqa: E731
    assert_equivariant(field, group, (q, p, params), rtol=rtol, generator=generator)
    perm = torch.randperm(q.shape[1], generator=generator)
    H = model(q, p, params)
    permuted = model(q[:, perm], p[:, perm], {k: v[:, perm] for k, v in params.items()})
    assert ((permuted - H).abs() / H.abs()).max() <= rtol


@pytest.mark.parametrize("dim, rank, energy", CASES)
def test_reflections_as_configured(dim, rank, energy):
    q, p, params = _inputs(dim)
    mirror = torch.ones(dim, dtype=torch.float64)
    mirror[0] = -1
    invariant, chiral = _model(dim, rank=rank, energy=energy), _model(dim, rank=rank, energy=energy, reflections=False)
    for model in (invariant, chiral):
        H, H_mirror = model(q, p, params), model(q * mirror, p * mirror, params)
        error = float(((H_mirror - H).abs() / H.abs()).max().detach())
        # only proper rotations: a pseudoscalar keeps its sign, except where the tuple's vectors
        # cannot form one (a 3D potential: one or two relative positions span no volume)
        has_pseudoscalar = dim == 2 and not (energy == "potential" and rank == 2) or dim == 3 and energy == "full"
        if model is chiral and has_pseudoscalar:
            assert error > 1e-6
        else:
            assert error <= 1e-12


def test_product_invariants_against_hand_computed_values():
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -1.0]])
    # a.a, a.b, b.b, then a ^ b = 1 * -1 - 2 * 3 = -7
    assert product_invariants([a, b], signed=True).tolist() == [[5.0, 1.0, 10.0, -7.0]]
    assert product_invariants([a, b], signed=False)[0, -1] == 49.0
    x, y, z = torch.eye(3).unbind(0)
    feats = product_invariants([x[None], y[None], (2 * z)[None]], signed=True)
    assert feats.shape[-1] == n_invariants(3, 3) == 6 + 3 + 1
    assert feats[0, -1] == 2.0  # det[e1, e2, 2 e3]


def test_masked_bodies_do_not_matter():
    model = _model(2)
    q, p, params = _inputs(2, n=6)
    mask = torch.tensor([True] * 4 + [False] * 2).expand(3, 6)
    moved = q.clone()
    moved[:, 4:] += 100.0
    assert torch.allclose(model(q, p, params, mask=mask), model(moved, p, params, mask=mask), rtol=1e-12)
    small = {k: v[:, :4] for k, v in params.items()}
    assert torch.allclose(model(q, p, params, mask=mask), model(q[:, :4], p[:, :4], small), rtol=1e-12)


def test_registry_and_bad_input():
    model = get_model("gaattention", dim=3, dim_hidden=16, num_layers=1, num_heads=2)
    assert isinstance(model, GAAttention)
    q, p, params = _inputs(3)
    with pytest.raises(ValueError, match=r"q must have shape \(batch, n_bodies, 3\)"):
        model(q[..., :2], p[..., :2], params)
    with pytest.raises(ValueError, match="params must contain 'k'"):
        model(q.float(), p.float(), {"masses": params["masses"].float()})
    with pytest.raises(ValueError, match="float64"):
        model(q, p, params)
    for bad, message in [
        ({"dim": 4}, "dim must be 2 or 3"),
        ({"rank": 4}, "rank must be 2 or 3"),
        ({"num_heads": 3}, "divisible"),
    ]:
        with pytest.raises(ValueError, match=message):
            GAAttention(**{"dim": 2, "dim_hidden": 16, **bad})
