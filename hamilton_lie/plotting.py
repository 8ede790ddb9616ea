"""Figures of the diagnostics, each returned as a matplotlib ``Figure``.

The functions draw metrics only: what ``hamilton-lie evaluate`` writes (``metrics.json`` as a dict,
``rollouts.npz`` as a dict of arrays) and the trainer's ``metrics.jsonl``, so a notebook can draw from
files or from :func:`hamilton_lie.analysis.evaluate` directly. Figures are built without pyplot (no
global state, nothing opened on screen); in a notebook a returned figure shows itself, and
``fig.savefig(path)`` writes it. Several runs passed as ``{label: metrics}`` are drawn side by side in
one figure with one colour each.

Quantities are in the simulators' units (dimensionless; G = 1, unit masses and spring constants of
order one), which the axis labels call "sim. units".

Example:
    >>> import numpy as np
    >>> t = np.linspace(0, 1, 5).tolist()
    >>> band = {"median": [0, 1e-3, 2e-3, 3e-3, 4e-3], "q25": [0] * 5, "q75": [1e-2] * 5, "geomean": [0] * 5}
    >>> fig = plot_rollout_error({"model": {"t": t, "rollout_rel_error": band}})
    >>> fig.axes[0].get_yscale()
    'log'
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from ._errors import first_line

__all__ = [
    "load_run",
    "plot_energy_drift",
    "plot_momentum_drift",
    "plot_overview",
    "plot_rollout_error",
    "plot_rotation_robustness",
    "plot_trajectories",
    "plot_training",
    "write_figures",
]

WIDTH = 9.0  # inches: a notebook cell's width at the default dpi
TIME = "time t (sim. units)"


def _figure(ncols: int = 1, height: float = 3.6, width: float = WIDTH) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


_CYCLE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _colours(n: int) -> list:
    return [_CYCLE[i % len(_CYCLE)] for i in range(n)]


def _positive(values: Iterable) -> np.ndarray:
    """Values for a log axis: exact zeros (t = 0) become NaN so they are left out, not drawn at -inf."""
    x = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return np.where(x > 0, x, np.nan)


def _band(ax, t, summary: Mapping, label: str, colour: str) -> None:
    """Median line and interquartile band over trajectories, from the first step on: at t = 0 errors
    and drifts are zero or float32 rounding of the initial state, which would only stretch a log axis."""
    t = list(t)[1:]
    median, q25, q75 = (_positive(summary[k])[1:] for k in ("median", "q25", "q75"))
    ax.plot(t, median, color=colour, label=f"{label} (median)")
    ax.fill_between(t, q25, q75, color=colour, alpha=0.2, linewidth=0)


def _finish(ax, xlabel: str, ylabel: str, title: str | None = None, log: bool = True, legend: bool = True) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    if title:
        ax.set_title(title, fontsize="medium")
    ax.grid(True, which="major", alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", frameon=False)


def _runs(runs: Mapping | dict) -> dict:
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError("runs must be a non-empty mapping {label: metrics}")
    return dict(runs)


def plot_rollout_error(runs: Mapping[str, Mapping]) -> Figure:
    """Relative rollout error against time, log scale: median and interquartile band per run.

    Arguments:
        runs: ``{label: metrics}`` with ``metrics["t"]`` and ``metrics["rollout_rel_error"]``
            (``median``, ``q25``, ``q75`` per time).
    """
    runs = _runs(runs)
    fig, (ax,) = _figure()
    for (label, m), colour in zip(runs.items(), _colours(len(runs)), strict=True):
        _band(ax, m["t"], m["rollout_rel_error"], label, colour)
    _finish(ax, TIME, "relative state error", "rollout error ||dz|| / (||z_pred|| + ||z_true||), band: 25-75%")
    return fig


def _panels(runs: Mapping[str, Mapping], key: str, panels: Sequence[tuple[str, str, str]]) -> Figure:
    """One panel per ``(field, y label, title)`` of ``metrics[key][field]``, a band per run in each."""
    runs = _runs(runs)
    fig, axes = _figure(len(panels))
    for (label, m), colour in zip(runs.items(), _colours(len(runs)), strict=True):
        for ax, (field, _, _) in zip(axes, panels, strict=True):
            if field in m[key]:  # the true H's drift is missing where the data's Hamiltonian is unknown
                _band(ax, m["t"], m[key][field], label, colour)
    for ax, (_, ylabel, title) in zip(axes, panels, strict=True):
        _finish(ax, TIME, ylabel, title)
    return fig


def plot_energy_drift(runs: Mapping[str, Mapping]) -> Figure:
    """Energy drift against time: the true H along predicted rollouts, and the learned H along them.

    Arguments:
        runs: ``{label: metrics}`` with ``metrics["energy_drift"]["true"|"learned"]`` summaries.
    """
    drift = "|H(t) - H(0)| / (T(0) + |V(0)|)"
    return _panels(runs, "energy_drift", [("true", drift, "true H along predicted rollouts"),
                                          ("learned", drift, "learned H along its own rollouts")])  # fmt: skip


def plot_momentum_drift(runs: Mapping[str, Mapping]) -> Figure:
    """Drift of total linear and angular momentum along predicted rollouts (median and quartiles)."""
    return _panels(runs, "momentum_drift", [
        ("linear", "||P(t) - P(0)|| / sum ||p_i(0)||", "linear momentum"),
        ("angular", "||L(t) - L(0)|| / sum ||q_i|| ||p_i||", "angular momentum (about the origin)"),
    ])  # fmt: skip


def plot_rotation_robustness(runs: Mapping[str, Mapping]) -> Figure:
    """Rotational robustness: per-system error ratio against rotation angle, and the ratio against time.

    Arguments:
        runs: ``{label: metrics}`` with ``metrics["rotation_robustness"]`` holding ``angles``,
            ``error_rotated``, ``error_original`` (per system) and ``ratio_t``, ``ratio``.
    """
    runs = _runs(runs)
    fig, axes = _figure(2)
    for (label, m), colour in zip(runs.items(), _colours(len(runs)), strict=True):
        r = m["rotation_robustness"]
        ratio = _positive(r["error_rotated"]) / _positive(r["error_original"])
        axes[0].scatter(
            np.degrees(r["angles"]), ratio, s=12, color=colour, alpha=0.7, label=f"{label} (overall {r['ratio']:.2f})"
        )
        axes[1].plot(m["t"], _positive(r["ratio_t"]), color=colour, label=label)
    for ax in axes:
        ax.axhline(1.0, color="0.4", linewidth=0.8, linestyle="--")
    _finish(axes[0], "rotation angle (degrees)", "error rotated / error original", "per test system")
    axes[0].set_xlim(0, 180)
    _finish(axes[1], TIME, "geometric-mean error ratio", "over time")
    return fig


def plot_overview(runs: Mapping[str, Mapping]) -> Figure:
    """The comparison at a glance, one panel each: rollout error against time, the true H's drift along
    the predicted rollouts, and each test system's error ratio when rotated, against the rotation angle.

    Arguments:
        runs: ``{label: metrics}`` of evaluations on the same data (the true H must be known).
    """
    runs = _runs(runs)
    fig, axes = _figure(3, height=3.4, width=WIDTH * 1.4)
    for (label, m), colour in zip(runs.items(), _colours(len(runs)), strict=True):
        _band(axes[0], m["t"], m["rollout_rel_error"], label, colour)
        if "true" in m["energy_drift"]:
            _band(axes[1], m["t"], m["energy_drift"]["true"], label, colour)
        r = m["rotation_robustness"]
        ratio = _positive(r["error_rotated"]) / _positive(r["error_original"])
        axes[2].scatter(np.degrees(r["angles"]), ratio, s=10, color=colour, alpha=0.7, label=f"{label} ({r['ratio']:.2f})")
    _finish(axes[0], TIME, "relative state error", "rollout error (median, 25-75%)")
    _finish(axes[1], TIME, "|H(t) - H(0)| / (T(0) + |V(0)|)", "true energy along the rollouts")
    axes[2].axhline(1.0, color="0.4", linewidth=0.8, linestyle="--")
    _finish(axes[2], "rotation angle of the test system (degrees)", "error rotated / error original",
            "turned test systems (overall ratio)")  # fmt: skip
    axes[2].set_xlim(0, 180)
    # ratios near 1 read better as 0.5, 1, 2 than as powers of ten
    axes[2].yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes[2].yaxis.set_major_formatter(ScalarFormatter())
    axes[2].yaxis.set_minor_formatter(NullFormatter())
    return fig


def plot_trajectories(examples: Mapping, systems: Sequence[int] = (0, 1, 2), label: str = "predicted") -> Figure:
    """True (solid) and predicted (dashed) body paths of a few test systems.

    2D data draw the plane; 3D data draw the x-y projection (the paths' other projections follow from
    ``examples`` directly). Circles mark the start.

    Arguments:
        examples: ``rollouts.npz`` content: ``z_true``, ``z_pred (systems, time, 2, n_bodies, dim)``.
        systems: which example systems to draw, one panel each.
    """
    z_true, z_pred = np.asarray(examples["z_true"]), np.asarray(examples["z_pred"])
    systems = [s for s in systems if s < z_true.shape[0]]
    if not systems:
        raise ValueError(f"no example systems among {systems}; the file holds {z_true.shape[0]}")
    fig, axes = _figure(len(systems), height=WIDTH / len(systems) + 0.6)
    colours = _colours(z_true.shape[3])
    for ax, s in zip(axes, systems, strict=True):
        for body, colour in enumerate(colours):
            xt, yt = z_true[s, :, 0, body, 0], z_true[s, :, 0, body, 1]
            xp, yp = z_pred[s, :, 0, body, 0], z_pred[s, :, 0, body, 1]
            ax.plot(xt, yt, color=colour, linewidth=1.2)
            ax.plot(xp, yp, color=colour, linewidth=1.2, linestyle="--")
            ax.plot(xt[0], yt[0], "o", color=colour, markersize=4)
        extent = np.ptp(z_true[s, :, 0, :, :2].reshape(-1, 2), axis=0)
        # true proportions, unless the paths are so elongated that equal axes would flatten them
        to_scale = extent.max() <= 4 * max(extent.min(), 1e-12)
        if to_scale:
            ax.set_aspect("equal", adjustable="datalim")
        projection = " (x-y projection)" if z_true.shape[-1] == 3 else ""
        title = f"test system {s}{projection}" + ("" if to_scale else "\n(axes not to scale)")
        _finish(ax, "x (sim. units)", "y (sim. units)", title, log=False, legend=False)
    axes[0].plot([], [], color="0.2", label="true")
    axes[0].plot([], [], color="0.2", linestyle="--", label=label)
    axes[0].legend(fontsize="small", frameon=False)
    return fig


def plot_training(histories: Mapping[str, Sequence[Mapping]]) -> Figure:
    """Training loss and validation MSE per epoch, from ``metrics.jsonl`` records, for each run; beside
    them each epoch's largest gradient norm, where the records hold it (runs trained before the trainer
    recorded it do not), since a blow-up shows there first."""
    runs = _runs(histories)
    with_norms = any("grad_norm_max" in r for records in runs.values() for r in records)
    fig, axes = _figure(2 if with_norms else 1)
    for (label, records), colour in zip(runs.items(), _colours(len(runs)), strict=True):
        epochs = [r["epoch"] for r in records]
        axes[0].plot(
            epochs, _positive(r["train_loss"] for r in records), color=colour, alpha=0.6, label=f"{label} train"
        )
        axes[0].plot(
            epochs, _positive(r["val_mse"] for r in records), color=colour, linestyle="--", label=f"{label} val"
        )
        if with_norms:
            axes[1].plot(epochs, _positive(r.get("grad_norm_max") for r in records), color=colour, label=label)
    _finish(axes[0], "epoch", "window MSE", "training")
    if with_norms:
        _finish(axes[1], "epoch", "largest gradient norm in the epoch", "gradients")
    return fig


def load_run(run_dir: str | Path) -> dict:
    """What a run folder holds for plotting: ``metrics`` (metrics.json), ``examples`` (rollouts.npz),
    ``history`` (metrics.jsonl records); each None when the file is missing.

    Raises:
        FileNotFoundError: ``run_dir`` is not a folder.
        ValueError: a file that cannot be read, or metrics with NaN or infinite values, naming the file.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: not a run folder")
    out = {"name": run_dir.name, "metrics": None, "examples": None, "history": None}
    path = run_dir / "metrics.json"
    try:
        if path.exists():
            out["metrics"] = _finite(path, json.loads(path.read_text()))
        path = run_dir / "rollouts.npz"
        if path.exists():
            with np.load(path) as f:
                out["examples"] = {k: f[k] for k in f.files}
        path = run_dir / "metrics.jsonl"
        if path.exists():
            out["history"] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: cannot be read ({type(e).__name__}: {first_line(e)})") from None
    return out


def _finite(path: Path, value, where: str = ""):
    """``value`` (nested JSON) unchanged when every number in it is finite; ValueError naming the first that is not."""
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(path, v, f"{where}.{k}" if where else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite(path, v, f"{where}[{i}]")
    elif isinstance(value, float) and not np.isfinite(value):
        raise ValueError(f"{path}: {where} is {value} (NaN or infinite metrics cannot be drawn)")
    return value


def write_figures(
    run_dirs: Sequence[str | Path], out: str | Path, formats: Sequence[str] = ("png",), dpi: int = 150
) -> list[Path]:
    """Draw every figure for one or more run folders (runs side by side) into ``out``.

    Writes ``rollout_error``, ``energy``, ``momentum``, ``rotation`` (from each run's metrics.json; and
    ``overview`` for several runs),
    ``trajectories_<run>`` (from rollouts.npz) and ``training`` (from metrics.jsonl), in each format.

    Raises:
        FileNotFoundError: a path that is missing, or none with anything to plot.
    """
    figures: dict[str, Figure] = {}
    folders = [Path(d) for d in run_dirs]
    runs = [load_run(d) for d in folders]
    names = [r["name"] for r in runs]
    if len(set(names)) != len(names):  # two folders of the same name: label them by path
        names = [str(d) for d in folders]
    evaluated = {n: r["metrics"] for n, r in zip(names, runs, strict=True) if r["metrics"] is not None}
    histories = {n: r["history"] for n, r in zip(names, runs, strict=True) if r["history"]}
    if not evaluated and not histories:
        raise FileNotFoundError(
            f"{', '.join(map(str, run_dirs))}: no metrics.json (run `hamilton-lie evaluate`) or metrics.jsonl to plot"
        )
    if evaluated:
        figures.update(rollout_error=plot_rollout_error(evaluated), energy=plot_energy_drift(evaluated),
                       momentum=plot_momentum_drift(evaluated), rotation=plot_rotation_robustness(evaluated))  # fmt: skip
        if len(evaluated) > 1:
            figures["overview"] = plot_overview(evaluated)
    for n, r in zip(names, runs, strict=True):
        if r["examples"] is not None:
            figures[f"trajectories_{Path(n).name}"] = plot_trajectories(r["examples"], label=f"predicted ({n})")
    if histories:
        figures["training"] = plot_training(histories)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in figures.items():
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            fig.savefig(path, dpi=dpi)
            written.append(path)
    return written
