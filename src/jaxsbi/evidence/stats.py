"""Sufficient statistics of a Gaussian linear model: ΦᵀΦ, Φᵀt, tᵀt and N.

Everything in :mod:`jaxsbi.evidence` works from these: once they are computed (one pass over
the data, O(N M²)), the posterior, the evidence and each fixed-point iteration cost O(M³) or
less, independent of N. That keeps N = 10⁶ cheap and lets many models share one data set.

The price is the usual one for normal equations: the residual ‖t − Φm‖² is recovered as
tᵀt − 2mᵀΦᵀt + mᵀΦᵀΦm, which loses about log10(tᵀt / ‖t − Φm‖²) digits. In float64 that is
harmless; in float32, for fits with residuals far below the target scale, use float64.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from jaxsbi.evidence._validate import check_design, check_finite, concrete, float_dtype

__all__ = ["SufficientStats", "sufficient_stats", "merge_stats", "mask_stats", "check_stats"]


class SufficientStats(NamedTuple):
    """What the data contribute to a Gaussian linear model.

    Attributes:
        gram: ΦᵀΦ, shape ``(M, M)``.
        phi_t: Φᵀt, shape ``(M,)``.
        t_t: tᵀt, shape ``()``.
        num_points: N as a float, shape ``()``.
    """

    gram: Array
    phi_t: Array
    t_t: Array
    num_points: Array


def sufficient_stats(phi, t) -> SufficientStats:
    """The sufficient statistics of one data set.

    Args:
        phi: design matrix Φ, shape ``(N, M)``, N ≥ 1, finite.
        t: targets, shape ``(N,)``, finite (NaN targets are an error: drop those rows).

    Returns:
        :class:`SufficientStats` in the floating dtype of the inputs.

    Raises:
        ValueError: on mismatched shapes, N = 0, M = 0, or non-finite values.
    """
    check_design(phi, t)
    dtype = float_dtype(phi, t)
    return _sufficient_stats(jnp.asarray(phi, dtype), jnp.asarray(t, dtype))


@jax.jit
def _sufficient_stats(phi: Array, t: Array) -> SufficientStats:
    # Compiled so that XLA reads Φ once; eager Φ.T @ Φ materialises the transpose first.
    return SufficientStats(phi.T @ phi, phi.T @ t, t @ t, jnp.asarray(t.shape[0], t.dtype))


def merge_stats(a: SufficientStats, b: SufficientStats) -> SufficientStats:
    """Statistics of the union of two data sets (the sum); enables chunked passes over data."""
    return SufficientStats(*(x + y for x, y in zip(a, b, strict=True)))


def mask_stats(stats: SufficientStats, mask) -> SufficientStats:
    """Statistics of the sub-model that keeps only the basis functions where ``mask`` is 1.

    Dropped columns of Φ become zero columns. A zero column is exact: its weight keeps its prior
    N(0, α⁻¹), contributes (1/2)ln α − (1/2)ln α = 0 to the log evidence and 0 to γ, so a masked
    M-feature model has exactly the evidence and posterior of the smaller model. This is what lets
    models of different sizes be vmapped together.

    Args:
        stats: statistics with M features.
        mask: shape ``(M,)``, 1 (keep) or 0 (drop).
    """
    mask = jnp.asarray(mask, stats.gram.dtype)
    return SufficientStats(
        gram=stats.gram * mask[:, None] * mask[None, :],
        phi_t=stats.phi_t * mask,
        t_t=stats.t_t,
        num_points=stats.num_points,
    )


def check_stats(stats: SufficientStats) -> int:
    """Shape (and, when concrete, value) checks; returns M."""
    if not isinstance(stats, SufficientStats):
        raise TypeError(
            f"expected SufficientStats (from sufficient_stats(phi, t)); got {type(stats).__name__}"
        )
    m = jnp.shape(stats.phi_t)[-1] if jnp.ndim(stats.phi_t) else 0
    if jnp.ndim(stats.phi_t) != 1 or jnp.shape(stats.gram) != (m, m):
        raise ValueError(
            f"stats must hold gram (M, M) and phi_t (M,) for one data set; got gram "
            f"{jnp.shape(stats.gram)} and phi_t {jnp.shape(stats.phi_t)} (batch with jax.vmap or "
            "the *_batch helpers)"
        )
    if jnp.ndim(stats.t_t) != 0 or jnp.ndim(stats.num_points) != 0:
        raise ValueError("stats.t_t and stats.num_points must be scalars")
    n = concrete(stats.num_points)
    if n is not None and not n > 0:
        raise ValueError(f"N = {n}: no data points; the posterior is the prior")
    check_finite("stats.gram", stats.gram)
    check_finite("stats.phi_t", stats.phi_t)
    return m
