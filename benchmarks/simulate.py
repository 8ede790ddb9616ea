"""Simulation benchmarks: batched torch integration against a per-trajectory scipy loop, the cost of
generating every shipped recipe, how exact the published LieConv spring data are, and gravity against
REBOUND's IAS15 where REBOUND is installed (``pip install -e '.[bench]'``; never a dependency of the package).

Usage:
    python benchmarks/simulate.py                 # everything (about 15 minutes on 2 cores)
    python benchmarks/simulate.py --quick         # small sizes, a smoke test
    python benchmarks/simulate.py --part speed    # one part: speed | recipes | lieconv | rebound | compiled

Prints tables; each part writes benchmarks/results/simulate_PART.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.integrate import solve_ivp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import markdown_table, part_file, sync, write_results  # noqa: E402

from hamilton_lie import load_recipe  # noqa: E402
from hamilton_lie._seeds import split_seed  # noqa: E402  (how a file draws each split's systems)
from hamilton_lie.data import SPLITS, recipe_path, relative_energy_error  # noqa: E402
from simulators import DOP853, Yoshida4, integrate, use_fused_kernels  # noqa: E402

RECIPES = ("springs-2d-lieconv", "springs-2d", "springs-3d", "gravity-2d", "gravity-3d", "gravity-3d-cluster", "charged-3d",
           "tiny")


def _numpy_rhs(system, params_row):
    """A plain numpy vector field for one trajectory: the fastest fair scipy baseline."""
    n, d = system.n_bodies, system.dim
    m = params_row["masses"].numpy()
    if system.name == "springs":
        k = params_row["k"].numpy()
        s = k.sum()

        def rhs(_, y):
            q, p = y[: n * d].reshape(n, d), y[n * d :].reshape(n, d)
            c = k @ q / s
            return np.concatenate([(p / m[:, None]).ravel(), (-2 * s * k[:, None] * (q - c)).ravel()])

        return rhs
    a = system.coupling({k: v.unsqueeze(0) for k, v in params_row.items()})[0].numpy()
    aa = np.outer(a, a) * (1 - np.eye(n))
    eps2 = system.softening**2

    def rhs(_, y):
        q, p = y[: n * d].reshape(n, d), y[n * d :].reshape(n, d)
        diff = q[:, None, :] - q[None, :, :]
        r2 = (diff**2).sum(-1) + eps2
        force = system.strength * ((aa / r2**1.5)[..., None] * diff).sum(1)
        return np.concatenate([(p / m[:, None]).ravel(), force.ravel()])

    return rhs


def _scipy_loop(system, q0, p0, params, t, rtol):
    """solve_ivp(DOP853) one trajectory at a time; returns (q, p) like ``integrate``."""
    B, T = q0.shape[0], t.numel()
    q_out = np.empty((B, T, system.n_bodies, system.dim))
    p_out = np.empty_like(q_out)
    for b in range(B):
        rhs = _numpy_rhs(system, {k: v[b] for k, v in params.items()})
        y0 = np.concatenate([q0[b].numpy().ravel(), p0[b].numpy().ravel()])
        sol = solve_ivp(rhs, (0.0, float(t[-1])), y0, method="DOP853", t_eval=t.numpy(), rtol=rtol, atol=rtol * 1e-2)
        half = y0.size // 2
        q_out[b] = sol.y[:half].T.reshape(T, system.n_bodies, system.dim)
        p_out[b] = sol.y[half:].T.reshape(T, system.n_bodies, system.dim)
    return torch.from_numpy(q_out), torch.from_numpy(p_out)


def _scipy_at_error(system, q0, p0, params, t, target: float) -> dict:
    """The per-trajectory SciPy DOP853 loop at the loosest ``rtol`` (1e-6 to 1e-13) whose largest energy error
    is at most ``target``: its ``rtol``, ``seconds`` and ``max_energy_error`` (the tightest, if none is)."""
    for rtol in (1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13):
        start = time.perf_counter()
        qs, ps = _scipy_loop(system, q0, p0, params, t, rtol)
        seconds = time.perf_counter() - start
        _, err = relative_energy_error(system, qs, ps, params)
        chosen = {"rtol": rtol, "seconds": seconds, "max_energy_error": float(err.max())}
        if chosen["max_energy_error"] <= target:
            break
    return chosen


def speed(recipe_name: str, n_torch: int, n_scipy: int, device: str = "cpu") -> dict:
    """Trajectories per second: batched torch (the recipe's integrator) vs scipy at the same max energy error."""
    recipe = load_recipe(recipe_path(recipe_name))
    system = recipe.build_system()
    g = torch.Generator().manual_seed(0)
    params = system.sample_params(n_torch, generator=g)
    q0, p0 = system.sample_state(params, generator=g)
    t = recipe.dt * torch.arange(recipe.n_steps, dtype=torch.float64)

    def run_torch(linear: bool, fused: bool = True):
        old = type(system).linear
        type(system).linear = linear and old
        on = {k: v.to(device) for k, v in params.items()}
        try:
            sync(device)
            start = time.perf_counter()
            with use_fused_kernels(fused):
                q, p = integrate(system, q0.to(device), p0.to(device), on, t.to(device), method=recipe.build_integrator())
            sync(device)
            return q.cpu(), p.cpu(), time.perf_counter() - start
        finally:
            type(system).linear = old

    q, p, torch_seconds = run_torch(linear=True)
    _, errors = relative_energy_error(system, q, p, params)
    target = float(errors[:n_scipy].max())  # the torch error on the very trajectories scipy integrates
    chosen = _scipy_at_error(system, q0[:n_scipy], p0[:n_scipy], {k: v[:n_scipy] for k, v in params.items()}, t, target)
    row = {
        "recipe": recipe_name,
        "integrator": f"{recipe.integrator} x{recipe.substeps}",
        "torch_traj_per_s": n_torch / torch_seconds,
        "torch_max_energy_error": float(errors.max()),
        "torch_target_error_on_scipy_subset": target,
        "scipy_rtol": chosen["rtol"],
        "scipy_max_energy_error": chosen["max_energy_error"],
        "scipy_traj_per_s": n_scipy / chosen["seconds"],
        "n_torch": n_torch,
        "device": device,
        "n_scipy": n_scipy,
    }
    row["speedup"] = row["torch_traj_per_s"] / row["scipy_traj_per_s"]
    if type(system).linear:
        _, _, step_seconds = run_torch(linear=False)
        row["torch_step_by_step_traj_per_s"] = n_torch / step_seconds
        row["speedup_step_by_step"] = row["torch_step_by_step_traj_per_s"] / row["scipy_traj_per_s"]
    elif device == "cpu":
        # what the same steps cost as PyTorch operations, without the fused kernels
        _, _, plain_seconds = run_torch(linear=True, fused=False)
        row["torch_pytorch_steps_traj_per_s"] = n_torch / plain_seconds
        row["speedup_pytorch_steps"] = row["torch_pytorch_steps_traj_per_s"] / row["scipy_traj_per_s"]
    return row


def _ias15(system, q0, p0, params, t):
    """REBOUND IAS15 from each initial state alone, sampled at ``t`` (its ``exact_finish_time``): ``q, p`` like
    ``integrate`` and the mean seconds per trajectory."""
    import rebound

    q_out = np.empty((q0.shape[0], t.numel(), *q0.shape[1:]))
    p_out, seconds = np.empty_like(q_out), 0.0
    for b in range(q0.shape[0]):
        m = params["masses"][b].numpy()
        sim = rebound.Simulation()
        sim.G, sim.softening, sim.integrator = system.G, system.softening, "ias15"
        for i in range(q0.shape[1]):
            sim.add(m=m[i], x=q0[b, i, 0].item(), y=q0[b, i, 1].item(), z=q0[b, i, 2].item(),
                    vx=p0[b, i, 0].item() / m[i], vy=p0[b, i, 1].item() / m[i], vz=p0[b, i, 2].item() / m[i])  # fmt: skip
        start = time.perf_counter()
        for k, tk in enumerate(t.tolist()):
            sim.integrate(tk, exact_finish_time=1)
            q_out[b, k] = [[pt.x, pt.y, pt.z] for pt in sim.particles]
            p_out[b, k] = [[pt.m * pt.vx, pt.m * pt.vy, pt.m * pt.vz] for pt in sim.particles]
        seconds += time.perf_counter() - start
    return torch.from_numpy(q_out), torch.from_numpy(p_out), seconds / q0.shape[0]


def rebound_comparison(n: int, n_scipy: int) -> list[dict] | None:
    """The gravity recipes' own test systems (the first ``n`` of each file's test split) through the generator
    (batched), a per-trajectory SciPy DOP853 loop at no larger energy error (the first ``n_scipy``) and REBOUND
    IAS15 (each alone): milliseconds per trajectory, the energy error of the data's softened H (REBOUND's own
    ``energy()`` leaves the softening out), and how long each trajectory stays within 1e-6 (largest coordinate
    difference over the system's initial extent) of IAS15's. None without REBOUND."""
    try:
        import rebound  # noqa: F401
    except ImportError:
        return None
    cases = [("gravity-3d", {}), ("gravity-3d-cluster", {}), ("gravity-3d-cluster", {"rtol": 1e-12, "atol": 1e-12})]
    rows, references = [], {}
    for name, options in cases:
        recipe = dataclasses.replace(load_recipe(name), **options)
        system, method = recipe.build_system(), recipe.build_integrator()
        g = torch.Generator().manual_seed(split_seed(recipe.seed, SPLITS.index("test")))  # as the file draws it
        params = {k: v[:n] for k, v in system.sample_params(recipe.splits.test, generator=g).items()}
        q0, p0 = (x[:n] for x in system.sample_state(params, generator=g))
        t = recipe.dt * torch.arange(recipe.n_steps, dtype=torch.float64)
        start = time.perf_counter()
        q, p = integrate(system, q0, p0, params, t, method=method)
        ms = 1000 * (time.perf_counter() - start) / n
        if name not in references:
            references[name] = _ias15(system, q0, p0, params, t)
            qr, pr, seconds = references[name]
            _, err = relative_energy_error(system, qr, pr, params)
            rows.append({"systems": name, "integrator": "REBOUND IAS15", "ms_per_trajectory": 1000 * seconds,
                         "max_energy_error": float(err.max()), "median_energy_error": float(err.median())})  # fmt: skip
        qr = references[name][0]
        _, err = relative_energy_error(system, q, p, params)
        parted = ((q - qr).abs().amax((2, 3)) / q0.abs().amax((1, 2)).unsqueeze(1)) > 1e-6  # (n, T)
        first = torch.where(parted.any(1), parted.float().argmax(1) - 1, torch.full((n,), t.numel() - 1))
        within = t[first.clamp_min(0)]
        label = f"{recipe.integrator} x{recipe.substeps}" if recipe.integrator != "dop853" else f"dop853 {recipe.rtol:.0e}"
        rows.append({"systems": name, "integrator": label, "ms_per_trajectory": ms,
                     "max_energy_error": float(err.max()), "median_energy_error": float(err.median()),
                     "within_1e-6_median": float(within.median()),
                     "whole_horizon_within_1e-6": float((first == t.numel() - 1).double().mean())})  # fmt: skip
        sub = {k: v[:n_scipy] for k, v in params.items()}
        scipy = _scipy_at_error(system, q0[:n_scipy], p0[:n_scipy], sub, t, float(err[:n_scipy].max()))
        rows.append({"systems": name, "integrator": f"SciPy DOP853 loop, rtol {scipy['rtol']:.0e} (at {label}'s error)",
                     "ms_per_trajectory": 1000 * scipy["seconds"] / n_scipy,
                     "max_energy_error": scipy["max_energy_error"], "median_energy_error": float("nan")})  # fmt: skip
    return rows


def compiled_force(n: int) -> list[dict]:
    """A user-defined system (``examples/lennard_jones.py``, 6 bodies in 2D) with its autograd force and with
    ``compile_force``: seconds per trajectory through Yoshida4 and DOP853 (the compiling first call timed
    apart), and the largest difference between the two."""
    sys.path.insert(0, str(ROOT / "examples"))
    from lennard_jones import LennardJones

    class Compiled(LennardJones):
        compile_force = True

    system = Compiled(6, 2)
    g = torch.Generator().manual_seed(0)
    params = system.sample_params(n, generator=g)
    q0, p0 = system.sample_state(params, generator=g)
    t = 0.05 * torch.arange(100, dtype=torch.float64)
    rows = []
    for method in (Yoshida4(substeps=40), DOP853(rtol=1e-10, atol=1e-10)):
        start = time.perf_counter()
        integrate(system, q0, p0, params, t, method=method)
        first = time.perf_counter() - start
        start = time.perf_counter()
        q, p = integrate(system, q0, p0, params, t, method=method)
        compiled = time.perf_counter() - start
        with use_fused_kernels(False):
            start = time.perf_counter()
            qa, pa = integrate(system, q0, p0, params, t, method=method)
            plain = time.perf_counter() - start
        rows.append({"system": "lennard-jones, 6 bodies, 2D", "integrator": str(method), "trajectories": n,
                     "autograd_ms_per_trajectory": 1000 * plain / n, "compiled_ms_per_trajectory": 1000 * compiled / n,
                     "first_call_seconds": first, "speedup": plain / compiled,
                     "max_abs_difference": max(float((q - qa).abs().max()), float((p - pa).abs().max()))})  # fmt: skip
    return rows


def recipe_cost(name: str, quick: bool) -> dict:
    """Generate one recipe in a fresh process: wall seconds, peak memory, size, energy error."""
    with tempfile.TemporaryDirectory() as tmp:
        source = recipe_path(name)
        if quick:
            small = Path(tmp) / f"{name}.toml"
            small.write_text(_with_splits(source.read_text(), 20, 5, 5))
            source = small
        out = Path(tmp) / f"{name}.h5"
        code = (
            "import json\n"
            "from hamilton_lie import load_recipe, generate_dataset\n"
            f"r = generate_dataset(load_recipe({str(source)!r}), {str(out)!r})\n"
            # VmHWM belongs to this process's memory map; ru_maxrss would carry the parent's over exec
            "peak = [int(l.split()[1]) / 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
            "print(json.dumps({'seconds': r.seconds, 'peak_mib': peak, 'size_mib': r.size_bytes / 2**20,"
            " 'max_rel_energy_error': r.max_rel_energy_error, 'trajectories': r.n_trajectories}))\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
        return {"recipe": name, **json.loads(done.stdout.strip().splitlines()[-1])}


def _with_splits(text: str, train: int, val: int, test: int) -> str:
    lines, in_splits = [], False
    for line in text.splitlines():
        if line.strip().startswith("["):
            in_splits = line.strip() == "[splits]"
            lines.append(line)
            if in_splits:
                lines += [f"train = {train}", f"val = {val}", f"test = {test}"]
            continue
        if not in_splits:
            lines.append(line)
    return "\n".join(lines) + "\n"


def lieconv_accuracy(n: int) -> dict:
    """How exact is the published benchmark's ground truth? RK4 data against the exact linear flow.

    Global: each trajectory against the exact solution from its own initial state. Local, at the
    resolution of the benchmark's metrics: from every data state z(t0), the data 4 and 99 steps later
    against the exact flow from z(t0); reported as the benchmark's MSE (mean over the 24 state
    coordinates and over windows).
    """
    recipe = load_recipe(recipe_path("springs-2d-lieconv"))
    system = recipe.build_system()
    g = torch.Generator().manual_seed(1)
    params = system.sample_params(n, generator=g)
    q0, p0 = system.sample_state(params, generator=g)
    t = recipe.dt * torch.arange(recipe.n_steps, dtype=torch.float64)
    q, p = integrate(system, q0, p0, params, t, method="rk4")
    qe, pe = system.exact_solution(q0, p0, params, t)
    _, energy_error = relative_energy_error(system, q, p, params)
    num = ((q - qe).pow(2).sum((-1, -2)) + (p - pe).pow(2).sum((-1, -2))).sqrt()
    rel = (num / (qe.pow(2).sum((-1, -2)) + pe.pow(2).sum((-1, -2))).sqrt()).amax(1)
    out = {
        "n_trajectories": n,
        "rel_state_error_median": float(rel.median()),
        "rel_state_error_p95": float(rel.quantile(0.95)),
        "rel_state_error_max": float(rel.max()),
        "rel_energy_error_median": float(energy_error.median()),
        "rel_energy_error_max": float(energy_error.max()),
    }
    for steps in (4, 99):
        starts = torch.arange(0, recipe.n_steps - steps, 25)
        sq, sp = [], []
        for s in starts.tolist():
            qx, px = system.exact_solution(q[:, s], p[:, s], params, t[: steps + 1])
            sq.append((q[:, s : s + steps + 1] - qx).pow(2))
            sp.append((p[:, s : s + steps + 1] - px).pow(2))
        mse = torch.cat([torch.stack(sq), torch.stack(sp)], dim=-1).mean()
        out[f"window_mse_{steps + 1}_samples"] = float(mse)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that the script runs")
    parser.add_argument("--part", choices=("speed", "recipes", "lieconv", "rebound", "compiled"), action="append")
    parser.add_argument("--device", default="cpu", help="device of the batched torch integration in the speed part")
    parser.add_argument(
        "--out-dir", type=Path, default=ROOT / "benchmarks" / "results",
        help="each part writes simulate_PART.json here (simulate_speed_cuda.json for the speed part on a GPU)",
    )  # fmt: skip
    args = parser.parse_args()
    parts = args.part or ["speed", "recipes", "lieconv", "rebound", "compiled"]

    def write(part, record, device="cpu"):
        write_results(args.out_dir / part_file("simulate", part, device), record, device)

    if "speed" in parts:
        n_torch, n_scipy = (200, 5) if args.quick else (5200, 50)
        rows = [
            speed("springs-2d", n_torch, n_scipy, args.device),
            speed("gravity-2d", n_torch // 4 if args.device == "cpu" else n_torch, max(2, n_scipy // 5), args.device),
        ]
        write("speed", {"rows": rows}, args.device)
        print(
            f"\nBatched torch integration ({args.device}) vs a per-trajectory scipy DOP853 loop at the same max energy error"
        )
        fmt = [
            {
                "recipe": r["recipe"],
                "torch integrator": r["integrator"],
                "torch traj/s": f"{r['torch_traj_per_s']:.0f}",
                "torch step-by-step traj/s": f"{r['torch_step_by_step_traj_per_s']:.0f}"
                if "torch_step_by_step_traj_per_s" in r
                else "-",
                "scipy traj/s": f"{r['scipy_traj_per_s']:.2f}",
                "scipy rtol": f"{r['scipy_rtol']:.0e}",
                "max energy error torch / scipy": f"{r['torch_target_error_on_scipy_subset']:.1e} / {r['scipy_max_energy_error']:.1e}",
                "speed-up": f"{r['speedup']:.0f}x"
                + (f" ({r['speedup_step_by_step']:.0f}x step-by-step)" if "speedup_step_by_step" in r else ""),
            }
            for r in rows
        ]
        print(markdown_table(fmt, list(fmt[0])))
    if "recipes" in parts:
        rows = [recipe_cost(name, args.quick) for name in RECIPES]
        write("recipes", {"rows": rows})
        print("\nGenerating each shipped recipe (fresh process each; peak = max resident memory)")
        fmt = [
            {
                "recipe": r["recipe"],
                "trajectories": r["trajectories"],
                "seconds": f"{r['seconds']:.1f}",
                "peak memory (MiB)": f"{r['peak_mib']:.0f}",
                "size (MiB)": f"{r['size_mib']:.1f}",
                "max rel. energy error": f"{r['max_rel_energy_error']:.1e}",
            }
            for r in rows
        ]
        print(markdown_table(fmt, list(fmt[0])))
    if "rebound" in parts:
        rows = rebound_comparison(10 if args.quick else 1000, 4 if args.quick else 20)
        if rows is None:
            print("\nREBOUND is not installed (pip install -e '.[bench]'): the IAS15 comparison is skipped")
        else:
            write("rebound", {"rows": rows})
            print("\nGravity in 3D, the same initial states: the generator's integration (batched) against REBOUND IAS15")
            fmt = [{"systems": r["systems"], "integrator": r["integrator"], "ms per trajectory": f"{r['ms_per_trajectory']:.1f}",
                    "energy error max / median": f"{r['max_energy_error']:.1e} / {r['median_energy_error']:.1e}",
                    "time within 1e-6 of IAS15 (median)": f"{r['within_1e-6_median']:.2f}" if "within_1e-6_median" in r else "-",
                    "whole horizon within 1e-6": f"{r['whole_horizon_within_1e-6']:.0%}" if "within_1e-6_median" in r else "-"}
                   for r in rows]  # fmt: skip
            print(markdown_table(fmt, list(fmt[0])))
    if "compiled" in parts:
        rows = compiled_force(100 if args.quick else 1000)
        write("compiled", {"rows": rows})
        print("\nA user-defined potential: autograd force against compile_force")
        fmt = [{"integrator": r["integrator"], "autograd ms/traj": f"{r['autograd_ms_per_trajectory']:.2f}",
                "compiled ms/traj": f"{r['compiled_ms_per_trajectory']:.2f}", "speed-up": f"{r['speedup']:.1f}x",
                "first call (s)": f"{r['first_call_seconds']:.1f}", "max difference": f"{r['max_abs_difference']:.1e}"}
               for r in rows]  # fmt: skip
        print(markdown_table(fmt, list(fmt[0])))
    if "lieconv" in parts:
        row = lieconv_accuracy(100 if args.quick else 2000)
        write("lieconv", row)
        print("\nThe published spring data (RK4, one step per sample) against the exact solution")
        print(markdown_table([{k: f"{v:.2e}" if isinstance(v, float) else v for k, v in row.items()}], list(row)))


if __name__ == "__main__":
    main()
