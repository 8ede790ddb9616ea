"""How far training moved each kind of weight: |w - w0| / |w0| from a run's initial weights to its best.pt.

Adam moves every weight by about the learning rate per step whatever the weight's size, so layers
with few inputs, whose initial weights are large, change little in relative terms. This script
measures that for trained runs. It rebuilds each run's initial weights with the trainer's own
:func:`hamilton_lie.training.initial_model` (the model built under the run's seed), and groups
the weights of all blocks by their name inside the block (``att.location.hidden_w`` is every
block's location-kernel hidden layer). Weights initialised to zero have no relative change
and are shown as ``-``.

Usage:
    python benchmarks/weight_drift.py runs/springs-benchmark/t2-range-e200-n100-seed1 ...

Prints a table and writes benchmarks/results/weight_drift.json.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import markdown_table, write_results  # noqa: E402

from hamilton_lie import HamiltonLieError, check_dataset  # noqa: E402
from hamilton_lie.analysis import load_trained  # noqa: E402
from hamilton_lie.training import initial_model  # noqa: E402


def weight_drift(trained: torch.nn.Module, initial: torch.nn.Module) -> dict[str, dict]:
    """Per kind of weight (the name without its block number): the norms of the change and of the
    initial weights, summed over blocks, and their ratio (None for zero-initialised weights)."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    start = dict(initial.named_parameters())
    for name, w in trained.named_parameters():
        kind = re.sub(r"^blocks\.\d+\.", "", name).replace("attention.", "att.")
        w0 = start[name].detach().double()
        sums[kind][0] += (w.detach().double() - w0).pow(2).sum().item()
        sums[kind][1] += w0.pow(2).sum().item()
    return {
        kind: {"change": change**0.5, "initial": size**0.5, "relative": change**0.5 / size**0.5 if size else None}
        for kind, (change, size) in sums.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (their best.pt) or checkpoints")
    parser.add_argument("--data", type=Path, default=ROOT / "datasets" / "springs-2d-lieconv.h5")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "weight_drift.json")
    args = parser.parse_args()

    attrs = check_dataset(args.data, full=False).attrs
    record = {}
    for run in args.runs:
        try:
            model, config, state = load_trained(run, attrs)
        except HamiltonLieError as e:
            sys.exit(str(e))
        record[str(run)] = {"step": state["step"], "kinds": weight_drift(model, initial_model(config, attrs))}
    kinds = list(next(iter(record.values()))["kinds"])
    rows = []
    for kind in kinds:
        row = {"weights": kind}
        for run, r in record.items():
            rel = r["kinds"].get(kind, {}).get("relative")
            row[f"{Path(run).name} (step {r['step']})"] = "-" if rel is None else f"{rel:.3f}"
        rows.append(row)
    print(markdown_table(rows))
    write_results(args.out, {"runs": record})


if __name__ == "__main__":
    main()
