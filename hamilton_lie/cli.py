"""The ``hamilton-lie`` command: a thin shell over the library.

It parses arguments, calls library functions, owns the progress bars and the exit codes: 0 on success,
2 on bad input (one line on stderr naming the file and the problem). The library is imported only
when a command runs, so ``hamilton-lie --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import signal
import statistics
import sys
import threading
from pathlib import Path

from ._checks import check_output_folder
from ._errors import HamiltonLieError, WriteFailed
from ._presets import preset_names, recipe_names, shipped_recipe

DEMO_RECIPE = "demo"  # the shipped recipe
DEMO_DIR = Path("runs/demo")
# run folder name -> preset: the exactly invariant model, translations only, no symmetry
DEMO_MODELS = {"gaattention": "demo-gaattention", "t2": "demo-t2", "mlp": "demo-mlp"}


class _Bar:
    """A tqdm bar on stderr that appears with the first progress, so that input errors found before any
    work print only their one line."""

    def __init__(self, desc: str, unit: str, total: int | None = None):
        self.desc, self.unit, self.total, self.bar = desc, unit, total, None

    def update(self, n: int = 1, total: int | None = None, **postfix) -> None:
        if self.bar is None:
            from tqdm import tqdm

            # the first report is counted as the bar's start, so that its rate is measured from there on
            self.bar = tqdm(total=total or self.total, initial=n, unit=self.unit, desc=self.desc, file=sys.stderr)
        else:
            self.bar.update(n)
        if postfix:
            self.bar.set_postfix(**postfix)

    def training(self, progress) -> None:
        """The ``progress`` callback of :func:`hamilton_lie.training.train`."""
        n = progress.step if self.bar is None else 1  # a resumed run's bar starts where the run stands
        self.update(n, total=progress.total, loss=f"{progress.loss:.3e}", epoch=progress.epoch)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def _resolve_recipe(name: str | Path) -> tuple[Path, Path]:
    """A recipe file, or the name of a shipped one, and where its dataset goes by default: beside a recipe
    file, ``datasets/NAME.h5`` (in the current folder) for a shipped recipe, where its presets read it.
    A name that is neither is left to ``load_recipe``, which says so."""
    shipped = shipped_recipe(name)
    if shipped is not None:
        return shipped, Path("datasets", f"{shipped.stem}.h5")
    return Path(name), Path(name).with_suffix(".h5")


def _generate(recipe: str | Path, out: Path | None, device: str, force: bool) -> Path:
    """Generate with a bar; under torchrun every process writes its shard, and rank 0 shows its own progress
    and the summary."""
    from .data import generate_dataset, load_recipe
    from .training import Distributed

    ddp = Distributed.from_environment()
    recipe_path, default_out = _resolve_recipe(recipe)
    loaded = load_recipe(recipe_path)
    total = sum(-(-n // ddp.world) for _, n in loaded.splits.items())  # rank 0's share: the largest
    shard = f" (shard 1 of {ddp.world})" if ddp.world > 1 else ""
    with _Bar(f"generate {recipe_path.stem}{shard}", "traj", total) as bar:
        result = generate_dataset(loaded, out or default_out, device=ddp.device(device), force=force,
                                  progress=bar.update if ddp.main else None, distributed=ddp)  # fmt: skip
    if ddp.main:
        shards = f", joined from {ddp.world} shards" if ddp.world > 1 else ""
        print(
            f"wrote {result.path} ({result.size_bytes / 2**20:.1f} MiB, {result.n_trajectories} trajectories, "
            f"{result.seconds:.1f} s, max relative energy error {result.max_rel_energy_error:.2e}{shards})"
        )
    return result.path


def _import(args) -> None:
    from .data import import_dataset

    if not args.dt > 0:
        raise HamiltonLieError(f"--dt must be positive, got {args.dt}")
    path = import_dataset(args.format, args.folder, args.suffix, args.out, dt=args.dt, system=args.system,
                          force=args.force)  # fmt: skip
    _info(path)


def _fixed_step(attrs: dict) -> bool:
    """Whether the file's integrator takes fixed steps (so that its ``substeps`` attribute means something)."""
    from simulators import FixedStep, list_integrators
    from simulators.integrators import INTEGRATORS

    name = str(attrs["integrator"])
    return name not in list_integrators() or issubclass(INTEGRATORS[name], FixedStep)


def _info(path: Path) -> None:
    from .data import check_dataset

    info = check_dataset(path, full=True)
    a = info.attrs
    rows = [
        ("file", f"{info.path} ({info.size_bytes / 2**20:.2f} MiB, checksums and values verified)"),
        ("schema", f"v{a['schema_version']}.{a.get('schema_minor', 0)}, written by hamilton-lie "
                   f"{a['hamilton_lie_version']} at {a['created']}"),
        ("system", f"{a['system']}: {a['n_bodies']} bodies in {a['dim']}D" + _user_system(info)),
        ("settings", json.dumps(info.system_settings)),
        ("time", f"{a['n_steps']} samples, dt = {a['dt']:.6g} (t in [0, {(a['n_steps'] - 1) * a['dt']:.6g}])"),
        ("integrator", f"{a['integrator']}, " + (f"{a['substeps']} substeps per sample, " if _fixed_step(a) else "adaptive, ")
         + f"seed {a['seed']}"),  # fmt: skip
        *([("steps", "per trajectory {} to {} (median {})".format(*info.steps[::2], info.steps[1]))] if info.steps else []),
        ("splits", ", ".join(f"{k} {v}" for k, v in info.sizes.items())),
        *([("shards", _shards(info))] if "shards" in a else []),
        *([("source", _source(a["source"]))] if "source" in a else []),
        ("energy error", f"max relative {a['max_rel_energy_error']:.3e}" if math.isfinite(a["max_rel_energy_error"])
         else "not stored (the data's Hamiltonian is not known)"),  # fmt: skip
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def _shards(info) -> str:
    """Where a joined file's arrays are: its shard files (checked present by ``check_dataset``)."""
    from .data._shards import shard_path

    world = int(info.attrs["shards"])
    files = [shard_path(info.path, rank, world) for rank in range(world)]
    return f"{world} files in {files[0].parent}, {sum(f.stat().st_size for f in files) / 2**20:.2f} MiB, read through this one"


def _source(text: str) -> str:
    """The provenance of imported data, on one line."""
    source = json.loads(text)
    assumed = "; ".join(source.get("assumptions", []))
    return f"{source.get('format') or 'arrays'} from {source.get('source') or 'unknown'}" + (f"; assumed: {assumed}" if assumed else "")


def _user_system(info) -> str:
    """Where a user-defined system comes from, and whether this process has it (and so its exact H)."""
    source = info.attrs.get("system_source")
    if info.system_known:
        return f" (from {source})" if source else ""
    return f" (not loaded: --load-system {source})" if source else " (not a system this toolkit knows: no exact H)"


def _train(config, resume: bool = False, allow_changes: bool = False):
    """Train with a bar; under torchrun every process joins the job and rank 0 reports."""
    from .training import Distributed, train

    ddp = Distributed.from_environment()
    with _Bar(Path(config.train.out).name, "step") as bar:
        progress = bar.training if ddp.main else None
        result = train(config, resume=resume, progress=progress, distributed=ddp, allow_changes=allow_changes)
    return result, ddp


def _train_command(args) -> None:
    from .training import load_config

    overrides = args.set + ([f"train.device={args.device}"] if args.device else [])
    result, ddp = _train(load_config(args.config, overrides), args.resume, args.allow_changes)
    if ddp.main:  # under torchrun, one summary rather than one per rank
        print(
            f"{result.run_dir}: {result.epochs} epochs, {result.steps} steps in {result.seconds:.1f} s; "
            f"last training loss {result.last_train_loss:.3e}, best validation MSE {result.best_val_mse:.3e}"
        )


def _evaluate(args) -> None:
    from .analysis import evaluate, format_metrics, write_evaluation
    from .training import load_checkpoint, parse_config, resolve_checkpoint

    if args.rollout_steps < 2:
        raise HamiltonLieError(f"--rollout-steps must be at least 2, got {args.rollout_steps}")
    checkpoint = resolve_checkpoint(args.checkpoint)
    check_output_folder(checkpoint.parent)  # where metrics.json goes: found unwritable now, not after the rollouts
    data = args.data or Path(parse_config(load_checkpoint(checkpoint).get("config", {}), str(checkpoint)).data.path)
    with _Bar("evaluate rollouts", "system") as bar:
        metrics, examples = evaluate(
            checkpoint, data, args.rollout_steps, args.n_trajectories, args.device, args.seed, progress=bar.update
        )
    path = write_evaluation(checkpoint.parent, metrics, examples)
    print(format_metrics(metrics))
    for note in metrics.get("notes", []):
        print(f"note: {note}")
    print(f"wrote {path} and {path.with_name('rollouts.npz')}")


def _plot(args) -> None:
    from .plotting import write_figures

    out = args.out or (args.runs[0] / "figures" if len(args.runs) == 1 else None)
    if out is None:
        raise HamiltonLieError("plot: give --out when plotting several runs")
    formats = ("png", "pdf") if args.pdf else ("png",)
    check_output_folder(out)
    try:
        written = write_figures(args.runs, out, formats)
    except (FileNotFoundError, ValueError) as e:  # missing, damaged or non-finite inputs, named in the message
        raise HamiltonLieError(str(e)) from None
    print(f"wrote {len(written)} files to {out}: {', '.join(p.name for p in written)}")


def _demo_run(name: str, seed: int, data: Path, run_dir: Path, args) -> dict:
    """Train one demo model with one seed into ``run_dir`` (replacing it), evaluate it there; its metrics."""
    from .analysis import evaluate, write_evaluation
    from .training import load_config

    if run_dir.exists():
        shutil.rmtree(run_dir)
    overrides = [f"data.path={data}", f"train.out={run_dir}", f"train.device={args.device}", f"train.seed={seed}"]
    overrides += [f"train.epochs={args.epochs}"] if args.epochs else []
    result, _ = _train(load_config(DEMO_MODELS[name], overrides))
    print(
        f"{run_dir.name}: {result.epochs} epochs, {result.steps} steps in {result.seconds:.0f} s, "
        f"best validation MSE {result.best_val_mse:.3e}"
    )
    with _Bar(f"evaluate {run_dir.name}", "system") as bar:
        metrics, examples = evaluate(run_dir, data, rollout_steps=None, device=args.device, progress=bar.update)
    write_evaluation(run_dir, metrics, examples)
    return metrics


def _demo_summary(runs: dict[str, dict[int, dict]], seeds: list[int]) -> str:
    """The first seed's table; with several seeds also the median over seeds and the smallest and largest value."""
    from .analysis import format_metrics, format_rows, summary_row

    label = {name: f"{name} ({preset})" for name, preset in DEMO_MODELS.items()}
    table = format_metrics({label[name]: by_seed[seeds[0]] for name, by_seed in runs.items()}, markdown=True)
    if len(seeds) == 1:
        return table
    rows = {}
    for name, by_seed in runs.items():
        per_seed = [summary_row(m) for m in by_seed.values()]
        columns = list(per_seed[0])
        rows[label[name]] = {c: statistics.median(r[c] for r in per_seed) for c in columns}
        rows[f"{name}: min - max"] = {c: (min(r[c] for r in per_seed), max(r[c] for r in per_seed)) for c in columns}
    return f"seed {seeds[0]}:\n\n{table}\n\nmedian over seeds {seeds}:\n\n{format_rows(rows, markdown=True)}"


def _demo(args) -> None:
    """Generate, train the demo models (for each seed), evaluate them, draw the figures and print the summary.

    The demo owns ``out_dir``: its earlier runs there are replaced."""
    from .plotting import write_figures

    out_dir = args.out_dir
    recipe, _ = _resolve_recipe(args.recipe)
    data = _generate(recipe, out_dir / f"{recipe.stem}.h5", args.device, force=True)
    _info(data)
    seeds = list(dict.fromkeys(args.seeds))
    runs: dict[str, dict[int, dict]] = {name: {} for name in DEMO_MODELS}
    for seed in seeds:
        for name in DEMO_MODELS:
            run_dir = out_dir / (name if seed == seeds[0] else f"{name}-seed{seed}")
            runs[name][seed] = _demo_run(name, seed, data, run_dir, args)
    figures = write_figures([out_dir / name for name in DEMO_MODELS], out_dir / "figures")
    table = _demo_summary(runs, seeds)
    (out_dir / "summary.md").write_text(table + "\n")
    print(f"\nfigures: {', '.join(str(p) for p in figures)}\n")
    print(table)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hamilton-lie",
        description="Physics datasets, Hamiltonian neural networks with equivariant transformers, and diagnostics.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument(
        "--load-system",
        action="append",
        default=[],
        metavar="REF",
        help="load a user-defined system first (module:Class or path/file.py:Class; repeatable)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="simulate a recipe into an HDF5 dataset")
    gen.add_argument("recipe", help=f"recipe TOML file, or a shipped recipe: {', '.join(recipe_names())}")
    gen.add_argument(
        "--out", type=Path, help="output file (default: beside a recipe file; datasets/NAME.h5 for a shipped one)"
    )
    gen.add_argument("--device", default="cpu", help="torch device to integrate on (cpu, cuda, cuda:1, ...)")
    gen.add_argument("--force", action="store_true", help="overwrite an existing output file")

    im = sub.add_parser("import", help="convert an NRI or EGNN .npy dataset into an HDF5 dataset")
    im.add_argument("format", choices=("nri", "egnn"), help="the original's file format")
    im.add_argument("folder", type=Path, help="folder holding loc_*.npy, vel_*.npy, edges_*.npy (and charges_*.npy)")
    im.add_argument("--suffix", required=True, help="the files' suffix, e.g. _springs5 or _charged5_initvel1small")
    im.add_argument("--dt", type=float, required=True, help="time between stored samples (the originals': 0.1)")
    im.add_argument("--out", type=Path, required=True, help="output HDF5 file")
    im.add_argument("--system", help="system to record (default: FORMAT-springs or FORMAT-charged from the suffix)")
    im.add_argument("--force", action="store_true", help="overwrite an existing output file")

    info = sub.add_parser("info", help="verify a dataset and print its summary")
    info.add_argument("file", type=Path)

    tr = sub.add_parser("train", help="train an energy model (a config file or a preset name)")
    tr.add_argument("config", help=f"config TOML file or preset ({', '.join(preset_names())})")
    tr.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config value")
    tr.add_argument("--resume", action="store_true", help="continue the run in train.out from last.pt")
    tr.add_argument("--device", help="shorthand for --set train.device=DEVICE")
    tr.add_argument(
        "--allow-changes", action="store_true", help="resume although the config differs from the checkpoint's"
    )

    ev = sub.add_parser("evaluate", help="measure a trained model on a dataset's test split; writes metrics.json")
    ev.add_argument("checkpoint", type=Path, help="a run folder (its best.pt) or a checkpoint file")
    ev.add_argument("--data", type=Path, help="HDF5 dataset (default: the run's training data)")
    ev.add_argument("--rollout-steps", type=int, default=100, help="samples per rollout (default 100)")
    ev.add_argument("--n-trajectories", type=int, help="use the first N test trajectories (default: all)")
    ev.add_argument("--device", default="cpu")
    ev.add_argument("--seed", type=int, default=0, help="seeds test windows, group elements and rotations")

    pl = sub.add_parser("plot", help="draw the figures of one or more evaluated runs")
    pl.add_argument("runs", nargs="+", type=Path, help="run folders (several are drawn side by side)")
    pl.add_argument("--out", type=Path, help="output folder (default: RUN/figures for one run)")
    pl.add_argument("--pdf", action="store_true", help="also write PDF")

    demo = sub.add_parser(
        "demo",
        help="end to end: generate oriented spring data, train an exactly invariant model (GA attention), a T(2) "
        "LieTransformer and an MLP-HNN, evaluate, plot",
    )
    demo.add_argument("--recipe", default=DEMO_RECIPE, help="a recipe file or shipped recipe (default: demo)")
    demo.add_argument("--out-dir", type=Path, default=DEMO_DIR)
    demo.add_argument("--device", default="cpu")
    demo.add_argument("--epochs", type=int, help="override every model's epochs (for a quicker look)")
    demo.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="train every model once per seed; the summary gives the "
        "median over seeds (default: 0)"
    )
    return parser


COMMANDS = {
    "generate": lambda args: _generate(args.recipe, args.out, args.device, args.force),
    "import": lambda args: _import(args),
    "info": lambda args: _info(args.file),
    "train": _train_command,
    "evaluate": _evaluate,
    "plot": _plot,
    "demo": _demo,
}


def _load_systems(references: list[str]) -> None:
    """Register the user-defined systems named on the command line (so their datasets have an exact H)."""
    if not references:
        return
    from simulators import load_system

    for reference in references:
        try:
            load_system(reference)
        except ValueError as e:
            raise HamiltonLieError(f"--load-system: {e}") from None


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every ``finally`` runs: temporaries go, locks are released."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    main_thread = threading.current_thread() is threading.main_thread()  # only there can handlers be set
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        code = _run(args)
    except BaseException:
        _end_process_group(None)
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    _end_process_group(code)
    return code


def _end_process_group(code: int | None) -> None:
    """Leave a torchrun job's process group, if this process joined one.

    After a run that finished (``code`` given), destroy the group, flush, and exit without interpreter
    finalization: with torch 2.13's gloo backend the process group and its worker threads outlive
    ``destroy_process_group``; a worker thread that is still releasing the tensors of the last
    collective when the interpreter finalizes cannot take the GIL and aborts the process (SIGABRT
    after a run that succeeded: 3 of 24 two-process runs on a loaded 2-core machine, none of 95 with
    this exit). Skipping finalization avoids that; every file has been written and closed by now.
    """
    distributed = sys.modules.get("torch.distributed")
    if distributed is None or not distributed.is_initialized():
        return
    distributed.destroy_process_group()
    if code is None:
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run(args: argparse.Namespace) -> int:
    """The chosen command; HamiltonLieError becomes a one-line message and exit code 2."""
    try:
        _load_systems(args.load_system)
        COMMANDS[args.command](args)
    except HamiltonLieError as e:
        print(f"hamilton-lie: error: {e}", file=sys.stderr)
        if isinstance(e, WriteFailed):  # HDF5 would flush its failed buffers at exit, and can crash doing so
            sys.stderr.flush()
            os._exit(2)
        return 2
    except KeyboardInterrupt as e:
        terminated = isinstance(e, _Terminated)
        print(f"hamilton-lie: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130  # the shell's codes for SIGTERM and SIGINT
    return 0


if __name__ == "__main__":
    sys.exit(main())
