"""The standard datasets against their original generators, side by side in one process: generation time
for the same count, and how far the originals' scheme (symplectic Euler with 0.001 steps, force clipping)
is from the physics, measured against DOP853 at 1e-12 with exact wall reflections.

The originals are not part of the toolkit: give their checkouts (ethanfetaya/NRI, vgsatorras/egnn).

Usage:
    python benchmarks/standard.py --nri PATH/TO/NRI --egnn PATH/TO/egnn          # full sizes (minutes)
    python benchmarks/standard.py --nri ... --egnn ... --quick                   # small sizes

The originals integrate one trajectory at a time, so their time for a whole dataset is their measured time
per trajectory (``--original-trajectories`` of them, per split length) times the count. Prints tables and
writes benchmarks/results/standard.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.integrate import solve_ivp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import markdown_table, write_results  # noqa: E402

from hamilton_lie.data import generate_dataset, load_recipe, parse_recipe  # noqa: E402
from simulators import integrate  # noqa: E402

# recipe -> (original repository option, module path in it, simulator class, constructor options, steps per split)
ORIGINALS = {
    "nri-springs": ("nri", "data/synthetic_sim.py", "SpringSim", {"noise_var": 0.0}, (5000, 5000, 10000)),
    "nri-charged": ("nri", "data/synthetic_sim.py", "ChargedParticlesSim", {"noise_var": 0.0}, (5000, 5000, 10000)),
    "egnn-charged": ("egnn", "n_body_system/dataset/synthetic_sim.py", "ChargedParticlesSim",
                     {"noise_var": 0.0, "vel_norm": 0.5}, (5000, 5000, 5000)),
}  # fmt: skip


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(f"original_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scaled(name: str, fraction: float):
    """The recipe with every split scaled by ``fraction`` (at least 2 each)."""
    recipe = load_recipe(ROOT / "datasets" / f"{name}.toml")
    sizes = [max(2, round(n * fraction)) for _, n in recipe.splits.items()]
    return recipe.with_splits(*sizes)


def original_time(name: str, repos: dict, trajectories: int, recipe) -> dict:
    """Seconds per trajectory of the original's ``sample_trajectory`` for each split length, and for the recipe's count."""
    repo, path, cls, options, lengths = ORIGINALS[name]
    sim = getattr(_module(repos[repo] / path), cls)(**options)
    np.random.seed(recipe.seed)
    per_split = []
    for length in lengths:
        start = time.perf_counter()
        for _ in range(trajectories):
            sim.sample_trajectory(T=length, sample_freq=recipe.substeps)
        per_split.append((time.perf_counter() - start) / trajectories)
    total = sum(s * n for s, (_, n) in zip(per_split, recipe.splits.items(), strict=True))
    return {"seconds_per_trajectory": per_split, "seconds": total}


def _walled_reference(system, q0, p0, params, t, rtol):
    """DOP853 at ``rtol`` with exact wall reflections (an event per body, axis and wall), no force clipping: the
    physics the original approximates. Returns positions ``(time, N, d)`` of one trajectory."""
    n, d = q0.shape
    box = system.box_size if system.walls else None

    def rhs(_, y):
        q = torch.from_numpy(y[: n * d].reshape(1, n, d))
        return np.concatenate([y[n * d :], exact.force(q, params)[0].numpy().ravel()])

    exact = type(system)(n_bodies=n, dim=d, **{**system.settings, "max_force": float("inf")})
    events = []
    if box is not None:
        for k in range(n * d):
            for sign in (1.0, -1.0):
                event = (lambda _, y, k=k, sign=sign: y[k] - sign * box)
                event.terminal = True
                # outward crossings only: a body just reflected sits on the wall, moving inward
                event.direction = sign
                events.append(event)
    y, start, out = np.concatenate([q0.numpy().ravel(), p0.numpy().ravel()]), 0.0, [q0.numpy()[None]]
    times = t.numpy()
    while True:
        sol = solve_ivp(rhs, (start, times[-1]), y, method="DOP853", rtol=rtol, atol=rtol, dense_output=True,
                        events=events or None)  # fmt: skip
        if sol.status not in (0, 1):
            raise RuntimeError(f"the reference integration failed: {sol.message}")
        inside = times[(times > start) & (times <= sol.t[-1])]
        if inside.size:
            out.append(sol.sol(inside)[: n * d].T.reshape(-1, n, d))
        if sol.status == 0:  # reached the end
            break
        k = next(i for i, e in enumerate(sol.t_events) if len(e))
        start, y = float(sol.t_events[k][0]), sol.y_events[k][0].copy()
        coordinate = k // 2
        y[coordinate] = box if y[coordinate] > 0 else -box  # on the wall exactly
        y[n * d + coordinate] *= -1
    return np.concatenate(out)[: len(times)]


def accuracy(name: str, n: int) -> dict:
    """The faithful trajectories against the walled DOP853 reference on ``n`` of the recipe's first initial states."""
    recipe = _scaled(name, 0)
    text = re.sub(r"(?m)^train = \d+", f"train = {n}", recipe.text)
    recipe = parse_recipe(text, name)
    system = recipe.build_system()
    params, q0, p0 = system.sample_splits(dict(recipe.splits.items()), recipe.seed)["train"]
    t = recipe.dt * torch.arange(recipe.n_steps, dtype=torch.float64)
    q, p = integrate(system, q0, p0, params, t, method=recipe.build_integrator())
    errors, energy = [], []
    for b in range(n):
        one = {k: v[b : b + 1] for k, v in params.items()}
        ref = _walled_reference(system, q0[b], p0[b], one, t, 1e-12)
        errors.append(np.abs(q[b].numpy() - ref).max((1, 2)))
        h = system.hamiltonian(q[b : b + 1], p[b : b + 1], one)[0].numpy()
        energy.append(np.abs(h - h[0]).max() / abs(h[0]))
    errors = np.stack(errors)  # (n, time)
    return {
        "trajectories": n,
        "position_error_median_last": float(np.median(errors[:, -1])),
        "position_error_max": float(errors.max()),
        "first_sample_error_median": float(np.median(errors[:, 1])),
        "faithful_rel_energy_error_median": float(np.median(energy)),
        "faithful_rel_energy_error_max": float(np.max(energy)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nri", type=Path, required=True, help="a checkout of ethanfetaya/NRI")
    parser.add_argument("--egnn", type=Path, required=True, help="a checkout of vgsatorras/egnn")
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that the script runs")
    parser.add_argument("--original-trajectories", type=int, default=20, help="original trajectories timed per split")
    parser.add_argument("--recipes", nargs="+", default=list(ORIGINALS), choices=list(ORIGINALS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "standard.json")
    args = parser.parse_args()
    repos = {"nri": args.nri, "egnn": args.egnn}
    fraction, timed, checked = (0.001, 2, 2) if args.quick else (1.0, args.original_trajectories, 16)
    rows = []
    for name in args.recipes:
        recipe = _scaled(name, fraction)
        with tempfile.TemporaryDirectory() as folder:
            ours = generate_dataset(recipe, Path(folder) / "data.h5")
        original = original_time(name, repos, timed, recipe)
        rows.append({"recipe": name, "trajectories": ours.n_trajectories, "seconds": ours.seconds,
                     "original_seconds_estimated": original["seconds"],
                     "original_seconds_per_trajectory": original["seconds_per_trajectory"],
                     "speedup": original["seconds"] / ours.seconds, "accuracy": accuracy(name, checked)})  # fmt: skip
    print(f"\nGenerating the standard datasets ({torch.get_num_threads()} threads) against the originals' scripts")
    print(markdown_table([{
        "recipe": r["recipe"], "trajectories": r["trajectories"], "here (s)": f"{r['seconds']:.1f}",
        "original (s, estimated)": f"{r['original_seconds_estimated']:.0f}", "speed-up": f"{r['speedup']:.0f}x",
        "original s/trajectory": " / ".join(f"{s:.3f}" for s in r["original_seconds_per_trajectory"]),
    } for r in rows]))  # fmt: skip
    print("\nThe originals' scheme against DOP853 at 1e-12 with exact wall reflections (positions; same initial states)")
    print(markdown_table([{
        "recipe": r["recipe"], "trajectories": r["accuracy"]["trajectories"],
        "error at 1st sample (median)": f"{r['accuracy']['first_sample_error_median']:.1e}",
        "error at last sample (median)": f"{r['accuracy']['position_error_median_last']:.1e}",
        "max error": f"{r['accuracy']['position_error_max']:.1e}",
        "rel. energy error (median / max)": f"{r['accuracy']['faithful_rel_energy_error_median']:.1e} / "
                                            f"{r['accuracy']['faithful_rel_energy_error_max']:.1e}",
    } for r in rows]))  # fmt: skip
    write_results(args.out, {"device": "cpu", "threads": torch.get_num_threads(), "quick": args.quick, "rows": rows})


if __name__ == "__main__":
    main()
