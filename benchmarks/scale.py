"""Cost of attention at scale: one energy + gradient evaluation of a T(3) LieTransformer on N bodies
(gravity-like 3D clusters), with all-token, 32-nearest, Linformer and symmetric low-rank attention.

Usage:
    python benchmarks/scale.py                 # N = 64, 256, 1024, 4096
    python benchmarks/scale.py --quick         # N = 64, 256: checks that the script runs
    python benchmarks/scale.py --part train    # end to end: generate gravity and charged data of
                                               # 256 to 4096 bodies, train two steps on each

Each measurement runs in a fresh process, so that its peak resident memory (VmHWM, reset just
before the measured calls) belongs to it alone. Prints a table and the exponent of time in N fitted
on log-log axes over N >= 256 (below that, fixed per-call costs dominate), and writes
benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import markdown_table, measure, run_child, write_results  # noqa: E402

from hamilton_lie import LieTransformer, hamiltonian_vector_field  # noqa: E402
from hamilton_lie.groups import T  # noqa: E402

CONFIG = dict(dim_hidden=64, num_layers=2, num_heads=4, kernel_dim=16, energy="potential")
KINDS = {
    "full": {"kind": "full"},
    "32-nearest": {"kind": "knn", "neighbours": 32},
    "linformer": {"kind": "linformer", "rank": 32},  # max_bodies: the N of each run
    "lowrank": {"kind": "lowrank", "rank": 32},
}


def attention(kind: str, n: int) -> dict:
    """The attention table of ``kind`` for ``n`` bodies."""
    return {**KINDS[kind], "max_bodies": n} if kind == "linformer" else KINDS[kind]
SIZES = (64, 256, 1024, 4096)


def child(kind: str, n: int, repeats: int) -> dict:
    """In a fresh process: time and peak memory of the vector field (H and its gradient) at N bodies."""
    torch.manual_seed(0)
    model = LieTransformer(T(3), ("masses",), **CONFIG, attention=attention(kind, n))
    g = torch.Generator().manual_seed(0)
    q = n ** (1 / 3) * torch.randn(1, n, 3, generator=g)  # bounded density as N grows
    p = torch.randn(1, n, 3, generator=g)
    params = {"masses": 0.5 + torch.rand(1, n, generator=g)}
    row = measure(lambda: hamiltonian_vector_field(model, q, p, params), repeats)
    return {"attention": kind, "bodies": n, **row}


TRAIN_RECIPE = """
system = "{system}"
n_bodies = {n}
dim = 3
dt = 0.01
n_steps = 4
integrator = "leapfrog"
substeps = 1
seed = 0
batch_size = 1
[splits]
train = 4
val = 2
test = 2
[settings]
softening = 0.1
radius = {radius}
{extra}
"""


def train_child(system: str, kind: str, n: int, workdir: str) -> dict:
    """In a fresh process: generate a small dataset of ``n``-body systems, then train two steps."""
    from hamilton_lie import generate_dataset, load_config, train
    from hamilton_lie.data import parse_recipe

    radius = 0.6 * n ** (1 / 3)  # bounded density, at which 0.3 separation is easy to draw
    extra = 'configuration = "cluster"' if system == "gravity" else ""
    data = Path(workdir) / f"{system}-{n}.h5"
    if not data.exists():
        recipe = parse_recipe(TRAIN_RECIPE.format(system=system, n=n, radius=radius, extra=extra), "scale")
        generate_dataset(recipe, data)
    scalars = '["masses"]' if system == "gravity" else '["masses", "charges"]'
    overrides = [f"model.{k}={json.dumps(v)}" for k, v in CONFIG.items()]
    table = ", ".join(f"{k} = {json.dumps(v)}" for k, v in attention(kind, n).items())
    overrides.append(f"model.attention={{{table}}}")
    config = load_config(
        "springs-lietransformer-t2",
        [f"data.path={data}", f"train.out={Path(workdir) / f'{system}-{kind}-{n}'}", "model.group=T3",
         f"model.scalar_features={scalars}", *overrides, "train.batch_size=2", "train.epochs=1", "data.chunk_len=3",
         "data.n_val=2"],
    )  # fmt: skip
    row = measure(lambda: train(config), repeats=1, warmup=0)
    return {"system": system, "attention": kind, "bodies": n, **row}


def fitted_exponent(rows: list[dict], kind: str) -> float | None:
    points = [(r["bodies"], r["seconds"]) for r in rows if r["attention"] == kind and "seconds" in r]
    points = [pt for pt in points if pt[0] >= 256]
    if len(points) < 2:
        return None
    return float(np.polyfit(np.log([n for n, _ in points]), np.log([s for _, s in points]), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--part", choices=("evaluate", "train"), default="evaluate")
    parser.add_argument("--limit-s", type=int, default=600, help="time limit per measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    args = parser.parse_args()
    if args.part == "train":
        return train_part(args)
    sizes = SIZES[:2] if args.quick else SIZES
    repeats = 1 if args.quick else 3
    rows = []
    for kind in KINDS:
        for n in sizes:
            previous = next((r for r in rows if r["attention"] == kind and r["bodies"] == n // 4), None)
            if kind == "full" and previous is not None and "peak_above_baseline_gib" in previous:
                # dense pair tensors grow 16x per 4x bodies: do not start what cannot fit
                estimate = 16 * previous["peak_above_baseline_gib"]
                if estimate > 16:
                    rows.append({"attention": kind, "bodies": n, "skipped": f"needs ~{estimate:.0f} GiB (16x N/4)"})
                    continue
            code = (
                "import json, sys; sys.path.insert(0, 'benchmarks'); import scale;"
                f"print(json.dumps(scale.child({kind!r}, {n}, {repeats})))"
            )
            row = {"attention": kind, "bodies": n, **run_child(code, ROOT, args.limit_s)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    exponents = {kind: fitted_exponent(rows, kind) for kind in KINDS}
    print(f"\nOne energy + gradient evaluation, T(3) LieTransformer {CONFIG}, batch 1, float32, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    table = []
    for r in rows:
        table.append({
            "attention": r["attention"],
            "bodies": r["bodies"],
            "seconds": f"{r['seconds']:.3f}" if "seconds" in r else "-",
            "peak RSS (GiB)": f"{r['peak_rss_gib']:.2f}" if "seconds" in r else "-",
            "peak above baseline (GiB)": f"{r['peak_above_baseline_gib']:.3f}" if "seconds" in r else "-",
            "note": r.get("skipped", ""),
        })  # fmt: skip
    print(markdown_table(table))
    print("\nFitted exponent of time in N (N >= 256): " + ", ".join(
        f"{k} {'-' if v is None else f'{v:.2f}'}" for k, v in exponents.items()))  # fmt: skip
    write_results(args.out, {"rows": rows, "time_exponents": exponents})


def train_part(args) -> None:
    """Generate gravity and charged data of 256 to 4096 bodies and train two steps on each with the
    linear-cost and 32-nearest options; time and peak memory of the training (data generation apart)."""
    import tempfile

    sizes = (64,) if args.quick else (256, 1024, 4096)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for system in ("gravity", "charged"):
            for n in sizes:
                for kind in ("32-nearest", "linformer", "lowrank"):
                    code = (
                        "import json, sys; sys.path.insert(0, 'benchmarks'); import scale;"
                        f"print(json.dumps(scale.train_child({system!r}, {kind!r}, {n}, {workdir!r})))"
                    )
                    row = {"system": system, "attention": kind, "bodies": n, **run_child(code, ROOT, args.limit_s)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    print(f"\nTraining end to end: two optimiser steps (batch 2, 3-sample RK4 windows) and validation, T(3) "
          f"LieTransformer {CONFIG}, float32, {torch.get_num_threads()} threads")  # fmt: skip
    print(markdown_table([{
        "system": r["system"], "attention": r["attention"], "bodies": r["bodies"],
        "seconds": f"{r['seconds']:.2f}" if "seconds" in r else "-",
        "peak RSS (GiB)": f"{r['peak_rss_gib']:.2f}" if "seconds" in r else "-",
        "note": r.get("skipped", ""),
    } for r in rows]))  # fmt: skip
    write_results(args.out.with_name(args.out.stem + "_train.json"), {"rows": rows})


if __name__ == "__main__":
    main()
