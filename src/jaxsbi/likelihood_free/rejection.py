"""Rejection ABC and the distance it shares with SMC-ABC.

θ_i ~ p(θ), x_i ~ p(x | θ_i) in large ``jit(vmap)`` batches; each simulation gets the distance

    d_i = ‖(x_i − x_o) / scale‖₂   (over the flattened summaries),

with ``scale`` a robust per-summary spread of a pilot run from the prior (1.4826 × the median
absolute deviation, the standard deviation where that is 0, :func:`pilot_scale`), or a given
scale, and the θ_i whose d_i are the smallest ``quantile`` fraction (or all with d_i ≤
``epsilon``) are the posterior samples. As the tolerance shrinks this converges to p(θ | x_o)
(for sufficient summaries); at a finite tolerance it is the posterior given ‖x − x_o‖ ≤ ε,
slightly wider. Simulations returning NaN/inf get infinite distance and are counted, never
accepted.

Example:
    >>> import jax
    >>> from jaxsbi.tasks.physics import mg1, MG1_TRUE_THETA
    >>> import jax.numpy as jnp
    >>> task = mg1()
    >>> x_o = task.simulate(jax.random.key(0), jnp.asarray(MG1_TRUE_THETA))
    >>> res = rejection_abc(jax.random.key(1), task, x_o, 20_000, quantile=0.01)
    >>> res.theta.shape
    (200, 3)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = [
    "ABCResult",
    "pilot_scale",
    "rejection_abc",
]


class ABCResult(NamedTuple):
    """Accepted samples and bookkeeping (host numpy values).

    Attributes:
        theta: ``(num_accepted, theta_dim)`` accepted parameters, closest first.
        distances: ``(num_accepted,)`` their distances, ascending.
        epsilon: the tolerance: the given ``epsilon``, or the largest accepted distance.
        num_simulations: simulations run (excluding the pilot run).
        num_accepted: accepted samples.
        acceptance_rate: ``num_accepted / num_simulations``.
        num_invalid: simulations whose output had NaN/inf (never accepted).
        scale: ``x_shape`` per-summary scale used in the distance.
    """

    theta: np.ndarray
    distances: np.ndarray
    epsilon: float
    num_simulations: int
    num_accepted: int
    acceptance_rate: float
    num_invalid: int
    scale: np.ndarray


_BATCHES: dict = {}


def _batch_fn(task, n: int):
    """jit(θ ~ prior, x ~ simulate(θ)) for n draws; cached per (task functions, n)."""
    cache_key = (task.prior, task.simulate, n)
    if cache_key not in _BATCHES:

        def run(key, x_obs, scale):
            k_theta, k_sim = jax.random.split(key)
            theta = task.prior.sample(k_theta, (n,))
            x = jax.vmap(task.simulate)(jax.random.split(k_sim, n), theta)
            flat = x.reshape(n, -1)
            ok = jnp.all(jnp.isfinite(flat), axis=1)
            z = (flat - x_obs.reshape(1, -1)) / scale.reshape(1, -1)
            dist = jnp.sqrt(jnp.sum(jnp.where(ok[:, None], z, 0.0) ** 2, axis=1))
            return theta, jnp.where(ok, dist, jnp.inf), x

        _BATCHES[cache_key] = jax.jit(run)
    return _BATCHES[cache_key]


def _check(task, x_obs, num_simulations, quantile, epsilon, batch_size, scale):
    x_obs = np.asarray(x_obs, np.float32)
    if x_obs.shape != tuple(task.x_shape):
        raise ValueError(f"x_obs must have the task's x_shape {task.x_shape}, got {x_obs.shape}")
    if not np.all(np.isfinite(x_obs)):
        raise ValueError("x_obs contains NaN or inf")
    if not isinstance(num_simulations, int | np.integer) or num_simulations < 1:
        raise ValueError(f"num_simulations must be a positive integer, got {num_simulations!r}")
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if (quantile is None) == (epsilon is None):
        raise ValueError("give exactly one of quantile (keep the closest fraction) or epsilon")
    if quantile is not None and not 0.0 < float(quantile) <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    if epsilon is not None and not (math.isfinite(float(epsilon)) and float(epsilon) > 0):
        raise ValueError(f"epsilon must be a positive finite number, got {epsilon}")
    if scale is not None:
        scale = np.asarray(scale, np.float32)
        if scale.shape != x_obs.shape:
            raise ValueError(f"scale must have shape {x_obs.shape}, got {scale.shape}")
        if not np.all(np.isfinite(scale) & (scale > 0)):
            raise ValueError("scale must be positive and finite in every summary")
    return x_obs, scale


def pilot_scale(key: Array, task, x_obs, num_pilot: int = 10_000) -> np.ndarray:
    """The default distance scale of :func:`rejection_abc` and :func:`smc_abc`.

    1.4826 × the median absolute deviation per summary (the sd where that is 0) of
    ``num_pilot`` prior-predictive simulations (finite ones), drawn with
    ``fold_in(key, 2**31 - 1)``: the same scale the ABC functions compute from the same key.

    Returns:
        ``x_shape`` float32 scale.
    """
    x_obs, _ = _check(task, x_obs, 1, 0.5, None, 1, None)
    pilot = _batch_fn(task, num_pilot)
    one = jnp.ones(x_obs.shape, jnp.float32)
    _, _, x = pilot(jax.random.fold_in(key, 2**31 - 1), jnp.asarray(x_obs), one)
    flat = np.asarray(x).reshape(num_pilot, -1)
    flat = flat[np.all(np.isfinite(flat), axis=1)]
    if flat.shape[0] < 2:
        raise ValueError("the pilot run produced fewer than 2 finite simulations")
    # Robust scale: 1.4826 × median absolute deviation (= sd for a normal). Prior-predictive
    # summaries are often heavy-tailed (M/G/1: a near-zero arrival rate gives enormous
    # inter-departure times), and the sd would then all but switch those summaries off.
    mad = 1.4826 * np.median(np.abs(flat - np.median(flat, axis=0)), axis=0)
    scale = np.where(mad > 0, mad, flat.std(axis=0)).reshape(x_obs.shape).astype(np.float32)
    if not np.all(scale > 0):
        dims = np.flatnonzero(scale.reshape(-1) <= 0).tolist()
        raise ValueError(f"summaries {dims} are constant in the pilot run; pass scale=")
    return scale


def rejection_abc(
    key: Array,
    task,
    x_obs,
    num_simulations: int,
    *,
    quantile: float | None = None,
    epsilon: float | None = None,
    batch_size: int = 10_000,
    scale=None,
    num_pilot: int = 10_000,
) -> ABCResult:
    """Rejection ABC with a Euclidean distance on standardised summaries.

    Args:
        key: PRNG key; batch i uses ``fold_in(key, i)``, the pilot run
            ``fold_in(key, 2**31 - 1)``.
        task: a :class:`~jaxsbi.tasks.Task` (its prior and simulator are used).
        x_obs: the observation, shape ``task.x_shape``.
        num_simulations: simulations to run (the last batch is cut short, never rounded up).
        quantile: keep the closest ``ceil(quantile · num_simulations)`` samples; or
        epsilon: keep every sample with distance ≤ ``epsilon``.
        batch_size: simulations per compiled ``vmap`` batch.
        scale: per-summary scale (``x_shape``); by default 1.4826 × the median absolute
            deviation (the sd where that is 0) of ``num_pilot`` prior-predictive simulations
            (finite ones only).
        num_pilot: size of that pilot run.

    Returns:
        :class:`ABCResult`.

    Raises:
        ValueError: bad shapes, NaN/inf in ``x_obs``, both or neither of quantile/epsilon, a
            quantile outside (0, 1], a non-positive epsilon or scale, or a pilot run with a
            constant summary.
    """
    x_obs, scale = _check(task, x_obs, num_simulations, quantile, epsilon, batch_size, scale)
    if scale is None:
        scale = pilot_scale(key, task, x_obs, int(num_pilot))
    keep = None if quantile is None else max(1, math.ceil(float(quantile) * num_simulations))
    best_theta = np.zeros((0, task.theta_dim), np.float32)
    best_dist = np.zeros((0,), np.float32)
    num_invalid = 0
    x_j, s_j = jnp.asarray(x_obs), jnp.asarray(scale)
    for i, start in enumerate(range(0, num_simulations, batch_size)):
        n = min(batch_size, num_simulations - start)
        theta, dist, _ = _batch_fn(task, int(batch_size))(jax.random.fold_in(key, i), x_j, s_j)
        theta, dist = np.asarray(theta)[:n], np.asarray(dist)[:n]
        num_invalid += int(np.sum(~np.isfinite(dist)))
        if keep is None:
            sel = dist <= float(epsilon)
            best_theta = np.concatenate([best_theta, theta[sel]])
            best_dist = np.concatenate([best_dist, dist[sel]])
        else:
            cand_theta = np.concatenate([best_theta, theta])
            cand_dist = np.concatenate([best_dist, dist])
            if cand_dist.size > keep:
                idx = np.argpartition(cand_dist, keep - 1)[:keep]
                cand_theta, cand_dist = cand_theta[idx], cand_dist[idx]
            best_theta, best_dist = cand_theta, cand_dist
    finite = np.isfinite(best_dist)
    best_theta, best_dist = best_theta[finite], best_dist[finite]
    order = np.argsort(best_dist, kind="stable")
    best_theta, best_dist = best_theta[order], best_dist[order]
    accepted = int(best_dist.size)
    eps = float(epsilon) if keep is None else (float(best_dist[-1]) if accepted else math.inf)
    return ABCResult(
        theta=best_theta,
        distances=best_dist,
        epsilon=eps,
        num_simulations=int(num_simulations),
        num_accepted=accepted,
        acceptance_rate=accepted / num_simulations,
        num_invalid=num_invalid,
        scale=np.asarray(scale),
    )
