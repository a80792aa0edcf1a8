"""Random-walk Metropolis–Hastings (blackjax) as a :class:`jaxsbi.mcmc.kernel.Kernel`.

The proposal is N(0, step_size² · diag(inverse_mass_matrix)): the adapted variances set its
shape, the adapted step size its scale, starting at 2.38 / sqrt(d) (Roberts, Gelman & Gilks
1997), with no step-size jitter (there is no trajectory to de-periodise).
"""

from __future__ import annotations

import functools

import blackjax
import jax.numpy as jnp

from jaxsbi.mcmc.kernel import Kernel, StepInfo, no_divergence

__all__ = ["rwmh_kernel"]

_build = blackjax.mcmc.random_walk.build_additive_step()


def _step(key, state, logdensity_fn, step_size, inverse_mass_matrix):
    sigma = step_size * jnp.sqrt(inverse_mass_matrix)
    state, info = _build(key, state, logdensity_fn, blackjax.mcmc.random_walk.normal(sigma))
    return state, StepInfo(info.acceptance_rate, no_divergence(), jnp.asarray(1))


def _initial_step_size(theta_dim: int):
    return 2.38 / jnp.sqrt(theta_dim)


@functools.cache
def rwmh_kernel() -> Kernel:
    """Random-walk MH with a diagonal Gaussian proposal (target acceptance 0.3)."""
    return Kernel(
        blackjax.mcmc.random_walk.init,
        _step,
        target_acceptance=0.3,
        initial_step_size=_initial_step_size,
        jitter=False,
    )
