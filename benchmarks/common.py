"""Helpers shared by the benchmark scripts (run as scripts, so this folder is on sys.path)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch


def markdown_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Rows of dicts as a Markdown table with padded columns (all columns of the first row by default)."""
    columns = columns or list(rows[0])
    text = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(columns)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)) + " |" for row in text]
    return "\n".join(lines)


SCHEMA = 1
"""Version of the results files' shared layout: ``{"schema": 1, "recorded": {...}, ...}`` where ``recorded``
holds ``commit``, ``torch``, ``device``, ``threads`` and ``date`` (and, for figures measured before this layout,
a ``note`` saying how its commit and date were found). The rest of a file is the benchmark's own."""

RECORDED_KEYS = ("commit", "torch", "device", "threads", "date")


def device_name(device) -> str:
    """``"cpu"``, or ``"cuda (NAME)"`` with the GPU's model, so that a result says what it ran on."""
    device = torch.device(device)
    return f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device.type


def recorded(device="cpu") -> dict:
    """What ties a result to its code and machine: the commit (with ``+changes`` when the tree differs from it),
    the torch version, the device, the CPU threads and the date (UTC)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args):
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD") or "unknown"
    # results written earlier in the same run are not changes to the code that measures
    changed = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results"))
    return {"commit": commit + ("+changes" if changed else ""), "torch": torch.__version__,
            "device": device_name(device), "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip


def part_file(script: str, part: str, device="cpu") -> str:
    """The results file of one part of a script: ``SCRIPT_PART.json``, ``SCRIPT_PART_cuda.json`` on a GPU."""
    return f"{script}_{part}{'' if torch.device(device).type == 'cpu' else '_' + torch.device(device).type}.json"


def write_results(path: Path, record: dict, device="cpu", indent: int = 2) -> None:
    """Write ``record`` to ``path`` as JSON in the shared layout (:data:`SCHEMA`), creating its folder, and
    say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"schema": SCHEMA, "recorded": recorded(device), **record}
    path.write_text(json.dumps(record, indent=indent) + "\n")
    print(f"\nwrote {path}")


def train_with_bar(config, resume: bool = False):
    """:func:`hamilton_lie.train` with a progress bar on stderr."""
    from tqdm import tqdm

    from hamilton_lie import train

    with tqdm(unit="step", desc=Path(config.train.out).name, file=sys.stderr) as bar:

        def progress(p):
            bar.total = p.total
            bar.update(p.step - bar.n)
            bar.set_postfix(loss=f"{p.loss:.3e}", epoch=p.epoch)

        return train(config, resume=resume, progress=progress)


def sync(device) -> None:
    """Wait for queued GPU work, so that wall-clock timings include it."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def _status_kib(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in text.splitlines() if line.startswith(field))


def measure(fn, repeats: int, warmup: int = 1) -> dict:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls, and the peak resident
    memory while they ran (VmHWM reset to the current RSS first, so call this in a fresh process
    for a peak that belongs to ``fn`` alone)."""
    before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    times = []
    for _ in range(repeats + warmup):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    peak = _status_kib("VmHWM")
    return {
        "seconds": statistics.median(times[warmup:]),
        "peak_rss_gib": peak / 2**20,
        "peak_above_baseline_gib": (peak - before) / 2**20,
    }


def run_child(code: str, cwd: Path, limit_s: int) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line. A failure or
    a timeout comes back as ``{"skipped": reason}``."""
    try:
        done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=limit_s)
    except subprocess.TimeoutExpired:
        return {"skipped": f"over {limit_s} s"}
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode} (killed: out of memory?)"]
        return {"skipped": lines[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])
