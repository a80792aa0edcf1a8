"""A small Gaussian-process surrogate and expected improvement, in JAX.

Written here rather than taken from tinygp or GPJax: BO over ≤ 20 hyperparameters with ≤ a few
hundred trials needs one exact GP with an ARD Matérn-5/2 kernel, type-II maximum likelihood of
its three kinds of hyperparameters and a closed-form EI — about a hundred lines, with no extra
dependency. Arrays are padded to the full budget with a mask, so the fit and the acquisition
compile once per search instead of once per trial.

Inputs live in the unit cube (the search rescales the box of h); targets are standardised.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import Array

__all__ = ["GPParams", "fit_gp", "gp_predict", "expected_improvement", "propose"]

_JITTER = 1e-6


class GPParams(NamedTuple):
    """log length scales ``(D,)``, log signal variance ``()``, log noise variance ``()``."""

    log_scales: Array
    log_signal: Array
    log_noise: Array


def _matern52(params: GPParams, xa: Array, xb: Array) -> Array:
    scales = jnp.exp(params.log_scales)
    diff = xa[:, None, :] / scales[None, None, :] - xb[None, :, :] / scales[None, None, :]
    r = jnp.sqrt(jnp.sum(diff**2, axis=-1) + 1e-12)
    s5 = jnp.sqrt(5.0) * r
    return jnp.exp(params.log_signal) * (1.0 + s5 + 5.0 / 3.0 * r**2) * jnp.exp(-s5)


def _masked_gram(params: GPParams, x: Array, mask: Array) -> Array:
    # Padded points become independent unit-variance points with target 0: they add a constant
    # to the marginal likelihood and nothing to the posterior.
    mm = mask[:, None] * mask[None, :]
    k = _matern52(params, x, x) * mm
    noise = jnp.exp(params.log_noise) + _JITTER
    return k + jnp.diag(mask * noise + (1.0 - mask))


def _neg_mll(params: GPParams, x: Array, y: Array, mask: Array) -> Array:
    chol = jnp.linalg.cholesky(_masked_gram(params, x, mask))
    alpha = jax.scipy.linalg.cho_solve((chol, True), y * mask)
    # Weak log-normal priors keep the fit sane with very few points.
    prior = (
        0.5 * jnp.sum((params.log_scales - jnp.log(0.3)) ** 2)
        + 0.5 * (params.log_noise - jnp.log(1e-2)) ** 2 / 4.0
    )
    return 0.5 * (y * mask) @ alpha + jnp.sum(jnp.log(jnp.diagonal(chol))) + prior


def fit_gp(x: Array, y: Array, mask: Array, num_steps: int = 150) -> GPParams:
    """Type-II ML fit of the kernel hyperparameters by Adam.

    Args:
        x: inputs in the unit cube, shape ``(B, D)`` (padded).
        y: standardised targets, shape ``(B,)``.
        mask: 1 for real points, 0 for padding, shape ``(B,)``.
    """
    d = x.shape[1]
    params = GPParams(
        jnp.full((d,), jnp.log(0.3), x.dtype),
        jnp.zeros((), x.dtype),
        jnp.asarray(jnp.log(1e-2), x.dtype),
    )
    opt = optax.adam(0.05)

    def step(carry, _):
        p, s = carry
        g = jax.grad(_neg_mll)(p, x, y, mask)
        upd, s = opt.update(g, s, p)
        p = optax.apply_updates(p, upd)
        p = GPParams(
            jnp.clip(p.log_scales, jnp.log(1e-2), jnp.log(10.0)),
            jnp.clip(p.log_signal, -3.0, 3.0),
            jnp.clip(p.log_noise, jnp.log(1e-6), 0.0),
        )
        return (p, s), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=num_steps)
    return params


def gp_predict(params: GPParams, x: Array, y: Array, mask: Array, xq: Array):
    """Posterior mean and standard deviation of the latent function at ``xq`` ``(Q, D)``."""
    chol = jnp.linalg.cholesky(_masked_gram(params, x, mask))
    kq = _matern52(params, xq, x) * mask[None, :]
    mean = kq @ jax.scipy.linalg.cho_solve((chol, True), y * mask)
    w = jax.scipy.linalg.solve_triangular(chol, kq.T, lower=True)
    var = jnp.exp(params.log_signal) - jnp.sum(w**2, axis=0)
    return mean, jnp.sqrt(jnp.maximum(var, 1e-12))


def expected_improvement(mean: Array, sd: Array, best: Array, xi: float = 0.01) -> Array:
    """EI for minimisation: E[max(best − ξ − f, 0)] under f ~ N(mean, sd²)."""
    z = (best - xi - mean) / sd
    return sd * (z * jax.scipy.stats.norm.cdf(z) + jax.scipy.stats.norm.pdf(z))


@jax.jit
def propose(key: Array, x: Array, y_raw: Array, mask: Array) -> tuple[Array, Array]:
    """The next point in the unit cube: EI maximised over random and local candidates.

    Args:
        key: PRNG key.
        x: evaluated points in the unit cube, shape ``(B, D)``, padded.
        y_raw: their objective values (non-finite already replaced), shape ``(B,)``.
        mask: 1 for evaluated points, shape ``(B,)``.

    Returns:
        ``(x_next (D,), max EI)``.
    """
    n = jnp.sum(mask)
    mu = jnp.sum(y_raw * mask) / n
    sd = jnp.sqrt(jnp.sum(((y_raw - mu) * mask) ** 2) / n) + 1e-9
    y = (y_raw - mu) / sd * mask
    params = fit_gp(x, y, mask)
    best_i = jnp.argmin(jnp.where(mask > 0, y, jnp.inf))
    k1, k2 = jax.random.split(key)
    d = x.shape[1]
    uniform = jax.random.uniform(k1, (2048, d), x.dtype)
    local = jnp.clip(x[best_i][None, :] + 0.05 * jax.random.normal(k2, (512, d), x.dtype), 0, 1)
    cand = jnp.concatenate([uniform, local])
    mean, s = gp_predict(params, x, y, mask, cand)
    ei = expected_improvement(mean, s, y[best_i])
    i = jnp.argmax(ei)
    return cand[i], ei[i]
