"""Many chains, many observations, one compiled call: any :class:`~jaxsbi.mcmc.kernel.Kernel`.

Design. For each observation, ``num_chains`` chains run in lockstep (``vmap`` over chains) and
share one step size and one diagonal inverse mass matrix, adapted during warmup from all of that
observation's chains at once (pooled Stan-style windowed adaptation: dual averaging on the mean
acceptance rate across chains, variances from every chain's draws in each slow window). Pooling
gives 100× more draws per window than per-chain adaptation, so short warmups adapt well, and
all chains of one observation move with the same kernel parameters. Observations are then
``vmap``ped on top, each with its own adapted parameters: output
``(num_observations, num_chains, num_samples, theta_dim)``.

NUTS under ``vmap`` advances every chain in lockstep until the deepest trajectory of the batch
finishes; with many observations of different geometry that costs more than it saves. HMC with
a fixed number of leapfrog steps (and a jittered step size) has no such cost, and is the
recommended kernel for large batches (see ``benchmarks/aalr.py``). The kernel is a
:class:`~jaxsbi.mcmc.kernel.Kernel` record: one named in the config (:data:`KERNELS`) or the
caller's own (``kernel=``), e.g. a wrapped blackjax algorithm.

Chains run in unconstrained space: ``logdensity_fn(u, x)`` must already include the prior's
log-Jacobian (see :func:`jaxsbi.mcmc.potential`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from blackjax.adaptation.window_adaptation import build_schedule
from jax import Array

from jaxsbi.mcmc.adaptation import AdaptationState, pooled_adaptation
from jaxsbi.mcmc.config import SamplerConfig, SamplerInfo
from jaxsbi.mcmc.hmc import hmc_kernel
from jaxsbi.mcmc.kernel import Kernel
from jaxsbi.mcmc.nuts import nuts_kernel
from jaxsbi.mcmc.rwmh import rwmh_kernel

__all__ = [
    "KERNELS",
    "SamplerConfig",
    "SamplerInfo",
    "kernel_from_config",
    "sample_batched",
    "sample_chains",
]


# The MCMC kernels a config can name, each built from the config's settings.
KERNELS: dict[str, Callable[[SamplerConfig], Kernel]] = {
    "nuts": lambda config: nuts_kernel(config.max_num_doublings),
    "hmc": lambda config: hmc_kernel(config.num_integration_steps),
    "rwmh": lambda config: rwmh_kernel(),
}


def kernel_from_config(config: SamplerConfig) -> Kernel:
    """The :class:`Kernel` that ``config.kernel`` names ("nuts", "hmc" or "rwmh")."""
    if config.kernel in KERNELS:
        return KERNELS[config.kernel](config)
    if config.kernel == "smc":
        raise ValueError(
            "kernel 'smc' starts from the prior, not from given chain positions: use "
            "jaxsbi.mcmc.sample_posterior or jaxsbi.mcmc.smc.smc_batched"
        )
    raise ValueError(f"unknown kernel {config.kernel!r}; use one of {sorted(KERNELS)}")


def _jittered(key, step_size, jitter):
    if jitter == 0:
        return step_size
    return step_size * jax.random.uniform(key, minval=1.0 - jitter, maxval=1.0 + jitter)


class _Carry(NamedTuple):
    """The scan's carry; leading axis ``num_obs`` (``num_obs * num_chains`` for ``states``)."""

    states: Any  # the kernel's states, one per chain
    adaptation: AdaptationState  # one per observation (its count is one shared scalar)
    draws: Array  # (num_samples, num_obs, num_chains, d) kept positions, written in place
    acceptance_sum: Array  # (num_obs,) mean acceptance over chains, summed over kept draws
    divergent_sum: Array  # (num_obs,) divergent transitions after warmup
    steps_sum: Array  # (num_obs,) mean integration steps over chains, summed over kept draws


def _run(
    obs_keys: Array,
    logdensity_fn: Callable[[Array, Array], Array],
    x_obs: Array,
    initial_positions: Array,
    config: SamplerConfig,
    kernel: Kernel,
) -> tuple[Array, SamplerInfo]:
    """Adapt and sample ``num_chains`` chains for each of ``num_obs`` observations.

    The observation axis is handled explicitly rather than by ``vmap`` over the whole run: only
    the kernel step is ``vmap``ped (over observations × chains, flattened), so the scan and the
    kernel's while loops are batched once, which keeps tracing and compiling fast. Every
    observation's randomness comes from its own key in ``obs_keys``, and its adaptation sees only
    its own chains, so observation i's draws do not depend on the other observations.
    """
    init_fn, step = kernel.init, kernel.step
    num_obs, num_chains, dim = initial_positions.shape
    dtype = initial_positions.dtype
    rows = num_obs * num_chains
    target = config.target_acceptance
    target = kernel.target_acceptance if target is None else target
    adapt = pooled_adaptation(target)
    # Vmapped over observations; the moments' count follows the shared schedule, so it is one
    # scalar for all observations (not batched).
    axes = AdaptationState(0, 0, None, 0, 0)
    adapt_step_size = jax.vmap(adapt.step_size, in_axes=(axes, None))
    adapt_update = jax.vmap(
        adapt.update, in_axes=(axes, 0, 0, 0, None, None, None), out_axes=axes
    )
    initial_step = kernel.initial_step_size(dim)
    schedule = jnp.asarray(build_schedule(config.num_warmup), dtype=jnp.int32)
    num_warmup, thin, num_kept = config.num_warmup, config.thinning, config.num_samples
    total = num_warmup + num_kept * thin
    jitter = config.step_size_jitter if kernel.jitter else 0.0

    # One x per row (chain); the chains of observation i are rows i*C .. (i+1)*C - 1.
    x_rows = jnp.repeat(x_obs, num_chains, axis=0)

    def per_row(v):
        return jnp.repeat(v, num_chains, axis=0)

    states = jax.vmap(lambda p, x: init_fn(p, lambda u: logdensity_fn(u, x)))(
        initial_positions.reshape(rows, dim), x_rows
    )

    def kernel_step(keys, states, step_size, inv_mass):
        # keys (num_obs,): each observation's key for this transition.
        k_jit, k_chains = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
        eps = jax.vmap(lambda k, e: _jittered(k, e, jitter))(k_jit, step_size)
        chain_keys = jax.vmap(lambda k: jax.random.split(k, num_chains))(k_chains)
        return jax.vmap(
            lambda k, s, x, e, m: step(k, s, lambda u: logdensity_fn(u, x), e, m)
        )(chain_keys.reshape(rows), states, x_rows, per_row(eps), per_row(inv_mass))

    def transition(carry: _Carry, xs):
        # Warmup and sampling share this one body (one copy of the kernel in the compiled
        # program): adaptation is masked off after warmup, and each kept draw is written into a
        # preallocated buffer in place.
        i, keys, stage, window_end = xs
        warm = i < num_warmup
        step_size = adapt_step_size(carry.adaptation, warm)
        inv_mass = carry.adaptation.inverse_mass_matrix
        states, info = kernel_step(keys, carry.states, step_size, inv_mass)
        acc = jnp.where(jnp.isfinite(info.acceptance_rate), info.acceptance_rate, 0.0)
        acc = acc.reshape(num_obs, num_chains)
        pos = states.position.reshape(num_obs, num_chains, dim)
        adaptation = adapt_update(carry.adaptation, step_size, pos, acc, warm, stage, window_end)
        # Sampling: every post-warmup step writes slot (i - W) // thinning, so the last write to
        # a slot is its thinned draw; warmup steps write slot 0, overwritten later.
        after = i - num_warmup
        kept = (after >= 0) & (after % thin == thin - 1)
        slot = jnp.clip(after // thin, 0, num_kept - 1)
        div = jnp.sum(info.is_divergent.reshape(num_obs, num_chains), axis=1)
        steps = info.num_integration_steps.astype(jnp.float32).reshape(num_obs, num_chains)
        carry = _Carry(
            states=states,
            adaptation=adaptation,
            draws=jax.lax.dynamic_update_index_in_dim(carry.draws, pos, slot, 0),
            acceptance_sum=carry.acceptance_sum + jnp.where(kept, jnp.mean(acc, axis=1), 0.0),
            divergent_sum=carry.divergent_sum + jnp.where(after >= 0, div, 0),
            steps_sum=carry.steps_sum + jnp.where(kept, jnp.mean(steps, axis=1), 0.0),
        )
        return carry, None

    # Stages after warmup: -1 (no adaptation); no window ends.
    stages = jnp.concatenate([schedule[:, 0], jnp.full((total - num_warmup,), -1, jnp.int32)])
    ends = jnp.concatenate([schedule[:, 1], jnp.zeros((total - num_warmup,), jnp.int32)])
    step_keys = jnp.moveaxis(jax.vmap(lambda k: jax.random.split(k, total))(obs_keys), 1, 0)
    initial_steps = jnp.full((num_obs,), initial_step, dtype)
    carry = _Carry(
        states=states,
        adaptation=jax.vmap(adapt.init, in_axes=(0, None), out_axes=axes)(initial_steps, dim),
        draws=jnp.zeros((num_kept, num_obs, num_chains, dim), dtype),
        acceptance_sum=jnp.zeros((num_obs,), jnp.float32),
        divergent_sum=jnp.zeros((num_obs,), jnp.int32),
        steps_sum=jnp.zeros((num_obs,), jnp.float32),
    )
    xs = (jnp.arange(total), step_keys, stages, ends.astype(bool))
    carry, _ = jax.lax.scan(transition, carry, xs)
    step_size, inv_mass = jax.vmap(adapt.final, in_axes=(axes,))(carry.adaptation)
    info = SamplerInfo(
        step_size,
        inv_mass,
        carry.acceptance_sum / num_kept,
        carry.divergent_sum,
        carry.steps_sum / num_kept,
    )
    return jnp.moveaxis(carry.draws, 0, 2), info


def sample_chains(
    key: Array,
    logdensity_fn: Callable[[Array], Array],
    initial_positions: Array,
    config: SamplerConfig,
    *,
    kernel: Kernel | None = None,
) -> tuple[Array, SamplerInfo]:
    """Adapt and sample ``num_chains`` chains of one target (pure; jit/vmap-able).

    Args:
        key: PRNG key.
        logdensity_fn: log density of ONE unconstrained position of shape ``(d,)``.
        initial_positions: ``(num_chains, d)`` finite starting points.
        config: :class:`SamplerConfig` (static).
        kernel: a :class:`~jaxsbi.mcmc.kernel.Kernel` to use instead of the one
            ``config.kernel`` names.

    Returns:
        ``(positions, info)`` with positions of shape ``(num_chains, num_samples, d)`` in the
        unconstrained space.
    """
    positions, info = _run(
        key[None],
        lambda u, x: logdensity_fn(u),
        jnp.zeros((1, 0), initial_positions.dtype),
        initial_positions[None],
        config,
        kernel_from_config(config) if kernel is None else kernel,
    )
    return positions[0], jax.tree.map(lambda a: a[0], info)


def sample_batched(
    key: Array,
    logdensity_fn: Callable[[Array, Array], Array],
    x_obs: Array,
    initial_positions: Array,
    config: SamplerConfig,
    *,
    kernel: Kernel | None = None,
) -> tuple[Array, SamplerInfo]:
    """:func:`sample_chains` for many observations in one call.

    Args:
        key: PRNG key; observation i uses ``fold_in(key, i)``, so a batch of N observations
            gives exactly what N separate calls with those keys give.
        logdensity_fn: ``logdensity_fn(u, x) -> scalar`` for one position and one observation.
        x_obs: ``(num_observations, *x_shape)``.
        initial_positions: ``(num_observations, num_chains, d)``.
        config: :class:`SamplerConfig` (static).
        kernel: a :class:`~jaxsbi.mcmc.kernel.Kernel` to use instead of the one
            ``config.kernel`` names.

    Returns:
        positions ``(num_observations, num_chains, num_samples, d)`` and a :class:`SamplerInfo`
        whose fields have a leading observation axis.
    """
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(x_obs.shape[0]))
    kernel = kernel_from_config(config) if kernel is None else kernel
    return _run(keys, logdensity_fn, x_obs, initial_positions, config, kernel)
