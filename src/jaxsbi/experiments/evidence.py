"""The worked example: PRML's sinusoid figures and Bayesian model comparison, as an experiment.

``jaxsbi run configs/prml_evidence.toml`` loads :class:`PRMLConfig` and calls :func:`run_prml`,
which writes into the run folder

- ``evidence_predictive.png`` — data and predictive band for increasing N (PRML Fig. 3.8),
- ``evidence_degree.png`` — log evidence against polynomial degree (Fig. 3.14),
- ``evidence_gamma.png`` — γ and α m_Nᵀm_N against ln α, and the evidence against ln α, with
  the fixed-point α (Figs. 3.15–3.16),
- ``evidence_model_posterior.png`` — p(degree | D) against N for data from a known polynomial,
  and the model-averaged predictive band,
- ``metrics.json``.

Everything runs in float64 (inside ``jax.enable_x64``): raw polynomial features up to x⁹ make
ΦᵀΦ too ill-conditioned for float32 eigendecompositions.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from jaxsbi.evidence.basis import design_matrix, gaussian_basis, polynomial_basis
from jaxsbi.evidence.comparison import (
    MixturePredictive,
    compare_models,
    log_evidence_models,
    maximise_evidence_models,
    mixture_cdf,
    mixture_interval,
    nested_masks,
    predictive_models,
)
from jaxsbi.evidence.evidence import log_evidence
from jaxsbi.evidence.maximise import maximise_evidence
from jaxsbi.evidence.posterior import posterior
from jaxsbi.evidence.predictive import predictive
from jaxsbi.evidence.stats import SufficientStats, sufficient_stats
from jaxsbi.experiments.config import to_dict
from jaxsbi.experiments.run_folder import atomic_write_text, save_figure

__all__ = [
    "PredictiveBandConfig",
    "DegreeConfig",
    "GammaConfig",
    "ComparisonConfig",
    "PRMLConfig",
    "run_prml",
]


@dataclasses.dataclass(frozen=True)
class PredictiveBandConfig:
    """Fig. 3.8: 9 Gaussian basis functions (plus bias), fixed α and β = 1 / noise_std²."""

    n_points: tuple[int, ...] = (1, 2, 4, 25)
    num_centers: int = 9
    scale: float = 0.1
    alpha: float = 2.0


@dataclasses.dataclass(frozen=True)
class DegreeConfig:
    """Fig. 3.14: polynomial degrees 0..max_degree on N sinusoid points."""

    n_points: int = 10
    max_degree: int = 9
    alpha: float = 5e-3


@dataclasses.dataclass(frozen=True)
class GammaConfig:
    """Figs. 3.15–3.16: the Gaussian-basis model on the largest Fig. 3.8 data set, β known."""

    log_alpha_min: float = -5.0
    log_alpha_max: float = 5.0
    num_alpha: int = 201


@dataclasses.dataclass(frozen=True)
class ComparisonConfig:
    """Model comparison over polynomial degrees on data from a known polynomial.

    Every degree gets its own evidence-maximising α and β; ``num_replicates`` independent data
    sets per N are fitted in one vmapped call. ``model_prior`` is ``"uniform"`` or one weight per
    degree 0..max_degree.
    """

    true_coefficients: tuple[float, ...] = (0.0, 10.0, -30.0, 20.0)
    n_points: tuple[int, ...] = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
    max_degree: int = 9
    model_prior: Literal["uniform"] | tuple[float, ...] = "uniform"
    num_replicates: int = 20
    num_test: int = 1000
    coverage_level: float = 0.9


@dataclasses.dataclass(frozen=True)
class PRMLConfig:
    """The PRML worked example. Data: x ~ U(0, 1), t = f(x) + N(0, noise_std²)."""

    seed: int = 0
    noise_std: float = 0.3
    output_dir: str = "runs"
    dpi: int = 110
    predictive: PredictiveBandConfig = dataclasses.field(default_factory=PredictiveBandConfig)
    degree: DegreeConfig = dataclasses.field(default_factory=DegreeConfig)
    gamma: GammaConfig = dataclasses.field(default_factory=GammaConfig)
    comparison: ComparisonConfig = dataclasses.field(default_factory=ComparisonConfig)

    def __post_init__(self):
        if not self.noise_std > 0:
            raise ValueError(f"noise_std must be positive; got {self.noise_std}")
        if min(self.predictive.n_points, default=0) < 1 or not self.predictive.n_points:
            raise ValueError(
                f"predictive.n_points must be positive; got {self.predictive.n_points}"
            )
        if min(self.comparison.n_points, default=0) < 1 or not self.comparison.n_points:
            raise ValueError(
                f"comparison.n_points must be positive; got {self.comparison.n_points}"
            )
        prior = self.comparison.model_prior
        if prior != "uniform" and len(prior) != self.comparison.max_degree + 1:
            raise ValueError(
                f"comparison.model_prior needs max_degree + 1 = {self.comparison.max_degree + 1} "
                f"weights; got {len(prior)}"
            )
        if len(self.comparison.true_coefficients) > self.comparison.max_degree + 1:
            raise ValueError("comparison.true_coefficients has a degree above max_degree")


def _sinusoid(x):
    return jnp.sin(2.0 * jnp.pi * x)


def _sinusoid_data(key, n: int, noise_std: float):
    kx, kt = jax.random.split(key)
    x = jax.random.uniform(kx, (n,), jnp.float64)
    return x, _sinusoid(x) + noise_std * jax.random.normal(kt, (n,), jnp.float64)


def _band_figure(cfg: PRMLConfig, key, grid) -> tuple[Figure, dict]:
    pc = cfg.predictive
    beta = 1.0 / cfg.noise_std**2
    basis = gaussian_basis(jnp.linspace(0.0, 1.0, pc.num_centers), pc.scale)
    x, t = _sinusoid_data(key, max(pc.n_points), cfg.noise_std)
    phi, phi_grid = design_matrix(basis, x), design_matrix(basis, grid)
    fig = Figure(figsize=(3.2 * len(pc.n_points), 3.0))
    axes = fig.subplots(1, len(pc.n_points), sharey=True)
    axes = np.atleast_1d(axes)
    rmse = {}
    for ax, n in zip(axes, pc.n_points, strict=True):
        post = posterior(sufficient_stats(phi[:n], t[:n]), pc.alpha, beta)
        pred = predictive(post, phi_grid, beta)
        sd = np.sqrt(pred.variance)
        ax.fill_between(grid, pred.mean - sd, pred.mean + sd, color="tab:red", alpha=0.25)
        ax.plot(grid, _sinusoid(grid), color="tab:green", lw=1)
        ax.plot(grid, pred.mean, color="tab:red", lw=1.5)
        ax.scatter(x[:n], t[:n], s=20, facecolors="none", edgecolors="tab:blue")
        ax.set(title=f"N = {n}", xlabel="x", ylim=(-1.6, 1.6))
        rmse[str(n)] = float(jnp.sqrt(jnp.mean((pred.mean - _sinusoid(grid)) ** 2)))
    axes[0].set_ylabel("t")
    fig.suptitle("Predictive mean ± 1 sd, 9 Gaussian basis functions (PRML Fig. 3.8)")
    fig.tight_layout()
    return fig, {"rmse_to_truth": rmse, "data": (x, t), "basis": basis}


def _degree_figure(cfg: PRMLConfig, key) -> tuple[Figure, dict]:
    dc = cfg.degree
    beta = 1.0 / cfg.noise_std**2
    x, t = _sinusoid_data(key, dc.n_points, cfg.noise_std)
    stats = sufficient_stats(design_matrix(polynomial_basis(dc.max_degree), x), t)
    masks = nested_masks(dc.max_degree + 1)
    fixed = np.asarray(log_evidence_models(stats, masks, dc.alpha, beta))
    fitted = maximise_evidence_models(stats, masks)
    opt = np.asarray(fitted.log_evidence)
    degrees = np.arange(dc.max_degree + 1)
    fig = Figure(figsize=(5.0, 3.4))
    ax = fig.subplots()
    ax.plot(degrees, fixed, "o-", label=f"α = {dc.alpha:g}, β = {beta:.3g} fixed")
    ax.plot(degrees, opt, "s--", label="α, β maximising the evidence")
    ax.set(xlabel="polynomial degree", ylabel="ln p(t | degree)", xticks=degrees)
    ax.set_title(f"Evidence against degree, N = {dc.n_points} (PRML Fig. 3.14)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig, {
        "log_evidence_fixed": fixed.tolist(),
        "log_evidence_optimised": opt.tolist(),
        "best_degree_fixed": int(np.argmax(fixed)),
        "best_degree_optimised": int(np.argmax(opt)),
    }


def _gamma_figure(cfg: PRMLConfig, band: dict) -> tuple[Figure, dict]:
    gc = cfg.gamma
    beta = 1.0 / cfg.noise_std**2
    x, t = band["data"]
    stats = sufficient_stats(design_matrix(band["basis"], x), t)
    log_alphas = jnp.linspace(gc.log_alpha_min, gc.log_alpha_max, gc.num_alpha)

    def curves(log_alpha):
        alpha = jnp.exp(log_alpha)
        post = posterior(stats, alpha, beta)
        gamma = jnp.trace(beta * stats.gram @ post.cov)  # Σ λ_i / (α + λ_i)
        return gamma, alpha * post.mean @ post.mean, log_evidence(stats, alpha, beta)

    gamma, two_alpha_ew, log_ev = (np.asarray(c) for c in jax.vmap(curves)(log_alphas))
    fit = maximise_evidence(stats, 1.0, beta, update_beta=False)
    la = float(jnp.log(fit.alpha))
    fig = Figure(figsize=(9.0, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(log_alphas, gamma, color="tab:red", label="γ")
    ax1.plot(log_alphas, two_alpha_ew, color="tab:blue", label="2αE_W(m_N) = α m_Nᵀm_N")
    ax2.plot(log_alphas, log_ev, color="tab:red")
    for ax in (ax1, ax2):
        ax.axvline(la, color="k", ls=":", lw=1)
        ax.set_xlabel("ln α")
    ax1.legend(fontsize=8)
    ax1.set_title("The fixed point γ = α m_Nᵀm_N (Fig. 3.15)")
    ax2.set(ylabel="ln p(t | α)", title="Evidence against α, β known (Fig. 3.16)")
    fig.tight_layout()
    return fig, {
        "alpha": float(fit.alpha),
        "log_alpha": la,
        "gamma": float(fit.gamma),
        "alpha_mTm": float(fit.alpha * fit.posterior.mean @ fit.posterior.mean),
        "log_evidence": float(fit.log_evidence),
        "grid_best_log_alpha": float(log_alphas[int(np.argmax(log_ev))]),
        "num_iterations": int(fit.num_iterations),
        "converged": bool(fit.converged),
    }


def _comparison(cfg: PRMLConfig, key) -> tuple[Figure, dict]:
    cc = cfg.comparison
    coef = jnp.asarray(cc.true_coefficients, jnp.float64)
    true_degree = int(np.max(np.flatnonzero(np.asarray(coef) != 0), initial=0))
    basis = polynomial_basis(cc.max_degree)
    masks = nested_masks(cc.max_degree + 1).astype(jnp.float64)
    prior = jnp.ones(len(masks)) if cc.model_prior == "uniform" else jnp.asarray(cc.model_prior)
    tail = 0.5 * (1.0 - cc.coverage_level)
    n_max = max(cc.n_points)

    def simulate(k, n):
        kx, kt = jax.random.split(k)
        x = jax.random.uniform(kx, (n,), jnp.float64)
        t = jnp.polyval(coef[::-1], x) + cfg.noise_std * jax.random.normal(kt, (n,), jnp.float64)
        return design_matrix(basis, x), t, x

    def one_replicate(k, n):
        # The data for size n are the first n points of one stream: N grows as data arrive.
        phi, t, x = simulate(jax.random.fold_in(k, 0), n_max)
        phi_test, t_test, _ = simulate(jax.random.fold_in(k, 1), cc.num_test)
        keep = (jnp.arange(n_max) < n).astype(t.dtype)
        wphi = phi * keep[:, None]
        stats = SufficientStats(wphi.T @ phi, wphi.T @ t, (keep * t) @ t, jnp.sum(keep))
        fits = maximise_evidence_models(stats, masks)
        probs = compare_models(fits.log_evidence, prior).posterior_probs
        pit = mixture_cdf(
            MixturePredictive(probs, *predictive_models(fits, masks, phi_test)), t_test
        )
        covered = jnp.mean(((pit > tail) & (pit < 1.0 - tail)).astype(t.dtype))
        return probs, covered, fits, x, t

    # All N × replicates × degrees in one compiled, doubly vmapped call.
    keys = jax.random.split(key, cc.num_replicates)
    run_all = jax.jit(jax.vmap(jax.vmap(one_replicate, (0, None)), (None, 0)))
    probs, covered, fits, x, t = run_all(keys, jnp.asarray(cc.n_points))
    probs = np.asarray(probs)  # (len(n_points), num_replicates, num_models)
    probs_by_n = probs.mean(axis=1)
    select_rate = np.mean(probs.argmax(axis=2) == true_degree, axis=1).tolist()
    mean_prob_true = probs[:, :, true_degree].mean(axis=1).tolist()
    coverage = np.asarray(covered).mean(axis=1).tolist()

    # The model-averaged band of the first replicate at a middle N, for the figure.
    i = len(cc.n_points) // 2
    fit0 = jax.tree.map(lambda a: a[i, 0], fits)
    grid = jnp.linspace(0.0, 1.0, 200)
    mix = MixturePredictive(
        jnp.asarray(probs[i, 0]), *predictive_models(fit0, masks, design_matrix(basis, grid))
    )
    n_band = cc.n_points[i]
    band = (n_band, x[i, 0, :n_band], t[i, 0, :n_band], mixture_interval(mix, cc.coverage_level))

    def truth(x):
        return jnp.polyval(coef[::-1], x)

    fig = Figure(figsize=(10.0, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    probs_by_n = np.stack(probs_by_n)
    for d in range(cc.max_degree + 1):
        style = dict(lw=2.5, color="k") if d == true_degree else dict(lw=1, alpha=0.8)
        ax1.plot(cc.n_points, probs_by_n[:, d], "o-", ms=3, label=f"degree {d}", **style)
    ax1.set(xscale="log", xlabel="N", ylabel="mean p(degree | D)", ylim=(-0.02, 1.02))
    ax1.set_title(f"Model posterior, true degree {true_degree}")
    ax1.legend(fontsize=6, ncol=2)
    n_band, xb, tb, (lo, hi) = band
    ax2.fill_between(grid, lo, hi, color="tab:red", alpha=0.25, label=f"{cc.coverage_level:.0%}")
    ax2.plot(grid, truth(grid), color="tab:green", lw=1, label="truth")
    ax2.scatter(xb, tb, s=10, facecolors="none", edgecolors="tab:blue")
    ax2.set(xlabel="x", ylabel="t", title=f"Model-averaged predictive, N = {n_band}")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig, {
        "true_degree": true_degree,
        "n_points": list(cc.n_points),
        "mean_posterior_probs": probs_by_n.tolist(),
        "selection_rate": select_rate,
        "mean_prob_true_degree": mean_prob_true,
        "coverage": coverage,
        "coverage_level": cc.coverage_level,
    }


def run_prml(config: PRMLConfig, run_dir: Path) -> dict:
    """Run the worked example; writes the PNGs and ``metrics.json`` into ``run_dir``.

    Args:
        config: the experiment configuration.
        run_dir: an existing or new folder for this run's outputs.

    Returns:
        The metrics dict (also written as ``metrics.json``).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with jax.enable_x64(True):
        key = jax.random.key(config.seed)
        k_band, k_degree, k_comp = jax.random.split(key, 3)
        grid = jnp.linspace(0.0, 1.0, 200)
        band_fig, band = _band_figure(config, k_band, grid)
        degree_fig, degree = _degree_figure(config, k_degree)
        gamma_fig, gamma = _gamma_figure(config, band)
        comp_fig, comp = _comparison(config, k_comp)
    figures = {
        "evidence_predictive.png": band_fig,
        "evidence_degree.png": degree_fig,
        "evidence_gamma.png": gamma_fig,
        "evidence_model_posterior.png": comp_fig,
    }
    for name, fig in figures.items():
        save_figure(fig, run_dir / name, dpi=config.dpi)
    metrics = {
        "config": to_dict(config),
        "predictive": {"rmse_to_truth": band["rmse_to_truth"]},
        "degree": degree,
        "gamma": gamma,
        "comparison": comp,
        "figures": sorted(figures),
    }
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    return metrics

