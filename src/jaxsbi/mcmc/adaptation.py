"""Stan-style windowed adaptation pooled over chains: one step size and one diagonal inverse
mass matrix for all the chains of one observation.

Written for one observation (``vmap`` it over observations). Each warmup step the runner moves
all ``num_chains`` chains with the current parameters, then :func:`update`:

- dual averaging (blackjax's) on the *mean* acceptance rate across the chains steers the step
  size towards the target;
- in slow windows (Stan's schedule, blackjax's ``build_schedule``: stage 1) every chain's
  position joins running Welford moments, so a window of w steps gives ``w * num_chains``
  draws — 100× more than per-chain adaptation with 100 chains, which lets short warmups adapt;
- at each slow window's end the inverse mass matrix becomes the window's regularised variance
  (Stan's shrinkage towards 1e-3), the moments reset, and dual averaging restarts centred on the
  current step size (``mu = log eps``, not Stan's ``log 10 eps``: with short warmups only a few
  steps follow the last window, and a restart aimed 10× higher would leave the averaged step
  size far too large).

After warmup the runner reads :func:`final`.

Example:
    >>> import jax.numpy as jnp
    >>> adapt = pooled_adaptation(target_acceptance=0.8)
    >>> state = adapt.init(jnp.asarray(0.5), 2)
    >>> state = adapt.update(state, jnp.asarray(0.5), jnp.zeros((4, 2)), jnp.full((4,), 0.9),
    ...                      warm=True, stage=1, window_end=False)
    >>> step_size, inverse_mass_matrix = adapt.final(state)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from blackjax.adaptation.step_size import dual_averaging_adaptation
from jax import Array

__all__ = ["AdaptationState", "PooledAdaptation", "pooled_adaptation", "regularised_variance"]


class AdaptationState(NamedTuple):
    """Pooled adaptation of one observation.

    Attributes:
        dual_averaging: blackjax's dual-averaging state (``log_step_size``, ``mu``, ...).
        inverse_mass_matrix: ``(d,)`` the current diagonal inverse mass matrix.
        count: ``()`` draws in the current slow window's moments.
        mean: ``(d,)`` their running mean.
        m2: ``(d,)`` their running sum of squared deviations.
    """

    dual_averaging: Any
    inverse_mass_matrix: Array
    count: Array
    mean: Array
    m2: Array


class PooledAdaptation(NamedTuple):
    """``init``, ``step_size``, ``update`` and ``final``, closed over the target acceptance."""

    init: Callable[[Array, int], AdaptationState]
    step_size: Callable[[AdaptationState, Array], Array]
    update: Callable[..., AdaptationState]
    final: Callable[[AdaptationState], tuple[Array, Array]]


def regularised_variance(count: Array, m2: Array) -> Array:
    """Stan's shrinkage of a window's variance ``m2 / (count - 1)`` towards 1e-3."""
    var = m2 / jnp.maximum(count - 1.0, 1.0)
    return (count / (count + 5.0)) * var + 1e-3 * (5.0 / (count + 5.0))


def pooled_adaptation(target_acceptance: float) -> PooledAdaptation:
    """The pooled windowed adaptation for one observation, aiming at ``target_acceptance``."""
    da_init, da_update, da_final = dual_averaging_adaptation(target_acceptance)

    def init(initial_step_size: Array, theta_dim: int) -> AdaptationState:
        """``initial_step_size ()`` (its dtype is the positions'), ``theta_dim`` d."""
        dtype = initial_step_size.dtype
        zeros = jnp.zeros((theta_dim,), dtype)
        return AdaptationState(
            dual_averaging=da_init(initial_step_size),
            inverse_mass_matrix=jnp.ones((theta_dim,), dtype),
            count=jnp.zeros((), dtype),
            mean=zeros,
            m2=zeros,
        )

    def step_size(state: AdaptationState, warm: Array) -> Array:
        """The step size of the next transition: the current one in warmup, else the average."""
        da = state.dual_averaging
        return jnp.where(warm, jnp.exp(da.log_step_size), da_final(da))

    def update(
        state: AdaptationState,
        step_size: Array,
        positions: Array,
        acceptance_rate: Array,
        warm: Array,
        stage: Array,
        window_end: Array,
    ) -> AdaptationState:
        """After one transition of every chain.

        Args:
            state: the adaptation state before the transition.
            step_size: ``()`` the step size the transition used.
            positions: ``(num_chains, d)`` the chains' positions after it.
            acceptance_rate: ``(num_chains,)`` their acceptance rates (finite).
            warm: ``()`` bool, a warmup step (after warmup nothing changes but the moments of
                stage −1, which are unused).
            stage: ``()`` int, the schedule's stage (1: slow window).
            window_end: ``()`` bool, the last step of a slow window.
        """
        num_chains = positions.shape[0]
        da = state.dual_averaging
        da_new = da_update(da, jnp.mean(acceptance_rate, axis=0))
        da = jax.tree.map(lambda new, old: jnp.where(warm, new, old), da_new, da)
        # Slow windows: pool every chain's position into the running moments (Chan et al.'s
        # parallel Welford update with a batch of num_chains draws).
        in_slow = stage == 1
        count, mean, m2 = state.count, state.mean, state.m2
        n_new = count + jnp.where(in_slow, num_chains, 0)
        batch_mean = jnp.mean(positions, axis=0)
        batch_m2 = jnp.sum((positions - batch_mean[None, :]) ** 2, axis=0)
        delta = batch_mean - mean
        safe_n = jnp.maximum(n_new, 1.0)
        mean = jnp.where(in_slow, mean + delta * num_chains / safe_n, mean)
        m2 = jnp.where(in_slow, m2 + batch_m2 + delta**2 * count * num_chains / safe_n, m2)
        count = n_new
        # At the end of each slow window: new metric, restart step-size adaptation at the
        # current step size, reset the moments.
        inv_mass = jnp.where(
            window_end, regularised_variance(count, m2), state.inverse_mass_matrix
        )
        fresh = da_init(step_size)._replace(mu=jnp.log(step_size))
        da = jax.tree.map(lambda f, old: jnp.where(window_end, f, old), fresh, da)
        return AdaptationState(
            dual_averaging=da,
            inverse_mass_matrix=inv_mass,
            count=jnp.where(window_end, 0.0, count),
            mean=jnp.where(window_end, 0.0, mean),
            m2=jnp.where(window_end, 0.0, m2),
        )

    def final(state: AdaptationState) -> tuple[Array, Array]:
        """``(step_size (), inverse_mass_matrix (d,))`` for sampling."""
        return da_final(state.dual_averaging), state.inverse_mass_matrix

    return PooledAdaptation(init, step_size, update, final)
