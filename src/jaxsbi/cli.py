"""Command line: ``jaxsbi run CONFIG`` (also ``python -m jaxsbi run CONFIG``).

A thin layer: it loads the config (strictly), makes the run folder, and calls the run function
the experiment registered (:func:`jaxsbi.pipeline.run_aalr`, :func:`jaxsbi.evidence.run_prml`, ...).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path


def _run(args) -> int:
    from jaxsbi.config import ConfigError, experiment_runner, load_config
    from jaxsbi.io import prepare_run_dir

    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    output = getattr(config, "output", None)
    base = Path(args.output or (getattr(output, "dir", None) or "runs"))
    name = (getattr(output, "name", "") or "") or Path(args.config).stem
    try:
        run_dir = prepare_run_dir(config, base / name, overwrite=args.overwrite)
    except FileExistsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"jaxsbi: {Path(args.config).name} -> {run_dir}", flush=True)
    t0 = time.perf_counter()
    metrics = experiment_runner(config)(config, run_dir)
    print(f"jaxsbi: done in {time.perf_counter() - t0:.1f} s; run folder {run_dir}")
    summary = {k: metrics[k] for k in ("c2st", "timings_s") if k in metrics}
    if summary:
        print(json.dumps(summary, indent=2, default=str))
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
    args = parser.parse_args(argv)
    # Our own progress at INFO; checkpoint libraries (orbax via absl) only when they warn.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("jaxsbi").setLevel(logging.INFO)
    logging.getLogger("absl").setLevel(logging.WARNING)
    if args.command == "run":
        return _run(args)
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
