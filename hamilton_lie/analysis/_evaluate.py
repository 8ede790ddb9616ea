"""Evaluate a trained checkpoint on a dataset's test split, every metric computed by this package's functions.

``evaluate(checkpoint, data)`` loads the model and its training config from the checkpoint, rolls the
learned dynamics out from the first state of each test trajectory (the run's own solver and substeps
on the data's time grid), and measures:

* the benchmark's test MSE on one random ``chunk_len``-sample window per test trajectory (seeded), as
  in validation during training;
* the relative rollout error per time; the drift of the true H (the dataset's simulator) along the
  predicted rollouts and of the learned H along its own; the drift of linear and angular momentum;
* the invariance error of H, |H(g x) - H(x)| / (T(0) + |V(0)|) on the drift's scale, and the equivariance
  error of the learned part's vector field (without the exact kinetic term a potential model adds,
  which is equivariant and would dilute it), under random elements of the Euclidean group of the
  data's dimension (SE(2) or SE(3)), in float64, whatever group the model was built for;
* rotational robustness: the error ratio, per time, and per system against the rotation angle;
* the same test MSE and rollout error for two trivial predictors (:mod:`hamilton_lie.analysis._baselines`):
  zero force (each body in a straight line at its initial momentum) and the initial state held.

:mod:`hamilton_lie.analysis._report` turns the measurements into ``metrics.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._checks import check_device
from .._errors import HamiltonLieError, first_line
from ..data import TrajectoryDataset, check_dataset, load_split
from ..dynamics import HamiltonianDynamics, to_z
from ..groups import get_group
from ..models import kinetic_energy
from ..training import (
    DTYPES,
    Config,
    build_model,
    data_identity,
    describe_data,
    evaluate_mse,
    load_checkpoint,
    parse_config,
    resolve_checkpoint,
)
from . import _report
from ._baselines import BASELINES, Baseline
from ._equivariance import equivariance_error
from ._metrics import energy_drift, energy_scale, momentum_drift, rollout_rel_error, trajectory_energy
from ._robustness import rotation_robustness

N_EXAMPLES = 8


def load_trained(
    checkpoint: str | Path, data: str | Path | dict | None = None, device="cpu", dtype: str | torch.dtype | None = None
) -> tuple[torch.nn.Module, Config, dict]:
    """The model of a trained run, ready for rollouts: built for a dataset, in eval mode, on ``device``.

    Arguments:
        checkpoint: a ``.pt`` file or a run folder (its ``best.pt``).
        data: the dataset the model will be used on (a file, or its root attributes as
            ``check_dataset(...).attrs``); None: the run's own training data (``config.data.path``).
            It must hold the system, body count and dimension the model was trained on.
        device: where the model goes.
        dtype: ``"float32"``, ``"float64"`` or a torch dtype to cast the model to (then it takes inputs of
            that dtype, e.g. float64 data as read); None: the training dtype.

    Returns:
        ``(model, config, state)``: the model, its training :class:`~hamilton_lie.training.Config` (its
        ``train.method`` and ``train.substeps`` are the solver it was trained with) and the checkpoint's
        other entries (``step``, ``epoch``, ...).

    Raises:
        HamiltonLieError: an unreadable checkpoint, one without its config, data it was not trained on, or
            a model that does not fit the data (ConfigError).
    """
    path = resolve_checkpoint(checkpoint)
    state = load_checkpoint(path)
    if "config" not in state:
        raise HamiltonLieError(f"{path}: the checkpoint does not record its training config")
    config = parse_config(state["config"], source=str(path))
    attrs = data if isinstance(data, dict) else check_dataset(config.data.path if data is None else data).attrs
    trained_on, given = state.get("data"), data_identity(attrs)
    if trained_on is not None and trained_on != given:
        raise HamiltonLieError(
            f"{path}: the model was trained on {describe_data(trained_on)}, the data hold {describe_data(given)}"
        )
    model = build_model(config, attrs)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise HamiltonLieError(f"{path}: weights do not fit the configured model: {first_line(e)}") from None
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise HamiltonLieError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        dtype = DTYPES[dtype]
    return model.to(device=device, dtype=dtype or config.train.torch_dtype).eval(), config, state


@dataclass(frozen=True)
class TestSet:
    """The first ``n`` test trajectories, cut to ``steps`` samples: ``t (T,)``, ``z (n, T, 2, N, d)``, params."""

    t: torch.Tensor
    z: torch.Tensor
    params: dict

    @classmethod
    def read(cls, data: str | Path, n_trajectories: int | None, rollout_steps: int | None) -> TestSet:
        split = load_split(data, "test")
        available = split["q"].shape[0]
        n = available if n_trajectories is None else n_trajectories
        if not 1 <= n <= available:
            raise HamiltonLieError(f"{data}: n_trajectories must be in [1, {available}], got {n}")
        steps = split["t"].shape[0] if rollout_steps is None else min(rollout_steps, split["t"].shape[0])
        if steps < 2:
            raise HamiltonLieError(f"rollout_steps must be at least 2, got {rollout_steps}")
        z = to_z(split["q"][:n, :steps], split["p"][:n, :steps])
        return cls(split["t"][:steps], z, {k: v[:n] for k, v in split["params"].items()})


class _Model:
    """The trained model's rollouts and energies on float64 CPU inputs, in batches on its own device and dtype."""

    def __init__(self, model, config: Config, device, batch_size: int, progress: Callable[[int], None] | None):
        self.model, self.dynamics = model, HamiltonianDynamics(model).eval()  # deterministic lifts
        self.dtype, self.device = next(model.parameters()).dtype, device
        self.method, self.substeps = config.train.method, config.train.substeps
        self.batch_size, self.progress = batch_size, progress

    def _to(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(device=self.device, dtype=self.dtype)

    def rollout(self, q0, p0, params, times) -> torch.Tensor:
        """``z (batch, time, 2, N, d)`` float64 on the CPU."""
        out = []
        for lo in range(0, q0.shape[0], self.batch_size):
            sel = slice(lo, lo + self.batch_size)
            p_sel = {k: self._to(v[sel]) for k, v in params.items()}
            rollout = self.dynamics.integrate(self._to(q0[sel]), self._to(p0[sel]), p_sel, self._to(times),
                                              method=self.method, substeps=self.substeps, create_graph=False)  # fmt: skip
            out.append(rollout.z.detach().double().cpu())
            if self.progress is not None:
                self.progress(rollout.z.shape[0])
        return torch.cat(out)

    def energy(self, q, p, params) -> torch.Tensor:
        """The learned H ``(batch,)`` float64 on the CPU."""
        return self.model(self._to(q), self._to(p), {k: self._to(v) for k, v in params.items()}).double().cpu()


class _LearnedPart(torch.nn.Module):
    """The learned part of a model's H (:meth:`EnergyModel.learned_energy`; all of H for a registered model
    without one) as a module, so that the equivariance check can cast it to float64 and back."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, q, p, params):
        return getattr(self.model, "learned_energy", self.model)(q, p, params)


def evaluate(
    checkpoint: str | Path,
    data: str | Path,
    rollout_steps: int | None = 100,
    n_trajectories: int | None = None,
    device: str = "cpu",
    seed: int = 0,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict, dict]:
    """Measure a trained model on the test split of ``data``; see the module docstring.

    Arguments:
        checkpoint: a ``.pt`` file or a run folder (its ``best.pt``).
        data: an HDF5 dataset of the same system, body count and dimension as the training data.
        rollout_steps: samples per rollout (the first ``rollout_steps`` of each test trajectory; all when
            None or larger than the trajectories).
        n_trajectories: use the first ``n`` test trajectories (all when None).
        device: where the model runs.
        seed: seeds the test windows, the rotations and the random group elements.
        batch_size: systems per rollout batch (default: the run's training batch size).
        progress: called with the number of systems just rolled out (two rollouts per system).

    Returns:
        ``(metrics, examples)``: the JSON-ready metrics, and arrays of the first few test systems
        (``t``, ``z_true``, ``z_pred``, ``energy_true`` (true H along the prediction), ``energy_learned``).

    Raises:
        HamiltonLieError: bad checkpoint or data, or a model that does not fit the data.
    """
    start = time.perf_counter()
    check_device(device)
    info = check_dataset(data, full=False)
    model, config, state = load_trained(checkpoint, info.attrs, device)
    test = TestSet.read(data, n_trajectories, rollout_steps)
    trained = _Model(model, config, device, batch_size or config.train.batch_size, progress)
    generator = torch.Generator().manual_seed(seed)
    windows = TrajectoryDataset(data, "test", config.data.chunk_len, windows="random", seed=seed, n_trajectories=test.z.shape[0])
    test_mse = evaluate_mse(trained.dynamics, windows, trained.batch_size, trained.method, trained.substeps,
                            trained.dtype, torch.device(device))  # fmt: skip
    # data of a Hamiltonian unknown here (outside data, or a user system not loaded): learned H only
    system = info.system() if info.system_known else None
    q0, p0 = test.z[:, 0, 0], test.z[:, 0, 1]
    z_pred = trained.rollout(q0, p0, test.params, test.t)
    # trivial predictors on the same windows and trajectories: what "test MSE 2e-5" is to be read against
    baselines = {}
    for name in BASELINES:
        baseline = Baseline(name)
        baselines[name] = {
            "mse": evaluate_mse(baseline, windows, trained.batch_size, trained.method, trained.substeps,
                                torch.float64, torch.device("cpu")),  # fmt: skip
            "z": baseline.rollout(q0, p0, test.params, test.t),
        }
    # one scale for both drifts: the true initial state's T(0) + |V(0)| (V(0) = H(0) - T(0) of the learned H
    # where the true system is not known here)
    kinetic0 = kinetic_energy(p0, test.params["masses"])  # readers supply unit masses where a file has none
    potential0 = (system.potential(q0, test.params) if system is not None
                  else trained.energy(q0, p0, test.params) - kinetic0)  # fmt: skip
    scale = energy_scale(kinetic0, potential0)
    drift = {"learned": energy_drift(trained.energy, z_pred, test.params, trained.batch_size * 8, scale)}
    if system is not None:
        drift = {"true": energy_drift(system.hamiltonian, z_pred, test.params, scale=scale), **drift}
    measured = {
        "mse": test_mse,
        "z_pred": z_pred,
        "rollout_rel_error": rollout_rel_error(z_pred, test.z),
        "energy_drift": drift,
        "momentum_drift": momentum_drift(z_pred),
        "baselines": baselines,
        "rotation_robustness": rotation_robustness(trained.rollout, q0, p0, test.params, test.t, test.z,
                                                   generator=generator, z_pred=z_pred),  # fmt: skip
    }
    k, dim = min(test.z.shape[0], 64), int(info.attrs["dim"])
    few = {key: v[:k].to(device) for key, v in test.params.items()}
    measured["equivariance_error"] = equivariance_error(_LearnedPart(model), get_group(f"SE{dim}"), q0[:k].to(device),
                                                        p0[:k].to(device), few, n_elements=4, generator=generator,
                                                        energy_scale=scale[:k].to(device))  # fmt: skip
    context = _report.Context(str(resolve_checkpoint(checkpoint)), str(data), info.attrs, config, state, seed)
    metrics = _report.metrics_json(context, test.t, test.z, measured, time.perf_counter() - start)
    if system is None:
        metrics["notes"] = [
            f"the true Hamiltonian of {info.attrs['system']!r} is not known in this process"
            + (f" (load it with --load-system {info.attrs['system_source']})" if "system_source" in info.attrs else "")
            + ": energy drift is measured along the learned H only"
        ]
    return metrics, _examples(test, z_pred, system, trained)


def _examples(test: TestSet, z_pred: torch.Tensor, system, trained: _Model) -> dict:
    """The first few test systems, true and predicted, with the true and learned H along the prediction."""
    e = min(test.z.shape[0], N_EXAMPLES)
    few = {key: v[:e] for key, v in test.params.items()}
    with torch.no_grad():
        return {
            "t": test.t.numpy(),
            "z_true": test.z[:e].numpy(),
            "z_pred": z_pred[:e].numpy(),
            "energy_true": (trajectory_energy(system.hamiltonian, z_pred[:e], few).numpy() if system is not None
                            else np.full(z_pred.shape[:2], np.nan)[:e]),  # fmt: skip
            "energy_learned": trajectory_energy(trained.energy, z_pred[:e], few).numpy(),
        }
