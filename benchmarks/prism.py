"""PRISM benchmark: train on a model family and score the joint posterior on held-out data.

    python benchmarks/prism.py                 # K = 5 analytic family, CPU (configs/prism_k5.toml)
    python benchmarks/prism.py --quick         # a few minutes: smaller training and evaluation
    python benchmarks/prism.py --accelerator   # K = 15 and K = 30 symbolic families (GPU)
    python benchmarks/prism.py --sizes 15      # one accelerator size

Writes ``benchmarks/results/prism_k{K}[_quick].json`` (headline figures, targets, machine, load
average before and after) and keeps the full run folder (figures, metrics.json, checkpoints)
under ``runs/bench_prism_k{K}[_quick]``; re-running resumes training from its checkpoints.

K = 5 targets (CPU, ≤ 15 min training): top-1 ≥ 0.6 and mean TV distance to the exact enumerated
model posterior ≤ 0.2 over held-out observations (mean over the evaluation λ values).
K = 15 targets (one accelerator): top-5 ≥ 0.90 over the full model space, ≥ 90% of θ entries
pass SBC (both p-values > 0.01).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _load(size: int):
    from jaxsbi.experiments.registry import load_config

    return load_config(ROOT / "configs" / f"prism_k{size}.toml")


def _quick(cfg):
    train = dataclasses.replace(cfg.train, max_epochs=max(2, cfg.train.max_epochs // 5))
    ev = dataclasses.replace(
        cfg.eval,
        num_observations=60,
        sbc_observations=100,
        sbc_samples=50,
        sweep_observations=30,
        sweep_lambdas=11,
    )
    return dataclasses.replace(cfg, train=train, eval=ev)


def _headline(size: int, metrics: dict, train_s: float | None = None) -> dict:
    s = metrics["structure"]["mean"]
    sbc = metrics["theta_sbc"]
    out = {
        "top1": s["top1"],
        "top5": s["top5"],
        "sbc_pass_fraction": {lam: v["pass_fraction"] for lam, v in sbc.items()},
        "inclusion_ece_pooled": metrics["inclusion_calibration"]["pooled"]["ece"],
        "lambda_monotone_fraction": metrics["lambda_sweep"]["monotone_fraction"],
        "per_lambda": metrics["structure"]["per_lambda"],
    }
    if "tv_mean" in s:
        out.update(
            tv_mean=s["tv_mean"],
            exact_top1=s["exact_top1"],
            exact_top5=s["exact_top5"],
            tv_by_lambda=dict(
                zip(
                    map(str, metrics["lambda_sweep"]["lambdas"]),
                    metrics["lambda_sweep"]["tv_by_lambda"],
                    strict=True,
                )
            ),
        )
        for lam, v in sbc.items():
            out.setdefault("theta_vs_exact", {})[lam] = {
                "mean_error_over_exact_sd": v.get("mean_error_over_exact_sd"),
                "sd_ratio_median": v.get("sd_ratio_median"),
            }
    if size == 5:
        out["targets"] = {
            "top1>=0.6": s["top1"] >= 0.6,
            "tv_mean<=0.2": s.get("tv_mean", 1.0) <= 0.2,
            "train_wall<=900s": train_s is not None and train_s <= 900.0,
        }
    if size == 15:
        passes = [v["pass_fraction"] for v in sbc.values()]
        out["targets"] = {"top5>=0.90": s["top5"] >= 0.90, "sbc_pass>=0.90": min(passes) >= 0.90}
    return out


def run_size(size: int, quick: bool) -> dict:
    import jax

    from jaxsbi.experiments.prism import run_prism
    from jaxsbi.experiments.run_folder import machine_info, prepare_run_dir

    cfg = _load(size)
    if quick:
        cfg = _quick(cfg)
    name = f"prism_k{size}{'_quick' if quick else ''}"
    run_dir = prepare_run_dir(cfg, ROOT / "runs" / f"bench_{name}")
    load_before = os.getloadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    metrics = run_prism(cfg, run_dir)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    import sys

    result = {
        "command": "python benchmarks/prism.py " + " ".join(sys.argv[1:]),
        "benchmark": name,
        "family": metrics["family"],
        "num_params": metrics["num_params"],
        "train": {
            "wall_s": metrics["timings_s"]["train_s"],
            "epochs_run": metrics["history"]["epochs_run"],
            "steps": metrics["history"]["epochs_run"] * cfg.train.steps_per_epoch,
            "simulations": metrics["history"]["simulations"],
            "best_val_loss": metrics["history"]["best_val_loss"],
            "resumed_from_epoch": metrics["history"]["resumed_from_epoch"],
            "stop_reason": metrics["history"]["stop_reason"],
            "time_budget_s": cfg.train.time_budget_s,
        },
        "headline": _headline(size, metrics, metrics["timings_s"]["train_s"]),
        "timings_s": metrics["timings_s"],
        "total_wall_s": wall,
        "process_cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "run_dir": str(run_dir.relative_to(ROOT)),
        "figures": metrics["figures"],
        "machine": machine_info(),
        "backend": jax.default_backend(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "benchmark",
                    "train",
                    "headline",
                    "total_wall_s",
                    "process_cpu_s",
                    "load_average_before",
                )
            },
            indent=2,
            default=float,
        )
    )
    print(f"-> {out}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short training and evaluation")
    parser.add_argument(
        "--accelerator",
        action="store_true",
        help="the accelerator sizes K = 15 and K = 30 (symbolic family)",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="*",
        choices=(5, 15, 30),
        help="family sizes to run (default 5, or 15 30 with --accelerator)",
    )
    args = parser.parse_args()
    sizes = args.sizes or ([15, 30] if args.accelerator else [5])
    if any(s > 5 for s in sizes):
        import jax

        if jax.default_backend() == "cpu":
            print(
                "warning: K = 15 / 30 are sized for an accelerator; on this CPU they will take "
                "days (use --quick to smoke-test the path)"
            )
    for size in sizes:
        run_size(size, args.quick)


if __name__ == "__main__":
    main()
