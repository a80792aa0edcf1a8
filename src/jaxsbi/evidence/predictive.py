"""The predictive distribution and the equivalent kernel (PRML §3.3.2–3.3.3).

For a new input x with features φ = φ(x):

    p(t | x, D) = N(t | m_Nᵀφ, 1/β + φᵀS_Nφ)                          (PRML 3.58–3.59)
    k(x, x') = β φ(x)ᵀ S_N φ(x'),   y(x, m_N) = Σ_n k(x, x_n) t_n       (PRML 3.61–3.62)
    cov[y(x), y(x')] = φ(x)ᵀ S_N φ(x') = β⁻¹ k(x, x')                  (PRML 3.63)

Functions take the features of the query points, ``phi_query`` of shape ``(Q, M)`` (from
:func:`~jaxsbi.evidence.design_matrix`), and one posterior.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from jaxsbi.evidence._validate import check_finite, check_precision
from jaxsbi.evidence.posterior import Posterior

__all__ = ["Predictive", "predictive", "predictive_covariance", "equivalent_kernel"]


class Predictive(NamedTuple):
    """Independent Gaussian predictives at Q query points.

    Attributes:
        mean: shape ``(Q,)``.
        variance: of the target t (noise included), shape ``(Q,)``.
    """

    mean: Array
    variance: Array


def _check_query(posterior: Posterior, phi_query, name: str = "phi_query") -> Array:
    m = jnp.shape(posterior.mean)[-1]
    shape = jnp.shape(phi_query)
    if len(shape) != 2 or shape[1] != m:
        raise ValueError(f"{name} must have shape (Q, {m}) to match the posterior; got {shape}")
    check_finite(name, phi_query)
    return jnp.asarray(phi_query, posterior.mean.dtype)


@jax.jit
def _predictive(posterior: Posterior, phi_query: Array, beta: Array) -> Predictive:
    mean = phi_query @ posterior.mean
    # diag(Φ S Φᵀ) without forming the Q×Q matrix.
    model_var = jnp.sum((phi_query @ posterior.cov) * phi_query, axis=1)
    return Predictive(mean, 1.0 / beta + model_var)


def predictive(posterior: Posterior, phi_query, beta) -> Predictive:
    """Mean m_Nᵀφ(x) and variance 1/β + φ(x)ᵀS_Nφ(x) of t at each query point.

    Args:
        posterior: weight posterior, mean ``(M,)``.
        phi_query: features of the query points, shape ``(Q, M)``.
        beta: noise precision β > 0.

    Returns:
        :class:`Predictive` with mean and variance of shape ``(Q,)``.
    """
    phi_query = _check_query(posterior, phi_query)
    beta = check_precision("beta", beta).astype(posterior.mean.dtype)
    return _predictive(posterior, phi_query, beta)


def predictive_covariance(posterior: Posterior, phi_a, phi_b) -> Array:
    """cov[y(x_a), y(x_b)] = φ(x_a)ᵀ S_N φ(x_b) of the noise-free function values.

    For the targets t at the same points add 1/β on the diagonal.

    Args:
        posterior: weight posterior, cov ``(M, M)``.
        phi_a: features, shape ``(Qa, M)``.
        phi_b: features, shape ``(Qb, M)``.

    Returns:
        Shape ``(Qa, Qb)``.
    """
    phi_a = _check_query(posterior, phi_a, "phi_a")
    phi_b = _check_query(posterior, phi_b, "phi_b")
    return phi_a @ posterior.cov @ phi_b.T


def equivalent_kernel(posterior: Posterior, phi_a, phi_b, beta) -> Array:
    """k(x_a, x_b) = β φ(x_a)ᵀ S_N φ(x_b); the predictive mean is ``k(x, X) @ t``.

    Args:
        posterior: weight posterior under a zero-mean prior, cov ``(M, M)``.
        phi_a: features of query points, shape ``(Qa, M)``.
        phi_b: features of (e.g. training) points, shape ``(Qb, M)``.
        beta: noise precision β > 0.

    Returns:
        Shape ``(Qa, Qb)``.
    """
    beta = check_precision("beta", beta).astype(posterior.mean.dtype)
    return beta * predictive_covariance(posterior, phi_a, phi_b)
