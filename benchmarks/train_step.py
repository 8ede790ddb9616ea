"""One optimiser step of the reference spring configuration, timed, with its floating-point work as a
fraction of this machine's matrix-multiply peak measured in the same run.

The step: LieTransformer-T(2) (841,641 parameters), batch 100 windows of 5 samples of 6 bodies,
rollout from each window's first state with torchdiffeq rk4 on the data grid (4 steps, 16 energy +
gradient evaluations with create_graph), MSE over the window, backward, Adam. Inputs are drawn from
the spring benchmark's distributions and integrated by the simulator (no dataset file needed).
The model as built (fused location kernels, on the CPU) and the same model with its location kernels
as PyTorch operations are stepped alternately, and both medians are reported. On a GPU the profiled
step also counts its kernel launches and their summed run time: a step whose kernels keep the GPU
busy for a small part of its wall time is bound by launching them, not by arithmetic. ``--batches``
then times the step at other batch sizes (median of 3 after a warm-up), which shows how much of
that launch cost a larger batch absorbs.

Usage:
    python benchmarks/train_step.py [--device cuda] [--repeats 10] [--quick] [--batches 100 400 1600]

Prints a table and writes benchmarks/results/train_step[_DEVICE].json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import measure, part_file, sync, write_results  # noqa: E402

from hamilton_lie import HamiltonianDynamics, get_model  # noqa: E402
from hamilton_lie.training import window_loss  # noqa: E402
from simulators import SpringSystem, integrate  # noqa: E402


def batch_of_windows(batch: int, device, dtype=torch.float32) -> dict:
    system = SpringSystem()
    g = torch.Generator().manual_seed(0)
    params = system.sample_params(batch, generator=g)
    q0, p0 = system.sample_state(params, generator=g)
    t = torch.arange(5, dtype=torch.float64) * 5 / 499
    q, p = integrate(system, q0, p0, params, t, method="rk4")
    to = {"device": device, "dtype": dtype}
    return {
        "q": q.to(**to),
        "p": p.to(**to),
        "t": t.expand(batch, 5).to(**to),
        "params": {k: v.to(**to) for k, v in params.items()},
    }


def matmul_peak(device, size: int, repeats: int) -> float:
    """FLOP/s of a float32 square matmul: the machine's practical peak for this work."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def batch_scaling(step, batches: list[int], device, repeats: int = 3) -> list[dict]:
    """Median seconds of ``step(True, data)`` (the model as built) at each batch size, after a warm-up."""
    rows = []
    for batch in batches:
        data = batch_of_windows(batch, device)
        # each call ends synchronised, so the next one's clock starts on an idle GPU
        seconds = measure(lambda data=data: (step(True, data), sync(device)), repeats)["seconds"]
        rows.append({"batch": batch, "median_step_seconds": seconds, "windows_per_second": batch / seconds})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="batch 10, 2 repeats: a smoke test")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--batches", nargs="+", type=int, default=[], help="also time the step at these batch sizes")
    args = parser.parse_args()
    device = torch.device(args.device)
    batch, repeats = (10, 2) if args.quick else (100, args.repeats)
    data = batch_of_windows(batch, device)

    # the model as built (fused location kernels on the CPU) and the same weights with the location
    # kernels as PyTorch operations, stepped alternately so that both see the same machine state
    variants = {}
    for fused in (True, False):
        torch.manual_seed(0)
        model = get_model(
            "lietransformer", group="T2", scalar_features=("masses", "k"), normalisation="dot_product",
            fused_kernels=fused,
        ).to(device)  # fmt: skip
        variants[fused] = (model, HamiltonianDynamics(model), torch.optim.Adam(model.parameters(), lr=1e-3))

    def step(fused: bool, data: dict = data) -> None:
        _, dynamics, optimizer = variants[fused]
        loss = window_loss(dynamics, data, "rk4", 1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for fused in variants:
        step(fused)  # warm-up (and the extension's build, if it is not cached)
    # the profiler's FLOP estimates cover matrix products (mm, addmm, bmm, ...), which is the work the
    # matmul peak measures; FlopCounterMode cannot follow autograd.grad inside a step
    with torch.profiler.profile(with_flops=True) as prof:
        step(True)
    flops = sum(event.flops for event in prof.key_averages() if event.flops)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    times = {fused: [] for fused in variants}
    for _ in range(repeats):
        for fused in variants:
            sync(device)
            start = time.perf_counter()
            step(fused)
            sync(device)
            times[fused].append(time.perf_counter() - start)
    seconds = statistics.median(times[True])
    peak = matmul_peak(device, 4096 if device.type == "cuda" else 1024, 20 if device.type == "cuda" else 5)
    row = {
        "parameters": sum(w.numel() for w in variants[True][0].parameters()),
        "batch": batch,
        "median_step_seconds": seconds,
        "median_step_seconds_pytorch_kernels": statistics.median(times[False]),
        "speedup_of_fused_kernels": statistics.median(times[False]) / seconds,
        "step_gflop": flops / 1e9,
        "achieved_gflop_per_s": flops / seconds / 1e9,
        "matmul_peak_gflop_per_s": peak / 1e9,
        "fraction_of_peak": flops / seconds / peak,
        # the profiled step's kernels (GPU only); their time against the step's shows how busy the GPU is
        "gpu_kernels": len(kernels) if device.type == "cuda" else None,
        "gpu_kernel_seconds": sum(e.device_time for e in kernels) / 1e6 if device.type == "cuda" else None,
    }
    print("\nOne optimiser step, LieTransformer-T(2) reference configuration, float32")
    print(f"{device}, {torch.get_num_threads()} threads")
    cols = ["batch", "median_step_seconds", "median_step_seconds_pytorch_kernels",
            "speedup_of_fused_kernels", "step_gflop", "achieved_gflop_per_s", "matmul_peak_gflop_per_s",
            "fraction_of_peak"]  # fmt: skip
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    print("| " + " | ".join(f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in cols) + " |")
    if row["gpu_kernels"] is not None:
        print(
            f"\nprofiled step: {row['gpu_kernels']} GPU kernels running {row['gpu_kernel_seconds']:.3f} s in all "
            f"(the GPU busy for {row['gpu_kernel_seconds'] / seconds:.0%} of a median step)"
        )
    if args.batches:
        row["batch_scaling"] = batch_scaling(step, args.batches, device)
        print("\n| batch | median step (s) | windows/s |\n|---|---|---|")
        for r in row["batch_scaling"]:
            print(f"| {r['batch']} | {r['median_step_seconds']:.3g} | {r['windows_per_second']:.0f} |")
    write_results(args.out or ROOT / "benchmarks" / "results" / part_file("train", "step", device), row, device)


if __name__ == "__main__":
    main()
