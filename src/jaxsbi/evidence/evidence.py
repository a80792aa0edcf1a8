"""The log marginal likelihood ("evidence") ln p(t | α, β) of the linear-Gaussian model.

With A = αI + βΦᵀΦ, m_N = βA⁻¹Φᵀt and E(m_N) = (β/2)‖t − Φm_N‖² + (α/2)m_Nᵀm_N,

    ln p(t|α, β) = (M/2) ln α + (N/2) ln β − E(m_N) − (1/2) ln|A| − (N/2) ln 2π    (PRML 3.86),

which equals ln N(t | 0, β⁻¹I + α⁻¹ΦΦᵀ) but costs O(M³) from the sufficient statistics instead
of O(N³). ln|A| comes from a Cholesky factor; nothing is inverted. Gradients in α and β are by
autodiff (``jax.grad`` through the Cholesky factorisation).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jax import Array

from jaxsbi.evidence._validate import check_precision
from jaxsbi.evidence.posterior import _check_prior, _symmetrise
from jaxsbi.evidence.stats import SufficientStats, check_stats

__all__ = [
    "log_evidence",
    "log_evidence_gaussian_prior",
    "log_evidence_batch",
    "effective_num_params",
]

_LOG_2PI = 1.8378770664093453


def _log_evidence_impl(stats: SufficientStats, alpha: Array, beta: Array) -> Array:
    m = stats.phi_t.shape[0]
    n = stats.num_points
    a_chol = jnp.linalg.cholesky(alpha * jnp.eye(m, dtype=stats.gram.dtype) + beta * stats.gram)
    mean = beta * jsl.cho_solve((a_chol, True), stats.phi_t)
    # Clamped: in finite precision t'Φ cancellation can push a near-zero residual below zero.
    sse = jnp.maximum(stats.t_t - 2.0 * mean @ stats.phi_t + mean @ stats.gram @ mean, 0.0)
    energy = 0.5 * beta * sse + 0.5 * alpha * (mean @ mean)
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(a_chol)))
    return (
        0.5 * m * jnp.log(alpha)
        + 0.5 * n * jnp.log(beta)
        - energy
        - 0.5 * log_det
        - 0.5 * n * _LOG_2PI
    )


_log_evidence = jax.jit(_log_evidence_impl)


def log_evidence(stats: SufficientStats, alpha, beta) -> Array:
    """ln p(t | α, β) under the prior N(0, α⁻¹I) and noise precision β (PRML eq. 3.86).

    Well defined for every α, β > 0, also when Φ is rank deficient. Differentiable in α and β
    (and in the statistics), and safe to ``jit``/``vmap`` (value checks are then skipped).

    Args:
        stats: sufficient statistics of (Φ, t), M features.
        alpha: weight precision α > 0 (scikit-learn's ``lambda_``).
        beta: noise precision β > 0 (scikit-learn's ``alpha_``).

    Returns:
        The log evidence, shape ``()``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxsbi.evidence import sufficient_stats
        >>> stats = sufficient_stats(jnp.ones((3, 1)), jnp.array([0.1, -0.2, 0.3]))
        >>> grad = jax.grad(log_evidence, argnums=(1, 2))(stats, 1.0, 25.0)
    """
    check_stats(stats)
    dtype = stats.gram.dtype
    alpha = check_precision("alpha", alpha).astype(dtype)
    beta = check_precision("beta", beta).astype(dtype)
    return _log_evidence(stats, alpha, beta)


@jax.jit
def _log_evidence_gaussian_prior(
    stats: SufficientStats, prior_mean: Array, prior_cov: Array, beta: Array
) -> Array:
    m = stats.phi_t.shape[0]
    n = stats.num_points
    l0 = jnp.linalg.cholesky(_symmetrise(prior_cov))
    b_chol = jnp.linalg.cholesky(jnp.eye(m, dtype=stats.gram.dtype) + beta * l0.T @ stats.gram @ l0)
    # Residual about the prior mean, r_0 = t − Φm_0, through its statistics.
    r_r = stats.t_t - 2.0 * prior_mean @ stats.phi_t + prior_mean @ stats.gram @ prior_mean
    z = jsl.solve_triangular(b_chol, l0.T @ (stats.phi_t - stats.gram @ prior_mean), lower=True)
    # Woodbury + determinant lemma for N(t | Φm_0, β⁻¹I + ΦS_0Φᵀ).
    quad = jnp.maximum(beta * r_r - beta**2 * (z @ z), 0.0)
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(b_chol))) - n * jnp.log(beta)
    return -0.5 * (n * _LOG_2PI + log_det + quad)


def log_evidence_gaussian_prior(stats: SufficientStats, prior_mean, prior_cov, beta) -> Array:
    """ln N(t | Φm_0, β⁻¹I + ΦS_0Φᵀ): the evidence under a general prior N(m_0, S_0).

    With the previous posterior as prior this is the predictive log density of a new chunk, so
    summing it over chunks of a sequential pass gives the log evidence of all the data.

    Args:
        stats: sufficient statistics, M features.
        prior_mean: m_0, shape ``(M,)``.
        prior_cov: S_0, shape ``(M, M)``, positive definite.
        beta: noise precision β > 0.

    Returns:
        The log evidence, shape ``()``.
    """
    m = check_stats(stats)
    dtype = stats.gram.dtype
    prior_mean, prior_cov = _check_prior(prior_mean, prior_cov, m, dtype)
    beta = check_precision("beta", beta).astype(dtype)
    return _log_evidence_gaussian_prior(stats, prior_mean, prior_cov, beta)


@jax.jit
def _log_evidence_vmapped(stats: SufficientStats, alpha: Array, beta: Array) -> Array:
    return jax.vmap(_log_evidence_impl)(stats, alpha, beta)


def log_evidence_batch(stats: SufficientStats, alpha, beta) -> Array:
    """Log evidences of many data sets in one vmapped call.

    Args:
        stats: statistics with a leading batch axis: gram ``(B, M, M)``, phi_t ``(B, M)``,
            t_t ``(B,)``, num_points ``(B,)`` (e.g. ``jax.vmap(sufficient_stats)(phis, ts)``).
        alpha: scalar or shape ``(B,)``.
        beta: scalar or shape ``(B,)``.

    Returns:
        Shape ``(B,)``.
    """
    if jnp.ndim(stats.gram) != 3:
        raise ValueError(f"stats.gram must be (B, M, M) for a batch; got {jnp.shape(stats.gram)}")
    check_stats(jax.tree.map(lambda x: x[0], stats))
    b = stats.gram.shape[0]
    dtype = stats.gram.dtype
    alpha = jnp.broadcast_to(check_precision("alpha", alpha, allow_batch=True).astype(dtype), (b,))
    beta = jnp.broadcast_to(check_precision("beta", beta, allow_batch=True).astype(dtype), (b,))
    return _log_evidence_vmapped(stats, alpha, beta)


@jax.jit
def _effective_num_params(stats: SufficientStats, alpha: Array, beta: Array) -> Array:
    evals = jnp.maximum(jnp.linalg.eigvalsh(_symmetrise(stats.gram)), 0.0)
    return jnp.sum(beta * evals / (alpha + beta * evals))


def effective_num_params(stats: SufficientStats, alpha, beta) -> Array:
    """γ = Σ_i λ_i / (α + λ_i), λ_i the eigenvalues of βΦᵀΦ (PRML eq. 3.91).

    The number of well-determined parameters: between 0 (α → ∞) and rank(Φ) (α → 0).
    """
    check_stats(stats)
    dtype = stats.gram.dtype
    alpha = check_precision("alpha", alpha).astype(dtype)
    beta = check_precision("beta", beta).astype(dtype)
    return _effective_num_params(stats, alpha, beta)
