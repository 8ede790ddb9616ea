"""The benchmark pages' tables, generated from the results files.

Usage:
    python benchmarks/report.py           # rewrite every generated table in place
    python benchmarks/report.py --check   # exit 1, naming the tables, when a page differs from its results

A page marks a generated table with ``<!-- table: NAME -->`` and ``<!-- end table -->`` on their own lines;
everything between is replaced by ``TABLES[NAME]()``: the table, then the line that says which results
file (commit, torch, device, date) it comes from. The pages are ``benchmarks/README.md``, the spring study
``docs/benchmarks/springs.md``, the data cards ``datasets/README.md`` and ``docs/extending.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from pathlib import Path

from springs import reference_at  # the published T(2) curve, interpolated in log-log

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGES = [ROOT / "benchmarks" / "README.md", ROOT / "docs" / "benchmarks" / "springs.md", ROOT / "datasets" / "README.md",
         ROOT / "docs" / "extending.md"]
BLOCK = re.compile(r"(<!-- table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end table -->)", re.S)



def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def source(*names: str) -> str:
    """The line under a table: which files, and the commit, torch, device and date each records."""
    parts = []
    for name in names:
        r = load(name)["recorded"]
        device = r["device"] + (f" ({r['threads']} threads)" if r["device"] == "cpu" else "")
        parts.append(f"`{name}.json`: {r['commit'][:7]}, torch {r['torch']}, {device}, {r['date'][:10]}")
    return "Source: " + "; ".join(parts) + ".\n"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n\n"


def e(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}e}"


def seconds(x: float) -> str:
    return f"{x:.3g}" if x < 1000 else f"{x:.0f}"


def ratio(x: float) -> str:
    return f"{x:.2f}x" if x < 1.5 else f"{x:.1f}x" if x < 10 else f"{x:.0f}x"


# ---------------------------------------------------------------- simulation


def simulate_speed() -> str:
    rows = []
    for name, device in (("simulate_speed", "CPU"), ("simulate_speed_cuda", "GPU")):
        for r in load(name)["rows"]:
            step = (f" ({r['speedup_step_by_step']:.0f}x step by step)" if "speedup_step_by_step" in r else
                    f" ({r['speedup_pytorch_steps']:.0f}x with PyTorch steps)" if "speedup_pytorch_steps" in r else "")  # fmt: skip
            rows.append([r["recipe"], device, r["integrator"], f"{r['torch_traj_per_s']:.0f}", f"{r['scipy_traj_per_s']:.1f}",
                         f"{e(r['torch_target_error_on_scipy_subset'])} / {e(r['scipy_max_energy_error'])}",
                         f"**{r['speedup']:.0f}x**{step}"])  # fmt: skip
    header = ["recipe", "device", "batched integrator", "traj/s", "SciPy DOP853 traj/s",
              "max energy error, batched / SciPy", "speed-up"]  # fmt: skip
    return table(header, rows) + source("simulate_speed", "simulate_speed_cuda")


def simulate_rebound() -> str:
    rows = []
    for r in load("simulate_rebound")["rows"]:
        within = r.get("within_1e-6_median")
        rows.append([r["systems"], r["integrator"], f"{r['ms_per_trajectory']:.2g}" if r["ms_per_trajectory"] < 1 else f"{r['ms_per_trajectory']:.1f}",
                     f"{e(r['max_energy_error'])} / " + ("-" if math.isnan(r["median_energy_error"]) else
                                                          e(r["median_energy_error"])),
                     "-" if within is None else f"{within:.2f}",
                     "-" if within is None else f"{r['whole_horizon_within_1e-6']:.0%}"])  # fmt: skip
    header = ["systems", "integrator", "ms per trajectory", "energy error max / median",
              "time within 1e-6 of IAS15 (median)", "whole horizon within 1e-6"]  # fmt: skip
    return table(header, rows) + source("simulate_rebound")


def simulate_recipes() -> str:
    rows = [[r["recipe"], r["trajectories"], f"{r['seconds']:.1f}", f"{r['peak_mib']:.0f}", f"{r['size_mib']:.1f}",
             e(r["max_rel_energy_error"])] for r in load("simulate_recipes")["rows"]]  # fmt: skip
    header = ["recipe", "trajectories", "seconds", "peak memory (MiB)", "size (MiB)", "max rel. energy error"]
    return table(header, rows) + source("simulate_recipes")


def simulate_compiled() -> str:
    rows = [[r["integrator"], f"{r['autograd_ms_per_trajectory']:.2f}", f"{r['compiled_ms_per_trajectory']:.2f}",
             f"**{ratio(r['speedup'])}**", f"{r['first_call_seconds']:.1f}", e(r["max_abs_difference"])]
            for r in load("simulate_compiled")["rows"]]  # fmt: skip
    header = ["integrator", "autograd ms per trajectory", "compiled ms per trajectory", "speed-up",
              "first call (s)", "largest difference"]  # fmt: skip
    return table(header, rows) + source("simulate_compiled")


def simulate_lieconv() -> str:
    r = load("simulate_lieconv")
    state = ["relative state error, max over the trajectory",
             e(r["rel_state_error_median"]), e(r["rel_state_error_p95"]), e(r["rel_state_error_max"])]  # fmt: skip
    energy = ["relative energy error, max over the trajectory", e(r["rel_energy_error_median"]), "",
              e(r["rel_energy_error_max"])]  # fmt: skip
    first = table([f"RK4 data against the exact flow, {r['n_trajectories']} trajectories", "median",
                   "95th percentile", "max"], [state, energy])  # fmt: skip
    second = table(["local error from data states, as the benchmark's MSE", "5 samples (the training and test window)",
                    "100 samples (the rollout test)"],
                   [["mean squared error against the exact flow", e(r["window_mse_5_samples"]),
                     e(r["window_mse_100_samples"])]])  # fmt: skip
    return first + second + source("simulate_lieconv")


def standard() -> str:
    rows = []
    for r in load("standard")["rows"]:
        a = r["accuracy"]
        here = seconds(r["seconds"]) + ("" if r["generated_here"] == r["trajectories"] else
                                         f" (scaled from {r['generated_here']})")  # fmt: skip
        rows.append([f"`{r['recipe']}`", r["trajectories"], here, f"{r['original_seconds_estimated']:.0f}",
                     ratio(r["speedup"]), e(a["first_sample_error_median"]), e(a["position_error_median_last"]),
                     e(a["position_error_max"]),
                     f"{e(a['faithful_rel_energy_error_median'])} / {e(a['faithful_rel_energy_error_max'])}",
                     f"{a['trajectories'] - a['reference_unresolved']} of {a['trajectories']}",
                     r["recorded"]["commit"][:7]])  # fmt: skip
    header = ["recipe", "trajectories", "here (s)", "original (s)", "speed-up",
              "original vs reference, first sample (median)", "last sample (median)", "max",
              "original's rel. energy error (median / max)", "reference resolved", "measured at"]  # fmt: skip
    return table(header, rows) + source("standard")


# ---------------------------------------------------------------- energy models


def model_throughput() -> str:
    rows = []
    for name, label in (("model_throughput", "CPU"), ("model_throughput_cuda", "GPU")):
        r = load(name)
        rows.append([label, f"{1e3 * r['median_seconds_per_eval']:.1f}", f"{r['systems_per_second']:.0f}"])
    return table(["device", "ms per evaluation", "systems/s"], rows) + source("model_throughput", "model_throughput_cuda")


def model_scaling() -> str:
    data = load("model_scaling")
    built = [r for r in data["rows"] if r["fused"] and not r["keep"] and "seconds" in r]  # the model as built
    sizes = sorted({r["bodies"] for r in built})
    cell = {(r["attention"], r["bodies"]): f"{r['seconds']:.3g} s, {r['peak_rss_gib']:.2f} GiB" for r in built}
    rows = [[label, *(cell.get((kind, n), "-") for n in sizes)] for kind, label in (("knn", "32-nearest"), ("full", "all tokens"))]
    fit = data["knn_fitted_exponents"]
    note = (f"32-nearest, 64 to {sizes[-1]} bodies: memory above baseline ~ N^{fit['memory']:.2f}, "
            f"time ~ N^{fit['time']:.2f}.\n\n")  # fmt: skip
    return table(["attention", *(f"{n} bodies" for n in sizes)], rows) + note + source("model_scaling")


def scale() -> str:
    data = load("scale")
    kinds = list(dict.fromkeys(r["attention"] for r in data["rows"]))
    sizes = sorted({r["bodies"] for r in data["rows"]})
    cell = {(r["attention"], r["bodies"]): r for r in data["rows"]}
    rows = [[k, *(f"{cell[k, n]['seconds']:.3f} s, {cell[k, n]['peak_rss_gib']:.2f} GiB" for n in sizes),
             f"{data['time_exponents'][k]:.2f}"] for k in kinds]  # fmt: skip
    header = ["attention", *(f"{n} bodies" for n in sizes), f"time exponent ({sizes[1]} to {sizes[-1]})"]
    return table(header, rows) + source("scale")


def scale_train() -> str:
    data = load("scale_train")["rows"]
    largest = max(r["bodies"] for r in data)
    systems = list(dict.fromkeys(r["system"] for r in data))
    cell = {(r["attention"], r["system"]): f"{r['seconds']:.3g} s, {r['peak_rss_gib']:.2f} GiB"
            for r in data if r["bodies"] == largest}  # fmt: skip
    rows = [[kind, *(cell[kind, system] for system in systems)] for kind in dict.fromkeys(k for k, _ in cell)]
    return table([f"attention, {largest} bodies", *systems], rows) + source("scale_train")


def model_invariance() -> str:
    rows = [[r["group"], r["lift grid"], r["samples per body"], r["median rel. error"], r["max rel. error"]]
            for r in load("model_invariance")["rows"]]  # fmt: skip
    header = ["group", "lift grid", "samples per body", "median rel. error", "max rel. error"]
    return table(header, rows) + source("model_invariance")


# ---------------------------------------------------------------- training


def train_step() -> str:
    rows, names = [], ("train_step", "train_step_cpu2_h200_host", "train_step_cuda_h100", "train_step_cuda_h200")
    for name in names:
        r = load(name)
        rec = r["recorded"]
        device = "CPU, 2 threads" if rec["device"] == "cpu" else rec["device"].removeprefix("cuda (").removesuffix(")")
        device += " (the H200 machine's CPU)" if name.endswith("h200_host") else ""
        unfused = r.get("median_step_seconds_pytorch_kernels")
        rows.append([device, f"{r['median_step_seconds']:.3g}", "-" if unfused is None else f"{unfused:.3g}",
                     f"{r['matmul_peak_gflop_per_s']:.0f}", f"{r['fraction_of_peak']:.2g}"])  # fmt: skip
    header = ["device", "median step (s)", "`fused_kernels=False` (s)", "matmul peak GFLOP/s", "fraction of peak"]
    return table(header, rows) + source(*names)


# ---------------------------------------------------------------- the spring study

# the models of the study under the protocol, with the preset each stands for
SPRING_MODELS = {
    "t2": "LieTransformer T(2), the reference's settings (`springs-lietransformer-t2`)",
    "t2-range": "LieTransformer T(2), tuned (`springs-lietransformer-t2-tuned`)",
    "se2": "LieTransformer SE(2), 4 lift samples (`springs-lietransformer-se2`)",
    "se2-c2": "LieTransformer SE(2), 2 lift samples",
    "ga": "GA attention (`springs-gaattention`)",
    "transformer": "transformer without symmetry (`springs-transformer`)",
    "mlp": "MLP-HNN (`springs-mlp`)",
}
# the tuned T(2) model off the protocol, and the steps from the reference's settings to it
SPRING_VARIANTS = {
    "t2-range-e200": "tuned, twice the protocol's epochs",
    "t2-range-e150": "tuned, 1.5 times the protocol's epochs",
    "t2-range-fixed": "tuned, one window per trajectory fixed when the data are built",
    "t2-range-r1.5": "tuned, `pair_range` 1.5 instead of 3",
    "t2-range-r6": "tuned, `pair_range` 6 instead of 3",
    "t2-range-s10": "tuned, output scale 10 instead of 30",
    "t2-range-s100": "tuned, output scale 100 instead of 30",
    "t2-scaled": "the reference's settings and output scale 30",
    "t2-distance": "... and the pair distance as a feature",
    "t2-product": "... and content x location logits (tuned but for `pair_range`)",
}


def _seed_rows(models: dict) -> list[list]:
    medians = {(s["model"], s["n_train"]): s for s in load("springs")["seed_medians"]}
    rows = []
    for model, label in models.items():
        for n in sorted(n for m, n in medians if m == model):
            s = medians[model, n]
            spread = "-" if s["seeds"] == 1 else f"{e(s['min'])} to {e(s['max'])}"
            rows.append([label, n, s["seeds"], e(s["median"]), spread, e(reference_at(n)),
                         ratio(s["median"] / reference_at(n))])  # fmt: skip
    return rows


SPRING_HEADER = ["model", "n_train", "seeds", "5-step test MSE, median over seeds", "min to max",
                 "published T(2)", "median / published"]  # fmt: skip


def springs_protocol() -> str:
    return table(SPRING_HEADER, _seed_rows(SPRING_MODELS)) + source("springs")


def springs_variants() -> str:
    header = ["T(2) variant", *SPRING_HEADER[1:]]
    return table(header, _seed_rows(SPRING_VARIANTS)) + source("springs")


def springs_reference() -> str:
    r = load("springs_reference")
    runs = r["reference_code"]["test_mse_5"]
    rows = [["the reference code, its own training script", "fixed when the data are built",
             ", ".join(e(x) for x in runs), e(statistics.median(runs))]]  # fmt: skip
    ours = {(row["model"], row["seed"]): row["test_mse_5"] for row in load("springs")["rows"] if row["n_train"] == 100}
    for model, windows in (("t2-range-fixed", "fixed when the data are built"), ("t2-range", "a fresh window every epoch")):
        runs = [v for (m, _), v in sorted(ours.items()) if m == model]
        rows.append([f"this toolkit, tuned T(2) (`{model}`)", windows, ", ".join(e(x) for x in runs),
                     e(statistics.median(runs))])  # fmt: skip
    header = ["n_train 100, the protocol", "training windows", "5-step test MSE per seed", "median"]
    step = r["step_seconds"]
    steps = table(["one training step of the reference configuration", "median seconds"],
                  [["the reference code", f"{step['reference']:.2f}"],
                   ["this toolkit, fused kernels", f"{step['fused']:.2f}"],
                   ["this toolkit, `fused_kernels=False`", f"{step['unfused']:.2f}"]])  # fmt: skip
    return table(header, rows) + steps + source("springs_reference", "springs")


def test_draws() -> str:
    rows = []
    for r in load("test_draws")["runs"]:
        means = [d["mean"] for d in r["draws"]]
        below = sum(m <= r["reference_t2"] for m in means)
        rows.append([r["n_train"], e(r["draws"][0]["mean"]),
                     f"{e(min(means))}, {e(statistics.median(means))}, {e(max(means))}",
                     f"{e(min(d['median'] for d in r['draws']))} to {e(max(d['median'] for d in r['draws']))}",
                     e(r["reference_t2"]), f"{below} of {len(means)}"])  # fmt: skip
    header = ["n_train", "this split's mean", "mean over the draws: min, median, max", "median window",
              "published T(2)", "draws at or below it"]  # fmt: skip
    return table(header, rows) + source("test_draws")


TABLES = {f.__name__.replace("_", "-"): f for f in (
    simulate_speed, simulate_rebound, simulate_recipes, simulate_compiled, simulate_lieconv, standard, model_throughput, model_scaling,
    scale, scale_train, model_invariance, train_step, springs_protocol, springs_variants, springs_reference,
    test_draws)}  # fmt: skip


def render(text: str) -> str:
    def fill(match):
        return match.group(1) + TABLES[match.group("name")]() + match.group(4)

    return BLOCK.sub(fill, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare: exit 1 if a page is out of date")
    args = parser.parse_args()
    stale = []
    for page in PAGES:
        text = page.read_text()
        unknown = {m.group("name") for m in BLOCK.finditer(text)} - set(TABLES)
        if unknown:
            sys.exit(f"{page.relative_to(ROOT)}: no table named {', '.join(sorted(unknown))}")
        fresh = render(text)
        if fresh != text:
            stale.append(str(page.relative_to(ROOT)))
            if not args.check:
                page.write_text(fresh)
    if args.check and stale:
        sys.exit(f"generated tables out of date in {', '.join(stale)}: run python benchmarks/report.py")
    print("up to date" if not stale else f"rewrote {', '.join(stale)}")


if __name__ == "__main__":
    main()
