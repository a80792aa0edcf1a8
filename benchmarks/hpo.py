"""HPO benchmark: the three claims of the HPO issue, and optuna as an outside reference.

1. Noisy-digits MLP (σ = 0.5, per-layer log-precisions, Q = validation NLL): does each gradient
   method reach random search's best validation loss in at most half random search's wall time?
2. GP-BO vs random search at an equal number of trials (best Q after n trials, several seeds),
   on the noisy-digits MLP and on the per-degree polynomial evidence.
3. Polynomial (degree 9, one shared precision): the evidence-chosen α vs the 5-fold-CV-chosen α
   (grid of 33 values each), refitted on all training data: test NLL and the selection cost, over
   replicate data sets.
4. optuna's TPE sampler (optional extra) on problems 1 and 2, same budget.

    python benchmarks/hpo.py [--quick]     # writes benchmarks/results/hpo.json

Wall times are host-clock seconds per iteration after compilation (compile time is reported
apart), on a shared 2-core CPU: read them as rough.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxsbi import hpo
from jaxsbi.hpo.experiment import (
    DigitsConfig,
    digits_problem,
    polynomial_problem,
    polynomial_splits,
)
from jaxsbi.hpo.models import load_digits_splits
from jaxsbi.io import machine_info, write_json

OUT = Path(__file__).parent / "results" / "hpo.json"


def time_to_reach(hist: hpo.History, target: float) -> float | None:
    """Cumulative wall time at which the running best validation loss first reaches target."""
    best = np.minimum.accumulate(np.where(np.isfinite(hist.val_loss), hist.val_loss, np.inf))
    hit = np.flatnonzero(best <= target + 1e-12)
    return float(hist.cumulative_time[hit[0]]) if hit.size else None


def claim_gradient_speed(budget: int, iters: int) -> dict:
    cfg = DigitsConfig(noise_stds=(0.5,))
    data = load_digits_splits(jax.random.key(1), 0.5)
    prob, _ = digits_problem(jax.random.key(2), data, "validation", cfg)
    search = cfg.search.build()
    rand = hpo.optimise(jax.random.key(3), prob, "random", budget, search)
    target = float(rand.val_loss[rand.best])
    t_rand = time_to_reach(rand, target)
    out = {
        "random": {
            "best_val_loss": target,
            "time_to_best_s": t_rand,
            "total_time_s": float(rand.wall_time.sum()),
            "trials": budget,
        }
    }
    for m in ("rmad", "drmad", "greedy", "hoag"):
        h = hpo.optimise(jax.random.key(3), prob, m, iters, search)
        t = time_to_reach(h, target)
        out[m] = {
            "best_val_loss": float(np.nanmin(h.val_loss)),
            "time_to_reach_s": t,
            "total_time_s": float(h.wall_time.sum()),
            "iterations": len(h.q),
            "stopped": h.stopped,
            "holds": bool(t is not None and t <= 0.5 * t_rand),
        }
        print(
            f"[claim 1] {m:7s} best val {out[m]['best_val_loss']:.4f} (random {target:.4f}); "
            f"time to reach {t} s vs half of random's {0.5 * t_rand:.2f} s"
        )
    out["holds_for"] = [m for m in ("rmad", "drmad", "greedy", "hoag") if out[m]["holds"]]
    return out


def _best_after(hist, n):
    q = np.where(np.isfinite(hist.q[:n]), hist.q[:n], np.inf)
    return float(q.min())


def claim_gpbo(problems: dict, budget: int, seeds: int) -> dict:
    out = {}
    for name, prob in problems.items():
        res = {"random": [], "gpbo": []}
        for s in range(seeds):
            for m in res:
                res[m].append(hpo.optimise(jax.random.key(100 + s), prob, m, budget))
        checkpoints = sorted({min(budget, c) for c in (10, budget // 2, budget)})
        table = {}
        for n in checkpoints:
            r = [_best_after(h, n) for h in res["random"]]
            g = [_best_after(h, n) for h in res["gpbo"]]
            table[str(n)] = {
                "random_mean": float(np.mean(r)),
                "gpbo_mean": float(np.mean(g)),
                "gpbo_wins": int(np.sum(np.array(g) < np.array(r))),
                "seeds": seeds,
            }
        last = table[str(budget)]
        out[name] = {
            "best_q_after_n_trials": table,
            "holds": bool(last["gpbo_mean"] < last["random_mean"]),
            "time_per_trial_s": {
                m: float(np.mean([h.wall_time.mean() for h in v])) for m, v in res.items()
            },
        }
        print(
            f"[claim 2] {name}: after {budget} trials GP-BO {last['gpbo_mean']:.4f} vs random "
            f"{last['random_mean']:.4f} (GP-BO better in {last['gpbo_wins']}/{seeds} seeds)"
        )
    return out


def claim_evidence_vs_cv(replicates: int, grid: int) -> dict:
    rows = []
    with jax.enable_x64(True):
        beta = 1.0 / 0.3**2
        for r in range(replicates):
            data = polynomial_splits(jax.random.key(1000 + r), 30, 30, 1000, 0.3, 9)
            res = {}
            for obj in ("evidence", "cv"):
                prob = polynomial_problem(
                    jax.random.key(r),
                    data,
                    obj,
                    beta,
                    "single",
                    -10.0,
                    6.0,
                    inner_steps=60,
                    num_folds=5,
                )
                hist = hpo.optimise(jax.random.key(r), prob, "grid", grid)
                h = hist.h[hist.best]
                # Refit MAP on all training data at the chosen h; test NLL.
                ref = polynomial_problem(
                    jax.random.key(r),
                    data,
                    "validation",
                    beta,
                    "single",
                    -10.0,
                    6.0,
                    inner_steps=60,
                )
                ev, _ = jax.jit(lambda hh, p=ref: hpo.fit_and_score(p, hh))(jnp.asarray(h))
                res[obj] = {
                    "h": float(h[0]),
                    "test_nll": float(ev.test_loss),
                    "search_time_s": float(hist.wall_time.sum()),
                    "compile_s": hist.compile_time,
                    # Fits needed only to evaluate Q: none for the closed-form evidence.
                    "fits_for_q": 0 if obj == "evidence" else 5 * grid,
                }
            rows.append(res)
    ev_nll = np.array([r["evidence"]["test_nll"] for r in rows])
    cv_nll = np.array([r["cv"]["test_nll"] for r in rows])
    ev_t = np.array([r["evidence"]["search_time_s"] for r in rows])
    cv_t = np.array([r["cv"]["search_time_s"] for r in rows])
    out = {
        "replicates": replicates,
        "grid_size": grid,
        "mean_test_nll": {"evidence": float(ev_nll.mean()), "cv5": float(cv_nll.mean())},
        "median_test_nll": {"evidence": float(np.median(ev_nll)), "cv5": float(np.median(cv_nll))},
        "evidence_at_least_as_good_fraction": float(np.mean(ev_nll <= cv_nll + 1e-12)),
        "mean_search_time_s": {"evidence": float(ev_t.mean()), "cv5": float(cv_t.mean())},
        "cost_ratio_evidence_over_cv": float(ev_t.mean() / cv_t.mean()),
        "holds": bool(ev_nll.mean() <= cv_nll.mean() and ev_t.mean() < cv_t.mean()),
        "per_replicate": rows,
    }
    print(
        f"[claim 3] test NLL evidence {ev_nll.mean():.4f} vs 5-fold CV {cv_nll.mean():.4f}; "
        f"evidence <= CV in {out['evidence_at_least_as_good_fraction']:.0%}; search time "
        f"{ev_t.mean():.3f} s vs {cv_t.mean():.3f} s"
    )
    return out


def optuna_reference(problems: dict, budget: int) -> dict:
    try:
        import optuna
    except ImportError:
        return {"skipped": 'optuna not installed (pip install "jaxsbi[hpo]")'}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = {}
    for name, prob in problems.items():
        fit = jax.jit(lambda h, p=prob: hpo.fit_and_score(p, h)[0])
        fit(prob.h_init)  # compile outside the timing
        lo, hi = np.asarray(prob.lower), np.asarray(prob.upper)

        def objective(trial, fit=fit, lo=lo, hi=hi, prob=prob):
            h = [trial.suggest_float(f"h{i}", lo[i], hi[i]) for i in range(len(lo))]
            return float(fit(jnp.asarray(h, prob.lower.dtype)).q)

        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
        t0 = time.perf_counter()
        study.optimize(objective, n_trials=budget)
        out[name] = {
            "sampler": "TPE",
            "best_q": float(study.best_value),
            "wall_time_s": time.perf_counter() - t0,
            "trials": budget,
            "optuna": optuna.__version__,
        }
        print(f"[optuna] {name}: TPE best Q {study.best_value:.4f} in {budget} trials")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    q = args.quick
    budget, iters, seeds, reps = (12, 12, 2, 4) if q else (30, 30, 5, 20)
    t0 = time.perf_counter()
    result = {"machine": machine_info(), "quick": q}
    result["claim_gradient_vs_random_time"] = claim_gradient_speed(budget, iters)
    cfg = DigitsConfig(noise_stds=(0.5,))
    digits, _ = digits_problem(
        jax.random.key(2), load_digits_splits(jax.random.key(1), 0.5), "validation", cfg
    )
    with jax.enable_x64(True):
        data = polynomial_splits(jax.random.key(7), 30, 30, 1000, 0.3, 9)
        poly = polynomial_problem(
            jax.random.key(8), data, "evidence", 1 / 0.09, "per_degree", -10.0, 6.0
        )
        result["claim_gpbo_vs_random"] = claim_gpbo(
            {"noisy_digits_mlp_val_nll": digits}, budget, seeds
        )
        result["claim_gpbo_vs_random"].update(
            claim_gpbo({"polynomial_per_degree_neg_evidence": poly}, budget, seeds)
        )
        result["claim_evidence_vs_cv"] = claim_evidence_vs_cv(reps, 33)
        result["optuna_reference"] = optuna_reference({"noisy_digits_mlp_val_nll": digits}, budget)
        result["optuna_reference"].update(
            optuna_reference({"polynomial_per_degree_neg_evidence": poly}, budget)
        )
    result["total_time_s"] = time.perf_counter() - t0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    write_json(OUT if not q else OUT.with_name("hpo_quick.json"), result)
    print(
        f"wrote {OUT if not q else OUT.with_name('hpo_quick.json')} in "
        f"{result['total_time_s']:.0f} s"
    )


if __name__ == "__main__":
    main()
