"""NUTS (blackjax's multinomial no-U-turn sampler) as a :class:`jaxsbi.mcmc.kernel.Kernel`."""

from __future__ import annotations

import functools

import blackjax

from jaxsbi.mcmc.kernel import Kernel, StepInfo

__all__ = ["nuts_kernel"]

_build = blackjax.nuts.build_kernel()


def _step(key, state, logdensity_fn, step_size, inverse_mass_matrix, *, max_num_doublings):
    state, info = _build(
        key,
        state,
        logdensity_fn,
        step_size,
        inverse_mass_matrix,
        max_num_doublings=max_num_doublings,
    )
    return state, StepInfo(info.acceptance_rate, info.is_divergent, info.num_integration_steps)


@functools.cache
def nuts_kernel(max_num_doublings: int = 6) -> Kernel:
    """NUTS with trees of at most ``2**max_num_doublings`` leapfrog steps (target 0.8).

    Cached: the same setting gives the same (equal, hashable) kernel object.
    """
    step = functools.partial(_step, max_num_doublings=max_num_doublings)
    return Kernel(blackjax.nuts.init, step, target_acceptance=0.8)
