"""Reports of an evaluation: ``metrics.json`` from the measurements, the summary table, and the files.

``metrics.json`` holds, per time, the geometric mean (the headline summary of relative errors), the
median and the quartiles over test systems of each measured quantity.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._files import atomic_write
from ..training import Config
from ._metrics import geometric_mean, mse, rollout_rel_error


@dataclass(frozen=True)
class Context:
    """What was evaluated, with what: the checkpoint and data paths, the data's root attributes, the run's
    config and checkpoint state, and the evaluation seed."""

    checkpoint: str
    data: str
    attrs: dict
    config: Config
    state: dict
    seed: int


def summary(x: torch.Tensor) -> dict:
    """Per-time summaries over trajectories of ``x (batch, time)``: geometric mean, median, quartiles."""
    q = torch.quantile(x.double(), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64), dim=0)
    return {
        "geomean": geometric_mean(x, dim=0).tolist(),
        "median": q[1].tolist(),
        "q25": q[0].tolist(),
        "q75": q[2].tolist(),
    }


def _stats(x: torch.Tensor) -> dict:
    return {"median": float(x.median()), "max": float(x.max())}


def metrics_json(context: Context, t: torch.Tensor, z_true: torch.Tensor, measured: dict, seconds: float) -> dict:
    """The JSON-ready ``metrics.json`` of an evaluation from its measurements (see ``evaluate``)."""
    a, tc = context.attrs, context.config.train
    drift, robust, equiv = measured["energy_drift"], measured["rotation_robustness"], measured["equivariance_error"]
    dim = int(a["dim"])
    return {
        "checkpoint": context.checkpoint,
        "data": context.data,
        "system": str(a["system"]),
        "n_bodies": int(a["n_bodies"]),
        "dim": dim,
        "model": context.config.model.name,
        "group": context.config.model.options.get("group"),
        "step": int(context.state.get("step", 0)),
        "epoch": int(context.state.get("epoch", 0)),
        "n_trajectories": z_true.shape[0],
        "rollout_steps": t.shape[0],
        "method": tc.method,
        "substeps": tc.substeps,
        "seed": context.seed,
        "t": t.tolist(),
        "mse": measured["mse"],
        "chunk_len": context.config.data.chunk_len,
        "rollout_mse": mse(measured["z_pred"], z_true),
        "rollout_rel_error": summary(measured["rollout_rel_error"]),
        "energy_scale": "T(0) + |V(0)| of the true initial state",
        "energy_drift": {name: summary(v) for name, v in drift.items()},
        "energy_drift_last": {name: float(v[:, -1].median()) for name, v in drift.items()},
        "momentum_drift": {name: summary(v) for name, v in measured["momentum_drift"].items()},
        "equivariance_error": {
            "group": f"SE{dim}",
            "of": "energy: |H(g x) - H(x)| / (T(0) + |V(0)|); vector field: that of the learned part of H",
            "n_systems": equiv["energy"].shape[1],
            "energy": _stats(equiv["energy"]),
            "vector_field": _stats(equiv["vector_field"]),
        },
        "rotation_robustness": {
            "ratio": robust.ratio,
            "ratio_t": [None if math.isnan(v) else v for v in robust.ratio_t.tolist()],
            "angles": robust.angles.tolist(),
            "error_original": geometric_mean(robust.error_original[:, 1:], dim=1).tolist(),
            "error_rotated": geometric_mean(robust.error_rotated[:, 1:], dim=1).tolist(),
            "equivariance": summary(robust.equivariance),
        },
        "baselines": {
            name: {"mse": b["mse"], "rollout_mse": mse(b["z"], z_true),
                   "rollout_rel_error": summary(rollout_rel_error(b["z"], z_true))}  # fmt: skip
            for name, b in measured["baselines"].items()
        },
        "seconds": seconds,
    }


def summary_row(metrics: dict) -> dict:
    """The headline numbers of one evaluation: test MSE, energy drift at the last rollout time, rotation
    robustness ratio, and the SE(d) invariance error of H on the scale T(0) + |V(0)|."""
    return {
        "test MSE": metrics["mse"],
        f"rollout error t={metrics['t'][-1]:.3g}": metrics["rollout_rel_error"]["geomean"][-1],
        "energy drift (true H)": metrics["energy_drift_last"].get("true", math.nan),  # nan: H unknown
        "energy drift (learned H)": metrics["energy_drift_last"]["learned"],
        "rotation ratio": metrics["rotation_robustness"]["ratio"],
        f"{metrics['equivariance_error']['group']} error of H": metrics["equivariance_error"]["energy"]["median"],
    }


def format_metrics(metrics: dict | dict[str, dict], markdown: bool = False) -> str:
    """A table of :func:`summary_row` for one evaluation or ``{label: metrics}`` of several; one evaluation
    also gets a row per trivial baseline (its test MSE and rollout error; the other columns do not apply)."""
    runs = {"model": metrics} if "mse" in metrics else metrics
    rows = {label: summary_row(m) for label, m in runs.items()}
    columns = list(next(iter(rows.values())))
    if "mse" in metrics:
        for name, b in metrics.get("baselines", {}).items():
            rows[name.replace("_", " ")] = {c: None for c in columns} | {
                columns[0]: b["mse"], columns[1]: b["rollout_rel_error"]["geomean"][-1]}  # fmt: skip
    return format_rows(rows, markdown)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):  # a range
        return " - ".join(_cell(v) for v in value)
    return "n/a" if math.isnan(value) else f"{value:.3g}"


def format_rows(rows: dict[str, dict], markdown: bool = False) -> str:
    """A table of ``{label: {column: value}}`` (the columns of the first row), values to three significant
    digits: None is "-", NaN "n/a", a pair ``(low, high)`` a range. Markdown, or aligned plain text."""
    columns = list(next(iter(rows.values())))
    header = ["run", *columns]
    body = [[label, *(_cell(row[c]) for c in columns)] for label, row in rows.items()]
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
    atomic_write(out, lambda fh: fh.write((json.dumps(metrics, indent=1) + "\n").encode()))
    atomic_write(run_dir / "rollouts.npz", lambda fh: np.savez(fh, **examples))
    return out
