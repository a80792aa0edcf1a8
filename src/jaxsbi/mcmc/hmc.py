"""HMC with a fixed number of leapfrog steps (blackjax) as a :class:`jaxsbi.mcmc.kernel.Kernel`.

Under ``vmap`` every chain does the same work per transition (NUTS waits for the deepest tree
of the batch), so with a jittered step size this is the kernel for large batches.
"""

from __future__ import annotations

import functools

import blackjax
import jax.numpy as jnp

from jaxsbi.mcmc.kernel import Kernel, StepInfo

__all__ = ["hmc_kernel"]

_build = blackjax.hmc.build_kernel()


def _step(key, state, logdensity_fn, step_size, inverse_mass_matrix, *, num_integration_steps):
    state, info = _build(
        key, state, logdensity_fn, step_size, inverse_mass_matrix, num_integration_steps
    )
    steps = jnp.asarray(num_integration_steps)
    return state, StepInfo(info.acceptance_rate, info.is_divergent, steps)


@functools.cache
def hmc_kernel(num_integration_steps: int = 8) -> Kernel:
    """HMC with ``num_integration_steps`` leapfrog steps per transition (target 0.75).

    Cached: the same setting gives the same (equal, hashable) kernel object.
    """
    step = functools.partial(_step, num_integration_steps=num_integration_steps)
    return Kernel(blackjax.hmc.init, step, target_acceptance=0.75)
