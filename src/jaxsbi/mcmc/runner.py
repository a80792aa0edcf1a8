"""Many chains, many observations, one compiled call: blackjax MH / HMC / NUTS.

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
recommended kernel for large batches (see ``benchmarks/aalr.py``).

Chains run in unconstrained space: ``logdensity_fn(u, x)`` must already include the prior's
log-Jacobian (see :func:`jaxsbi.mcmc.potential`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from blackjax.adaptation.step_size import dual_averaging_adaptation
from blackjax.adaptation.window_adaptation import build_schedule
from jax import Array

__all__ = ["SamplerConfig", "SamplerInfo", "sample_chains", "sample_batched"]


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """Posterior sampler settings.

    Attributes:
        kernel: "smc" (adaptive tempered SMC from the prior, :mod:`jaxsbi.mcmc.smc`: right mode
            masses on multimodal posteriors, and log Z), or an MCMC kernel: "nuts", "hmc" or
            "rwmh" (random-walk Metropolis–Hastings).
        num_chains: chains per observation. For "smc", the ``num_chains * num_samples``
            particles are returned as ``num_chains`` groups of ``num_samples`` (the particles
            are exchangeable, so the groups are not chains in time).
        num_samples: kept draws per chain (after thinning).
        num_warmup: adaptation steps per chain (discarded; not used by "smc").
        thinning: keep every ``thinning``-th draw.
        target_acceptance: dual-averaging target; None picks 0.8 (NUTS), 0.75 (HMC), 0.3 (MH).
        num_integration_steps: leapfrog steps per HMC transition.
        max_num_doublings: NUTS tree depth cap.
        step_size_jitter: HMC/NUTS step size is multiplied by U[1 − j, 1 + j] each step, which
            breaks the periodicity of fixed-length trajectories.
        init: "resample" (chains start at prior draws resampled ∝ exp(potential), as sbi does:
            the chains are spread over the posterior's modes from the start) or "prior".
        num_init_candidates: prior draws considered by "resample".
        target_ess: SMC: each tempering step keeps this fraction of the particles' ESS.
        smc_mutation: SMC's mutation kernel: "rwmh" (Gaussian random walk with the particle
            cloud's covariance) or "hmc" (``num_integration_steps`` leapfrog steps, the cloud's
            variances as inverse mass matrix).
        smc_min_steps / smc_max_steps: mutation steps per stage, at least / at most.
        smc_unmoved: an intermediate stage's mutation stops once at most this fraction of the
            particles has never moved (or at ``smc_max_steps``).
        smc_final_unmoved: the same for the last stage (λ = 1), whose particles are the output:
            an unmoved particle may be a resampling duplicate, which a C2ST classifier can
            memorise across its folds.
        smc_max_stages: cap on tempering stages (``info.num_stages`` reports how many ran).
        smc_observations: "vmap" (all observations in lockstep: large batched matmuls, best
            on accelerators), "map" (one after another inside the compiled call: no
            observation waits for another's extra stages and steps; 1.5x faster for 10 slcp
            observations on a 2-core CPU) or "auto" (map on CPU, vmap elsewhere).
    """

    kernel: Literal["smc", "nuts", "hmc", "rwmh"] = "smc"
    num_chains: int = 100
    num_samples: int = 100
    num_warmup: int = 200
    thinning: int = 1
    target_acceptance: float | None = None
    num_integration_steps: int = 8
    max_num_doublings: int = 6
    step_size_jitter: float = 0.2
    init: Literal["resample", "prior"] = "resample"
    num_init_candidates: int = 2000
    target_ess: float = 0.9
    smc_mutation: Literal["rwmh", "hmc"] = "rwmh"
    smc_min_steps: int = 2
    smc_max_steps: int = 50
    smc_unmoved: float = 0.01
    smc_final_unmoved: float = 0.01
    smc_max_stages: int = 500
    smc_observations: Literal["auto", "vmap", "map"] = "auto"

    def __post_init__(self):
        for name in (
            "num_chains",
            "num_samples",
            "num_warmup",
            "thinning",
            "num_integration_steps",
            "max_num_doublings",
            "num_init_candidates",
            "smc_min_steps",
            "smc_max_steps",
            "smc_max_stages",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"sampler.{name} must be >= 1, got {getattr(self, name)}")
        if self.target_acceptance is not None and not 0 < self.target_acceptance < 1:
            raise ValueError(
                f"sampler.target_acceptance must be in (0, 1), got {self.target_acceptance}"
            )
        if self.init == "resample" and self.num_init_candidates < self.num_chains:
            raise ValueError(
                f"sampler.num_init_candidates ({self.num_init_candidates}) must be >= "
                f"sampler.num_chains ({self.num_chains}) for init = 'resample'"
            )
        if self.kernel not in ("smc", "nuts", "hmc", "rwmh"):
            raise ValueError(
                f"sampler.kernel must be 'smc', 'nuts', 'hmc' or 'rwmh', got {self.kernel!r}"
            )
        if self.smc_mutation not in ("rwmh", "hmc"):
            raise ValueError(
                f"sampler.smc_mutation must be 'rwmh' or 'hmc', got {self.smc_mutation!r}"
            )
        if self.smc_observations not in ("auto", "vmap", "map"):
            raise ValueError(
                "sampler.smc_observations must be 'auto', 'vmap' or 'map', got "
                f"{self.smc_observations!r}"
            )
        if not 0 < self.target_ess < 1:
            raise ValueError(f"sampler.target_ess must be in (0, 1), got {self.target_ess}")
        for name in ("smc_unmoved", "smc_final_unmoved"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"sampler.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.smc_min_steps > self.smc_max_steps:
            raise ValueError(
                f"sampler.smc_min_steps ({self.smc_min_steps}) must be <= "
                f"sampler.smc_max_steps ({self.smc_max_steps})"
            )
        if not 0 <= self.step_size_jitter < 1:
            raise ValueError(
                f"sampler.step_size_jitter must be in [0, 1), got {self.step_size_jitter}"
            )

    @property
    def acceptance_target(self) -> float:
        if self.target_acceptance is not None:
            return self.target_acceptance
        return {"nuts": 0.8, "hmc": 0.75, "rwmh": 0.3, "smc": 0.234}[self.kernel]


class SamplerInfo(NamedTuple):
    """Per-observation summaries of one run (leading axis: observations when batched).

    The last four fields are filled by "smc" only (None for the MCMC kernels): for "smc",
    ``step_size`` is the final proposal scale, ``acceptance_rate`` that of the last stage's
    mutations and ``mean_num_steps`` the mutation steps per particle over all stages.
    """

    step_size: Array  # ()
    inverse_mass_matrix: Array  # (theta_dim,)
    acceptance_rate: Array  # () mean over chains and kept draws
    num_divergent: Array  # () divergent transitions among kept draws (HMC/NUTS)
    mean_num_steps: Array  # () mean leapfrog steps per transition (1 for MH)
    log_normalizer: Array | None = None  # () SMC: log ∫ p(θ) L(θ, x) dθ
    num_stages: Array | None = None  # () SMC: tempering stages
    tempering: Array | None = None  # () SMC: final λ (1 unless smc_max_stages was hit)
    ess_min: Array | None = None  # () SMC: smallest incremental ESS / N over the stages


def _kernel(config: SamplerConfig):
    """``step(key, state, logdensity_fn, step_size, inv_mass) -> (state, acc, div, n)``."""
    if config.kernel == "nuts":
        kernel = blackjax.nuts.build_kernel()

        def step(key, state, logdensity_fn, step_size, inv_mass):
            state, info = kernel(
                key,
                state,
                logdensity_fn,
                step_size,
                inv_mass,
                max_num_doublings=config.max_num_doublings,
            )
            return state, info.acceptance_rate, info.is_divergent, info.num_integration_steps

        return blackjax.nuts.init, step
    if config.kernel == "hmc":
        kernel = blackjax.hmc.build_kernel()

        def step(key, state, logdensity_fn, step_size, inv_mass):
            state, info = kernel(
                key, state, logdensity_fn, step_size, inv_mass, config.num_integration_steps
            )
            return (
                state,
                info.acceptance_rate,
                info.is_divergent,
                jnp.asarray(config.num_integration_steps),
            )

        return blackjax.hmc.init, step
    if config.kernel == "rwmh":
        kernel = blackjax.mcmc.random_walk.build_additive_step()

        def step(key, state, logdensity_fn, step_size, inv_mass):
            sigma = step_size * jnp.sqrt(inv_mass)
            state, info = kernel(key, state, logdensity_fn, blackjax.mcmc.random_walk.normal(sigma))
            return state, info.acceptance_rate, jnp.asarray(False), jnp.asarray(1)

        return blackjax.mcmc.random_walk.init, step
    if config.kernel == "smc":
        raise ValueError(
            "kernel 'smc' starts from the prior, not from given chain positions: use "
            "jaxsbi.mcmc.sample_posterior or jaxsbi.mcmc.smc.smc_batched"
        )
    raise ValueError(f"unknown kernel {config.kernel!r}; use 'nuts', 'hmc' or 'rwmh'")


def _jittered(key, step_size, jitter):
    if jitter == 0:
        return step_size
    return step_size * jax.random.uniform(key, minval=1.0 - jitter, maxval=1.0 + jitter)


def _regularised_variance(count, mean, m2):
    # Stan's shrinkage of the windowed variance towards 1e-3 for small windows.
    var = m2 / jnp.maximum(count - 1.0, 1.0)
    return (count / (count + 5.0)) * var + 1e-3 * (5.0 / (count + 5.0))


def _run(
    obs_keys: Array,
    logdensity_fn: Callable[[Array, Array], Array],
    x_obs: Array,
    initial_positions: Array,
    config: SamplerConfig,
) -> tuple[Array, SamplerInfo]:
    """Adapt and sample ``num_chains`` chains for each of ``num_obs`` observations.

    The observation axis is handled explicitly rather than by ``vmap`` over the whole run: only
    the kernel step is ``vmap``ped (over observations × chains, flattened), so the scan and the
    kernel's while loops are batched once, which keeps tracing and compiling fast. Every
    observation's randomness comes from its own key in ``obs_keys``, and its adaptation sees only
    its own chains, so observation i's draws do not depend on the other observations.
    """
    init_fn, step = _kernel(config)
    num_obs, num_chains, dim = initial_positions.shape
    dtype = initial_positions.dtype
    rows = num_obs * num_chains
    target = config.acceptance_target
    da_init, da_update, da_final = dual_averaging_adaptation(target)
    da_init, da_update, da_final = jax.vmap(da_init), jax.vmap(da_update), jax.vmap(da_final)
    initial_step = 2.38 / jnp.sqrt(dim) if config.kernel == "rwmh" else 0.5
    schedule = jnp.asarray(build_schedule(config.num_warmup), dtype=jnp.int32)
    num_warmup, thin, num_kept = config.num_warmup, config.thinning, config.num_samples
    total = num_warmup + num_kept * thin
    jitter = config.step_size_jitter if config.kernel != "rwmh" else 0.0

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

    def transition(carry, xs):
        # Warmup and sampling share this one body (one copy of the kernel in the compiled
        # program): adaptation is masked off after warmup, and each kept draw is written into a
        # preallocated buffer in place.
        states, da, inv_mass, count, mean, m2, buf, acc_sum, div_sum, n_sum = carry
        i, keys, stage, window_end = xs
        warm = i < num_warmup
        step_size = jnp.where(warm, jnp.exp(da.log_step_size), da_final(da))
        states, acc, div, nsteps = kernel_step(keys, states, step_size, inv_mass)
        acc = jnp.where(jnp.isfinite(acc), acc, 0.0).reshape(num_obs, num_chains)
        mean_acc = jnp.mean(acc, axis=1)
        da = jax.tree.map(lambda new, old: jnp.where(warm, new, old), da_update(da, mean_acc), da)
        # Slow windows (stage 1): pool every chain's position into running moments, per
        # observation.
        in_slow = stage == 1
        pos = states.position.reshape(num_obs, num_chains, dim)
        n_new = count + jnp.where(in_slow, num_chains, 0)
        batch_mean = jnp.mean(pos, axis=1)
        batch_m2 = jnp.sum((pos - batch_mean[:, None, :]) ** 2, axis=1)
        delta = batch_mean - mean
        safe_n = jnp.maximum(n_new, 1.0)
        mean = jnp.where(in_slow, mean + delta * num_chains / safe_n, mean)
        m2 = jnp.where(in_slow, m2 + batch_m2 + delta**2 * count * num_chains / safe_n, m2)
        count = n_new
        # At the end of each slow window: new metric, restart step-size adaptation near the
        # current step size, reset the moments.
        inv_mass = jnp.where(window_end, _regularised_variance(count, mean, m2), inv_mass)
        # Restart centred on the current step size (mu = log eps, not Stan's log 10 eps): with
        # short warmups only a few steps follow the last window, and a restart aimed 10x higher
        # would leave the averaged step size far too large.
        fresh = da_init(step_size)._replace(mu=jnp.log(step_size))
        da = jax.tree.map(lambda f, old: jnp.where(window_end, f, old), fresh, da)
        count = jnp.where(window_end, 0.0, count)
        mean = jnp.where(window_end, 0.0, mean)
        m2 = jnp.where(window_end, 0.0, m2)
        # Sampling: every post-warmup step writes slot (i - W) // thinning, so the last write to
        # a slot is its thinned draw; warmup steps write slot 0, overwritten later.
        after = i - num_warmup
        kept = (after >= 0) & (after % thin == thin - 1)
        slot = jnp.clip(after // thin, 0, num_kept - 1)
        buf = jax.lax.dynamic_update_index_in_dim(buf, pos, slot, 0)
        acc_sum = acc_sum + jnp.where(kept, mean_acc, 0.0)
        div_sum = div_sum + jnp.where(
            after >= 0, jnp.sum(div.reshape(num_obs, num_chains), axis=1), 0
        )
        mean_steps = jnp.mean(nsteps.astype(jnp.float32).reshape(num_obs, num_chains), axis=1)
        n_sum = n_sum + jnp.where(kept, mean_steps, 0.0)
        return (states, da, inv_mass, count, mean, m2, buf, acc_sum, div_sum, n_sum), None

    # Stages after warmup: -1 (no adaptation); no window ends.
    stages = jnp.concatenate([schedule[:, 0], jnp.full((total - num_warmup,), -1, jnp.int32)])
    ends = jnp.concatenate([schedule[:, 1], jnp.zeros((total - num_warmup,), jnp.int32)])
    step_keys = jnp.moveaxis(jax.vmap(lambda k: jax.random.split(k, total))(obs_keys), 1, 0)
    zeros = jnp.zeros((num_obs, dim), dtype)
    carry = (
        states,
        da_init(jnp.full((num_obs,), initial_step, dtype)),
        jnp.ones((num_obs, dim), dtype),
        jnp.asarray(0.0),
        zeros,
        zeros,
        jnp.zeros((num_kept, num_obs, num_chains, dim), dtype),
        jnp.zeros((num_obs,), jnp.float32),
        jnp.zeros((num_obs,), jnp.int32),
        jnp.zeros((num_obs,), jnp.float32),
    )
    xs = (jnp.arange(total), step_keys, stages, ends.astype(bool))
    (_, da, inv_mass, _, _, _, positions, acc_sum, div_sum, n_sum), _ = jax.lax.scan(
        transition, carry, xs
    )
    info = SamplerInfo(da_final(da), inv_mass, acc_sum / num_kept, div_sum, n_sum / num_kept)
    return jnp.moveaxis(positions, 0, 2), info


def sample_chains(
    key: Array,
    logdensity_fn: Callable[[Array], Array],
    initial_positions: Array,
    config: SamplerConfig,
) -> tuple[Array, SamplerInfo]:
    """Adapt and sample ``num_chains`` chains of one target (pure; jit/vmap-able).

    Args:
        key: PRNG key.
        logdensity_fn: log density of ONE unconstrained position of shape ``(d,)``.
        initial_positions: ``(num_chains, d)`` finite starting points.
        config: :class:`SamplerConfig` (static).

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
    )
    return positions[0], jax.tree.map(lambda a: a[0], info)


def sample_batched(
    key: Array,
    logdensity_fn: Callable[[Array, Array], Array],
    x_obs: Array,
    initial_positions: Array,
    config: SamplerConfig,
) -> tuple[Array, SamplerInfo]:
    """:func:`sample_chains` for many observations in one call.

    Args:
        key: PRNG key; observation i uses ``fold_in(key, i)``, so a batch of N observations
            gives exactly what N separate calls with those keys give.
        logdensity_fn: ``logdensity_fn(u, x) -> scalar`` for one position and one observation.
        x_obs: ``(num_observations, *x_shape)``.
        initial_positions: ``(num_observations, num_chains, d)``.

    Returns:
        positions ``(num_observations, num_chains, num_samples, d)`` and a :class:`SamplerInfo`
        whose fields have a leading observation axis.
    """
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(x_obs.shape[0]))
    return _run(keys, logdensity_fn, x_obs, initial_positions, config)
