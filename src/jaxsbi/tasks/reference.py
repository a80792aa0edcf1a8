"""Exact reference posterior samplers for the sbibm tasks whose posterior is analytic.

| task | posterior p(θ | x) | sampler |
|---|---|---|---|
| gaussian_linear | N(x/2, 0.05·I) | direct |
| gaussian_linear_uniform | N(x, 0.1·I) truncated to [−1, 1]¹⁰ | per-coordinate inverse CDF |
| gaussian_mixture | Σ_k w_k N(x, σ_k² I) truncated to [−10, 10]², w_k ∝ mass in the box | direct |
| two_moons | inversion of the simulator | vectorised rejection |

All four are exact (no MCMC, no approximation beyond float32). The truncated normals are drawn by
inverting the CDF in log space, which stays accurate far in the tails where
``jax.random.truncated_normal`` collapses onto the bounds.

Example:
    >>> import jax, jax.numpy as jnp
    >>> theta = reference_posterior("gaussian_linear", jax.random.key(0), jnp.zeros(10), 100)
    >>> theta.shape
    (100, 10)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import log_ndtr, logsumexp, ndtri

from jaxsbi.tasks import sbibm

__all__ = ["reference_posterior", "reference_task_names", "truncated_standard_normal"]

_LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------------
# Truncated normals that survive the tails
# --------------------------------------------------------------------------------------------


def _log_diff_ndtr(a: Array, b: Array) -> Array:
    """log(Φ(b) − Φ(a)) for a ≤ b, elementwise, accurate in both tails."""
    # Reflect so the interval sits on the left, where Φ is tiny but exactly representable in
    # log space (Φ(b) − Φ(a) = Φ(−a) − Φ(−b)).
    flip = (a + b) > 0.0
    lo = jnp.where(flip, -b, a)
    hi = jnp.where(flip, -a, b)
    log_hi = log_ndtr(hi)
    return log_hi + jnp.log1p(-jnp.exp(log_ndtr(lo) - log_hi))


def truncated_standard_normal(key: Array, a: Array, b: Array) -> Array:
    """Draw z ~ N(0, 1) truncated to [a, b], elementwise, by inverting the CDF in log space.

    Accurate for intervals far in either tail (tested to |a|, |b| ≈ 40 in float32): the CDF is
    handled as log Φ, so no probability underflows.

    Args:
        key: a PRNG key.
        a: lower bounds, any shape.
        b: upper bounds, same shape as ``a``, with a < b.

    Returns:
        samples of the shape of ``a``, inside [a, b].
    """
    flip = (a + b) > 0.0
    lo = jnp.where(flip, -b, a)
    hi = jnp.where(flip, -a, b)
    u = jax.random.uniform(key, a.shape, minval=jnp.finfo(jnp.float32).tiny, maxval=1.0)
    log_lo = log_ndtr(lo)
    log_hi = log_ndtr(hi)
    # log of Φ(lo) + u (Φ(hi) − Φ(lo)), written relative to Φ(hi) so every exp() argument is ≤ 0.
    target = log_hi + jnp.log(u + (1.0 - u) * jnp.exp(log_lo - log_hi))
    # ndtri is accurate wherever exp(target) is a normal float32. Beyond (|t| ≳ 13) start from the
    # tail asymptote log Φ(t) ≈ −t²/2 − log(−t) − ½ log 2π and polish with Newton on
    # log Φ(t) = target; log Φ is concave there, so Newton converges monotonically.
    in_range = target > -80.0
    t_bulk = ndtri(jnp.exp(jnp.where(in_range, target, -80.0)))
    m2 = -2.0 * jnp.minimum(target, -80.0)
    t_tail = -jnp.sqrt(m2 - jnp.log(m2) - _LOG_2PI)
    for _ in range(4):
        log_dens = -0.5 * t_tail**2 - 0.5 * _LOG_2PI
        log_cdf = log_ndtr(t_tail)
        t_tail = t_tail - (log_cdf - target) / jnp.exp(log_dens - log_cdf)
    t = jnp.where(in_range, t_bulk, t_tail)
    t = jnp.clip(t, lo, hi)
    return jnp.where(flip, -t, t)


def _truncated_normal(key: Array, loc: Array, scale, low, high) -> Array:
    """N(loc, scale²) truncated to [low, high], elementwise; loc of shape (..., d)."""
    a = (low - loc) / scale
    b = (high - loc) / scale
    return loc + scale * truncated_standard_normal(key, a, b)


# --------------------------------------------------------------------------------------------
# Per-task samplers: (key, x_obs, num_samples) -> (num_samples, theta_dim)
# --------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=2)
def _gaussian_linear(key: Array, x_obs: Array, num_samples: int) -> Array:
    # Prior precision 10, likelihood precision 10 → posterior precision 20, mean x/2.
    eps = jax.random.normal(key, (num_samples, x_obs.shape[0]))
    return 0.5 * x_obs[None, :] + jnp.sqrt(jnp.float32(0.05)) * eps


@functools.partial(jax.jit, static_argnums=2)
def _gaussian_linear_uniform(key: Array, x_obs: Array, num_samples: int) -> Array:
    # Diagonal covariance and a product box: the truncated posterior factorises over coordinates.
    loc = jnp.broadcast_to(x_obs[None, :], (num_samples, x_obs.shape[0]))
    return _truncated_normal(key, loc, jnp.sqrt(jnp.float32(0.1)), -1.0, 1.0)


def _gaussian_mixture_log_weights(x_obs: Array) -> Array:
    """log w_k, k = (wide, narrow): 0.5·N(θ; x, σ_k² I) integrated over the prior box."""
    bound = sbibm._GM_BOUND
    log_mass = jnp.stack(
        [
            jnp.sum(_log_diff_ndtr((-bound - x_obs) / s, (bound - x_obs) / s))
            for s in sbibm._GM_SCALES
        ]
    )
    return log_mass - logsumexp(log_mass)


@functools.partial(jax.jit, static_argnums=2)
def _gaussian_mixture(key: Array, x_obs: Array, num_samples: int) -> Array:
    # p(θ | x) ∝ 1_box(θ) Σ_k ½ N(x; θ, σ_k² I) = 1_box(θ) Σ_k ½ N(θ; x, σ_k² I): a mixture of
    # box-truncated normals whose weights are ½ × each component's mass inside the box.
    key_k, key_wide, key_narrow = jax.random.split(key, 3)
    bound = sbibm._GM_BOUND
    loc = jnp.broadcast_to(x_obs[None, :], (num_samples, x_obs.shape[0]))
    comp = jax.random.categorical(key_k, _gaussian_mixture_log_weights(x_obs), shape=(num_samples,))
    wide = _truncated_normal(key_wide, loc, jnp.float32(sbibm._GM_SCALES[0]), -bound, bound)
    narrow = _truncated_normal(key_narrow, loc, jnp.float32(sbibm._GM_SCALES[1]), -bound, bound)
    return jnp.where((comp == 1)[:, None], narrow, wide)


@functools.partial(jax.jit, static_argnums=2)
def _two_moons_round(key: Array, x_obs: Array, batch: int) -> tuple[Array, Array]:
    """One vectorised round of the two_moons inversion sampler: candidates and accept flags.

    Exactness. x = p + g(θ) with g(θ) = (−|z₀|, z₁), z = Rθ, z₀ = (θ₁ + θ₂)/√2,
    z₁ = (θ₂ − θ₁)/√2, and p ~ P independent of θ. So p(x | θ) = P(x − g(θ)) and, under the
    uniform prior, p(θ | x) ∝ 1_box(θ) P(x − g(θ)). Change variables θ ↦ (s, p) with
    s = sign(z₀) ∈ {±1} and p = x − g(θ), i.e. p₀ = x₀ + |z₀|, p₁ = x₁ − z₁. This is a bijection
    from {z₀ ≠ 0} onto {±1} × {p : p₀ > x₀} whose inverse θ = Rᵀ(s (p₀ − x₀), x₁ − p₁) is a
    rotation composed with a reflection and a translation, so |Jacobian| = 1 on each sign branch.
    Hence the posterior of (s, p) is ∝ P(p) · 1[p₀ > x₀] · 1_box(θ(s, p)) with s uniform and
    independent of p: draw p from the simulator's crescent, s = ±1 with probability ½, and keep
    the draw iff p₀ > x₀ and θ(s, p) is inside the prior box — plain rejection from P × U{±1},
    which is exact for a prior that is constant on its support. (sbibm omits the p₀ > x₀ test;
    it only matters for x₀ ≥ 0.25, which its observations never reach.)
    """
    key_p, key_s = jax.random.split(key)
    p = sbibm.two_moons_sample_p(key_p, (batch,))
    sign = jnp.where(jax.random.bernoulli(key_s, 0.5, (batch,)), 1.0, -1.0)
    z0 = sign * (p[:, 0] - x_obs[0])
    z1 = x_obs[1] - p[:, 1]
    root2 = jnp.sqrt(jnp.float32(2.0))
    theta = jnp.stack([(z0 - z1) / root2, (z0 + z1) / root2], axis=-1)
    accept = (p[:, 0] > x_obs[0]) & jnp.all(jnp.abs(theta) <= 1.0, axis=-1)
    return theta, accept


def _rejection(
    round_fn: Callable[[Array, Array, int], tuple[Array, Array]],
    key: Array,
    x_obs: Array,
    num_samples: int,
    min_acceptance: float = 1e-3,
) -> Array:
    """Run jitted rejection rounds of a fixed size until ``num_samples`` draws are accepted."""
    batch = max(2 * num_samples, 10_000)
    # Judge the acceptance only once ~100 acceptances are expected at the threshold, so a rate just
    # above it is not refused by bad luck.
    judge_after = int(100 / min_acceptance)
    kept: list[np.ndarray] = []
    num_kept = 0
    num_drawn = 0
    round_idx = 0
    while num_kept < num_samples:
        theta, accept = round_fn(jax.random.fold_in(key, round_idx), x_obs, batch)
        accepted = np.asarray(theta)[np.asarray(accept)]
        kept.append(accepted)
        num_kept += accepted.shape[0]
        num_drawn += batch
        round_idx += 1
        if num_drawn >= judge_after and num_kept < min_acceptance * num_drawn:
            raise ValueError(
                f"rejection sampling accepted {num_kept} of {num_drawn} proposals (rate "
                f"{num_kept / num_drawn:.2e} < {min_acceptance:.0e}) for "
                f"x_obs={np.asarray(x_obs)}; "
                "this observation is (nearly) impossible under the prior and simulator."
            )
    return jnp.asarray(np.concatenate(kept)[:num_samples])


def _two_moons(key: Array, x_obs: Array, num_samples: int) -> Array:
    return _rejection(_two_moons_round, key, x_obs, num_samples)


_SAMPLERS: dict[str, Callable[[Array, Array, int], Array]] = {
    "gaussian_linear": _gaussian_linear,
    "gaussian_linear_uniform": _gaussian_linear_uniform,
    "gaussian_mixture": _gaussian_mixture,
    "two_moons": _two_moons,
}
_X_DIM = {
    "gaussian_linear": 10,
    "gaussian_linear_uniform": 10,
    "gaussian_mixture": 2,
    "two_moons": 2,
}


def reference_task_names() -> tuple[str, ...]:
    """Names of the tasks for which :func:`reference_posterior` has an exact sampler."""
    return tuple(_SAMPLERS)


def reference_posterior(task_name: str, key: Array, x_obs, num_samples: int) -> Array:
    """Draw exact samples from p(θ | x_obs) for a task with an analytic posterior.

    Args:
        task_name: one of :func:`reference_task_names` (gaussian_linear,
            gaussian_linear_uniform, gaussian_mixture, two_moons).
        key: a PRNG key.
        x_obs: one observation, shape ``(x_dim,)``.
        num_samples: number of posterior draws.

    Returns:
        float32 array of shape ``(num_samples, theta_dim)``.

    Raises:
        ValueError: for a task without an analytic posterior, a wrongly shaped or non-finite
            x_obs, a non-positive num_samples, or (two_moons) an observation so far from the
            simulator's range that rejection would not finish.
    """
    if task_name not in _SAMPLERS:
        raise ValueError(
            f"no analytic reference posterior for task {task_name!r}; available: "
            f"{', '.join(_SAMPLERS)}. Other tasks need sbibm's stored samples "
            "(load_sbibm_reference) or MCMC on their likelihood."
        )
    x_obs = jnp.asarray(x_obs, jnp.float32)
    if x_obs.shape != (_X_DIM[task_name],):
        raise ValueError(
            f"x_obs for {task_name} must have shape ({_X_DIM[task_name]},), got {x_obs.shape}"
        )
    if not bool(jnp.all(jnp.isfinite(x_obs))):
        raise ValueError(f"x_obs must be finite, got {x_obs}")
    if int(num_samples) != num_samples or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    return _SAMPLERS[task_name](key, x_obs, int(num_samples))
