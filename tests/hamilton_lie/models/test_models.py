"""Energy models: exact invariances in float32 and float64, vector-field equivariance, permutations,
neighbourhoods, bad input."""

import math

import pytest
import torch
from helpers import ALL_GROUPS, ALL_MODELS, TOLERANCE

from hamilton_lie import LieTransformer, MLPHamiltonian, get_model, hamiltonian_vector_field
from hamilton_lie.groups import SO2, Element, T, cyclic_rotations, finite_rotations_3d, get_group
from hamilton_lie.models import list_models
from hamilton_lie.nn import KNN, Full, LieSelfAttention, Linformer, LowRank, _attention
from hamilton_lie.testing import assert_equivariant

SMALL = dict(dim_hidden=16, num_layers=2, num_heads=2, kernel_dim=8)


def _exact_rotations(group, samples):
    """The rotations an eval LieTransformer over ``group`` with ``samples`` lift samples is exactly
    invariant to: "all" (a canonical lift), a finite set (the lift grid), or None."""
    if group.name == "SO2":
        return "all"
    if group.name == "SE2":
        return cyclic_rotations(samples)
    if group.name == "SE3":
        return finite_rotations_3d(group.finite_name)
    return None  # no rotations, or SO(3)'s grid of turns about each body's own axis


# id -> (group registry name, options, lift samples): every registered group, and more lift grids
MODELS = {name: (name, {}, 4 if name in ("SE2", "SO3") else 24 if name == "SE3" else 1) for name in ALL_GROUPS}
MODELS |= {"SE2-C6": ("SE2", {}, 6), "SE3-tetrahedral": ("SE3", {"finite": "tetrahedral"}, 12)}


def _model(name, attention=Full(), energy="full", dtype=torch.float64, **overrides):
    group_name, options, samples = MODELS[name]
    attention = ATTENTIONS.get(attention, attention)  # a name: the small kinds below
    torch.manual_seed(0)
    model = LieTransformer(get_group(group_name, **options), ("masses", "k"), lift_samples=samples,
                           attention=attention, energy=energy, **{**SMALL, **overrides})  # fmt: skip
    return model.to(dtype).eval()


def _inputs(dim, batch=3, n=6, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, n, dim, generator=g, dtype=torch.float64)
    p = torch.randn(batch, n, dim, generator=g, dtype=torch.float64)
    params = {
        "masses": 0.5 + torch.rand(batch, n, generator=g, dtype=torch.float64),
        "k": torch.rand(batch, n, generator=g, dtype=torch.float64),
    }
    return q.to(dtype), p.to(dtype), {k: v.to(dtype) for k, v in params.items()}


def _field(model):
    def field(q, p, params):
        return hamiltonian_vector_field(model, q, p, params)

    return field


def _rotations_as_elements(rotations, batch, generator, translate):
    n, d = rotations.shape[0], rotations.shape[-1]
    t = torch.randn(n, batch, d, generator=generator, dtype=torch.float64) if translate else torch.zeros(n, batch, d)
    return Element(rotations[:, None].expand(n, batch, d, d), t.double())


ATTENTIONS = {"full": Full(), "knn": KNN(neighbours=3), "linformer": Linformer(rank=4, max_bodies=8), "lowrank": LowRank(rank=4)}


def _exact_elements(group, rotations, generator):
    """Elements an eval model is exactly invariant to: random group elements where ``rotations`` names
    a continuous symmetry (a string), else the first 8 of the listed rotations (with translations
    where the group has them); ``(8 or 6, 3)``."""
    if isinstance(rotations, str):
        return group.sample((6, 3), generator=generator)
    return _rotations_as_elements(rotations[:8], 3, generator, translate=group.translations)


CASES = [(name, att, energy) for name in MODELS for att in ATTENTIONS for energy in ("full", "potential")]


@pytest.mark.parametrize("dtype", TOLERANCE)
@pytest.mark.parametrize("name, attention, energy", CASES)
def test_exact_invariances(name, attention, energy, dtype):
    """Translations (for groups with them), and the rotations the eval model is built to be exact for,
    in float64 and in float32 (what training runs in), each to its own tolerance."""
    model = _model(name, ATTENTIONS[attention], energy, dtype)
    group, rtol = model.group, TOLERANCE[dtype]
    inputs = _inputs(group.dim, dtype=dtype)
    g = torch.Generator().manual_seed(1)
    rotations = _exact_rotations(group, MODELS[name][2])
    if group.translations:
        translations = T(group.dim).sample((6, 3), generator=g, translation_scale=3.0)
        assert_equivariant(model, group, inputs, elements=translations, rtol=rtol)
        assert_equivariant(_field(model), group, inputs, elements=translations, rtol=rtol)
    # a rotation permutes each body's lift samples, and Linformer's projections see token order
    if attention == "linformer" and group.lift_size(MODELS[name][2]) > 1:
        rotations = None
    if rotations is not None:
        elements = _exact_elements(group, rotations, g)
        assert_equivariant(model, group, inputs, elements=elements, rtol=rtol)
        assert_equivariant(_field(model), group, inputs, elements=elements, rtol=rtol)


# each registered model and the symmetry group it is exactly invariant to (None: none, the negative control)
SYMMETRIES = {
    "lietransformer": dict(options=dict(group="SE2", lift_samples=4, **SMALL), rotations=cyclic_rotations(4)),
    "gaattention": dict(options=dict(dim=2, dim_hidden=16, num_layers=1, num_heads=2), rotations="all"),
    "mlp": dict(options=dict(n_bodies=6, dim=2, hidden=32), rotations=None),
}


def test_every_registered_model_has_a_symmetry_test():
    assert set(SYMMETRIES) == set(ALL_MODELS)


@pytest.mark.parametrize("dtype", TOLERANCE)
@pytest.mark.parametrize("name", ALL_MODELS)
def test_registered_models_are_invariant_in_both_dtypes(name, dtype):
    """Every registered model, built by name, in float32 and float64: H and J grad H under rotations and
    translations of the plane; a model without the symmetry (the MLP) must fail the same check."""
    case = SYMMETRIES[name]
    torch.manual_seed(0)
    model = get_model(name, **case["options"]).to(dtype).eval()
    group, inputs, g = get_group("SE2"), _inputs(2, dtype=dtype), torch.Generator().manual_seed(2)
    rotations = case["rotations"]
    elements = group.sample((6, 3), generator=g) if rotations in ("all", None) else (
        _rotations_as_elements(rotations, 3, g, translate=True))  # fmt: skip
    if rotations is None:
        with pytest.raises(AssertionError, match="is not SE2\\(\\)-equivariant"):
            assert_equivariant(model, group, inputs, elements=elements, rtol=TOLERANCE[dtype])
        return
    assert_equivariant(model, group, inputs, elements=elements, rtol=TOLERANCE[dtype])
    assert_equivariant(_field(model), group, inputs, elements=elements, rtol=TOLERANCE[dtype])


@pytest.mark.parametrize("name", ["T2", "SE2", "Trivial2"])
def test_non_symmetries_are_detected(name):
    """The check can fail: a rotation that is not in the model's group changes H."""
    model = _model(name)
    group = SO2()
    angle = torch.tensor(2 * math.pi / 7 if name != "Trivial2" else 0.9, dtype=torch.float64)
    R = torch.stack([torch.cos(angle), -torch.sin(angle), torch.sin(angle), torch.cos(angle)]).view(1, 1, 2, 2)
    elements = Element(R.expand(1, 3, 2, 2), torch.zeros(1, 3, 2, dtype=torch.float64))
    with pytest.raises(AssertionError, match="is not SO2\\(\\)-equivariant: relative error"):
        assert_equivariant(model, group, _inputs(2), elements=elements, rtol=1e-10)


@pytest.mark.parametrize("logits", ["product", "mlp"])
@pytest.mark.parametrize("name", ["T2", "SE2"])
def test_other_logit_combinations_keep_exact_invariance(name, logits):
    """The content and location kernels combined by product or by a per-head MLP, not only summed."""
    model = _model(name, "knn", logits=logits)
    group = model.group
    g = torch.Generator().manual_seed(4)
    elements = (
        group.sample((4, 3), generator=g)
        if name == "T2"
        else _rotations_as_elements(cyclic_rotations(4), 3, g, translate=True)
    )
    assert_equivariant(model, group, _inputs(2), elements=elements, rtol=1e-10)
    assert_equivariant(_field(model), group, _inputs(2), elements=elements, rtol=1e-10)


@pytest.mark.parametrize("name, attention", [(n, a) for n in MODELS for a in ("full", "knn", "lowrank")])
def test_permutation_invariance(name, attention):
    model = _model(name, attention)
    q, p, params = _inputs(model.group.dim)
    perm = torch.randperm(q.shape[1], generator=torch.Generator().manual_seed(3))
    h = model(q, p, params)
    h_perm = model(q[:, perm], p[:, perm], {k: v[:, perm] for k, v in params.items()})
    assert ((h - h_perm).abs() / h.abs()).max() <= 1e-12


@pytest.mark.parametrize("dense_factor", [0, 32])
def test_knn_matches_a_masked_dense_reference(dense_factor, monkeypatch):
    """k-nearest attention, gathered (O(N k)) or by all query-key products then picked (few tokens),
    against all-token attention with everything outside the k nearest masked."""
    monkeypatch.setattr(_attention, "DENSE_FACTOR", dense_factor)
    torch.manual_seed(0)
    for normalisation in ("softmax", "dot_product"):
        layer = LieSelfAttention(8, 2, pair_dim=2, kernel_dim=4, normalisation=normalisation).double()
        B, M, k = 2, 7, 3
        f = torch.randn(B, M, 8, dtype=torch.float64)
        x = torch.randn(B, M, 2, dtype=torch.float64)
        pairs_all = x.unsqueeze(1) - x.unsqueeze(2)  # (B, M, M, 2)
        index = torch.cdist(x, x).topk(k, largest=False).indices
        pairs = torch.gather(pairs_all, 2, index.unsqueeze(-1).expand(B, M, k, 2))
        fast = layer(f, pairs, index, None)
        mask = torch.zeros(B, M, M, dtype=torch.bool).scatter_(2, index, True)
        slow = layer(f, pairs_all, None, mask)
        torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-13)


def test_linformer_is_not_permutation_symmetric():
    """As documented: its projections weigh tokens by position in the list."""
    model = _model("T2", "linformer")
    q, p, params = _inputs(2)
    perm = torch.tensor([1, 0, 2, 3, 4, 5])
    h = model(q, p, params)
    h_perm = model(q[:, perm], p[:, perm], {k: v[:, perm] for k, v in params.items()})
    assert ((h - h_perm).abs() / h.abs()).max() > 1e-6


@pytest.mark.parametrize("name", ["T2", "SE2"])
def test_linformer_with_identity_projections_equals_full_content_attention(name):
    """k = n and E = F = identity: Linformer attention is full attention with the content kernel alone."""
    full = _model(name, "full", logits="content", token_location=True)
    tokens = 6 * full.group.lift_size(MODELS[name][2])
    linformer = _model(name, Linformer(rank=tokens, max_bodies=6))
    missing, unexpected = linformer.load_state_dict(full.state_dict(), strict=False)
    assert not unexpected and all(k.endswith((".E", ".F")) for k in missing)
    with torch.no_grad():
        for block in linformer.blocks:
            block.attention.projection.E.copy_(torch.eye(tokens))
            block.attention.projection.F.copy_(torch.eye(tokens))
    q, p, params = _inputs(2)
    torch.testing.assert_close(linformer(q, p, params), full(q, p, params), rtol=1e-12, atol=0)


@pytest.mark.parametrize("share", ["headwise", "key-value", "layerwise"])
def test_linformer_sharing(share):
    model = _model("T2", Linformer(rank=4, max_bodies=8, share=share))
    projections = {id(b.attention.projection) for b in model.blocks}
    assert len(projections) == (1 if share == "layerwise" else len(model.blocks))
    assert (model.blocks[0].attention.projection.F is None) == (share != "headwise")
    with pytest.raises(ValueError, match="at most 8 tokens"):
        model(*_inputs(2, n=9))


def test_knn_with_every_body_equals_full_attention():
    full = _model("SE2", "full")
    knn = _model("SE2", KNN(neighbours=6))
    q, p, params = _inputs(2)
    torch.testing.assert_close(full(q, p, params), knn(q, p, params), rtol=1e-12, atol=0)


@pytest.mark.parametrize("attention", ["full", "linformer", "lowrank"])
@pytest.mark.parametrize("normalisation", ["softmax", "dot_product"])
def test_padding_bodies_with_a_mask_changes_nothing(normalisation, attention):
    model = _model("T2", attention, normalisation=normalisation)
    q, p, params = _inputs(2, n=5)
    pad = 3
    q2 = torch.cat([q, 100 * torch.randn(3, pad, 2, dtype=torch.float64)], 1)
    p2 = torch.cat([p, torch.randn(3, pad, 2, dtype=torch.float64)], 1)
    params2 = {k: torch.cat([v, torch.rand(3, pad, dtype=torch.float64) + 0.5], 1) for k, v in params.items()}
    mask = torch.cat([torch.ones(3, 5, dtype=torch.bool), torch.zeros(3, pad, dtype=torch.bool)], 1)
    torch.testing.assert_close(model(q2, p2, params2, mask=mask), model(q, p, params), rtol=1e-12, atol=0)


def test_training_lift_is_random_and_seeded():
    model = _model("SE2").train()
    q, p, params = _inputs(2)
    a = model(q, p, params, generator=torch.Generator().manual_seed(5))
    b = model(q, p, params, generator=torch.Generator().manual_seed(5))
    c = model(q, p, params, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_potential_head_ignores_momenta_beyond_kinetic():
    model = _model("SE2", energy="potential")
    q, p, params = _inputs(2)
    h0 = model(q, torch.zeros_like(p), params)
    expected = h0 + (p.pow(2).sum(-1) / (2 * params["masses"])).sum(-1)
    torch.testing.assert_close(model(q, p, params), expected, rtol=1e-13, atol=0)


def test_second_derivatives_are_finite():
    """Training differentiates the vector field (first derivatives of H) with respect to parameters."""
    for name in ("SE2", "SE3-tetrahedral", "SO3"):
        model = _model(name).train()
        q, p, params = _inputs(model.group.dim)
        dq, dp = hamiltonian_vector_field(model, q, p, params, create_graph=True)
        (dq.pow(2).sum() + dp.pow(2).sum()).backward()
        assert all(torch.isfinite(w.grad).all() for w in model.parameters() if w.grad is not None)


def test_reference_spring_configuration_parameter_count():
    model = get_model("lietransformer", group="T2", scalar_features=("masses", "k"))
    count = sum(w.numel() for w in model.parameters())
    assert abs(count - 841_641) / 841_641 <= 0.02, count
    assert (model.energy, model.lift_samples, len(model.blocks)) == ("potential", 1, 5)


def test_registry():
    assert {"lietransformer", "mlp", "gaattention"} <= set(list_models())
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        get_model("resnet")
    mlp = get_model("mlp", n_bodies=6, dim=2)
    q, p, params = _inputs(2)
    assert mlp.double()(q, p, params).shape == (3,)


def test_mlp_hamiltonian_potential_head_and_translation_sensitivity():
    torch.manual_seed(0)
    model = MLPHamiltonian(6, 2, energy="potential").double()
    q, p, params = _inputs(2)
    h = model(q, p, params)
    expected = model(q, torch.zeros_like(p), params) + (p.pow(2).sum(-1) / (2 * params["masses"])).sum(-1)
    torch.testing.assert_close(h, expected, rtol=1e-13, atol=0)
    assert not torch.allclose(model(q + 1.0, p, params), h)


def test_bad_inputs_raise_clear_errors():
    model = _model("T2")
    q, p, params = _inputs(2)
    with pytest.raises(ValueError, match=r"q must have shape \(batch, n_bodies, 2\), got \(3, 6, 3\)"):
        model(torch.zeros(3, 6, 3, dtype=torch.float64), p, params)
    with pytest.raises(ValueError, match=r"p must have the shape of q, \(3, 6, 2\), got \(2, 6, 2\)"):
        model(q, p[:2], params)
    with pytest.raises(ValueError, match=r"params\['k'\] must have shape \(3, 6\), got \(3, 5\)"):
        model(q, p, {**params, "k": params["k"][:, :5]})
    with pytest.raises(ValueError, match="params must contain 'masses'"):
        model(q, p, {"k": params["k"]})
    with pytest.raises(ValueError, match="inputs are torch.float32 on cpu but the model is torch.float64"):
        model(q.float(), p.float(), {k: v.float() for k, v in params.items()})
    with pytest.raises(ValueError, match="q and p must share dtype"):
        model(q, p.float(), params)
    with pytest.raises(ValueError, match="built for 6 bodies"):
        MLPHamiltonian(6, 2).double()(q[:, :4], p[:, :4], {k: v[:, :4] for k, v in params.items()})
    with pytest.raises(ValueError, match="must include 'masses'"):
        LieTransformer(T(2), ("k",), energy="potential")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name, attention", [("SE2", "full"), ("SE3", "knn"), ("T2", "knn")])
def test_model_on_cuda_matches_cpu(name, attention):
    model = _model(name, attention)
    q, p, params = _inputs(model.group.dim)
    h_cpu = model(q, p, params)
    dq_cpu, dp_cpu = hamiltonian_vector_field(model, q, p, params)
    model.cuda()
    on = (q.cuda(), p.cuda(), {k: v.cuda() for k, v in params.items()})
    torch.testing.assert_close(model(*on).cpu(), h_cpu, rtol=1e-10, atol=1e-12)
    dq, dp = hamiltonian_vector_field(model, *on)
    torch.testing.assert_close(dq.cpu(), dq_cpu, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(dp.cpu(), dp_cpu, rtol=1e-9, atol=1e-11)


def test_output_scale_multiplies_the_network_part_of_h():
    """``output_scale`` scales V (the potential head's learned part) and leaves the kinetic term alone."""
    plain = _model("T2", energy="potential")
    scaled = _model("T2", energy="potential", output_scale=30.0)
    scaled.load_state_dict(plain.state_dict())
    q, p, params = _inputs(2)
    kinetic = (p.pow(2).sum(-1) / (2 * params["masses"])).sum(-1)
    torch.testing.assert_close(
        scaled(q, p, params) - kinetic, 30.0 * (plain(q, p, params) - kinetic), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("name", ["T2", "SE2", "SO2", "SE3-tetrahedral"])
@pytest.mark.parametrize("attention", ["full", "knn"])
def test_pair_distance_keeps_exact_invariances(name, attention):
    model = _model(name, attention, pair_distance=True)
    group = model.group
    inputs = _inputs(group.dim)
    g = torch.Generator().manual_seed(4)
    rotations = _exact_rotations(group, MODELS[name][2])
    if rotations is None:
        elements = T(group.dim).sample((6, 3), generator=g, translation_scale=3.0)
    else:
        elements = _exact_elements(group, rotations, g)
    assert_equivariant(model, group, inputs, elements=elements, rtol=1e-10)
    assert_equivariant(_field(model), group, inputs, elements=elements, rtol=1e-10)


@pytest.mark.parametrize("attention", ["full", "knn"])
def test_pair_distance_is_the_squared_distance_of_the_bodies(attention):
    model = _model("SE2", attention, pair_distance=True)
    q, p, params = _inputs(2)
    tokens = model.lift(q, p, params)
    index, _ = model._neighbourhoods(q, tokens) if attention == "knn" else (None, None)
    pairs = model._pairs(q, tokens, index)
    assert pairs.shape[-1] == model.group.pair_dim + 1
    x = q.repeat_interleave(4, dim=1)  # 4 lift samples per body
    expected = (x.unsqueeze(1) - x.unsqueeze(2)).pow(2).sum(-1)  # (B, M, M): every pair of tokens
    if index is not None:
        expected = expected.gather(2, index)
    torch.testing.assert_close(pairs[..., -1], expected, rtol=1e-12, atol=1e-12)
    assert _model("SE2", attention).blocks[0].attention.location.first.in_features == model.group.pair_dim


@pytest.mark.parametrize("name", ["T2", "T3"])
@pytest.mark.parametrize("attention", ["full", "knn"])
def test_pair_range_keeps_exact_translation_invariance(name, attention):
    model = _model(name, attention, pair_distance=True, pair_range=1.5)
    group = model.group
    inputs = _inputs(group.dim)
    elements = T(group.dim).sample((6, 3), generator=torch.Generator().manual_seed(5), translation_scale=3.0)
    assert_equivariant(model, group, inputs, elements=elements, rtol=1e-10)
    assert_equivariant(_field(model), group, inputs, elements=elements, rtol=1e-10)


def test_pair_range_saturates_displacements_and_distances():
    """Pair features are v / sqrt(1 + |v|^2 / r^2) and its squared length, against the raw displacement."""
    r = 1.5
    model = _model("T2", pair_distance=True, pair_range=r)
    q, p, params = _inputs(2)
    q[0, 0] = torch.tensor([40.0, -30.0], dtype=torch.float64)  # a body far outside every other distance
    pairs = model._pairs(q, model.lift(q, p, params), None)
    v = q.unsqueeze(1) - q.unsqueeze(2)  # (B, N, N, 2): body j minus body i
    expected = v / (1 + v.pow(2).sum(-1, keepdim=True) / r**2).sqrt()
    torch.testing.assert_close(pairs[..., :2], expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(pairs[..., 2], expected.pow(2).sum(-1), rtol=1e-12, atol=1e-12)
    assert pairs[..., :2].norm(dim=-1).max() < r
    assert pairs[0, 0, 1, :2].norm() > 0.99 * r  # the far body's pairs sit at the saturation length
    with pytest.raises(ValueError, match="translation group"):
        _model("SE2", pair_range=r)
    with pytest.raises(ValueError, match="positive"):
        _model("T2", pair_range=0.0)


@pytest.mark.parametrize(
    "group, samples, lifted",
    [(T(2), 2, 1), (SO2(), 4, 1), (get_group("SE3", finite="tetrahedral"), 4, 12), (get_group("SE3"), 12, 24)],
)
def test_a_lift_size_the_group_would_replace_is_an_error(group, samples, lifted):
    with pytest.raises(ValueError, match=rf"lifts each body to {lifted} element.*lift_samples = {samples} would be ignored"):
        LieTransformer(group, ("masses",), lift_samples=samples)
    assert LieTransformer(group, ("masses",)).lift_samples == lifted  # left out: the group's own
    assert LieTransformer(group, ("masses",), lift_samples=lifted).lift_samples == lifted


def test_the_finite_subgroup_of_se3_is_chosen_from_a_config(tmp_path):
    from hamilton_lie.training import parse_config

    raw = {"data": {"path": "x.h5", "chunk_len": 5},
           "model": {"name": "lietransformer", "group": {"name": "SE3", "finite": "icosahedral"},
                     "scalar_features": ["masses"], "dim_hidden": 8, "num_layers": 1, "num_heads": 2},
           "train": {"epochs": 1, "out": str(tmp_path / "run")}}  # fmt: skip
    config = parse_config(raw)
    model = get_model(config.model.name, **config.model.options)
    assert model.group.finite_name == "icosahedral" and model.lift_samples == 60
    with pytest.raises(ValueError, match="needs a name"):
        get_model("lietransformer", group={"finite": "icosahedral"})
    with pytest.raises(ValueError, match="does not take these options"):
        get_model("lietransformer", group={"name": "T3", "finite": "icosahedral"})
