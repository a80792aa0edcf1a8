"""Running the grid: one cell (simulate, train, sample all observations in one call, score) and
the grid over cells, skipping the finished ones."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxsbi.experiments.bench.config import BenchConfig, _train_config
from jaxsbi.experiments.bench.report import summarise
from jaxsbi.experiments.config import to_dict
from jaxsbi.experiments.run_folder import (
    Stopwatch,
    atomic_path,
    atomic_write_text,
    machine_info,
    write_json,
)
from jaxsbi.mcmc import sample_posterior
from jaxsbi.ratio import build_estimator
from jaxsbi.train import simulate, train_estimator

__all__ = ["run_cell", "run_bench", "run_experiment"]

log = logging.getLogger("jaxsbi")


def _cell_name(task: str, budget: int, seed: int) -> str:
    return f"{task}_{budget}_seed{seed}"


def _c2st_cached(cell_dir: Path, task_name: str, obs: tuple[int, ...], theta: np.ndarray,
                 seed: int) -> dict[int, float]:
    """C2ST of every observation against sbibm's reference, cached per observation on disk.

    A cached score is reused only when it was computed from the same samples (their SHA-1 is
    stored beside it), so changing the sampler re-scores and a killed run keeps finished
    scores. Observations are scored one after another: scoring them together under ``vmap``
    (all 10 × 5 classifiers in lockstep) was 13× slower on a 2-core CPU (1,204 s against
    94 s for one 10-D observation), since every classifier then runs as long as the slowest.
    """
    import hashlib

    from jaxsbi.diagnostics import c2st
    from jaxsbi.tasks import load_sbibm_reference

    scores: dict[int, float] = {}
    for i, k in enumerate(obs):
        ref = np.asarray(load_sbibm_reference(task_name, k))
        pick = np.random.default_rng(seed).permutation(theta.shape[1])[: ref.shape[0]]
        cand = np.ascontiguousarray(theta[i][pick], np.float32)
        digest = hashlib.sha1(cand.tobytes()).hexdigest()
        path = cell_dir / f"c2st_obs{k}.json"
        if path.exists():
            cached = json.loads(path.read_text())
            if cached.get("samples_sha1") == digest:
                scores[k] = float(cached["c2st"])
                continue
        scores[k] = float(c2st(ref, cand))
        atomic_write_text(path, json.dumps({"c2st": scores[k], "samples_sha1": digest}) + "\n")
        log.info("%s: observation %d C2ST %.3f", cell_dir.name, k, scores[k])
    return scores


def run_cell(task_name: str, budget: int, seed: int, cfg: BenchConfig, cell_dir: Path) -> dict:
    """Simulate, train, sample all observations in one call, score: one grid cell."""
    from jaxsbi.tasks import get_task, load_sbibm_observation

    cell_dir.mkdir(parents=True, exist_ok=True)
    task = get_task(task_name)
    network, train_base, sampler = cfg.task_settings(task_name)
    train_cfg = _train_config(train_base, budget, cfg)
    watch = Stopwatch()
    k_sim, k_train, k_sample = jax.random.split(jax.random.key(seed), 3)
    obs = cfg.observations
    x_obs = jnp.stack(
        [jnp.asarray(load_sbibm_observation(task_name, k), jnp.float32).reshape(task.x_shape)
         for k in obs]
    )

    with watch("simulate"):
        data = simulate(k_sim, task, budget)
        jax.block_until_ready(data.theta)
    log.info("%s: %d simulations (%d non-finite excluded)", cell_dir.name,
             data.theta.shape[0], data.num_invalid)
    estimator = build_estimator(task, network)
    with watch("train"):
        params, history, _ = train_estimator(
            k_train, task, estimator, train_cfg, data=data,
            checkpoint_dir=cell_dir / "checkpoints", progress=False,
        )
        jax.block_until_ready(params)
    log.info("%s: trained %d epochs (best %d)", cell_dir.name, history.epochs_run,
             history.best_epoch)
    with watch("sample"):
        post = sample_posterior(k_sample, task.prior, estimator.log_ratio, params, x_obs,
                                sampler, x_shape=task.x_shape)
        theta = np.asarray(jax.block_until_ready(post.theta))
    theta = theta.reshape(len(obs), -1, task.theta_dim)
    with atomic_path(cell_dir / "samples.npz") as tmp:
        np.savez_compressed(tmp, theta=theta, observations=np.asarray(obs))
    log.info("%s: %d observations × %d samples", cell_dir.name, len(obs), theta.shape[1])

    with watch("metric"):
        if cfg.c2st:
            scores: dict[int, float | None] = dict(
                _c2st_cached(cell_dir, task_name, obs, theta, seed)
            )
        else:
            scores = {k: None for k in obs}
    info = jax.tree.map(lambda a: np.asarray(a).tolist(), post.info._asdict())
    return {
        "task": task_name,
        "budget": budget,
        "seed": seed,
        "valid_simulations": int(data.theta.shape[0]),
        "excluded_nonfinite": int(data.num_invalid),
        "epochs": int(history.epochs_run),
        "best_epoch": int(history.best_epoch),
        "c2st": {str(k): v for k, v in scores.items()},
        "timings_s": dict(watch.times),
        "sampler": {"kernel": sampler.kernel, "num_chains": sampler.num_chains,
                    "num_samples": sampler.num_samples, **info},
    }


def run_bench(
    cfg: BenchConfig, out_dir: Path, *, quick: bool = False, report_only: bool = False
) -> dict:
    """Run (or continue) the grid into ``out_dir``; returns the summary (also written there).

    With ``report_only`` nothing is run: the summary covers the grid's finished cells and
    lists the others under ``"not_run"`` (also in ``results.md``), e.g. to report a grid
    that several processes fill with ``--tasks`` subsets, or one stopped part way.
    """
    from jaxsbi.tasks import task_names

    if quick:
        cfg = cfg.quick_grid()
    unknown = [t for t in cfg.tasks if t not in task_names()]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; registered: {list(task_names())}")
    out_dir = Path(out_dir)
    (out_dir / "cells").mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "grid.json", to_dict(cfg))
    cells = [(t, n, s) for t in cfg.tasks for n in cfg.budgets for s in cfg.seeds]
    results, not_run = [], []
    for i, (t, n, s) in enumerate(cells):
        cell_dir = out_dir / "cells" / _cell_name(t, n, s)
        done = cell_dir / "cell.json"
        settings = cfg.cell_settings(t, n)
        if done.exists():
            row = json.loads(done.read_text())
            if cfg.settings_match(row.get("settings", {}), t, n):
                log.info("[%d/%d] %s: finished earlier, skipped", i + 1, len(cells),
                         cell_dir.name)
                results.append(row)
                continue
            if report_only:
                not_run.append(cell_dir.name)
                continue
            # Its checkpoints and scores belong to other settings: start the cell afresh.
            log.info("[%d/%d] %s: settings changed since it ran, running it again", i + 1,
                     len(cells), cell_dir.name)
            shutil.rmtree(cell_dir)
        if report_only:
            not_run.append(cell_dir.name)
            continue
        log.info("[%d/%d] %s", i + 1, len(cells), cell_dir.name)
        t0, load0 = time.perf_counter(), os.getloadavg()[0]
        row = run_cell(t, n, s, cfg, cell_dir)
        row["settings"] = settings
        row["wall_s"] = time.perf_counter() - t0
        # The machine's 1-minute load average at the cell's start and end: times measured
        # beside other work are upper bounds, and the table marks them (see summarise).
        row["load_avg"] = [load0, os.getloadavg()[0]]
        write_json(done, row)
        results.append(row)
    summary = summarise(results, out_dir, not_run=not_run)
    summary["machine"] = machine_info()
    write_json(out_dir / "summary.json", summary)
    return summary


def run_experiment(config: BenchConfig, run_dir: Path) -> dict:
    """``jaxsbi run`` on a bench config: :func:`run_bench` into the run folder."""
    return run_bench(config, run_dir)
