"""Benchmarks of a trained PRISM estimator on held-out simulations (arrays in, dicts out).

- :func:`structure_metrics` — top-k accuracy of the true structure (beam search over the full
  model space) per λ, and for the analytic family the total-variation distance to the exact
  enumerated model posterior and the Bayes-optimal top-1 of the exact posterior;
- :func:`inclusion_calibration` — predicted q(M_k = 1 | x, λ) against the truth (reliability
  curve, expected calibration error);
- :func:`theta_sbc` — SBC ranks of the active θ entries given the true structure, uniformity
  tests per entry;
- :func:`lambda_sweep` — E_q[#active | x, λ] on a fine λ grid (monotonicity; interpolation
  between training values) and, when exact, the same under the true posterior;
- figures: :func:`calibration_figure`, :func:`lambda_figure`, :func:`predictive_figure`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from jaxsbi.diagnostics import sbc_ranks, sbc_uniformity
from jaxsbi.prism.estimator import PrismEstimator
from jaxsbi.prism.families import (
    Structure,
    all_structures,
    exact_model_posterior,
    structure_index,
)

__all__ = [
    "reliability",
    "simulate_held_out",
    "structure_metrics",
    "inclusion_calibration",
    "theta_sbc",
    "lambda_sweep",
    "calibration_figure",
    "lambda_figure",
    "predictive_figure",
]


def simulate_held_out(est: PrismEstimator, key, lam: float, n: int) -> dict:
    """n simulations (M, θ, y) at a fixed λ: a dict of arrays with leading axis n."""
    family = est.family
    s, theta, y = jax.jit(jax.vmap(family.sample_joint, (0, None)))(
        jax.random.split(key, n), jnp.float32(lam)
    )
    return {"active": s.active, "noise": s.noise, "theta": theta, "y": y}


def _enumerable(est: PrismEstimator) -> bool:
    return est.family.num_components <= 12


def structure_metrics(est, params, key, lambdas, n: int, top_ks=(1, 5)) -> dict:
    """Top-k accuracy (and TV / Bayes top-1 for the analytic family) per λ.

    Returns:
        ``{"per_lambda": {λ: {...}}, "mean": {...}}`` with ``top{k}`` accuracies, and for the
        analytic family ``tv_mean``, ``tv_median``, ``exact_top1`` (the Bayes-optimal top-1),
        ``exact_top5``.
    """
    family = est.family
    kmax = max(top_ks)
    tokens_fn = jax.vmap(family.tokens)
    exact_ok = family.linear_gaussian is not None
    per = {}
    for i, lam in enumerate(lambdas):
        data = simulate_held_out(est, jax.random.fold_in(key, i), lam, n)
        tokens = tokens_fn(data["y"])
        truth = Structure(data["active"], data["noise"])
        best, _ = jax.jit(jax.vmap(lambda t, lam=lam: est.top_k(params, t, lam, kmax)))(tokens)
        hit = np.asarray(
            jnp.all(best.active == truth.active[:, None, :], axis=-1)
            & (best.noise == truth.noise[:, None])
        )
        row = {f"top{k}": float(np.mean(hit[:, :k].any(axis=1))) for k in top_ks}
        if exact_ok:
            idx = np.asarray(structure_index(truth, family.num_noise))
            q = np.asarray(
                jax.jit(jax.vmap(lambda t, lam=lam: est.structure_probs(params, t, lam)))(tokens)
            )
            p = np.asarray(
                jax.jit(
                    jax.vmap(lambda y, lam=lam: exact_model_posterior(family, y, lam))
                )(data["y"])
            )
            tv = 0.5 * np.abs(q - p).sum(axis=1)
            order = np.argsort(-p, axis=1)
            row.update(
                tv_mean=float(tv.mean()),
                tv_median=float(np.median(tv)),
                tv_p90=float(np.quantile(tv, 0.9)),
                exact_top1=float(np.mean(order[:, 0] == idx)),
                exact_top5=float(np.mean((order[:, :5] == idx[:, None]).any(axis=1))),
                q_top1_enumerated=float(np.mean(q.argmax(axis=1) == idx)),
            )
        per[f"{lam:g}"] = row
    keys = per[next(iter(per))].keys()
    mean = {k: float(np.mean([r[k] for r in per.values()])) for k in keys}
    return {"per_lambda": per, "mean": mean, "num_observations_per_lambda": n}


def _inclusion_probs(est, params, key, tokens, lam, num_samples: int):
    """q(M_k = 1 | x, λ) ``(n, K)``: exact by enumeration for K ≤ 12, else by sampling."""
    k = est.family.num_components
    if _enumerable(est):
        bits = all_structures(k, est.family.num_noise).active.astype(jnp.float32)
        q = jax.jit(jax.vmap(lambda t, lam=lam: est.structure_probs(params, t, lam)))(tokens)
        return np.asarray(q @ bits)
    keys = jax.random.split(key, tokens.shape[0])
    s = jax.jit(jax.vmap(lambda kk, t: est.sample_structures(params, kk, t, lam, num_samples)))(
        keys, tokens
    )
    return np.asarray(jnp.mean(s.active.astype(jnp.float32), axis=1))


def inclusion_calibration(est, params, key, lambdas, n: int, num_samples=256, num_bins=10):
    """Reliability of the per-component inclusion probabilities, pooled over components.

    Returns:
        dict with ``bin_centers``, ``predicted`` (mean prediction per bin), ``observed``
        (frequency of M_k = 1 per bin), ``counts``, ``ece`` (count-weighted mean |gap|), per λ
        and pooled.
    """
    out = {}
    pooled_p, pooled_t = [], []
    for i, lam in enumerate(lambdas):
        k_data, k_s = jax.random.split(jax.random.fold_in(key, 1000 + i))
        data = simulate_held_out(est, k_data, lam, n)
        tokens = jax.vmap(est.family.tokens)(data["y"])
        p = _inclusion_probs(est, params, k_s, tokens, lam, num_samples).ravel()
        t = np.asarray(data["active"]).ravel()
        out[f"{lam:g}"] = reliability(p, t, num_bins)
        pooled_p.append(p)
        pooled_t.append(t)
    out["pooled"] = reliability(np.concatenate(pooled_p), np.concatenate(pooled_t), num_bins)
    return out


def reliability(p, t, num_bins: int = 10) -> dict:
    """Reliability diagram and expected calibration error of predicted probabilities.

    Args:
        p: predicted probabilities, shape ``(n,)``, in [0, 1].
        t: outcomes, shape ``(n,)``, 0 or 1 (or their frequencies).
        num_bins: equal-width bins on [0, 1].

    Returns:
        ``{"bin_centers", "predicted", "observed", "counts"}`` (lists of ``num_bins``: mean
        prediction and observed frequency per bin) and ``"ece"`` = Σ_b n_b |pred_b − obs_b| / n.
    """
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, num_bins - 1)
    counts = np.bincount(which, minlength=num_bins)
    pred = np.bincount(which, weights=p, minlength=num_bins) / np.maximum(counts, 1)
    obs = np.bincount(which, weights=t, minlength=num_bins) / np.maximum(counts, 1)
    ece = float(np.sum(counts * np.abs(pred - obs)) / max(counts.sum(), 1))
    return {
        "bin_centers": (0.5 * (edges[1:] + edges[:-1])).tolist(),
        "predicted": pred.tolist(),
        "observed": obs.tolist(),
        "counts": counts.tolist(),
        "ece": ece,
    }


def theta_sbc(est, params, key, lam: float, n: int, num_samples: int = 100, num_steps=32):
    """SBC of q(θ | M, x) given the true structure, per θ entry over the observations where it
    is active.

    Returns:
        ``(summary, ranks_per_entry)``: summary with per-entry KS / χ² p-values, the share of
        entries passing at level 0.01 (``pass_fraction``) and, for the analytic family, the mean
        |posterior-mean error| / exact sd and the ratio of sd's against the exact Gaussian
        posterior. ``ranks_per_entry`` maps an entry name to its ranks (numpy).
    """
    family = est.family
    k_data, k_s = jax.random.split(key)
    data = simulate_held_out(est, k_data, lam, n)
    tokens = jax.vmap(family.tokens)(data["y"])

    def one(kk, t, active, noise):
        return est.sample_theta(params, kk, t, Structure(active, noise), num_samples, num_steps)

    samples = jax.jit(jax.vmap(one))(
        jax.random.split(k_s, n), tokens, data["active"], data["noise"]
    )  # (n, num_samples, d)
    ranks = np.asarray(sbc_ranks(data["theta"], samples))
    masks = np.asarray(jax.vmap(family.param_mask)(Structure(data["active"], data["noise"])))
    entries, per_entry = {}, {}
    for j, name in enumerate(family.param_names):
        r = ranks[masks[:, j], j]
        if r.shape[0] < 20:
            continue
        test = sbc_uniformity(r[:, None], num_samples)
        entries[name] = {
            "num_observations": int(r.shape[0]),
            "ks_pvalue": float(test["ks_pvalue"][0]),
            "chi2_pvalue": float(test["chi2_pvalue"][0]),
        }
        per_entry[name] = r
    passed = [min(e["ks_pvalue"], e["chi2_pvalue"]) > 0.01 for e in entries.values()]
    summary = {
        "lambda": lam,
        "num_samples": num_samples,
        "entries": entries,
        "pass_fraction": float(np.mean(passed)) if passed else float("nan"),
    }
    if family.linear_gaussian is not None:
        from jaxsbi.prism.families import exact_theta_posterior

        mean, cov = jax.vmap(lambda y, a: exact_theta_posterior(family, y, a))(
            data["y"], data["active"]
        )
        sd = np.sqrt(np.diagonal(np.asarray(cov), axis1=1, axis2=2))
        q_mean = np.asarray(samples.mean(axis=1))
        q_sd = np.asarray(samples.std(axis=1))
        summary["mean_error_over_exact_sd"] = float(
            np.mean(np.abs(q_mean - np.asarray(mean))[masks] / sd[masks])
        )
        summary["sd_ratio_median"] = float(np.median(q_sd[masks] / sd[masks]))
    return summary, per_entry


def lambda_sweep(est, params, key, n: int, lambdas) -> dict:
    """E[#active | x, λ] over a λ grid for n observations simulated at λ ~ U[0, 1].

    Returns:
        dict with ``lambdas``, ``q_expected_active (n, len(lambdas))``, ``monotone_fraction``
        (observations whose curve never drops by more than 1e-3), and for the analytic family
        ``exact_expected_active`` and the TV per λ (``tv_by_lambda``).
    """
    family = est.family
    k_lam, k_data = jax.random.split(key)
    lams_true = jax.random.uniform(k_lam, (n,))
    s, _, y = jax.jit(jax.vmap(family.sample_joint))(jax.random.split(k_data, n), lams_true)
    tokens = jax.vmap(family.tokens)(y)
    grid = [float(v) for v in lambdas]
    bits = all_structures(family.num_components, family.num_noise).active.astype(jnp.float32)
    size = jnp.sum(bits, axis=1)
    out = {"lambdas": grid}
    if _enumerable(est):
        qs = np.stack(
            [
                np.asarray(
                    jax.jit(jax.vmap(lambda t, lam=lam: est.structure_probs(params, t, lam)))(
                        tokens
                    )
                )
                for lam in grid
            ],
            axis=1,
        )  # (n, L, M)
        q_e = qs @ np.asarray(size)
    else:
        q_e = np.stack(
            [
                np.asarray(
                    jnp.sum(
                        jnp.asarray(_inclusion_probs(est, params, key, tokens, lam, 256)), axis=1
                    )
                )
                for lam in grid
            ],
            axis=1,
        )
    out["q_expected_active"] = q_e
    out["monotone_fraction"] = float(np.mean(np.all(np.diff(q_e, axis=1) > -1e-3, axis=1)))
    if family.linear_gaussian is not None:
        ps = np.stack(
            [
                np.asarray(
                    jax.jit(
                        jax.vmap(
                            lambda yy, lam=lam: exact_model_posterior(family, yy, lam)
                        )
                    )(y)
                )
                for lam in grid
            ],
            axis=1,
        )
        out["exact_expected_active"] = ps @ np.asarray(size)
        out["tv_by_lambda"] = (0.5 * np.abs(qs - ps).sum(axis=2)).mean(axis=0).tolist()
    return out


# ---- figures ---------------------------------------------------------------------------------


def calibration_figure(calib: dict) -> Figure:
    """Reliability diagram of the inclusion probabilities, one curve per λ and pooled."""
    fig = Figure(figsize=(4.2, 4.0))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
    for name, r in calib.items():
        c = np.asarray(r["counts"]) > 0
        style = dict(lw=2.5, color="k") if name == "pooled" else dict(lw=1, alpha=0.8)
        label = f"{'pooled' if name == 'pooled' else 'λ = ' + name} (ECE {r['ece']:.3f})"
        ax.plot(
            np.asarray(r["predicted"])[c],
            np.asarray(r["observed"])[c],
            "o-",
            ms=3,
            label=label,
            **style,
        )
    ax.set(
        xlabel="predicted q(M_k = 1 | x, λ)",
        ylabel="observed frequency of M_k = 1",
        xlim=(0, 1),
        ylim=(0, 1),
        title="Inclusion-probability calibration",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def lambda_figure(sweep: dict, structure_by_lambda: dict | None = None) -> Figure:
    """E[#active | x, λ] curves (network vs exact) and, if given, TV per λ."""
    lams = np.asarray(sweep["lambdas"])
    exact = "exact_expected_active" in sweep
    fig = Figure(figsize=(9.0 if exact else 4.5, 3.6))
    axes = np.atleast_1d(fig.subplots(1, 2 if exact else 1))
    q = sweep["q_expected_active"]
    for i in range(min(6, q.shape[0])):
        axes[0].plot(lams, q[i], color=f"C{i}", lw=1.5)
        if exact:
            axes[0].plot(lams, sweep["exact_expected_active"][i], color=f"C{i}", lw=1, ls="--")
    mono = sweep["monotone_fraction"]
    axes[0].set(
        xlabel="λ",
        ylabel="E[#active | x, λ]",
        title=f"network (solid) vs exact (dashed); monotone {mono:.0%}",
    )
    if exact:
        axes[1].plot(lams, sweep["tv_by_lambda"], "o-")
        axes[1].set(
            xlabel="λ",
            ylabel="mean TV(q(M | x, λ), p(M | x, λ))",
            title="λ interpolation: TV to the exact posterior",
        )
        axes[1].set_ylim(bottom=0)
    fig.tight_layout()
    return fig


def predictive_figure(est, params, key, y, lams=(0.1, 0.9), num_samples=200, num_steps=32):
    """Posterior predictive of one observation under two λ values (as in the paper's Fig. 1).

    Returns:
        ``(figure, info)`` with the top structures and their probabilities per λ.
    """
    family = est.family
    tokens = family.tokens(jnp.asarray(y))
    fig = Figure(figsize=(5.0 * len(lams), 6.0))
    axes = fig.subplots(2, len(lams), squeeze=False)
    info = {}
    for j, lam in enumerate(lams):
        s, theta = est.sample_joint(
            params, jax.random.fold_in(key, j), tokens, lam, num_samples, num_steps
        )
        curves = np.asarray(
            jax.vmap(lambda a, n_, t: family.signal(Structure(a, n_), t))(s.active, s.noise, theta)
        )
        ax = axes[0, j]
        lo, mid, hi = np.quantile(curves, [0.05, 0.5, 0.95], axis=0)
        ax.fill_between(family.grid, lo, hi, color="tab:red", alpha=0.25, label="90% band")
        ax.plot(family.grid, mid, color="tab:red", lw=1.5, label="median")
        ax.scatter(family.grid, np.asarray(y), s=10, color="k", label="data")
        ax.set(title=f"posterior predictive, λ = {lam:g}", xlabel="x", ylabel="y")
        ax.legend(fontsize=7)
        best, logp = est.top_k(params, tokens, lam, 5)
        names = [
            "+".join(n for n, b in zip(family.component_names, np.asarray(a), strict=True) if b)
            + (f" [{family.noise_names[int(nz)]}]" if family.num_noise > 1 else "")
            for a, nz in zip(best.active, best.noise, strict=True)
        ]
        probs = np.exp(np.asarray(logp))
        axes[1, j].barh(range(len(names))[::-1], probs, color="tab:blue")
        axes[1, j].set_yticks(range(len(names))[::-1], names, fontsize=7)
        axes[1, j].set(xlabel="q(M | x, λ)", title=f"top-5 structures, λ = {lam:g}", xlim=(0, 1))
        info[f"{lam:g}"] = {
            "top5": names,
            "probs": probs.tolist(),
            "mean_active": float(np.mean(np.sum(np.asarray(s.active), axis=1))),
        }
    fig.tight_layout()
    return fig, info
