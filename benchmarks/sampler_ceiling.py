"""The sampler's ceiling: the bench's default sampler on each task's EXACT likelihood.

    pip install --no-deps sbibm==1.1.0      # sbibm's observations and reference samples
    python benchmarks/sampler_ceiling.py                      # all ten tasks, obs 1-10
    python benchmarks/sampler_ceiling.py --tasks slcp two_moons --observations 1 2 3
    python benchmarks/sampler_ceiling.py --kernel nuts        # the old default, for comparison

For each sbibm task (all ten have a likelihood) the sampler of ``configs/bench.toml`` (or the
``--kernel`` given) draws 10,000 samples of the posterior of each observation, with the task's
own log-likelihood in place of a learned ratio, all observations in one compiled call; C2ST
(sbibm's definition) against sbibm's 10,000 reference samples. A learned ratio cannot score
better than its sampler does here, so this separates sampler error from ratio error. The issue's
bar is a mean C2ST <= 0.52 on every task. For SMC, log Z is the log evidence log p(x_o).

Writes benchmarks/results/sampler_ceiling.json after every task (per task and observation:
C2ST, log Z, stages, mutation steps, wall time; the machine, its load average and the command);
a rerun keeps the tasks already there and runs the others (``--fresh`` starts over).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxsbi.diagnostics import c2st
from jaxsbi.experiments.bench import SBIBM_TASKS, BenchConfig
from jaxsbi.experiments.registry import load_config
from jaxsbi.experiments.run_folder import machine_info
from jaxsbi.mcmc import sample_posterior
from jaxsbi.tasks import get_task, load_sbibm_observation, load_sbibm_reference

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"


def _loglik(task):
    def log_ratio(params, theta, x):
        del params
        return task.log_likelihood(theta, x)

    return log_ratio


def ceiling(task_name: str, observations, sampler, seed: int) -> dict:
    task = get_task(task_name)
    x_obs = jnp.stack([load_sbibm_observation(task_name, k) for k in observations])
    fn = _loglik(task)
    t0 = time.perf_counter()
    post = sample_posterior(jax.random.key(seed), task.prior, fn, None, x_obs, sampler,
                            x_shape=task.x_shape)
    theta = np.asarray(jax.block_until_ready(post.theta))
    sample_s = time.perf_counter() - t0
    rows = []
    for i, k in enumerate(observations):
        ref = np.asarray(load_sbibm_reference(task_name, k))
        flat = theta[i].reshape(-1, task.theta_dim)
        flat = flat[np.random.default_rng(seed).permutation(flat.shape[0])[: ref.shape[0]]]
        row = {"observation": k, "c2st": float(c2st(ref, flat)),
               "unique_fraction": float(np.unique(flat, axis=0).shape[0] / flat.shape[0])}
        for name, value in post.info._asdict().items():
            if value is not None and np.ndim(value[i]) == 0:
                row[name] = float(np.asarray(value[i]))
        rows.append(row)
        print(f"  {task_name} obs {k}: C2ST {row['c2st']:.3f}"
              + (f"  log Z {row['log_normalizer']:.2f}  stages {row['num_stages']:.0f}"
                 f"  steps {row['mean_num_steps']:.0f}" if "log_normalizer" in row else ""),
              flush=True)
    c2sts = [r["c2st"] for r in rows]
    return {"task": task_name, "mean_c2st": float(np.mean(c2sts)), "sd_c2st": float(np.std(c2sts)),
            "sample_s_incl_compile": sample_s, "rows": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(SBIBM_TASKS))
    parser.add_argument("--observations", nargs="+", type=int, default=list(range(1, 11)))
    parser.add_argument("--config", default=str(ROOT.parent / "configs" / "bench.toml"))
    parser.add_argument("--kernel", default=None, help="override the bench sampler's kernel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(RESULTS / "sampler_ceiling.json"))
    parser.add_argument("--fresh", action="store_true",
                        help="ignore tasks already in --output (default: keep them, run the rest)")
    args = parser.parse_args(argv)
    bench = load_config(args.config)
    if not isinstance(bench, BenchConfig):
        raise SystemExit(f"{args.config} is not a bench config")
    output = Path(args.output)
    out = {"commands": [], "tasks": {}}
    if output.exists() and not args.fresh:
        out = json.loads(output.read_text())
    out["commands"].append({"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                            "machine": machine_info(), "load_avg_start": os.getloadavg()[0]})
    for name in args.tasks:
        done = out["tasks"].get(name)
        if done and [r["observation"] for r in done["rows"]] == args.observations and (
            args.kernel is None or done["sampler"]["kernel"] == args.kernel
        ):
            print(f"{name}: already in {output}, kept (--fresh to rerun)")
            continue
        _, _, sampler = bench.task_settings(name)
        if args.kernel is not None:
            sampler = dataclasses.replace(sampler, kernel=args.kernel)
        print(f"{name}: {sampler.kernel}, {sampler.num_chains * sampler.num_samples} draws",
              flush=True)
        out["tasks"][name] = {**ceiling(name, args.observations, sampler, args.seed),
                              "sampler": dataclasses.asdict(sampler)}
        out["tasks"][name]["load_avg_end"] = os.getloadavg()[0]
        print(f"{name}: mean C2ST {out['tasks'][name]['mean_c2st']:.3f} "
              f"({out['tasks'][name]['sample_s_incl_compile']:.1f} s)", flush=True)
        # Written after every task, so a long run keeps its finished tasks.
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_suffix(".tmp")
        tmp.write_text(json.dumps(out, indent=1))
        os.replace(tmp, output)
    print(f"{'task':26s} mean C2ST  (bar <= 0.52)")
    for name, r in out["tasks"].items():
        print(f"{name:26s} {r['mean_c2st']:.3f} ± {r['sd_c2st']:.3f}"
              f"{'' if r['mean_c2st'] <= 0.52 else '   above bar'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
