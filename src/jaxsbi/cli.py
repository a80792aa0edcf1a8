"""Command line: ``jaxsbi run CONFIG`` (also ``python -m jaxsbi run CONFIG``).

A thin layer: it loads the config (strictly), makes the run folder, and calls the run function
of the config's experiment (:mod:`jaxsbi.experiments.registry`:
:func:`~jaxsbi.experiments.aalr.run_aalr`, :func:`~jaxsbi.experiments.evidence.run_prml`, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from pathlib import Path


def _run(args) -> int:
    from jaxsbi.experiments.config import ConfigError
    from jaxsbi.experiments.registry import load_config, runner
    from jaxsbi.experiments.run_folder import prepare_run_dir, run_lock
    from jaxsbi.experiments.validate import check

    try:
        config = load_config(args.config)
        check(config, args.config, args.output)  # every bad input, before any compute
    except (ConfigError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    output = getattr(config, "output", None)
    base = Path(args.output or (getattr(output, "dir", None) or "runs"))
    name = (getattr(output, "name", "") or "") or Path(args.config).stem
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(run_lock(base / name))  # one run per folder
            run_dir = prepare_run_dir(config, base / name, overwrite=args.overwrite)
        except (ConfigError, ValueError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"jaxsbi: {Path(args.config).name} -> {run_dir}", flush=True)
        t0 = time.perf_counter()
        metrics = runner(config)(config, run_dir)
    print(f"jaxsbi: done in {time.perf_counter() - t0:.1f} s; run folder {run_dir}")
    summary = {k: metrics[k] for k in ("c2st", "timings_s") if k in metrics}
    if summary:
        print(json.dumps(summary, indent=2, default=str))
    return 0


def _bench(args) -> int:
    import dataclasses

    from jaxsbi.experiments.bench import BenchConfig
    from jaxsbi.experiments.config import ConfigError
    from jaxsbi.experiments.registry import load_config
    from jaxsbi.experiments.run_folder import prepare_run_dir, run_lock

    try:
        config = load_config(args.config) if args.config else BenchConfig()
        if not isinstance(config, BenchConfig):
            raise ConfigError(f"{args.config}: not a bench config (experiment = \"bench\")")
        changes = {
            name: tuple(getattr(args, name))
            for name in ("tasks", "budgets", "observations", "seeds")
            if getattr(args, name)
        }
        if args.no_c2st:
            changes["c2st"] = False
        config = dataclasses.replace(config, **changes)
        if args.quick:
            config = config.quick_grid()
        from jaxsbi.experiments.validate import check

        check(config, args.config or "bench defaults", args.output)
    except (ConfigError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.output or ("runs/bench_quick" if args.quick else "runs/bench"))
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(run_lock(out))  # one run per folder
            out = prepare_run_dir(config, out, overwrite=args.overwrite)
        except (ConfigError, ValueError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return _bench_locked(args, config, out)


def _bench_locked(args, config, out) -> int:
    from jaxsbi.experiments.bench import run_bench

    print(f"jaxsbi bench: {len(config.tasks)} tasks x {len(config.budgets)} budgets x "
          f"{len(config.seeds)} seeds, observations {list(config.observations)} -> {out}",
          flush=True)
    t0 = time.perf_counter()
    try:
        summary = run_bench(config, out, report_only=args.report)
    except (ValueError, ModuleNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    verb = "reported" if args.report else "done"
    print(f"jaxsbi bench: {verb} {summary['cells']} cells ({len(summary['not_run'])} not run) "
          f"in {time.perf_counter() - t0:.1f} s")
    print((out / "results.md").read_text())
    return 0


def _check(args) -> int:
    from jaxsbi.experiments.config import ConfigError
    from jaxsbi.experiments.registry import load_config
    from jaxsbi.experiments.validate import check

    try:
        config = load_config(args.config)
        n = check(config, args.config, args.output)
    except (ConfigError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from jaxsbi.experiments.registry import EXPERIMENTS

    kind = next(e.kind for e in EXPERIMENTS.values() if type(config) is e.config)
    print(f"ok: {kind}, {n} checks")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxsbi", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an experiment described by a TOML config file")
    run.add_argument("config", help="path to a config file, e.g. configs/two_moons_aalr.toml")
    run.add_argument("--output", help="parent folder of the run folder (overrides output.dir)")
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a run folder written by a different config",
    )
    chk = sub.add_parser("check", help="validate a config (values, names, files, output "
                         "folder) without running anything")
    chk.add_argument("config", help="path to a config file")
    chk.add_argument("--output", help="parent folder of the run folder (as for run)")
    bench = sub.add_parser(
        "bench",
        help="the sbibm benchmark grid (tasks x budgets x observations x seeds); resumable",
    )
    bench.add_argument("config", nargs="?", help="a bench config (default: built-in grid)")
    bench.add_argument("--quick", action="store_true", help="the config's quick subset")
    bench.add_argument("--tasks", nargs="+", help="override the grid's tasks")
    bench.add_argument("--budgets", nargs="+", type=int, help="override the budgets")
    bench.add_argument("--observations", nargs="+", type=int, help="sbibm observations 1..10")
    bench.add_argument("--seeds", nargs="+", type=int, help="override the seeds")
    bench.add_argument("--output", help="output folder (default runs/bench[_quick])")
    bench.add_argument("--no-c2st", action="store_true",
                       help="skip scoring (a timing run: simulate, train, sample only)")
    bench.add_argument("--report", action="store_true",
                       help="run nothing: write the table of the finished cells, listing the rest")
    bench.add_argument("--overwrite", action="store_true",
                       help="reuse an output folder written by a different grid")
    args = parser.parse_args(argv)
    # Our own progress at INFO; checkpoint libraries (orbax via absl) only when they warn.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("jaxsbi").setLevel(logging.INFO)
    logging.getLogger("absl").setLevel(logging.WARNING)
    if args.command in ("run", "bench"):
        # Compile once per machine: a second run of the same shapes reads XLA's executables from
        # ~/.cache/jaxsbi/xla (JAXSBI_CACHE_DIR overrides; "off" disables).
        from jaxsbi.compilation import enable_compilation_cache

        enable_compilation_cache()
    if args.command == "run":
        return _run(args)
    if args.command == "bench":
        return _bench(args)
    if args.command == "check":
        return _check(args)
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
