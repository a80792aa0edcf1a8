"""Evidence and posterior at N = 10⁶, M = 100, and 10⁴ candidate models in one batched call,
timed against scikit-learn's BayesianRidge on the same CPU.

    python benchmarks/evidence_scaling.py   # -> benchmarks/results/evidence_scaling.json

The data: Φ ~ N(0, 1)^(N×M), w ~ N(0, 1/α), t = Φw + N(0, 1/β) with α = 2, β = 4, in float64 (as
scikit-learn computes). jaxsbi works from the sufficient statistics (ΦᵀΦ, Φᵀt, tᵀt, N): one
O(N M²) pass, then everything else is O(M³) and independent of N.

The 10⁴ candidate models are random feature subsets of the M = 100 columns (each kept with
probability 1/2) over the shared data set: (a) their log evidences at fixed α, β (one Cholesky
each) and (b) each model's own evidence-maximising α, β (one eigendecomposition + fixed point each),
both in one vmapped call ((b) on the first 10³ of them: it needs one 100 × 100
eigendecomposition per model). scikit-learn fits one model at a time from the N × M data,
so its time for
10⁴ models is extrapolated from a few subset fits.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.linear_model import BayesianRidge  # noqa: E402

from jaxsbi import evidence as ev  # noqa: E402
from jaxsbi.evidence.stats import SufficientStats  # noqa: E402

N, M, NUM_MODELS = 1_000_000, 100, 10_000
# Evidence maximisation needs one 100 x 100 eigendecomposition per model (~10 ms on a loaded
# 2-core CPU), so it is timed on the first NUM_FIT_MODELS of the 10⁴ models.
NUM_FIT_MODELS = 1_000
ALPHA, BETA = 2.0, 4.0
OUT = Path(__file__).parent / "results" / "evidence_scaling.json"


def timed(fn, repeats: int = 3) -> tuple[float, float, object]:
    """(first call incl. compilation, median of later calls) in seconds, and the result."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    later = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        later.append(time.perf_counter() - t0)
    return first, statistics.median(later), out


@jax.jit
def _stats(phi, t):
    return SufficientStats(phi.T @ phi, phi.T @ t, t @ t, jnp.asarray(t.shape[0], t.dtype))


def main() -> dict:
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((N, M))
    w = rng.normal(scale=ALPHA**-0.5, size=M)
    t_np = x_np @ w + rng.normal(scale=BETA**-0.5, size=N)
    phi, t = jnp.asarray(x_np), jnp.asarray(t_np)
    results: dict = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "jax": jax.__version__,
            "device_kind": jax.devices()[0].device_kind,
            "backend": jax.default_backend(),
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
            "load_average_at_start": os.getloadavg(),
        },
        "data": {"N": N, "M": M, "dtype": "float64", "true_alpha": ALPHA, "true_beta": BETA},
        "timings_s": {},
    }
    tm = results["timings_s"]

    def record(name, first, steady):
        tm[name] = {"first_call_incl_compile": first, "steady": steady}
        print(f"{name:48s} first {first:8.3f} s   steady {steady:8.3f} s")

    # --- jaxsbi, one data set -------------------------------------------------------------
    first, steady, stats = timed(lambda: _stats(phi, t))
    record("jaxsbi sufficient stats (N x M pass)", first, steady)
    first, steady, _ = timed(lambda: ev.sufficient_stats(phi, t), repeats=1)
    record("jaxsbi sufficient_stats incl. input checks", first, steady)
    first, steady, log_z = timed(lambda: ev.log_evidence(stats, ALPHA, BETA))
    record("jaxsbi log_evidence (from stats)", first, steady)
    first, steady, _ = timed(lambda: ev.posterior(stats, ALPHA, BETA))
    record("jaxsbi posterior (from stats)", first, steady)
    first, steady, fit = timed(lambda: ev.maximise_evidence(stats, 1.0, 1.0 / np.var(t_np)))
    record("jaxsbi maximise_evidence (fixed point)", first, steady)
    tm["jaxsbi end-to-end fit (stats + fixed point)"] = {
        "steady": tm["jaxsbi sufficient stats (N x M pass)"]["steady"]
        + tm["jaxsbi maximise_evidence (fixed point)"]["steady"]
    }

    # --- scikit-learn, one data set --------------------------------------------------------
    def sk_exact():
        return BayesianRidge(
            alpha_1=0.0,
            alpha_2=0.0,
            lambda_1=0.0,
            lambda_2=0.0,
            fit_intercept=False,
            tol=1e-10,
            max_iter=1000,
            compute_score=True,
        ).fit(x_np, t_np)

    t0 = time.perf_counter()
    ref = sk_exact()
    record(
        "sklearn BayesianRidge (hyperpriors off, no intercept)",
        time.perf_counter() - t0,
        time.perf_counter() - t0,
    )
    t0 = time.perf_counter()
    BayesianRidge().fit(x_np, t_np)
    record("sklearn BayesianRidge (defaults)", time.perf_counter() - t0, time.perf_counter() - t0)
    results["agreement_vs_sklearn"] = {
        "alpha_rel": float(abs(fit.alpha / ref.lambda_ - 1)),
        "beta_rel": float(abs(fit.beta / ref.alpha_ - 1)),
        "log_evidence_rel": float(abs(fit.log_evidence / ref.scores_[-1] - 1)),
        "weights_max_abs": float(np.max(np.abs(np.asarray(fit.posterior.mean) - ref.coef_))),
    }
    results["fit"] = {
        "alpha": float(fit.alpha),
        "beta": float(fit.beta),
        "gamma": float(fit.gamma),
        "log_evidence_fitted": float(fit.log_evidence),
        "log_evidence_true_hyper": float(log_z),
        "iterations": int(fit.num_iterations),
    }

    # --- 10⁴ candidate models in one call --------------------------------------------------
    masks = jnp.asarray(rng.random((NUM_MODELS, M)) < 0.5, jnp.float64)
    masks = masks.at[:, 0].set(1.0)  # no empty model
    first, steady, log_zs = timed(
        lambda: ev.log_evidence_models(stats, masks, ALPHA, BETA, batch_size=1000), repeats=1
    )
    record(f"jaxsbi {NUM_MODELS} models, log evidence at fixed alpha, beta", first, steady)
    first, steady, fits = timed(
        lambda: ev.maximise_evidence_models(stats, masks[:NUM_FIT_MODELS], batch_size=500),
        repeats=1,
    )
    record(f"jaxsbi {NUM_FIT_MODELS} models, evidence maximised each", first, steady)
    results["models"] = {
        "num_models": NUM_MODELS,
        "kind": "random feature subsets (keep prob 1/2) over the shared N x M data set",
        "all_finite": bool(jnp.all(jnp.isfinite(log_zs))),
        "fraction_converged": float(jnp.mean(fits.converged)),
        "num_models_evidence_maximised": NUM_FIT_MODELS,
        "best_model_num_features": int(masks[jnp.argmax(fits.log_evidence)].sum()),
    }
    sk_times = []
    for i in range(2):
        cols = np.flatnonzero(np.asarray(masks[i]))
        t0 = time.perf_counter()
        BayesianRidge(
            alpha_1=0.0, alpha_2=0.0, lambda_1=0.0, lambda_2=0.0, fit_intercept=False
        ).fit(x_np[:, cols], t_np)
        sk_times.append(time.perf_counter() - t0)
    per_model = statistics.mean(sk_times)
    tm[f"sklearn {NUM_MODELS} models (extrapolated from 2 fits)"] = {
        "steady": per_model * NUM_MODELS,
        "per_model": per_model,
    }
    print(
        f"sklearn {NUM_MODELS} models: {per_model:.2f} s per model -> "
        f"{per_model * NUM_MODELS / 3600:.1f} h extrapolated"
    )
    print("agreement vs sklearn:", results["agreement_vs_sklearn"])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"wrote {OUT}")
    return results


if __name__ == "__main__":
    main()
