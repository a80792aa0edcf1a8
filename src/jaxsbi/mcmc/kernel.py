"""The protocol every MCMC kernel of :mod:`jaxsbi.mcmc` satisfies, as a record of pure functions.

A :class:`Kernel` is what the pooled-adaptation runner (:mod:`jaxsbi.mcmc.runner`) needs of an
MCMC algorithm: ``init(position, logdensity_fn) -> state`` and ``step(key, state,
logdensity_fn, step_size, inverse_mass_matrix) -> (state, StepInfo)``, blackjax's
``build_kernel`` shape with the two parameters the runner adapts made explicit. ``state`` is any
pytree with a ``position`` field (every blackjax state has one). The built-in kernels are
:func:`jaxsbi.mcmc.nuts.nuts_kernel`, :func:`jaxsbi.mcmc.hmc.hmc_kernel` and
:func:`jaxsbi.mcmc.rwmh.rwmh_kernel`; any other blackjax algorithm plugs in by wrapping its
``build_kernel()`` the same way and passing ``kernel=`` to
:func:`jaxsbi.mcmc.sample_posterior`.

A kernel is a static argument of the compiled sampler, so it must be hashable and compare equal
to itself across calls: build it once and reuse the object (a NamedTuple of module-level
functions compares by value, closures by identity).

Example (MALA, which has no mass matrix: ``inverse_mass_matrix`` is ignored):
    >>> import blackjax, jax.numpy as jnp
    >>> _mala = blackjax.mala.build_kernel()
    >>> def mala_step(key, state, logdensity_fn, step_size, inverse_mass_matrix):
    ...     state, info = _mala(key, state, logdensity_fn, step_size)
    ...     return state, StepInfo(info.acceptance_rate, jnp.asarray(False), jnp.asarray(1))
    >>> mala = Kernel(blackjax.mala.init, mala_step, target_acceptance=0.574)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
from jax import Array

__all__ = ["Kernel", "StepInfo"]


class StepInfo(NamedTuple):
    """What the runner reads from one transition of one chain.

    Attributes:
        acceptance_rate: ``()`` the Metropolis acceptance probability (NaN is read as 0).
        is_divergent: ``()`` bool; a divergent HMC/NUTS trajectory (False for other kernels).
        num_integration_steps: ``()`` int, gradient evaluations of the transition (1 for MH).
    """

    acceptance_rate: Array
    is_divergent: Array
    num_integration_steps: Array


def _constant_initial_step_size(theta_dim: int) -> float:
    del theta_dim
    return 0.5


class Kernel(NamedTuple):
    """An MCMC transition the pooled-adaptation runner can drive.

    Attributes:
        init: ``init(position (d,), logdensity_fn) -> state``; ``state.position`` is ``(d,)``.
        step: ``step(key, state, logdensity_fn, step_size (), inverse_mass_matrix (d,)) ->
            (state, StepInfo)``; ``logdensity_fn`` is blackjax's one-argument log density.
        target_acceptance: the dual-averaging target when ``SamplerConfig.target_acceptance``
            is None.
        initial_step_size: ``initial_step_size(d) -> scalar``, where dual averaging starts.
        jitter: whether ``SamplerConfig.step_size_jitter`` applies (trajectory methods: yes).
    """

    init: Callable[[Array, Callable[[Array], Array]], Any]
    step: Callable[..., tuple[Any, StepInfo]]
    target_acceptance: float = 0.8
    initial_step_size: Callable[[int], Any] = _constant_initial_step_size
    jitter: bool = True


def no_divergence() -> Array:
    """``StepInfo.is_divergent`` for kernels without trajectories."""
    return jnp.asarray(False)
