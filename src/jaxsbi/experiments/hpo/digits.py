"""``hpo_digits``: every method × objective on a tanh MLP for 8×8 digits or MNIST-5k, with ELBO
pruning (see :mod:`jaxsbi.experiments.hpo`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
from matplotlib.figure import Figure

from jaxsbi.experiments.config import to_dict
from jaxsbi.experiments.hpo.common import _check_common, _table_md, log
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
    map_problem,
    nll_per_example,
    prune_mask,
    run_inner,
)
from jaxsbi.hpo.compare import compare_methods, convergence_figure

__all__ = ["DigitsConfig", "run_digits", "digits_problem"]


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
    search: SearchConfig = SearchConfig(outer_lr=0.3, cg_damping=1e-2)
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
    search = cfg.search
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
        save_figure(f, run_dir / name, dpi=cfg.dpi)
    atomic_write_text(
        run_dir / "comparison.md",
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
