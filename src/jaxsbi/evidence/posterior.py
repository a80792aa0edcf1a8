"""The posterior over weights w of t = Φw + ε, ε ~ N(0, β⁻¹I) (PRML §3.3.1).

Isotropic prior N(0, α⁻¹I):  S_N⁻¹ = A = αI + βΦᵀΦ,  m_N = β S_N Φᵀt  (eqs. 3.53–3.54).
General prior N(m_0, S_0):    S_N⁻¹ = S_0⁻¹ + βΦᵀΦ,  m_N = S_N(S_0⁻¹m_0 + βΦᵀt)  (eqs. 3.50–3.51).

No matrix is inverted explicitly: the isotropic case factors A by Cholesky; the general case
whitens the prior, w = m_0 + L_0 v with S_0 = L_0 L_0ᵀ, so that the only factorisation is of the
well-conditioned B = I + β L_0ᵀΦᵀΦ L_0 and S_0 itself never has to be inverted.

Sequential (online) updating uses the posterior after one chunk as the prior for the next; in
exact arithmetic it equals the batch posterior.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jax import Array

from jaxsbi.evidence._validate import (
    check_design,
    check_finite,
    check_precision,
    concrete,
    float_dtype,
)
from jaxsbi.evidence.stats import SufficientStats, check_stats, sufficient_stats

__all__ = [
    "Posterior",
    "posterior",
    "posterior_gaussian_prior",
    "update_posterior",
    "sequential_posterior",
]


class Posterior(NamedTuple):
    """A Gaussian over weights.

    Attributes:
        mean: m_N, shape ``(M,)``.
        cov: S_N, shape ``(M, M)``.
    """

    mean: Array
    cov: Array


def _symmetrise(a: Array) -> Array:
    return 0.5 * (a + a.T)


@jax.jit
def _posterior_isotropic(stats: SufficientStats, alpha: Array, beta: Array) -> Posterior:
    m = stats.phi_t.shape[0]
    eye = jnp.eye(m, dtype=stats.gram.dtype)
    a_chol = jsl.cho_factor(alpha * eye + beta * stats.gram, lower=True)
    mean = beta * jsl.cho_solve(a_chol, stats.phi_t)
    # S_N is an output, so it has to be formed; it is a solve against I, never used to solve.
    cov = _symmetrise(jsl.cho_solve(a_chol, eye))
    return Posterior(mean, cov)


def posterior(stats: SufficientStats, alpha, beta) -> Posterior:
    """Posterior under the isotropic prior N(0, α⁻¹I) with noise precision β.

    A rank-deficient Φ is fine: A = αI + βΦᵀΦ is positive definite for every α > 0.

    Args:
        stats: :func:`~jaxsbi.evidence.sufficient_stats` of (Φ, t), M features.
        alpha: prior (weight) precision α > 0, scalar.
        beta: noise precision β > 0, scalar.

    Returns:
        :class:`Posterior` with mean ``(M,)`` and covariance ``(M, M)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxsbi.evidence import polynomial_basis, design_matrix, sufficient_stats
        >>> x = jnp.linspace(0.0, 1.0, 10)
        >>> stats = sufficient_stats(design_matrix(polynomial_basis(1), x), 2.0 * x)
        >>> posterior(stats, 1e-6, 100.0).mean.round(3)
        Array([0., 2.], dtype=float32)
    """
    check_stats(stats)
    dtype = stats.gram.dtype
    alpha = check_precision("alpha", alpha).astype(dtype)
    beta = check_precision("beta", beta).astype(dtype)
    return _posterior_isotropic(stats, alpha, beta)


@jax.jit
def _posterior_general(
    stats: SufficientStats, prior_mean: Array, prior_cov: Array, beta: Array
) -> Posterior:
    m = stats.phi_t.shape[0]
    eye = jnp.eye(m, dtype=stats.gram.dtype)
    l0 = jnp.linalg.cholesky(_symmetrise(prior_cov))
    b_chol = jsl.cho_factor(eye + beta * (l0.T @ stats.gram @ l0), lower=True)
    # Φᵀ(t − Φm_0): the data's pull away from the prior mean.
    resid_proj = stats.phi_t - stats.gram @ prior_mean
    mean = prior_mean + beta * (l0 @ jsl.cho_solve(b_chol, l0.T @ resid_proj))
    # S_N = L_0 B⁻¹ L_0ᵀ = (L_0 C⁻ᵀ)(L_0 C⁻ᵀ)ᵀ with B = C Cᵀ.
    half = jsl.solve_triangular(b_chol[0], l0.T, lower=True).T
    return Posterior(mean, _symmetrise(half @ half.T))


def _check_prior(prior_mean, prior_cov, m: int | None, dtype) -> tuple[Array, Array]:
    prior_mean = jnp.asarray(prior_mean, dtype)
    prior_cov = jnp.asarray(prior_cov, dtype)
    mm = prior_mean.shape[0] if prior_mean.ndim == 1 else None
    if prior_mean.ndim != 1 or prior_cov.shape != (mm, mm) or (m is not None and mm != m):
        raise ValueError(
            f"prior_mean must have shape (M,) and prior_cov (M, M) with M = {m}; got "
            f"{prior_mean.shape} and {prior_cov.shape}"
        )
    check_finite("prior_mean", prior_mean)
    check_finite("prior_cov", prior_cov)
    cov = concrete(prior_cov)
    if cov is not None:
        if not np.allclose(cov, cov.T, rtol=1e-5, atol=0.0):
            raise ValueError("prior_cov must be symmetric")
        try:
            np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ValueError(
                "prior_cov must be positive definite (its Cholesky factorisation failed); "
                f"smallest eigenvalue {np.linalg.eigvalsh(cov).min():.3g}"
            ) from None
    return prior_mean, prior_cov


def posterior_gaussian_prior(stats: SufficientStats, prior_mean, prior_cov, beta) -> Posterior:
    """Posterior under a general Gaussian prior N(m_0, S_0) with noise precision β.

    Args:
        stats: sufficient statistics, M features.
        prior_mean: m_0, shape ``(M,)``.
        prior_cov: S_0, shape ``(M, M)``, symmetric positive definite.
        beta: noise precision β > 0.

    Returns:
        :class:`Posterior`.
    """
    m = check_stats(stats)
    dtype = stats.gram.dtype
    prior_mean, prior_cov = _check_prior(prior_mean, prior_cov, m, dtype)
    beta = check_precision("beta", beta).astype(dtype)
    return _posterior_general(stats, prior_mean, prior_cov, beta)


def update_posterior(prior: Posterior, phi, t, beta) -> Posterior:
    """One online step: condition ``prior`` on a new chunk (Φ, t) of data.

    Args:
        prior: the current belief (e.g. the previous posterior), mean ``(M,)``, cov ``(M, M)``.
        phi: the new rows of the design matrix, shape ``(N_chunk, M)``.
        t: the new targets, shape ``(N_chunk,)``.
        beta: noise precision β > 0.

    Returns:
        The updated :class:`Posterior`.
    """
    return posterior_gaussian_prior(sufficient_stats(phi, t), prior.mean, prior.cov, beta)


@jax.jit
def _scan_chunks(prior: Posterior, phi_chunks: Array, t_chunks: Array, beta: Array):
    def step(belief, chunk):
        phi_c, t_c = chunk
        stats = SufficientStats(
            phi_c.T @ phi_c, phi_c.T @ t_c, t_c @ t_c, jnp.asarray(t_c.shape[0], t_c.dtype)
        )
        new = _posterior_general(stats, belief.mean, belief.cov, beta)
        return new, new

    return jax.lax.scan(step, prior, (phi_chunks, t_chunks))


def sequential_posterior(
    prior: Posterior, phi, t, beta, chunk_size: int = 1
) -> tuple[Posterior, Posterior]:
    """Online updating over the data in chunks, in one ``lax.scan``.

    The last chunk is padded with zero rows (Φ row 0, t = 0), which carry no information, so the
    result is the posterior given exactly the N data points.

    Args:
        prior: the initial belief, e.g. ``Posterior(zeros(M), eye(M) / alpha)``.
        phi: shape ``(N, M)``.
        t: shape ``(N,)``.
        beta: noise precision β > 0.
        chunk_size: rows per update (1 = one point at a time, as in PRML Fig. 3.7).

    Returns:
        ``(final, history)``: the posterior after all data, and the posterior after each chunk
        stacked along a leading axis of length ceil(N / chunk_size).
    """
    check_design(phi, t)
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}")
    dtype = float_dtype(phi, t, prior.mean)
    phi = jnp.asarray(phi, dtype)
    t = jnp.asarray(t, dtype)
    n, m = phi.shape
    prior = Posterior(*_check_prior(prior.mean, prior.cov, m, dtype))
    beta = check_precision("beta", beta).astype(dtype)
    num_chunks = -(-n // chunk_size)
    pad = num_chunks * chunk_size - n
    phi = jnp.concatenate([phi, jnp.zeros((pad, m), dtype)]).reshape(num_chunks, chunk_size, m)
    t = jnp.concatenate([t, jnp.zeros((pad,), dtype)]).reshape(num_chunks, chunk_size)
    return _scan_chunks(prior, phi, t, beta)
