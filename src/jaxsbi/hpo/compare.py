"""Run many methods on one problem and tabulate them (the comparison table and its figures)."""

from __future__ import annotations

import dataclasses
import logging
import time

import jax
import numpy as np
from matplotlib.figure import Figure

from jaxsbi.hpo.problem import Problem
from jaxsbi.hpo.search import BLACK_BOX, SearchConfig, SearchHistory, optimise

__all__ = ["compare_methods", "summary_row", "convergence_figure", "STEP_FACTORS"]

STEP_FACTORS = (0.3, 1.0, 3.0)
log = logging.getLogger("jaxsbi")


def summary_row(hist: SearchHistory) -> dict:
    """Best Q, its validation / test loss and h, total wall time and model fits."""
    i = hist.best
    return {
        "method": hist.method,
        "best_q": float(hist.q[i]),
        "best_val_loss": float(hist.val_loss[i]),
        "best_test_loss": float(hist.test_loss[i]),
        "best_h": hist.h[i].tolist(),
        "wall_time_s": float(hist.wall_time.sum()),
        "compile_time_s": hist.compile_time,
        "num_fits": float(hist.num_fits[-1]),
        "iterations": int(len(hist.q)),
        "stopped": hist.stopped,
    }


def _scaled(config: SearchConfig, method: str, factor: float) -> SearchConfig:
    if method == "hoag":
        return dataclasses.replace(config, hoag_step_scale=config.hoag_step_scale / factor)
    return dataclasses.replace(config, outer_lr=config.outer_lr * factor)


def compare_methods(
    key, problem: Problem, methods, budget: int, config: SearchConfig, sensitivity: bool = False
) -> tuple[dict[str, SearchHistory], list[dict]]:
    """Run each method (same key) and summarise.

    With ``sensitivity``, gradient methods are re-run with their step size scaled by 0.3 and 3
    (HOAG: its initial step 1/L₀), and the row gets the spread (max − min) of the best Q.
    A method that raises is recorded with its error instead of stopping the comparison.
    """
    hists, rows = {}, []
    for method in methods:
        t0 = time.perf_counter()
        try:
            hist = optimise(key, problem, method, budget, config)
        except ValueError as e:
            rows.append({"method": method, "error": str(e)})
            continue
        hists[method] = hist
        row = summary_row(hist)
        if sensitivity and method not in BLACK_BOX:
            best = {}
            for f in STEP_FACTORS:
                if f == 1.0:
                    best[f] = row["best_q"]
                    continue
                try:
                    h2 = optimise(key, problem, method, budget, _scaled(config, method, f))
                    best[f] = float(h2.q[h2.best])
                except ValueError:
                    best[f] = float("nan")
            vals = np.array(list(best.values()))
            row["step_sensitivity"] = {str(k): v for k, v in best.items()}
            row["step_sensitivity_spread"] = float(np.nanmax(vals) - np.nanmin(vals))
        elif sensitivity:
            row["step_sensitivity_spread"] = None  # no step size
        rows.append(row)
        log.info(
            "hpo %s: best Q %.4g, %.1f s in all (compilation included)",
            method,
            row["best_q"],
            time.perf_counter() - t0,
        )
    jax.clear_caches()  # each problem's closures compile afresh; free them
    return hists, rows


def convergence_figure(
    hists: dict[str, SearchHistory],
    title: str,
    reference: float | None = None,
    ylabel: str = "best Q so far",
) -> Figure:
    """Best-so-far Q against cumulative wall time and against iteration, one line per method."""
    fig = Figure(figsize=(10.0, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    for name, h in hists.items():
        q = np.where(np.isfinite(h.q), h.q, np.inf)
        best = np.minimum.accumulate(q)
        ax1.plot(h.cumulative_time, best, "o-", ms=2, label=name)
        ax2.plot(np.arange(1, len(best) + 1), best, "o-", ms=2, label=name)
    for ax in (ax1, ax2):
        if reference is not None:
            ax.axhline(reference, color="k", ls=":", lw=1, label="exact optimum")
        ax.set_ylabel(ylabel)
    ax1.set(xlabel="wall time (s, compile excluded)", xscale="log")
    ax2.set(xlabel="trial / outer iteration")
    ax2.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
