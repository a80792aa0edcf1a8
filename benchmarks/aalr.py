"""AALR throughput and accuracy: training pairs/s, posterior samples/s, C2ST at 10k and 100k.

    python benchmarks/aalr.py            # full run (CPU: ~15-25 min on 2 cores)
    python benchmarks/aalr.py --quick    # 10k only, two_moons only

Writes benchmarks/results/aalr.json (with the machine it ran on) and prints a table.
The targets (issue #2, measured on a 2-core CPU): training ≤ 20 s on two_moons at 10k;
10,000 samples of one observation ≤ 2 s after compilation and ≤ 10 s including it;
10 × 1,000 samples ≤ 1 s after compilation; C2ST ≤ 0.65 on two_moons observation 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxsbi.diagnostics import c2st
from jaxsbi.io import machine_info
from jaxsbi.mcmc import SamplerConfig, sample_posterior
from jaxsbi.pipeline import AALRConfig, build_estimator, train_estimator
from jaxsbi.tasks import SBIBM_OBSERVATION_1, get_task, load_sbibm_reference, reference_posterior
from jaxsbi.train import simulate

ROOT = Path(__file__).resolve().parent
CONFIGS = ROOT.parent / "configs"


def _config(task: str) -> AALRConfig:
    from jaxsbi.config import load_config

    return load_config(CONFIGS / f"{task}_aalr.toml")


def _reference(task_name, x_obs):
    if task_name in ("two_moons", "gaussian_linear"):
        return np.asarray(reference_posterior(task_name, jax.random.key(123), x_obs, 10_000))
    return np.asarray(load_sbibm_reference(task_name, 1))


def _timed(fn):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - t0


def sampling_benchmark(task, est, params, x1, sampler: SamplerConfig) -> dict:
    """Latency for 10,000 samples of one observation and samples/s for 1/10/100 observations."""
    out = {}
    for kernel in ("nuts", "hmc"):
        cfg = dataclasses.replace(sampler, kernel=kernel, num_chains=100, num_samples=100)

        def run(x, key, cfg=cfg):
            return sample_posterior(key, task.prior, est.log_ratio, params, x, cfg,
                                    x_shape=task.x_shape).theta

        _, first = _timed(lambda: run(x1[None], jax.random.key(0)))
        _, again = _timed(lambda: run(x1[None], jax.random.key(1)))
        rows = {"one_obs_10000_samples_first_call_s": first,
                "one_obs_10000_samples_after_compile_s": again}
        # 10 observations × 1,000 samples (100 chains × 10 draws after warmup).
        cfg10 = dataclasses.replace(cfg, num_samples=10)
        xs = jax.vmap(task.simulate)(jax.random.split(jax.random.key(5), 100),
                                     task.prior.sample(jax.random.key(6), (100,)))

        def run10(x, key, cfg10=cfg10):
            return sample_posterior(key, task.prior, est.log_ratio, params, x, cfg10,
                                    x_shape=task.x_shape).theta

        _timed(lambda: run10(xs[:10], jax.random.key(2)))
        _, t10 = _timed(lambda: run10(xs[:10], jax.random.key(3)))
        rows["ten_obs_1000_samples_after_compile_s"] = t10
        for n in (1, 10, 100):
            _timed(lambda n=n: run(xs[:n], jax.random.key(7)))
            _, t = _timed(lambda n=n: run(xs[:n], jax.random.key(8)))
            rows[f"samples_per_s_{n}_obs_x_100_chains"] = n * 100 * cfg.num_samples / t
            rows[f"wall_s_{n}_obs_x_100_chains"] = t
        out[kernel] = rows
    return out


def task_benchmark(task_name: str, budgets: list[int]) -> dict:
    cfg = _config(task_name)
    task = get_task(task_name)
    x1 = jnp.asarray(SBIBM_OBSERVATION_1[task_name], jnp.float32).reshape(task.x_shape)
    ref = _reference(task_name, x1)
    est = build_estimator(task, cfg.network)
    result = {}
    for n in budgets:
        data, t_sim = _timed(lambda n=n: simulate(jax.random.key(cfg.seed), task, n))
        # The same number of optimiser steps at every budget: a 10x larger data set gets 10x
        # fewer epochs (each epoch is 10x longer).
        train_cfg = dataclasses.replace(
            cfg.train, max_epochs=max(20, cfg.train.max_epochs * budgets[0] // n),
            patience=max(10, cfg.train.patience * budgets[0] // n))
        (params, history, _), t_train = _timed(
            lambda data=data, train_cfg=train_cfg: train_estimator(
                jax.random.key(1), task, est, train_cfg, data=data, progress=False))
        pairs = history.epochs_run * (data.theta.shape[0] * (1 - train_cfg.validation_fraction))
        post, t_sample = _timed(lambda params=params: sample_posterior(
            jax.random.key(2), task.prior, est.log_ratio, params, x1[None], cfg.sampler,
            x_shape=task.x_shape).theta)
        samples = np.asarray(post).reshape(-1, task.theta_dim)
        score, t_c2st = _timed(lambda samples=samples: c2st(ref, samples[:10_000]))
        row = {
            "simulate_s": t_sim,
            "train_s": t_train,
            "epochs": history.epochs_run,
            "training_pairs_per_s": pairs / t_train,
            "sample_10000_first_call_s": t_sample,
            "c2st_obs1": float(score),
            "c2st_s": t_c2st,
        }
        if n == budgets[0]:
            row["sampling"] = sampling_benchmark(task, est, params, x1, cfg.sampler)
        result[str(n)] = row
        print(json.dumps({task_name: {str(n): {k: v for k, v in row.items() if k != "sampling"}}}),
              flush=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k simulations, two_moons only")
    parser.add_argument("--tasks", nargs="*", default=["two_moons", "slcp", "gaussian_linear"])
    parser.add_argument("--out", default=str(ROOT / "results" / "aalr.json"))
    args = parser.parse_args(argv)
    tasks = ["two_moons"] if args.quick else args.tasks
    budgets = [10_000] if args.quick else [10_000, 100_000]
    results = {"machine": machine_info(), "command": " ".join(["python"] + sys.argv),
               "tasks": {}}
    for name in tasks:
        try:
            results["tasks"][name] = task_benchmark(name, budgets)
        except ModuleNotFoundError as e:  # slcp's reference needs sbibm's package data
            print(f"skipping {name}: {e}", file=sys.stderr)
            results["tasks"][name] = {"skipped": str(e)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    tm = results["tasks"].get("two_moons", {}).get("10000", {})
    if tm:
        s = tm["sampling"]
        print("\ntwo_moons @10k vs targets:")
        print(f"  train {tm['train_s']:.1f} s (target <= 20)")
        for k in ("nuts", "hmc"):
            print(f"  {k}: 10,000 samples {s[k]['one_obs_10000_samples_after_compile_s']:.2f} s "
                  f"after compile (<= 2), {s[k]['one_obs_10000_samples_first_call_s']:.2f} s "
                  f"first call (<= 10); 10x1,000 {s[k]['ten_obs_1000_samples_after_compile_s']:.2f}"
                  " s (<= 1)")
        print(f"  C2ST {tm['c2st_obs1']:.3f} (<= 0.65)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
