"""The grid's report: results.csv, results.md beside sbibm's published NRE and NPE, and the
C2ST-against-budget figure."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from jaxsbi.experiments.run_folder import atomic_path, atomic_write_text, save_figure

__all__ = ["PUBLISHED", "TIME_TARGET_S", "TIME_TARGET_BUDGET", "summarise"]

# The speed target: a whole task (train + 10 observations x 10,000 samples) at 10k
# simulations within 2 minutes on a 2-core CPU.
TIME_TARGET_S = 120.0
TIME_TARGET_BUDGET = 10_000

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



def summarise(results: list[dict], out_dir: Path, *, not_run: list[str] | None = None) -> dict:
    """Write results.csv, results.md and c2st_vs_budget.png from finished cells.

    ``not_run`` names the grid's cells without results; results.md lists them, so a partial
    table is never mistaken for the whole grid.
    """
    not_run = list(not_run or [])
    out_dir = Path(out_dir)
    stages = ("simulate", "train", "sample", "metric")
    with atomic_path(out_dir / "results.csv") as tmp, open(tmp, "w", newline="") as f:
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
    atomic_write_text(
        out_dir / "results.md",
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
    save_figure(fig, path, dpi=120)
    plt.close(fig)
