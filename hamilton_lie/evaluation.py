"""Evaluate a trained checkpoint on a dataset's test split: every metric of DESIGN.md, as JSON.

``evaluate(checkpoint, data)`` loads the model and its training config from the checkpoint, rolls
the learned dynamics out from the first state of each test trajectory (the run's own solver and
substeps on the data's time grid), and measures what :mod:`hamilton_lie.analysis` defines:

* ``mse``: the benchmark's test MSE on one random ``chunk_len``-sample window per test trajectory
  (seeded), as in validation during training;
* ``rollout_rel_error``: per time, geometric mean (DESIGN.md) plus median and quartiles over trajectories;
* ``energy_drift``: of the true H (the dataset's simulator) along the predicted rollouts and of the
  learned H along its own rollouts, with the same summaries; ``momentum_drift``: linear and angular;
* ``equivariance_error``: energy and vector field under random elements of the Euclidean group of
  the data's dimension (SE(2) or SE(3)), in float64, whatever group the model was built for;
* ``rotation_robustness``: the ratio, per time, and per system against the rotation angle.

``write_evaluation(run_dir, metrics, examples)`` writes ``metrics.json`` and ``rollouts.npz`` (a few
example trajectories, true and predicted, with both energies) into the run folder, where
``hamilton-lie plot`` finds them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import analysis
from .config import Config, parse_config
from .data import TrajectoryDataset, check_dataset, load_split
from .dynamics import HamiltonianDynamics, to_z
from .errors import HamiltonLieError
from .groups import get_group
from .train import build_model, data_identity, describe_data, evaluate_mse, load_checkpoint

log = logging.getLogger(__name__)

N_EXAMPLES = 8


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run folder's ``best.pt`` (``last.pt`` when there is no best)."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).exists():
                return path / name
        raise HamiltonLieError(f"{path}: no best.pt or last.pt in this run folder")
    if not path.exists():
        raise HamiltonLieError(f"{path}: no such checkpoint or run folder")
    return path


def load_trained(checkpoint: str | Path, attrs: dict, device="cpu") -> tuple[torch.nn.Module, Config, dict]:
    """The model of a checkpoint, built for a dataset with root attributes ``attrs``, in eval mode.

    Raises:
        HamiltonLieError: an unreadable checkpoint, one without its config, or one whose model does not
            fit the data (ConfigError).
    """
    path = resolve_checkpoint(checkpoint)
    state = load_checkpoint(path)
    if "config" not in state:
        raise HamiltonLieError(f"{path}: the checkpoint does not record its training config")
    config = parse_config(state["config"], source=str(path))
    trained_on, given = state.get("data"), data_identity(attrs)
    if trained_on is not None and trained_on != given:
        raise HamiltonLieError(
            f"{path}: the model was trained on {describe_data(trained_on)}, the data hold {describe_data(given)}"
        )
    model = build_model(config, attrs)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise HamiltonLieError(f"{path}: weights do not fit the configured model: {str(e).splitlines()[0]}") from None
    dtype = {"float32": torch.float32, "float64": torch.float64}[config.train.dtype]
    return model.to(device=device, dtype=dtype).eval(), config, state


def _summary(x: torch.Tensor) -> dict:
    """Per-time summaries over trajectories of ``x (batch, time)``: geometric mean, median, quartiles."""
    q = torch.quantile(x.double(), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64), dim=0)
    return {
        "geomean": analysis.geometric_mean(x, dim=0).tolist(),
        "median": q[1].tolist(),
        "q25": q[0].tolist(),
        "q75": q[2].tolist(),
    }


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
    """Measure a trained model on the test split of ``data``.

    Arguments:
        checkpoint: a ``.pt`` file or a run folder (its ``best.pt``).
        data: an HDF5 dataset of the same system, body count and dimension as the training data.
        rollout_steps: samples per rollout (the first ``rollout_steps`` of each test trajectory; all when
            None or larger than the trajectories).
        n_trajectories: use the first ``n`` test trajectories (all when None).
        device: where the model runs.
        seed: seeds the test windows, random group elements and rotations.
        batch_size: systems per rollout batch (default: the run's training batch size).
        progress: called with the number of systems just rolled out (two rollouts per system).

    Returns:
        ``(metrics, examples)``: the JSON-ready metrics, and arrays of the first few test systems
        (``t``, ``z_true``, ``z_pred``, ``energy_true`` (true H along the prediction), ``energy_learned``).

    Raises:
        HamiltonLieError: bad checkpoint or data, or a model that does not fit the data.
    """
    start = time.perf_counter()
    info = check_dataset(data, full=False)
    model, config, state = load_trained(checkpoint, info.attrs, device)
    dtype = next(model.parameters()).dtype
    dynamics = HamiltonianDynamics(model).eval()  # deterministic lifts: exact discrete invariance
    system = info.system()
    split = load_split(data, "test")
    available = split["q"].shape[0]
    n = available if n_trajectories is None else n_trajectories
    if not 1 <= n <= available:
        raise HamiltonLieError(f"{data}: n_trajectories must be in [1, {available}], got {n}")
    steps = split["t"].shape[0] if rollout_steps is None else min(rollout_steps, split["t"].shape[0])
    if steps < 2:
        raise HamiltonLieError(f"rollout_steps must be at least 2, got {rollout_steps}")
    tc = config.train
    batch_size = batch_size or tc.batch_size
    generator = torch.Generator().manual_seed(seed)

    t = split["t"][:steps]
    z_true = to_z(split["q"][:n, :steps], split["p"][:n, :steps])
    params64 = {k: v[:n] for k, v in split["params"].items()}

    def rollout(q0, p0, params, times):
        q0, p0 = q0.to(device=device, dtype=dtype), p0.to(device=device, dtype=dtype)
        out = []
        for lo in range(0, q0.shape[0], batch_size):
            sel = slice(lo, lo + batch_size)
            p_sel = {k: v[sel].to(device=device, dtype=dtype) for k, v in params.items()}
            z = dynamics.integrate(
                q0[sel],
                p0[sel],
                p_sel,
                times.to(device=device, dtype=dtype),
                method=tc.method,
                substeps=tc.substeps,
                create_graph=False,
            ).z
            out.append(z.detach().double().cpu())
            if progress is not None:
                progress(z.shape[0])
        return torch.cat(out)

    def learned_energy(q, p, params):
        return (
            model(
                q.to(device=device, dtype=dtype),
                p.to(device=device, dtype=dtype),
                {k: v.to(device=device, dtype=dtype) for k, v in params.items()},
            )
            .double()
            .cpu()
        )

    test_windows = TrajectoryDataset(data, "test", config.data.chunk_len, windows="random", seed=seed, n_trajectories=n)
    test_mse = evaluate_mse(dynamics, test_windows, batch_size, tc.method, tc.substeps, dtype, torch.device(device))

    q0, p0 = z_true[:, 0, 0], z_true[:, 0, 1]
    z_pred = rollout(q0, p0, params64, t)
    rel = analysis.rollout_rel_error(z_pred, z_true)
    true_drift = analysis.energy_drift(system.hamiltonian, z_pred, params64)
    learned_drift = analysis.energy_drift(learned_energy, z_pred, params64, chunk=batch_size * 8)
    momentum = analysis.momentum_drift(z_pred)
    robust = analysis.rotation_robustness(rollout, q0, p0, params64, t, z_true, generator=generator, z_pred=z_pred)

    dim = int(info.attrs["dim"])
    k = min(n, 64)
    euclid = get_group(f"SE{dim}")
    equiv = analysis.equivariance_error(
        model,
        euclid,
        q0[:k].to(device),
        p0[:k].to(device),
        {key: v[:k].to(device) for key, v in params64.items()},
        n_elements=4,
        generator=generator,
    )

    def stats(x: torch.Tensor) -> dict:
        return {"median": float(x.median()), "max": float(x.max())}

    last = -1
    metrics = {
        "checkpoint": str(resolve_checkpoint(checkpoint)),
        "data": str(data),
        "system": str(info.attrs["system"]),
        "n_bodies": int(info.attrs["n_bodies"]),
        "dim": dim,
        "model": config.model.name,
        "group": config.model.options.get("group"),
        "step": int(state.get("step", 0)),
        "epoch": int(state.get("epoch", 0)),
        "n_trajectories": n,
        "rollout_steps": steps,
        "method": tc.method,
        "substeps": tc.substeps,
        "seed": seed,
        "t": t.tolist(),
        "mse": test_mse,
        "chunk_len": config.data.chunk_len,
        "rollout_mse": analysis.mse(z_pred, z_true),
        "rollout_rel_error": _summary(rel),
        "energy_drift": {"true": _summary(true_drift), "learned": _summary(learned_drift)},
        "energy_drift_last": {
            "true": float(true_drift[:, last].median()),
            "learned": float(learned_drift[:, last].median()),
        },
        "momentum_drift": {name: _summary(v) for name, v in momentum.items()},
        "equivariance_error": {
            "group": f"SE{dim}",
            "n_systems": k,
            "energy": stats(equiv["energy"]),
            "vector_field": stats(equiv["vector_field"]),
        },
        "rotation_robustness": {
            "ratio": robust.ratio,
            "ratio_t": [None if math.isnan(v) else v for v in robust.ratio_t.tolist()],
            "angles": robust.angles.tolist(),
            "error_original": analysis.geometric_mean(robust.error_original[:, 1:], dim=1).tolist(),
            "error_rotated": analysis.geometric_mean(robust.error_rotated[:, 1:], dim=1).tolist(),
            "equivariance": _summary(robust.equivariance),
        },
        "seconds": time.perf_counter() - start,
    }
    e = min(n, N_EXAMPLES)
    few = {key: v[:e] for key, v in params64.items()}
    with torch.no_grad():
        examples = {
            "t": t.numpy(),
            "z_true": z_true[:e].numpy(),
            "z_pred": z_pred[:e].numpy(),
            "energy_true": analysis.trajectory_energy(system.hamiltonian, z_pred[:e], few).numpy(),
            "energy_learned": analysis.trajectory_energy(learned_energy, z_pred[:e], few).numpy(),
        }
    return metrics, examples


def summary_row(metrics: dict) -> dict:
    """The headline numbers of one evaluation: test MSE, energy drift at the last rollout time, rotation
    robustness ratio, and the energy's SE(d) invariance error."""
    return {
        "test MSE": metrics["mse"],
        f"rollout error t={metrics['t'][-1]:.3g}": metrics["rollout_rel_error"]["geomean"][-1],
        "energy drift (true H)": metrics["energy_drift_last"]["true"],
        "energy drift (learned H)": metrics["energy_drift_last"]["learned"],
        "rotation ratio": metrics["rotation_robustness"]["ratio"],
        f"{metrics['equivariance_error']['group']} error of H": metrics["equivariance_error"]["energy"]["median"],
    }


def format_metrics(metrics: dict | dict[str, dict], markdown: bool = False) -> str:
    """A table of :func:`summary_row` for one evaluation or ``{label: metrics}`` of several."""
    runs = {"model": metrics} if "mse" in metrics else metrics
    rows = {label: summary_row(m) for label, m in runs.items()}
    columns = list(next(iter(rows.values())))
    header = ["run", *columns]
    body = [[label, *(f"{v:.3g}" for v in row.values())] for label, row in rows.items()]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
    return "\n".join(
        "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)).rstrip() for r in [header, *body]
    )


def write_evaluation(run_dir: str | Path, metrics: dict, examples: dict) -> Path:
    """Write ``metrics.json`` and ``rollouts.npz`` into ``run_dir`` atomically; returns the JSON's path."""
    run_dir = Path(run_dir)
    out = run_dir / "metrics.json"
    tmp = out.with_name(f".metrics.json.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(metrics, indent=1) + "\n")
    os.replace(tmp, out)
    tmp = run_dir / f".rollouts.tmp-{os.getpid()}.npz"
    np.savez(tmp, **examples)
    os.replace(tmp, run_dir / "rollouts.npz")
    return out
