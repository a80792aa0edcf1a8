"""Simulation throughput of the sbibm tasks: jit(vmap(simulate)) over batches of θ.

    python benchmarks/sbibm_tasks.py            # all ten tasks, batch 1000, 5 timed repeats
    python benchmarks/sbibm_tasks.py --quick    # sir, lotka_volterra, slcp_distractors; 2 repeats

For each task: compile time, then the median time of a batch of ``--batch`` prior draws
(excluding compilation), as simulations per second; also the fraction of NaN rows (failed ODE
solves). Writes benchmarks/results/sbibm_tasks.json with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

from jaxsbi.experiments.run_folder import machine_info
from jaxsbi.tasks import get_task, task_names

RESULTS = Path(__file__).resolve().parent / "results"


def measure(name: str, batch: int, repeats: int) -> dict:
    task = get_task(name)
    sim = jax.jit(jax.vmap(task.simulate))
    theta = task.prior.sample(jax.random.key(0), (batch,))
    keys = jax.random.split(jax.random.key(1), batch)
    t0 = time.perf_counter()
    x = jax.block_until_ready(sim(keys, theta))
    compile_s = time.perf_counter() - t0
    times, nan_rows = [], 0
    for r in range(repeats):
        theta = task.prior.sample(jax.random.key(10 + r), (batch,))
        keys = jax.random.split(jax.random.key(100 + r), batch)
        t0 = time.perf_counter()
        x = jax.block_until_ready(sim(keys, theta))
        times.append(time.perf_counter() - t0)
        nan_rows += int(np.isnan(np.asarray(x)).any(axis=1).sum())
    median = float(np.median(times))
    return {
        "task": name,
        "batch": batch,
        "compile_and_first_batch_s": compile_s,
        "batch_s_median": median,
        "batch_s_all": times,
        "sims_per_s": batch / median,
        "nan_row_fraction": nan_rows / (batch * repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    names = ("sir", "lotka_volterra", "slcp_distractors") if args.quick else task_names()
    repeats = 2 if args.quick else 5
    rows = [measure(n, args.batch, repeats) for n in names]
    print(f"{'task':<26}{'compile+1st (s)':>16}{'batch (s)':>12}{'sims/s':>12}{'NaN rows':>10}")
    for r in rows:
        print(
            f"{r['task']:<26}{r['compile_and_first_batch_s']:>16.2f}{r['batch_s_median']:>12.4f}"
            f"{r['sims_per_s']:>12.0f}{r['nan_row_fraction']:>10.4f}"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("sbibm_tasks_quick.json" if args.quick else "sbibm_tasks.json")
    out.write_text(
        json.dumps({"machine": machine_info(), "quick": args.quick, "rows": rows}, indent=2)
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
