"""The trivial predictors against independent references: a force-free system integrated, and the state held."""

import pytest
import torch

from hamilton_lie.analysis._baselines import Baseline
from simulators import SpringSystem, integrate


def test_zero_force_is_the_flow_of_a_system_without_forces():
    system = SpringSystem(4, 3)
    g = torch.Generator().manual_seed(0)
    params = system.sample_params(5, generator=g)
    q0, p0 = system.sample_state(params, generator=g)
    params = {**params, "k": torch.zeros_like(params["k"])}  # no springs: every body moves freely
    t = torch.linspace(0.5, 2.0, 7, dtype=torch.float64)  # the predictor measures time from t[0]
    q, p = integrate(system, q0, p0, params, t - t[0], method="yoshida4")
    z = Baseline("zero_force").rollout(q0, p0, params, t)
    assert z.shape == (5, 7, 2, 4, 3)
    torch.testing.assert_close(z[:, :, 0], q, rtol=0, atol=1e-12)
    torch.testing.assert_close(z[:, :, 1], p, rtol=0, atol=0)


def test_held_keeps_the_initial_state():
    q0, p0 = torch.randn(2, 3, 2, dtype=torch.float64), torch.randn(2, 3, 2, dtype=torch.float64)
    z = Baseline("held").rollout(q0, p0, {"masses": torch.ones(2, 3, dtype=torch.float64)}, torch.arange(4.0))
    assert torch.equal(z[:, 3, 0], q0) and torch.equal(z[:, 2, 1], p0)


def test_an_unknown_baseline_is_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        Baseline("linear")
