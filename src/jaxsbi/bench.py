"""The sbibm benchmark grid: tasks × simulation budgets × seeds, all observations in one call.

``jaxsbi bench [CONFIG] [--quick]`` (or :func:`run_bench`) trains one AALR estimator per
(task, budget, seed) cell, samples the posteriors of all the cell's sbibm observations in ONE
compiled call, and scores each against sbibm's published reference samples with C2ST exactly as
sbibm defines it. It writes, into the output folder:

- ``cells/<task>_<budget>_seed<seed>/``: the cell's trained params (orbax checkpoints), posterior
  samples (``samples.npz``) and ``cell.json`` (wall time per stage, C2ST per observation). A cell
  whose ``cell.json`` exists is finished and skipped on a rerun: a killed run continues from the
  finished cells (and inside a cell, from its training checkpoint and its finished C2STs).
- ``results.csv``: one row per (task, budget, seed, observation).
- ``results.md``: mean ± sd C2ST per task and budget beside sbibm's published NRE and NPE means
  (:data:`PUBLISHED`), with the gap to each and whether the target (at or below NRE) is met,
  plus the wall time per stage.
- ``c2st_vs_budget.png``: C2ST against budget per task, sbibm's NRE and NPE beside ours.

Training schedule across budgets: ``train.max_epochs`` and ``train.patience`` are the values at
``reference_budget`` simulations; at a budget n they scale by ``(reference_budget / n) **
epoch_scaling`` (at least ``min_epochs``), so the number of optimiser steps grows as
``n ** (1 - epoch_scaling)``: with the default 0.5, a 100k cell gets √10 ≈ 3.2× the steps of a
10k cell (1.0 would give every budget the same steps, which left the 100k cells undertrained:
two_moons 0.619 at 10k and 0.620 at 100k). Early stopping on the validation loss still ends
training when it stops improving.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxsbi.config import ConfigError, from_dict, to_dict
from jaxsbi.mcmc import SamplerConfig, sample_posterior
from jaxsbi.pipeline import NetworkConfig, build_estimator, train_estimator
from jaxsbi.train import TrainConfig, simulate

__all__ = ["BenchConfig", "PUBLISHED", "SBIBM_TASKS", "run_bench", "summarise"]

log = logging.getLogger("jaxsbi")

# The speed target: a whole task (train + 10 observations x 10,000 samples) at 10k
# simulations within 2 minutes on a 2-core CPU.
TIME_TARGET_S = 120.0
TIME_TARGET_BUDGET = 10_000

SBIBM_TASKS = (
    "gaussian_linear",
    "gaussian_linear_uniform",
    "slcp",
    "slcp_distractors",
    "bernoulli_glm",
    "bernoulli_glm_raw",
    "gaussian_mixture",
    "two_moons",
    "sir",
    "lotka_volterra",
)

# sbibm's published C2ST, mean over its 10 observations, for (NRE, NPE) at 1k / 10k / 100k.
# Source: github.com/sbi-benchmark/results, benchmarking_sbi/results/main_paper.csv (Lueckmann et
# al. 2021, "Benchmarking simulation-based inference"); sbibm's "NRE" is NRE-B (SRE, 10 atoms),
# its "NPE" a neural spline flow. gaussian_mixture: the sbibm 1.1.0 re-run
# (gaussian_mixture_rerun.csv), since the paper's simulator was faulty.
PUBLISHED: dict[str, dict[str, dict[int, float]]] = {
    "gaussian_linear": {"NRE": {1_000: .672, 10_000: .560, 100_000: .536},
                        "NPE": {1_000: .694, 10_000: .552, 100_000: .506}},
    "gaussian_linear_uniform": {"NRE": {1_000: .788, 10_000: .706, 100_000: .631},
                                "NPE": {1_000: .696, 10_000: .553, 100_000: .509}},
    "slcp": {"NRE": {1_000: .972, 10_000: .947, 100_000: .919},
             "NPE": {1_000: .975, 10_000: .901, 100_000: .831}},
    "slcp_distractors": {"NRE": {1_000: .980, 10_000: .968, 100_000: .953},
                         "NPE": {1_000: .982, 10_000: .970, 100_000: .863}},
    "bernoulli_glm": {"NRE": {1_000: .899, 10_000: .812, 100_000: .751},
                      "NPE": {1_000: .863, 10_000: .678, 100_000: .559}},
    "bernoulli_glm_raw": {"NRE": {1_000: .915, 10_000: .834, 100_000: .777},
                          "NPE": {1_000: .900, 10_000: .765, 100_000: .607}},
    "gaussian_mixture": {"NRE": {1_000: .777, 10_000: .748, 100_000: .735},
                         "NPE": {1_000: .716, 10_000: .615, 100_000: .548}},
    "two_moons": {"NRE": {1_000: .822, 10_000: .761, 100_000: .629},
                  "NPE": {1_000: .725, 10_000: .606, 100_000: .542}},
    "sir": {"NRE": {1_000: .841, 10_000: .770, 100_000: .690},
            "NPE": {1_000: .815, 10_000: .680, 100_000: .585}},
    "lotka_volterra": {"NRE": {1_000: 1.000, 10_000: .998, 100_000: .996},
                       "NPE": {1_000: .999, 10_000: .997, 100_000: .981}},
}


@dataclasses.dataclass(frozen=True)
class QuickConfig:
    """The ``--quick`` subset (a laptop run)."""

    tasks: tuple[str, ...] = ("two_moons", "gaussian_mixture", "slcp")
    budgets: tuple[int, ...] = (10_000,)
    observations: tuple[int, ...] = (1, 2, 3)


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """The benchmark grid (``experiment = "bench"`` in a config file).

    Attributes:
        tasks: sbibm task names.
        budgets: simulation budgets.
        observations: sbibm observation numbers (1..10), all sampled in one call per cell.
        seeds: one cell per seed (simulations, training and sampling all follow the seed).
        network / train / sampler: defaults for every task.
        overrides: per-task changes, ``{task: {"network": {...}, "train": {...},
            "sampler": {...}}}``; a table's keys replace those of the default table.
        reference_budget / min_epochs / epoch_scaling: see the module docstring.
        quick: the ``--quick`` subset.
        c2st: score the samples against sbibm's reference (the 10-D C2ST is the slowest stage
            on a CPU).
    """

    tasks: tuple[str, ...] = SBIBM_TASKS
    budgets: tuple[int, ...] = (10_000, 100_000)
    observations: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    seeds: tuple[int, ...] = (0,)
    network: NetworkConfig = NetworkConfig(num_contrastive=2)
    train: TrainConfig = TrainConfig(
        learning_rate=3e-3, batch_size=512, max_epochs=200, patience=60, epochs_per_call=10
    )
    sampler: SamplerConfig = SamplerConfig(kernel="smc", num_chains=100, num_samples=100)
    overrides: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    reference_budget: int = 10_000
    min_epochs: int = 20
    epoch_scaling: float = 0.5
    quick: QuickConfig = QuickConfig()
    c2st: bool = True

    # Each cell records the settings it ran with (:meth:`cell_settings`) and is re-run when
    # they change, so the folder-level check has nothing to guard: a folder may be filled by
    # runs over different task/budget/seed subsets (``jaxsbi bench --tasks ...``) and
    # reported as a whole, and changing one task's override re-runs that task's cells only.
    cache_free_sections: ClassVar[tuple[str, ...]] = (
        "tasks", "budgets", "observations", "seeds", "network", "train", "sampler",
        "overrides", "reference_budget", "min_epochs", "epoch_scaling", "quick", "c2st",
    )

    def __post_init__(self):
        for name in ("tasks", "budgets", "observations", "seeds"):
            if not getattr(self, name):
                raise ValueError(f"bench.{name} must not be empty")
        bad = [k for k in self.observations if not 1 <= k <= 10]
        if bad:
            raise ValueError(f"bench.observations must be sbibm numbers 1..10, got {bad}")
        if not 0.0 <= self.epoch_scaling <= 1.0:
            raise ValueError(f"bench.epoch_scaling must be in [0, 1], got {self.epoch_scaling}")
        bad = [n for n in self.budgets if n < 100]
        if bad:
            raise ValueError(f"bench.budgets must be >= 100 simulations, got {bad}")
        for task, table in self.overrides.items():
            if not isinstance(table, dict):
                raise ValueError(f"overrides.{task} must be a table")
            unknown = sorted(set(table) - {"network", "train", "sampler"})
            if unknown:
                raise ValueError(
                    f"unknown key(s) {[f'overrides.{task}.{k}' for k in unknown]}; "
                    "accepted: network, train, sampler"
                )
            self.task_settings(task)  # raises on an unknown or mistyped key

    def task_settings(self, task: str) -> tuple[NetworkConfig, TrainConfig, SamplerConfig]:
        """The network, training and sampler settings of ``task`` (defaults + its overrides)."""
        table = self.overrides.get(task, {})
        out = []
        for name, cls in (("network", NetworkConfig), ("train", TrainConfig),
                          ("sampler", SamplerConfig)):
            merged = {**to_dict(getattr(self, name)), **table.get(name, {})}
            try:
                out.append(from_dict(cls, merged, f"overrides.{task}.{name}"))
            except ConfigError as e:
                raise ValueError(str(e)) from None
        return tuple(out)

    def cell_settings(self, task: str, budget: int) -> dict:
        """Everything a (task, budget) cell's results depend on, as JSON-ready values."""
        network, train, sampler = self.task_settings(task)
        return json.loads(json.dumps({
            "network": to_dict(network),
            "train": to_dict(_train_config(train, budget, self)),
            "sampler": to_dict(sampler),
            "observations": list(self.observations),
            "c2st": self.c2st,
        }))

    def settings_match(self, stored: dict, task: str, budget: int) -> bool:
        """Whether a finished cell's ``stored`` settings are this grid's for (task, budget).

        A setting added to the code after the cell ran (absent from ``stored``) matches when the
        grid leaves it at its default: defaults of new fields keep the old behaviour (e.g.
        ``network.balance = 0`` is plain NRE; ``sampler.smc_observations = "auto"`` only
        chooses how observations are batched, and batching equals one by one).
        """
        return _match(stored, self.cell_settings(task, budget), _DEFAULT_SETTINGS)

    def quick_grid(self) -> BenchConfig:
        q = self.quick
        return dataclasses.replace(
            self,
            tasks=q.tasks,
            budgets=q.budgets,
            observations=q.observations,
            seeds=self.seeds[:1],
        )


_DEFAULT_SETTINGS = json.loads(json.dumps({
    "network": to_dict(NetworkConfig()),
    "train": to_dict(TrainConfig()),
    "sampler": to_dict(SamplerConfig()),
}))


def _match(stored: dict, current: dict, defaults: dict) -> bool:
    if set(stored) - set(current):
        return False  # a setting the code no longer has
    for name, value in current.items():
        if name not in stored:
            if name not in defaults or value != defaults[name]:
                return False
        elif isinstance(value, dict) and isinstance(stored[name], dict):
            if not _match(stored[name], value, defaults.get(name, {})):
                return False
        elif stored[name] != value:
            return False
    return True


def _train_config(base: TrainConfig, budget: int, cfg: BenchConfig) -> TrainConfig:
    scale = (cfg.reference_budget / budget) ** cfg.epoch_scaling
    return dataclasses.replace(
        base,
        max_epochs=max(cfg.min_epochs, math.ceil(base.max_epochs * scale)),
        patience=max(max(5, cfg.min_epochs // 2), math.ceil(base.patience * scale)),
    )


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
        path.write_text(json.dumps({"c2st": scores[k], "samples_sha1": digest}) + "\n")
        log.info("%s: observation %d C2ST %.3f", cell_dir.name, k, scores[k])
    return scores


def run_cell(task_name: str, budget: int, seed: int, cfg: BenchConfig, cell_dir: Path) -> dict:
    """Simulate, train, sample all observations in one call, score: one grid cell."""
    from jaxsbi.io import Stopwatch
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
    np.savez_compressed(cell_dir / "samples.npz", theta=theta, observations=np.asarray(obs))
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
    from jaxsbi.io import machine_info, write_json
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


def summarise(results: list[dict], out_dir: Path, *, not_run: list[str] | None = None) -> dict:
    """Write results.csv, results.md and c2st_vs_budget.png from finished cells.

    ``not_run`` names the grid's cells without results; results.md lists them, so a partial
    table is never mistaken for the whole grid.
    """
    not_run = list(not_run or [])
    out_dir = Path(out_dir)
    stages = ("simulate", "train", "sample", "metric")
    with open(out_dir / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "budget", "seed", "observation", "c2st",
                    *[f"{s}_s" for s in stages]])
        for r in results:
            for k, c in r["c2st"].items():
                w.writerow([r["task"], r["budget"], r["seed"], k, c,
                            *[f"{r['timings_s'].get(s, float('nan')):.2f}" for s in stages]])
    table: dict[str, dict[int, dict]] = {}
    for r in results:
        vals = [v for v in r["c2st"].values() if v is not None]
        cell = table.setdefault(r["task"], {}).setdefault(r["budget"], {"c2st": [], "times": []})
        cell["c2st"].extend(vals)
        cell["times"].append(r["timings_s"])
        cell.setdefault("loads", []).extend(r.get("load_avg", []))
    cores = os.cpu_count() or 1
    busy = 1.5 * cores  # above this load, other work shared the machine
    lines = [
        "| task | budget | C2ST (mean ± sd) | obs | NRE | gap to NRE | NPE | gap to NPE | "
        f"≤ NRE | simulate s | train s | sample s | train + sample s | ≤ {TIME_TARGET_S:.0f} s "
        "| load | metric s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = {}
    for task, by_budget in table.items():
        for budget in sorted(by_budget):
            cell = by_budget[budget]
            c = np.asarray(cell["c2st"], float)
            mean = float(c.mean()) if c.size else float("nan")
            sd = float(c.std(ddof=1)) if c.size > 1 else 0.0
            t = {s: float(np.mean([x.get(s, np.nan) for x in cell["times"]])) for s in stages}
            pub = PUBLISHED.get(task, {})
            nre = pub.get("NRE", {}).get(budget)
            npe = pub.get("NPE", {}).get(budget)
            met = None if nre is None or not c.size else bool(mean <= nre)
            whole = t["train"] + t["sample"]
            fast = bool(whole <= TIME_TARGET_S) if budget == TIME_TARGET_BUDGET else None
            load = max(cell["loads"]) if cell["loads"] else None
            rows[f"{task}/{budget}"] = {"c2st_mean": mean, "c2st_sd": sd, "n": int(c.size),
                                        "nre": nre, "npe": npe, "meets_nre": met,
                                        "timings_s": t, "meets_time": fast,
                                        "max_load_avg": load}

            def fmt(v):
                return "—" if v is None else f"{v:.3f}"

            def gap(v, mean=mean, n=c.size):
                return "—" if v is None or not n else f"{mean - v:+.3f}"

            lines.append(
                f"| {task} | {budget:,} | "
                f"{f'{mean:.3f} ± {sd:.3f}' if c.size else 'not scored'} | {c.size} | {fmt(nre)} | "
                f"{gap(nre)} | {fmt(npe)} | {gap(npe)} | "
                f"{'—' if met is None else ('yes' if met else '**no**')} | "
                f"{t['simulate']:.1f} | {t['train']:.1f} | {t['sample']:.1f} | "
                f"{whole:.1f} | {'—' if fast is None else ('yes' if fast else '**no**')} | "
                f"{'—' if load is None else f'{load:.1f}'}{'*' if load and load > busy else ''}"
                f" | {t['metric']:.1f} |"
            )
    (out_dir / "results.md").write_text(
        "C2ST against sbibm's reference posteriors (lower is better, 0.5 = indistinguishable);\n"
        "NRE / NPE: sbibm's published means over 10 observations (Lueckmann et al. 2021,\n"
        "sbi-benchmark/results main_paper.csv; gaussian_mixture from the sbibm 1.1.0 re-run).\n"
        "Gap = ours − published (negative: ours better). Times are per cell (all its\n"
        f"observations). Time target: train + sample of all observations within\n"
        f"{TIME_TARGET_S:.0f} s at {TIME_TARGET_BUDGET:,} simulations. Load: the highest "
        "1-minute load\n"
        f"average seen at a cell's start or end on this {cores}-core machine; * marks a load\n"
        "above 1.5x the core count (one bench process alone reaches about the core count + 1),\n"
        "i.e. cells run beside other work, whose times are upper bounds.\n\n"
        + "\n".join(lines)
        + "\n"
        + (f"\nNot run ({len(not_run)} of the grid's {len(results) + len(not_run)} cells): "
           + ", ".join(not_run) + "\n" if not_run else "")
    )
    _figure(table, out_dir / "c2st_vs_budget.png")
    return {"cells": len(results), "not_run": not_run, "table": rows}


def _figure(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(table)
    if not tasks:
        return
    ncol = min(5, len(tasks))
    nrow = math.ceil(len(tasks) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.8 * nrow), squeeze=False)
    for ax, task in zip(axes.ravel(), tasks, strict=False):
        budgets = sorted(table[task])
        means = [np.mean(table[task][b]["c2st"]) if table[task][b]["c2st"] else np.nan
                 for b in budgets]
        sds = [np.std(table[task][b]["c2st"]) if table[task][b]["c2st"] else 0.0
               for b in budgets]
        ax.errorbar(budgets, means, yerr=sds, marker="o", color="C0", label="jaxsbi AALR",
                    capsize=3)
        for name, color in (("NRE", "C1"), ("NPE", "C2")):
            pub = PUBLISHED.get(task, {}).get(name, {})
            if pub:
                b = sorted(pub)
                ax.plot(b, [pub[k] for k in b], ls="--", marker="s", ms=3, color=color,
                        label=f"sbibm {name}")
        ax.set_xscale("log")
        ax.set_ylim(0.45, 1.02)
        ax.axhline(0.5, color="grey", lw=0.5)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("simulations", fontsize=8)
        ax.set_ylabel("C2ST", fontsize=8)
    for ax in axes.ravel()[len(tasks):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _run_experiment(config: BenchConfig, run_dir: Path) -> dict:
    return run_bench(config, run_dir)


def _register() -> None:
    from jaxsbi.config import register_experiment

    register_experiment("bench", BenchConfig, _run_experiment)


_register()
