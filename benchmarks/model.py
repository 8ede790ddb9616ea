"""Energy-model benchmarks: speed and memory of energy + gradient evaluations, and how far SE(2)/SE(3)
models are from invariance to arbitrary rotations as a function of the lift grid.

Usage:
    python benchmarks/model.py                       # everything
    python benchmarks/model.py --part throughput     # throughput | scaling | invariance
    python benchmarks/model.py --quick               # small sizes: checks that the script runs

Each scaling measurement runs in a fresh process, so that its peak resident memory (VmHWM, reset
just before the measured call) belongs to that call alone. Prints tables; each part writes
benchmarks/results/model_PART.json.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import markdown_table, measure, part_file, run_child, sync, write_results  # noqa: E402

from hamilton_lie import LieTransformer, hamiltonian_vector_field  # noqa: E402
from hamilton_lie.analysis import group_errors  # noqa: E402
from hamilton_lie.groups import SE2, SE3, T  # noqa: E402
from hamilton_lie.nn import KNN, Full, fused_kernels_available  # noqa: E402

REFERENCE = dict(dim_hidden=160, num_layers=5, num_heads=8, kernel_dim=16, lift_samples=1)


def _inputs(batch: int, n: int, dim: int = 2, seed: int = 0, dtype=torch.float32, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    # bodies at the spring benchmark's density when few, spread so that density stays bounded when many
    scale = 0.4 * max(1.0, math.sqrt(n / 6))
    q = scale * torch.randn(batch, n, dim, generator=g)
    p = 0.6 * torch.randn(batch, n, dim, generator=g)
    params = {"masses": 0.1 + 3 * torch.rand(batch, n, generator=g), "k": 5 * torch.rand(batch, n, generator=g)}
    to = {"dtype": dtype, "device": device}
    return q.to(**to), p.to(**to), {k: v.to(**to) for k, v in params.items()}


def _step(model, q, p, params):
    """One energy + gradient evaluation with create_graph, then a backward pass (a training step's work)."""
    dq, dp = hamiltonian_vector_field(model, q, p, params, create_graph=True)
    (dq.pow(2).mean() + dp.pow(2).mean()).backward()


def throughput(batch: int, repeats: int, device: str = "cpu") -> dict:
    torch.manual_seed(0)
    model = LieTransformer(T(2), ("masses", "k"), **REFERENCE).to(device)
    q, p, params = _inputs(batch, 6, device=device)
    for _ in range(2):
        hamiltonian_vector_field(model, q, p, params, create_graph=True)
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        hamiltonian_vector_field(model, q, p, params, create_graph=True)
        sync(device)
        times.append(time.perf_counter() - start)
    per_eval = statistics.median(times)
    return {
        "config": "T(2), 160 x 5 layers, 8 heads, kernel 16, 1 lift sample",
        "parameters": sum(w.numel() for w in model.parameters()),
        "batch": batch,
        "bodies": 6,
        "device": device,
        "median_seconds_per_eval": per_eval,
        "evals_per_second": 1 / per_eval,
        "systems_per_second": batch / per_eval,
    }


def _measure_child(n: int, attention: str, batch: int, repeats: int, keep: bool = False, fused: bool = True) -> dict:
    """Run in a fresh process: time and peak memory of one _step at ``n`` bodies; ``keep`` keeps every
    per-pair intermediate for the derivatives (the model's default recomputes them for large layers);
    ``fused`` evaluates the location kernels with the fused C++ kernels."""
    torch.manual_seed(0)
    options = {"recompute_pairs": None} if keep else {}
    model = LieTransformer(
        T(2), ("masses", "k"), attention=KNN(neighbours=32) if attention == "knn" else Full(), fused_kernels=fused,
        **options, **REFERENCE,
    )
    q, p, params = _inputs(batch, n)

    def step():
        _step(model, q, p, params)
        model.zero_grad(set_to_none=True)

    if fused:
        fused_kernels_available()  # built (or loaded from the cache) before anything is measured
    return {"bodies": n, "attention": attention, "keep": keep, "fused": fused, "batch": batch, **measure(step, repeats)}


def _skip(attention: str, fused: bool, keep: bool, n: int) -> str | None:
    """Why a scaling case is not attempted (too slow or too large on the 2-core machine), or None."""
    if attention == "full" and n > 256:  # all tokens: 4x the bodies is 16x the pairs
        if not fused and (keep or n > 512):
            return "dense pairs, PyTorch kernels: 6 GiB kept at 256; not attempted"
        if fused and not keep and n > 512:
            return "the same computation as kept (all tokens, fused kernels: never recomputed)"
    if keep and not fused and n > 512:
        return "per-pair intermediates kept: over 10 GB, not attempted"
    return None


def scaling(sizes, batch: int, repeats: int, limit_s: int) -> list[dict]:
    rows = []
    for attention in ("full", "knn"):
        for fused in (True, False):
            for keep in (False, True):
                for n in sizes:
                    row = {"bodies": n, "attention": attention, "keep": keep, "fused": fused}
                    skip = _skip(attention, fused, keep, n)
                    if skip:
                        rows.append({**row, "skipped": skip})
                        continue
                    runs = 1 if attention == "full" and n > 256 else repeats  # ~40 s each
                    code = (
                        "import json, sys; sys.path.insert(0, 'benchmarks');"
                        "import model as m;"
                        f"print(json.dumps(m._measure_child({n}, {attention!r}, {batch}, {runs}, {keep}, {fused})))"
                    )
                    rows.append({**row, **run_child(code, ROOT, limit_s)})
    return rows


def invariance(samples_2d, finite_3d, n_systems: int) -> list[dict]:
    """Relative |H(R x) - H(x)| / |H(x)| for Haar-random rotations, untrained eval-mode models in float64."""
    rows = []
    configs = [("SE(2)", SE2(), n, f"C{n}") for n in samples_2d] + [
        ("SE(3)", SE3(name), None, name) for name in finite_3d
    ]
    for label, group, n, grid in configs:
        torch.manual_seed(0)
        # SE(3)'s finite grids fix the lift themselves
        lift = {"lift_samples": n} if n else {}
        model = LieTransformer(group, ("masses", "k"), dim_hidden=32, num_layers=2, num_heads=4, energy="full", **lift)
        model = model.double().eval()
        q, p, params = _inputs(n_systems, 6, dim=group.dim, dtype=torch.float64)
        rotations = group.sample((4, n_systems), generator=torch.Generator().manual_seed(1))
        errors = []
        with torch.no_grad():  # a few systems at a time: 60 lift samples make dense pair tensors large
            for lo in range(0, n_systems, 4):
                part = (q[lo : lo + 4], p[lo : lo + 4], {k: v[lo : lo + 4] for k, v in params.items()})
                chunk = type(rotations)(rotations.R[:, lo : lo + 4], rotations.t[:, lo : lo + 4])
                errors.append(group_errors(model, part, chunk).flatten())
        errors = torch.cat(errors)
        rows.append(
            {
                "group": label,
                "lift grid": grid,
                "samples per body": group.lift_size(n or 1),
                "median rel. error": f"{errors.median():.1e}",
                "max rel. error": f"{errors.max():.1e}",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("throughput", "scaling", "invariance"), action="append")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu", help="device for the throughput part")
    parser.add_argument(
        "--out-dir", type=Path, default=ROOT / "benchmarks" / "results",
        help="each part writes model_PART.json here (model_throughput_cuda.json for the throughput part on a GPU)",
    )  # fmt: skip
    args = parser.parse_args()
    parts = args.part or ["throughput", "scaling", "invariance"]

    def write(part, record, device="cpu"):
        write_results(args.out_dir / part_file("model", part, device), record, device)

    if "throughput" in parts:
        row = throughput(batch=10 if args.quick else 100, repeats=3 if args.quick else 10, device=args.device)
        write("throughput", row, args.device)
        print(f"\nEnergy + gradient (create_graph) of the reference spring configuration, float32, {args.device}")
        print(
            markdown_table(
                [
                    {
                        "model": row["config"],
                        "parameters": row["parameters"],
                        "batch x bodies": f"{row['batch']} x {row['bodies']}",
                        "ms per evaluation": f"{1e3 * row['median_seconds_per_eval']:.1f}",
                        "evaluations/s": f"{row['evals_per_second']:.1f}",
                        "systems/s": f"{row['systems_per_second']:.0f}",
                    }
                ]
            )
        )
    if "scaling" in parts:
        sizes = (6, 64) if args.quick else (6, 64, 256, 512, 2048)
        rows = scaling(sizes, batch=4, repeats=1 if args.quick else 3, limit_s=120 if args.quick else 900)
        scaling_record = {"rows": rows}
        print("\nOne energy + gradient (create_graph) + backward, batch 4, T(2) reference configuration, float32")
        fmt = []
        for r in rows:
            common = {
                "bodies": r["bodies"],
                "attention": "all tokens" if r["attention"] == "full" else "32-nearest",
                "location kernels": "fused" if r.get("fused", False) else "PyTorch",
                "per-pair intermediates": "kept" if r["keep"] else "default",
            }
            if "skipped" in r:
                fmt.append({**common, "seconds": "-", "peak RSS (GiB)": "-", "peak above baseline (GiB)": "-",
                            "note": r["skipped"]})  # fmt: skip
            else:
                fmt.append({**common, "seconds": f"{r['seconds']:.3f}", "peak RSS (GiB)": f"{r['peak_rss_gib']:.2f}",
                            "peak above baseline (GiB)": f"{r['peak_above_baseline_gib']:.2f}", "note": ""})  # fmt: skip
        print(markdown_table(fmt))
        knn = [
            r
            for r in rows
            if r["attention"] == "knn" and r["fused"] and not r["keep"] and "seconds" in r and r["bodies"] >= 64
        ]
        if len(knn) >= 2:
            slope = np.polyfit(
                np.log([r["bodies"] for r in knn]), np.log([r["peak_above_baseline_gib"] for r in knn]), 1
            )[0]
            tslope = np.polyfit(np.log([r["bodies"] for r in knn]), np.log([r["seconds"] for r in knn]), 1)[0]
            scaling_record["knn_fitted_exponents"] = {"memory": slope, "time": tslope}
            print(f"32-nearest (as built), N >= 64: fitted exponents memory ~ N^{slope:.2f}, time ~ N^{tslope:.2f}")
        write("scaling", scaling_record)
    if "invariance" in parts:
        rows = invariance(
            (1, 2, 4, 8, 16) if not args.quick else (2, 4),
            list(("tetrahedral", "octahedral", "icosahedral")),
            8 if args.quick else 64,
        )
        write("invariance", {"rows": rows})
        print("\nInvariance error of untrained eval-mode models (float64) under Haar-random rotations")
        print(markdown_table(rows))


if __name__ == "__main__":
    main()
