"""Where trained spring models go wrong on one test window: learned against true forces, body by body.

The data-efficiency study's means are held by a few test windows (see benchmarks/README.md); this
script shows, for one window of the test split (the same windows as ``springs.py``: one per system,
seed 12345), each body's parameters, distance from the origin and true force, and for each trained
run the error of its learned force -dH/dq at the window's first state, in float64.

Usage:
    python benchmarks/worst_window.py runs/springs-benchmark/t2-distance-n100 ... [--system 906]

Prints a table and writes benchmarks/results/worst_window.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import markdown_table, write_results  # noqa: E402

from hamilton_lie import HamiltonLieError, TrajectoryDataset, check_dataset, hamiltonian_vector_field  # noqa: E402
from hamilton_lie.analysis import load_trained  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (their best.pt) or checkpoints")
    parser.add_argument("--data", type=Path, default=ROOT / "datasets" / "springs-2d-lieconv.h5")
    parser.add_argument("--system", type=int, default=906, help="test system whose window to examine")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "worst_window.json")
    args = parser.parse_args()

    windows = TrajectoryDataset(args.data, "test", 5, windows="random", seed=12345, dtype=torch.float64)
    item = windows[args.system]
    q, p = item["q"][:1], item["p"][:1]
    params = {k: v[None] for k, v in item["params"].items()}
    # the force is dp/dt = -dH/dq of the vector field
    truth = hamiltonian_vector_field(check_dataset(args.data, full=False).system().hamiltonian, q, p, params)[1][0]
    rows = [
        {
            "body": i,
            **{k: f"{float(v[0, i]):.3f}" for k, v in params.items()},
            "distance from origin": f"{float(q[0, i].norm()):.2f}",
            "true force": f"{float(truth[i].norm()):.3f}",
        }
        for i in range(q.shape[1])
    ]
    errors = {}
    for run in args.runs:
        try:
            model, _, _ = load_trained(run, windows.attrs)
        except HamiltonLieError as e:
            sys.exit(str(e))
        learned = hamiltonian_vector_field(model.double(), q, p, params)[1][0]
        errors[str(run)] = (learned - truth).norm(dim=-1).tolist()
        for row, e in zip(rows, errors[str(run)], strict=True):
            row[f"force error, {run.name}"] = f"{e:.1f}"
    print(f"test system {args.system}, window starting at sample {item['start']}:\n")
    print(markdown_table(rows))
    write_results(args.out, {"system": args.system, "start": item["start"], "bodies": rows, "force_error": errors})


if __name__ == "__main__":
    main()
