"""``hpo_polynomial``: every method × objective on a polynomial fit to sinusoid data, against the
exact-evidence optimum (see :mod:`jaxsbi.experiments.hpo`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from jaxsbi.experiments.config import to_dict
from jaxsbi.experiments.hpo.common import _check_common, _table_md
from jaxsbi.experiments.run_folder import atomic_write_text, save_figure, write_json
from jaxsbi.hpo import (
    METHODS,
    Dataset,
    Problem,
    SearchConfig,
    Splits,
    cv_problem,
    elbo_problem,
    laplace_problem,
    linear_evidence_problem,
    linear_model,
    map_problem,
)
from jaxsbi.hpo.compare import compare_methods, convergence_figure

__all__ = [
    "PolynomialConfig",
    "run_polynomial",
    "polynomial_splits",
    "polynomial_problem",
    "exact_evidence_optimum",
]


@dataclasses.dataclass(frozen=True)
class PolynomialConfig:
    """Polynomial regression: t = sin(2πx) + N(0, noise_std²), x ~ U(0, 1)."""

    seed: int = 0
    n_train: int = 30
    n_val: int = 30
    n_test: int = 1000
    noise_std: float = 0.3
    degree: int = 9
    hyper: Literal["single", "per_degree"] = "per_degree"
    log_precision_min: float = -10.0
    log_precision_max: float = 6.0
    objectives: tuple[str, ...] = ("evidence", "laplace", "elbo", "cv", "validation")
    methods: tuple[str, ...] = METHODS
    budget: int = 30
    inner_steps: int = 60
    num_folds: int = 5
    sensitivity: bool = True
    search: SearchConfig = SearchConfig(outer_lr=0.3)
    dpi: int = 110

    def __post_init__(self):
        _check_common(
            self.methods,
            self.objectives,
            ("evidence", "laplace", "elbo", "cv", "validation"),
            self.budget,
        )
        if not self.log_precision_min < self.log_precision_max:
            raise ValueError(
                f"log_precision_min {self.log_precision_min} must be < log_precision_max "
                f"{self.log_precision_max} (bounds inverted)"
            )
        if self.n_train <= self.degree:
            raise ValueError(f"n_train must exceed degree; got {self.n_train} <= {self.degree}")


def polynomial_splits(key, n_train, n_val, n_test, noise_std, degree) -> Splits:
    """Sinusoid data on orthonormal polynomial features (float64; call under enable_x64)."""
    from jaxsbi.hpo.models import orthonormal_polynomial_features

    keys = jax.random.split(key, 3)
    sets = []
    for k, n in zip(keys, (n_train, n_val, n_test), strict=True):
        kx, kt = jax.random.split(k)
        x = np.asarray(jax.random.uniform(kx, (n,), jnp.float64))
        t = np.sin(2 * np.pi * x) + noise_std * np.asarray(jax.random.normal(kt, (n,), jnp.float64))
        sets.append((x, t))
    feats = orthonormal_polynomial_features(sets[0][0], degree)
    return Splits(*(Dataset(jnp.asarray(feats(x)), jnp.asarray(t)) for x, t in sets))


def polynomial_problem(
    key,
    data: Splits,
    objective: str,
    beta: float,
    hyper: str,
    lower: float,
    upper: float,
    inner_steps: int = 60,
    num_folds: int = 5,
) -> Problem:
    """One objective's :class:`Problem` on polynomial features (β known)."""
    m = data.train.x.shape[1]
    groups = np.arange(m) if hyper == "per_degree" else np.zeros(m, int)
    nh = int(groups.max()) + 1
    lo, hi = jnp.full((nh,), lower), jnp.full((nh,), upper)
    model = linear_model(m, beta, groups)
    theta0 = jnp.zeros((m,), data.train.x.dtype)
    # Features have ΦᵀΦ = N·I, so the per-point inner Hessian is β I + A/N: this step size is
    # stable up to the largest precision and contracts fast at the smallest.
    kw = dict(
        inner_steps=inner_steps,
        inner_lr=1.0 / (beta + np.exp(upper) / data.train.x.shape[0]),
        h_init=jnp.zeros((nh,)),
    )
    if objective == "evidence":
        return linear_evidence_problem(data, beta, lo, hi, groups, **kw)
    if objective == "laplace":
        return laplace_problem(model, data, theta0, lo, hi, hessian="exact", **kw)
    if objective == "elbo":
        kw["inner_steps"] = 4 * inner_steps
        kw["inner_lr"] = 0.5 * kw["inner_lr"]
        return elbo_problem(key, model, data, theta0, lo, hi, init_sigma=0.1, num_samples=16, **kw)
    if objective == "cv":
        return cv_problem(model, data, theta0, lo, hi, num_folds=num_folds, **kw)
    return map_problem(model, data, theta0, lo, hi, **kw)


def exact_evidence_optimum(problem: Problem, num_starts: int = 5, seed: int = 0):
    """argmax of the exact evidence over the box by L-BFGS-B (SciPy), several starts.

    Returns:
        ``(h*, Q(h*))`` with Q = −ln p(t|h)/N.
    """
    from scipy.optimize import minimize

    theta0 = problem.theta_init
    f = jax.jit(jax.value_and_grad(lambda h: problem.outer_loss(theta0, h)))
    lo, hi = np.asarray(problem.lower, float), np.asarray(problem.upper, float)
    rng = np.random.default_rng(seed)
    best = None
    for s in range(num_starts):
        x0 = np.asarray(problem.h_init, float) if s == 0 else rng.uniform(lo, hi)
        res = minimize(
            lambda h: tuple(np.asarray(v, float) for v in f(jnp.asarray(h))),
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip(lo, hi, strict=True)),
            options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10},
        )
        if best is None or res.fun < best[1]:
            best = (res.x, float(res.fun))
    return best


def run_polynomial(config: PolynomialConfig, run_dir: Path) -> dict:
    """Run the polynomial experiment; writes figures and ``metrics.json`` into ``run_dir``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = config
    beta = 1.0 / cfg.noise_std**2
    search = cfg.search
    with jax.enable_x64(True):
        key = jax.random.key(cfg.seed)
        k_data, k_prob, k_search = jax.random.split(key, 3)
        data = polynomial_splits(
            k_data, cfg.n_train, cfg.n_val, cfg.n_test, cfg.noise_std, cfg.degree
        )
        probs = {
            o: polynomial_problem(
                k_prob,
                data,
                o,
                beta,
                cfg.hyper,
                cfg.log_precision_min,
                cfg.log_precision_max,
                cfg.inner_steps,
                cfg.num_folds,
            )
            for o in cfg.objectives
        }
        ev_prob = probs.get("evidence") or polynomial_problem(
            k_prob,
            data,
            "evidence",
            beta,
            cfg.hyper,
            cfg.log_precision_min,
            cfg.log_precision_max,
            cfg.inner_steps,
        )
        h_star, q_star = exact_evidence_optimum(ev_prob)
        hists, rows = {}, {}
        for obj, prob in probs.items():
            hists[obj], rows[obj] = compare_methods(
                k_search, prob, cfg.methods, cfg.budget, search, cfg.sensitivity
            )
            for r in rows[obj]:
                if "best_h" in r:
                    r["exact_evidence_q_at_best_h"] = float(
                        ev_prob.outer_loss(ev_prob.theta_init, jnp.asarray(r["best_h"]))
                    )
        # The evidence curve along one shared log-precision (PRML Fig. 3.16 style).
        single = polynomial_problem(
            k_prob, data, "evidence", beta, "single", cfg.log_precision_min, cfg.log_precision_max
        )
        grid = jnp.linspace(cfg.log_precision_min, cfg.log_precision_max, 400)
        curve = np.asarray(jax.vmap(lambda g: single.outer_loss(single.theta_init, g[None]))(grid))
    figs = {}
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    ax.plot(np.asarray(grid), -curve * cfg.n_train, color="k", lw=1.5)
    ax.axvline(float(grid[int(np.argmin(curve))]), color="k", ls=":", lw=1)
    ax.set(
        xlabel="ln α (one shared prior precision)",
        ylabel="ln p(t | α, β)",
        title=f"Exact evidence, degree {cfg.degree}, N = {cfg.n_train}",
    )
    fig.tight_layout()
    figs["hpo_poly_curve.png"] = fig
    if "evidence" in hists:
        figs["hpo_poly_convergence.png"] = convergence_figure(
            hists["evidence"],
            f"Exact-evidence objective, h {cfg.hyper}",
            reference=q_star,
            ylabel="best −ln p(t|h)/N so far",
        )
        fig = Figure(figsize=(6.0, 3.6))
        ax = fig.subplots()
        ax.plot(h_star, "k*-", ms=10, lw=1, label="exact optimum (L-BFGS-B)")
        for name, h in hists["evidence"].items():
            ax.plot(h.h[h.best], "o--", ms=4, lw=0.8, label=name)
        ax.set(
            xlabel="hyperparameter index (orthogonal-polynomial degree)",
            ylabel="ln α_j found",
            title="Hyperparameters found, exact-evidence objective",
        )
        ax.legend(fontsize=7)
        fig.tight_layout()
        figs["hpo_poly_per_degree.png"] = fig
    for name, f in figs.items():
        save_figure(f, run_dir / name, dpi=cfg.dpi)
    table = _table_md(rows)
    atomic_write_text(run_dir / "comparison.md", table + "\n")
    metrics = {
        "config": to_dict(cfg),
        "exact_evidence_optimum": {
            "h": h_star.tolist(),
            "q": q_star,
            "log_evidence": -q_star * cfg.n_train,
        },
        "comparison": rows,
        "table_markdown": table,
        "figures": sorted(figs),
    }
    write_json(run_dir / "metrics.json", metrics)
    return metrics
