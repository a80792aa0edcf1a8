"""Bayesian model comparison over a set of linear-Gaussian models (PRML §3.4).

A model set is one design matrix holding every candidate feature plus a ``(K, M)`` 0/1 mask:
model k uses the columns where ``masks[k]`` is 1. Dropping a column is exact (see
:func:`~jaxsbi.evidence.mask_stats`), so models of different sizes — polynomial degrees 0–9,
different basis families side by side, random feature subsets — are evaluated together in one
vmapped call from one set of sufficient statistics.

    p(M_k | D) ∝ p(D | M_k) p(M_k),      ln B_ij = ln p(D | M_i) − ln p(D | M_j),
    p(t | x, D) = Σ_k p(M_k | D) p(t | x, M_k, D)                   (PRML 3.66–3.67, 3.72)
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import logsumexp, ndtr

from jaxsbi.evidence._validate import check_finite, check_precision, concrete
from jaxsbi.evidence.evidence import _log_evidence_impl
from jaxsbi.evidence.maximise import EvidenceFit, _fixed_point_impl, _inits, default_tol
from jaxsbi.evidence.predictive import Predictive, _predictive
from jaxsbi.evidence.stats import SufficientStats, check_stats, mask_stats

__all__ = [
    "nested_masks",
    "block_masks",
    "log_evidence_models",
    "maximise_evidence_models",
    "ModelComparison",
    "compare_models",
    "log_bayes_factors",
    "MixturePredictive",
    "predictive_models",
    "mixture_moments",
    "mixture_cdf",
    "mixture_log_density",
    "mixture_interval",
]


def nested_masks(num_features: int) -> Array:
    """Model k uses the first k + 1 features (polynomial degree k); shape ``(M, M)``."""
    return jnp.tril(jnp.ones((num_features, num_features)))


def block_masks(sizes) -> Array:
    """Model k uses the k-th block of ``sizes[k]`` consecutive features (one basis family each,
    after :func:`~jaxsbi.evidence.concat_bases`); shape ``(K, sum(sizes))``."""
    sizes = [int(s) for s in sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive block sizes; got {sizes}")
    edges = np.cumsum([0, *sizes])
    cols = np.arange(edges[-1])
    return jnp.asarray(
        [(cols >= lo) & (cols < hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)],
        jnp.float32,
    )


def _check_masks(masks, m: int, dtype) -> Array:
    shape = jnp.shape(masks)
    if len(shape) != 2 or shape[1] != m:
        raise ValueError(f"masks must have shape (num_models, {m}); got {shape}")
    value = concrete(masks)
    if value is not None:
        if not np.all((value == 0) | (value == 1)):
            raise ValueError("masks must contain only 0 (drop) and 1 (keep)")
        empty = np.flatnonzero(value.sum(axis=1) == 0)
        if empty.size:
            raise ValueError(f"model(s) {empty[:5].tolist()} keep no feature at all")
    return jnp.asarray(masks, dtype)


def _map(fn, xs, batch_size):
    # lax.map with batch_size vmaps chunks of that many models: bounded memory, one call.
    return jax.vmap(fn)(xs) if batch_size is None else jax.lax.map(fn, xs, batch_size=batch_size)


def _per_model(x, k: int, dtype, name: str) -> Array:
    return jnp.broadcast_to(check_precision(name, x, allow_batch=True).astype(dtype), (k,))


def log_evidence_models(
    stats: SufficientStats, masks, alpha, beta, *, batch_size: int | None = None
) -> Array:
    """ln p(t | α, β, M_k) for every model k at given hyperparameters, in one call.

    Args:
        stats: statistics of the full design (all candidate features), M features.
        masks: shape ``(K, M)``, 0/1.
        alpha: scalar or ``(K,)``.
        beta: scalar or ``(K,)``.
        batch_size: evaluate this many models at a time (bounds memory for large K).

    Returns:
        Shape ``(K,)``.
    """
    m = check_stats(stats)
    dtype = stats.gram.dtype
    masks = _check_masks(masks, m, dtype)
    k = masks.shape[0]
    alpha, beta = _per_model(alpha, k, dtype, "alpha"), _per_model(beta, k, dtype, "beta")
    return _log_evidence_models(stats, masks, alpha, beta, batch_size=batch_size)


@functools.partial(jax.jit, static_argnames=("batch_size",))
def _log_evidence_models(stats, masks, alpha, beta, batch_size):
    return _map(
        lambda a: _log_evidence_impl(mask_stats(stats, a[0]), a[1], a[2]),
        (masks, alpha, beta),
        batch_size,
    )


def maximise_evidence_models(
    stats: SufficientStats,
    masks,
    alpha_init=None,
    beta_init=None,
    *,
    tol: float | None = None,
    max_iter: int = 1000,
    update_alpha: bool = True,
    update_beta: bool = True,
    batch_size: int | None = None,
) -> EvidenceFit:
    """The fixed-point evidence maximisation of every model, in one vmapped call.

    Args:
        stats: statistics of the full design, M features.
        masks: shape ``(K, M)``, 0/1.
        alpha_init, beta_init: scalars shared by all models (defaults as in
            :func:`~jaxsbi.evidence.maximise_evidence`).
        tol, max_iter, update_alpha, update_beta: as in
            :func:`~jaxsbi.evidence.maximise_evidence`.
        batch_size: fit this many models at a time.

    Returns:
        :class:`EvidenceFit` with a leading model axis of length K on every field; posteriors
        are over all M features, with dropped ones at their prior N(0, α⁻¹).
    """
    m = check_stats(stats)
    dtype = stats.gram.dtype
    masks = _check_masks(masks, m, dtype)
    alpha, beta = _inits(stats, alpha_init, beta_init, dtype)
    tol = default_tol(dtype) if tol is None else tol
    return _fit_models(
        stats,
        masks,
        alpha,
        beta,
        jnp.asarray(tol, dtype),
        jnp.asarray(max_iter, jnp.int32),
        update_alpha=update_alpha,
        update_beta=update_beta,
        batch_size=batch_size,
    )


@functools.partial(jax.jit, static_argnames=("update_alpha", "update_beta", "batch_size"))
def _fit_models(stats, masks, alpha, beta, tol, max_iter, update_alpha, update_beta, batch_size):
    def fit(mask):
        return _fixed_point_impl(
            mask_stats(stats, mask), alpha, beta, tol, max_iter, update_alpha, update_beta
        )

    return _map(fit, masks, batch_size)


class ModelComparison(NamedTuple):
    """Posterior over K models.

    Attributes:
        log_evidence: ln p(D | M_k), shape ``(K,)``.
        log_prior: ln p(M_k), shape ``(K,)``.
        log_posterior: ln p(M_k | D), shape ``(K,)``.
        posterior_probs: p(M_k | D), shape ``(K,)``.
    """

    log_evidence: Array
    log_prior: Array
    log_posterior: Array
    posterior_probs: Array


def compare_models(log_evidences, model_prior=None) -> ModelComparison:
    """Posterior model probabilities p(M_k | D) ∝ p(D | M_k) p(M_k).

    Args:
        log_evidences: shape ``(K,)``, finite.
        model_prior: p(M_k), shape ``(K,)``, non-negative (normalised here); default uniform.

    Returns:
        :class:`ModelComparison`.
    """
    log_evidences = jnp.asarray(log_evidences)
    if log_evidences.ndim != 1 or log_evidences.shape[0] == 0:
        raise ValueError(f"log_evidences must have shape (K,), K ≥ 1; got {log_evidences.shape}")
    check_finite("log_evidences", log_evidences)
    k = log_evidences.shape[0]
    if model_prior is None:
        log_prior = jnp.full((k,), -jnp.log(k), log_evidences.dtype)
    else:
        prior = jnp.asarray(model_prior, log_evidences.dtype)
        value = concrete(prior)
        if prior.shape != (k,):
            raise ValueError(f"model_prior must have shape (K,) = ({k},); got {prior.shape}")
        if value is not None and not (np.all(value >= 0) and np.isfinite(value).all()):
            raise ValueError(f"model_prior must be finite and non-negative; got {value}")
        if value is not None and not value.sum() > 0:
            raise ValueError(f"model_prior must have positive total mass; got {value}")
        log_prior = jnp.log(prior) - jnp.log(jnp.sum(prior))
    joint = log_evidences + log_prior
    log_post = joint - logsumexp(joint)
    return ModelComparison(log_evidences, log_prior, log_post, jnp.exp(log_post))


def log_bayes_factors(log_evidences) -> Array:
    """ln B_ij = ln p(D | M_i) − ln p(D | M_j); shape ``(K, K)``."""
    log_evidences = jnp.asarray(log_evidences)
    if log_evidences.ndim != 1:
        raise ValueError(f"log_evidences must have shape (K,); got {log_evidences.shape}")
    return log_evidences[:, None] - log_evidences[None, :]


class MixturePredictive(NamedTuple):
    """A mixture of Gaussians per query point: the model-averaged predictive.

    Attributes:
        weights: p(M_k | D), shape ``(K,)``.
        means: shape ``(K, Q)``.
        variances: shape ``(K, Q)``.
    """

    weights: Array
    means: Array
    variances: Array


def predictive_models(fits: EvidenceFit, masks, phi_query) -> Predictive:
    """Each model's predictive at the query points, from batched fits.

    Args:
        fits: from :func:`maximise_evidence_models`, leading axis K.
        masks: shape ``(K, M)``; the query features are masked like the model's.
        phi_query: features of all candidate basis functions, shape ``(Q, M)``.

    Returns:
        :class:`Predictive` with mean and variance of shape ``(K, Q)``.
    """
    m = jnp.shape(fits.posterior.mean)[-1]
    masks = _check_masks(masks, m, fits.posterior.mean.dtype)
    if jnp.ndim(phi_query) != 2 or jnp.shape(phi_query)[1] != m:
        raise ValueError(f"phi_query must have shape (Q, {m}); got {jnp.shape(phi_query)}")
    phi_query = jnp.asarray(phi_query, masks.dtype)
    return jax.vmap(lambda post, beta, mask: _predictive(post, phi_query * mask[None, :], beta))(
        fits.posterior, fits.beta, masks
    )


def mixture_moments(mixture: MixturePredictive) -> Predictive:
    """Mean and variance of the mixture at each query point (law of total variance)."""
    w = mixture.weights[:, None]
    mean = jnp.sum(w * mixture.means, axis=0)
    second = jnp.sum(w * (mixture.variances + mixture.means**2), axis=0)
    return Predictive(mean, jnp.maximum(second - mean**2, 0.0))


def mixture_cdf(mixture: MixturePredictive, t) -> Array:
    """P(T ≤ t) at each query point, t of shape ``(Q,)``; uniform on held-out t if calibrated."""
    z = (jnp.asarray(t)[None, :] - mixture.means) / jnp.sqrt(mixture.variances)
    return jnp.sum(mixture.weights[:, None] * ndtr(z), axis=0)


def mixture_log_density(mixture: MixturePredictive, t) -> Array:
    """ln p(t | x, D) at each query point; t has shape ``(Q,)``."""
    t = jnp.asarray(t)[None, :]
    log_comp = -0.5 * (
        jnp.log(2.0 * jnp.pi * mixture.variances) + (t - mixture.means) ** 2 / mixture.variances
    )
    return logsumexp(log_comp + jnp.log(mixture.weights)[:, None], axis=0)


def mixture_interval(mixture: MixturePredictive, level: float = 0.9) -> tuple[Array, Array]:
    """The central ``level`` interval of the mixture at each point, by bisection on the CDF.

    Returns:
        ``(lower, upper)``, each of shape ``(Q,)``.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level}")
    sd = jnp.sqrt(mixture.variances)
    lo0 = jnp.min(mixture.means - 10.0 * sd, axis=0)
    hi0 = jnp.max(mixture.means + 10.0 * sd, axis=0)

    def quantile(q):
        def step(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            below = mixture_cdf(mixture, mid) < q
            return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

        lo, hi = jax.lax.fori_loop(0, 60, step, (lo0, hi0))
        return 0.5 * (lo + hi)

    return quantile(0.5 * (1.0 - level)), quantile(0.5 * (1.0 + level))
