"""The standard datasets against their original generators, side by side in one process: generation time
for the same count, and how far the originals' scheme (symplectic Euler with 0.001 steps, force clipping)
is from the physics, measured against DOP853 at 1e-12 with exact wall reflections.

The originals are not part of the toolkit: give their checkouts (ethanfetaya/NRI, vgsatorras/egnn,
RobDHess/Steerable-E3-GNN, greydanus/hamiltonian-nn).

Usage:
    python benchmarks/standard.py --nri NRI --egnn EGNN --segnn SEGNN --hnn HNN   # full sizes (about an hour)
    python benchmarks/standard.py --nri ... --egnn ... --segnn ... --hnn ... --quick   # small sizes

The originals integrate one trajectory at a time, so their time for a whole dataset is their measured time
per trajectory (``--original-trajectories`` of them, per split length) times the count. The 100-body
recipe is generated here at 2% of its size and its time scaled to the whole. Prints tables and
writes benchmarks/results/standard.json; with ``--recipes`` a subset, the other recipes' rows stay as
they were, each row carrying the commit and date it was measured at.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch
from scipy.integrate import solve_ivp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import markdown_table, recorded, write_results  # noqa: E402

from hamilton_lie.data import generate_dataset, load_recipe, parse_recipe, recipe_path  # noqa: E402
from simulators import integrate  # noqa: E402

# recipe -> (original repository option, module path in it, simulator class, constructor options, steps per split)
ORIGINALS = {
    "nri-springs": ("nri", "data/synthetic_sim.py", "SpringSim", {"noise_var": 0.0}, (5000, 5000, 10000)),
    "nri-charged": ("nri", "data/synthetic_sim.py", "ChargedParticlesSim", {"noise_var": 0.0}, (5000, 5000, 10000)),
    "egnn-charged": ("egnn", "n_body_system/dataset/synthetic_sim.py", "ChargedParticlesSim",
                     {"noise_var": 0.0, "vel_norm": 0.5}, (5000, 5000, 5000)),
    "segnn-gravity": ("segnn", "nbody/dataset/synthetic_sim.py", "GravitySim",
                      {"noise_var": 0.0, "n_balls": 100}, (5000, 5000, 5000)),
}  # fmt: skip
# HNN's generators make a whole dataset in one call: recipe -> (its data.py, make_orbits_dataset's options)
HNN = {"hnn-two-body": ("experiment-2body/data.py", {}), "hnn-three-body": ("experiment-3body/data.py", {})}
# share of a recipe generated here at full size (the time is scaled up by its inverse): 100 bodies take hours
FRACTION = {"segnn-gravity": 0.02}
CHECKED = {"segnn-gravity": 2}  # trajectories checked against the reference (16 for the others)
LIMIT_S = {"segnn-gravity": 150.0}  # seconds a reference may take (30 for the others): 100 bodies at 1e-12


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(f"original_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scaled(name: str, fraction: float):
    """The recipe with every split scaled by ``fraction`` (at least 2 each)."""
    recipe = load_recipe(recipe_path(name))
    sizes = [max(2, round(n * fraction)) for _, n in recipe.splits.items()]
    return recipe.with_splits(*sizes)


def original_time(name: str, repos: dict, trajectories: int, recipe) -> dict:
    """Seconds per trajectory of the original's ``sample_trajectory`` for each split length, and for the recipe's count."""
    if name in HNN:
        return _hnn_time(repos["hnn"] / HNN[name][0], trajectories, recipe)
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


def _hnn_time(path: Path, trajectories: int, recipe) -> dict:
    """HNN's ``make_orbits_dataset`` for ``trajectories`` orbits (it also computes each state's derivative and
    energy, as part of making its data), per orbit and for the recipe's count."""
    sys.modules.setdefault("imageio", types.ModuleType("imageio"))  # the original imports it for GIFs only
    sys.path.insert(0, str(path.parent.parent))
    module = _module(path)
    np.random.seed(recipe.seed)
    start = time.perf_counter()
    module.make_orbits_dataset(trials=trajectories)
    per = (time.perf_counter() - start) / trajectories
    count = sum(n for _, n in recipe.splits.items())
    return {"seconds_per_trajectory": [per], "seconds": per * count}


def _walled_reference(system, q0, p0, params, t, rtol, limit_s):
    """DOP853 at ``rtol`` with exact wall reflections (an event per body, axis and wall), no force clipping: the
    physics the original approximates. Returns positions ``(time, N, d)`` of one trajectory; TimeoutError after
    ``limit_s`` seconds (unsoftened charges that nearly collide need ever smaller steps)."""
    n, d = q0.shape
    box = system.box_size if system.walls else None

    deadline = time.perf_counter() + limit_s

    def rhs(_, y):
        if time.perf_counter() > deadline:
            raise TimeoutError
        q = torch.from_numpy(y[: n * d].reshape(1, n, d))
        return np.concatenate([y[n * d :], exact.force(q, params)[0].numpy().ravel()])

    unclipped = {"max_force": float("inf")} if "max_force" in system.settings else {}
    exact = type(system)(n_bodies=n, dim=d, **{**system.settings, **unclipped})
    events = []
    if box is not None:
        for k in range(n * d):
            for sign in (1.0, -1.0):
                def event(_, y, k=k, sign=sign):
                    return y[k] - sign * box

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


def accuracy(name: str, n: int, limit_s: float = 30.0) -> dict:
    """The faithful trajectories against the walled DOP853 reference on ``n`` of the recipe's first initial states."""
    recipe = _scaled(name, 0)
    text = re.sub(r"(?m)^train = \d+", f"train = {n}", recipe.text)
    recipe = parse_recipe(text, name)
    system = recipe.build_system()
    params, q0, p0 = system.sample_splits(dict(recipe.splits.items()), recipe.seed)["train"]
    t = recipe.dt * torch.arange(recipe.n_steps, dtype=torch.float64)
    q, p = integrate(system, q0, p0, params, t, method=recipe.build_integrator())
    errors, energy, unresolved = [], [], 0
    for b in range(n):
        one = {k: v[b : b + 1] for k, v in params.items()}
        h = system.hamiltonian(q[b : b + 1], p[b : b + 1], one)[0].numpy()
        energy.append(np.abs(h - h[0]).max() / abs(h[0]))
        try:
            ref = _walled_reference(system, q0[b], p0[b], one, t, 1e-12, limit_s)
        except TimeoutError:
            unresolved += 1
            continue
        errors.append(np.abs(q[b].numpy() - ref).max((1, 2)))
    errors = np.stack(errors) if errors else np.full((1, t.numel()), np.nan)  # (resolved, time)
    return {
        "trajectories": n,
        "reference_unresolved": unresolved,
        "position_error_median_last": float(np.median(errors[:, -1])),
        "position_error_max": float(errors.max()),
        "first_sample_error_median": float(np.median(errors[:, 1])),
        # over all n trajectories: |H(t) - H(0)| / |H(0)| along the faithful data (velocities half a step behind)
        "faithful_rel_energy_error_median": float(np.median(energy)),
        "faithful_rel_energy_error_max": float(np.max(energy)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nri", type=Path, required=True, help="a checkout of ethanfetaya/NRI")
    parser.add_argument("--egnn", type=Path, required=True, help="a checkout of vgsatorras/egnn")
    parser.add_argument("--segnn", type=Path, required=True, help="a checkout of RobDHess/Steerable-E3-GNN")
    parser.add_argument("--hnn", type=Path, required=True, help="a checkout of greydanus/hamiltonian-nn")
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that the script runs")
    parser.add_argument("--original-trajectories", type=int, default=20, help="original trajectories timed per split")
    parser.add_argument("--recipes", nargs="+", default=[*ORIGINALS, *HNN], choices=[*ORIGINALS, *HNN])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "standard.json")
    args = parser.parse_args()
    repos = {"nri": args.nri, "egnn": args.egnn, "segnn": args.segnn, "hnn": args.hnn}
    rows = []
    if args.out.exists() and not args.quick:
        previous = json.loads(args.out.read_text())
        rows = [r for r in previous["rows"] if r["recipe"] not in args.recipes]  # each row keeps its own "recorded"
    for name in args.recipes:
        fraction = 0.001 if args.quick else FRACTION.get(name, 1.0)
        timed, checked = (2, 2) if args.quick else (args.original_trajectories, CHECKED.get(name, 16))
        recipe = _scaled(name, fraction)
        full = load_recipe(recipe_path(name))
        with tempfile.TemporaryDirectory() as folder:
            ours = generate_dataset(recipe, Path(folder) / "data.h5")
        count = sum(n for _, n in full.splits.items())
        seconds = ours.seconds * count / ours.n_trajectories
        original = original_time(name, repos, timed, full)
        rows.append({"recorded": recorded(), "recipe": name, "trajectories": count, "generated_here": ours.n_trajectories, "seconds": seconds,
                     "original_seconds_estimated": original["seconds"],
                     "original_seconds_per_trajectory": original["seconds_per_trajectory"],
                     "speedup": original["seconds"] / seconds,
                     "accuracy": accuracy(name, checked, LIMIT_S.get(name, 30.0))})  # fmt: skip
    order = [*ORIGINALS, *HNN]
    rows.sort(key=lambda r: order.index(r["recipe"]))
    print(f"\nGenerating the standard datasets ({torch.get_num_threads()} threads) against the originals' scripts")
    print(markdown_table([{
        "recipe": r["recipe"], "trajectories": r["trajectories"],
        "here (s)": f"{r['seconds']:.1f}" + ("" if r["generated_here"] == r["trajectories"]
                                            else f" (from {r['generated_here']})"),
        "original (s, estimated)": f"{r['original_seconds_estimated']:.0f}", "speed-up": f"{r['speedup']:.0f}x",
        "original s/trajectory": " / ".join(f"{s:.3f}" for s in r["original_seconds_per_trajectory"]),
    } for r in rows]))  # fmt: skip
    print("\nThe originals' integration against DOP853 at 1e-12 with exact wall reflections, no clipping (positions; the"
          " same initial states; a reference not done in 30 s is left out)")
    print(markdown_table([{
        "recipe": r["recipe"],
        "trajectories (reference unresolved)": f"{r['accuracy']['trajectories']} ({r['accuracy']['reference_unresolved']})",
        "error at 1st sample (median)": f"{r['accuracy']['first_sample_error_median']:.1e}",
        "error at last sample (median)": f"{r['accuracy']['position_error_median_last']:.1e}",
        "max error": f"{r['accuracy']['position_error_max']:.1e}",
        "rel. energy error (median / max)": f"{r['accuracy']['faithful_rel_energy_error_median']:.1e} / "
                                            f"{r['accuracy']['faithful_rel_energy_error_max']:.1e}",
    } for r in rows]))  # fmt: skip
    write_results(args.out, {"quick": args.quick, "rows": rows})


if __name__ == "__main__":
    main()
