"""How much the spring benchmark's 5-step test MSE depends on which 2000 test systems are drawn.

The reference reports one mean over one draw of 2000 test systems, and on the spring data that mean
is held by a few windows (a body that drifts far from the others; see benchmarks/README.md). This
script draws fresh test splits from the same recipe with other seeds (each split's systems are
independent of every other split's and seed's), evaluates trained runs on each with the protocol of
``springs.py`` (one random 5-sample window per system, window seed 12345, RK4 on the data grid), and
prints, per run, the mean over each draw and their spread: the sampling uncertainty that a single
published number carries, measured rather than assumed.

Usage:
    python benchmarks/test_draws.py runs/springs-benchmark/t2-range-n1000-seed2 ... [--draws 8]

Draw 0 is the benchmark's own test split (``--data``); draws 1..K are generated once into
``--cache`` (about 100 MB each) and reused. Prints a table and writes benchmarks/results/test_draws.json.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import markdown_table, write_results  # noqa: E402
from springs import reference_at, spread, test_window_errors  # noqa: E402

from hamilton_lie import HamiltonianDynamics, TrajectoryDataset, generate_dataset, load_recipe  # noqa: E402
from hamilton_lie.analysis import load_trained  # noqa: E402
from hamilton_lie.data import parse_recipe, recipe_path  # noqa: E402


def draw_path(recipe_path: Path, seed: int, systems: int, cache: Path) -> Path:
    """A test split of ``systems`` trajectories from ``recipe_path`` with its seed replaced by ``seed``,
    generated on first use (train and val hold one trajectory each: the recipe format asks for all three)."""
    out = cache / f"{recipe_path.stem}-seed{seed}-test{systems}.h5"
    if out.exists():
        return out
    recipe = load_recipe(recipe_path).with_splits(1, 1, systems)
    text, count = re.subn(r"(?m)^(\s*seed\s*=\s*)\d+", rf"\g<1>{seed}", recipe.text, count=1)
    if count != 1:
        raise SystemExit(f"{recipe_path}: no top-level seed line to replace")
    generate_dataset(parse_recipe(text, recipe.name), out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (their best.pt) or checkpoints")
    parser.add_argument("--data", type=Path, default=ROOT / "datasets" / "springs-2d-lieconv.h5")
    parser.add_argument("--recipe", type=Path, default=recipe_path("springs-2d-lieconv"))
    parser.add_argument("--draws", type=int, default=8, help="fresh test splits, seeds 1..DRAWS")
    parser.add_argument("--systems", type=int, default=2000, help="test systems per draw")
    parser.add_argument("--cache", type=Path, default=ROOT / "datasets" / "test-draws")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "test_draws.json")
    args = parser.parse_args()
    if args.draws < 1:
        parser.error("--draws must be at least 1")
    args.cache.mkdir(parents=True, exist_ok=True)

    sources = [(0, args.data)]
    for seed in range(1, args.draws + 1):
        start = time.perf_counter()
        sources.append((seed, draw_path(args.recipe, seed, args.systems, args.cache)))
        print(f"draw {seed}: {sources[-1][1]} ({time.perf_counter() - start:.0f} s)", flush=True)

    results = []
    for run in args.runs:
        # every draw comes from the same recipe, so one model serves them all
        model, config, _ = load_trained(run, TrajectoryDataset(args.data, "test", 2).attrs)
        dynamics, dtype = HamiltonianDynamics(model), next(model.parameters()).dtype
        draws = []
        for seed, data in sources:
            start = time.perf_counter()
            errors = test_window_errors(dynamics, config, data, 5, dtype, "cpu")
            stats = spread(errors)
            draws.append(
                {"seed": seed, "systems": len(errors), **stats, "worst_share": stats["worst"] / float(errors.sum())}
            )
            print(
                f"{run.name} draw {seed}: mean {draws[-1]['mean']:.3g} ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
        n_train = config.data.n_train or len(TrajectoryDataset(args.data, "train", 5, windows="random"))
        means = np.array([d["mean"] for d in draws])
        reference = reference_at(n_train)
        results.append(
            {
                "run": str(run),
                "n_train": n_train,
                "reference_t2": reference,
                "draws": draws,
                "mean_of_draws": {
                    "min": float(means.min()),
                    "median": float(np.median(means)),
                    "max": float(means.max()),
                    "max_over_min": float(means.max() / means.min()),
                },
                "draws_at_or_below_reference": int((means <= reference).sum()),
            }
        )

    rows = [
        {
            "run": Path(r["run"]).name,
            "n_train": r["n_train"],
            "draws": len(r["draws"]),
            "test MSE, this split": f"{r['draws'][0]['mean']:.2e}",
            "min over draws": f"{r['mean_of_draws']['min']:.2e}",
            "median over draws": f"{r['mean_of_draws']['median']:.2e}",
            "max over draws": f"{r['mean_of_draws']['max']:.2e}",
            "max / min": f"{r['mean_of_draws']['max_over_min']:.2f}",
            "median window (median over draws)": f"{np.median([d['median'] for d in r['draws']]):.2e}",
            "reference T(2)": f"{r['reference_t2']:.2e}",
            "draws at or below it": r["draws_at_or_below_reference"],
        }
        for r in results
    ]
    print(markdown_table(rows))
    write_results(args.out, {"systems": args.systems, "runs": results}, indent=1)


if __name__ == "__main__":
    main()
