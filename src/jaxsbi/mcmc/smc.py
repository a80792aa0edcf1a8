"""Adaptive tempered SMC from the prior: mode masses right on multimodal posteriors.

The target of one observation is p(θ | x) ∝ p(θ) L(θ, x) with L = exp(log-ratio) (AALR) or the
exact likelihood. Tempered SMC (Del Moral, Doucet & Jasra 2006; Chopin & Papaspiliopoulos 2020,
ch. 17) moves a cloud of N particles through p_λ(θ) ∝ p(θ) L(θ, x)^λ for 0 = λ₀ < λ₁ < … = 1:

1. **Start** at N prior draws (free for SBI, and spread over every mode).
2. **Reweight**: the next λ is the one at which the incremental weights L^(λ' − λ) keep an ESS of
   ``target_ess`` · N (blackjax's ``ess_solver`` with bisection). ``log mean`` of those weights
   adds to the log normaliser, so at λ = 1

   log Z = log ∫ p(θ) L(θ, x) dθ,

   the evidence log p(x) for an exact likelihood, and 0 for a perfect ratio estimator
   (∫ p(θ) r(θ, x) dθ = 1): a free calibration check of a learned ratio.
3. **Resample** (systematic, blackjax) to equal weights.
4. **Mutate** every particle with a p_λ'-invariant MCMC kernel (blackjax's random-walk MH with a
   Gaussian proposal whose covariance is that of the particle cloud, or blackjax HMC with the
   cloud's variances as inverse mass matrix), until all but ``smc_unmoved`` of the particles
   have moved at least once (``smc_final_unmoved`` at λ = 1, whose particles are the output),
   between ``smc_min_steps`` and ``smc_max_steps`` steps. The
   proposal scale follows the previous stage's acceptance rate towards the kernel's optimum.

Mode masses come from the weights, not from where chains happen to start: mutations only need to
mix *within* modes, which short MCMC runs do well. Every stage ends with equal-weight,
mutated particles, so the output has no resampling duplicates that a C2ST classifier could
memorise across its folds.

Everything is written for one observation (``lax.while_loop`` over stages, another over
mutation steps) and ``vmap``ped over observations by :func:`smc_batched`: observation i uses
``fold_in(key, i)``, so a batch gives what separate calls give.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from blackjax.smc import resampling
from blackjax.smc.ess import ess_solver
from blackjax.smc.solver import dichotomy
from jax import Array
from jax.scipy.special import logsumexp

__all__ = ["SMCInfo", "tempered_smc", "smc_batched"]

# Optimal acceptance rates of the mutation kernels (Roberts, Gelman & Gilks 1997; Beskos et al.
# 2013): the proposal scale is steered towards them from one stage to the next.
_TARGET_ACCEPTANCE = {"rwmh": 0.234, "hmc": 0.65}


class SMCInfo(NamedTuple):
    """Summaries of one tempered-SMC run (one observation).

    Attributes:
        log_normalizer: ``()`` log ∫ p(θ) L(θ, x) dθ (the log evidence for an exact likelihood;
            ≈ 0 for a well-calibrated ratio estimator).
        num_stages: ``()`` tempering stages to reach λ = 1.
        tempering: ``()`` the final λ (1 unless ``smc_max_stages`` was hit).
        acceptance_rate: ``()`` mean acceptance of the mutation steps of the last stage.
        num_mutation_steps: ``()`` mutation steps over all stages.
        scale: ``()`` the final proposal scale (RW: multiple of the cloud's Cholesky factor;
            HMC: step size).
        inverse_mass_matrix: ``(d,)`` the cloud's variances at the last stage (unconstrained).
        ess_min: ``()`` the smallest ESS / N of the incremental weights over the stages.
        unmoved: ``()`` fraction of particles that never moved in the last stage's mutation.
    """

    log_normalizer: Array
    num_stages: Array
    tempering: Array
    acceptance_rate: Array
    num_mutation_steps: Array
    scale: Array
    inverse_mass_matrix: Array
    ess_min: Array
    unmoved: Array


class _Carry(NamedTuple):
    position: Array  # (N, d)
    log_prior: Array  # (N,)
    log_lik: Array  # (N,)
    tempering: Array  # ()
    log_normalizer: Array
    log_scale: Array
    stage: Array
    steps: Array
    acceptance: Array
    inv_mass: Array
    ess_min: Array
    unmoved: Array


def _finite(v):
    return jnp.where(jnp.isfinite(v), v, -jnp.inf)


def _mutate(key, carry: _Carry, lam, logprior_fn, loglik_fn, config):
    """MCMC moves at temperature ``lam`` until all but ``smc_unmoved`` particles have moved."""
    n, d = carry.position.shape
    target = _TARGET_ACCEPTANCE[config.smc_mutation]

    def tempered(u):
        return logprior_fn(u) + lam * loglik_fn(u)

    if config.smc_mutation == "rwmh":
        cov = jnp.cov(carry.position, rowvar=False).reshape(d, d)
        cov = cov + 1e-8 * jnp.eye(d) * (1.0 + jnp.trace(cov) / d)
        chol = jnp.linalg.cholesky(cov)
        chol = jnp.where(jnp.all(jnp.isfinite(chol)), chol, jnp.diag(jnp.sqrt(jnp.diag(cov))))
        kernel = blackjax.mcmc.random_walk.build_additive_step()
        init = blackjax.mcmc.random_walk.init

        def step(k, state, scale):
            def random_step(k, position):
                return scale * (chol @ jax.random.normal(k, (d,), position.dtype))

            return kernel(k, state, tempered, random_step)

        inv_mass = jnp.diag(cov)
    else:
        inv_mass = jnp.var(carry.position, axis=0) + 1e-8
        kernel = blackjax.hmc.build_kernel()
        init = blackjax.hmc.init

        def step(k, state, scale):
            return kernel(k, state, tempered, scale, inv_mass, config.num_integration_steps)

    states = jax.vmap(lambda u: init(u, tempered))(carry.position)
    # The last stage's particles are the output: mutate them until (nearly) none is a
    # resampling duplicate; intermediate stages only need to refresh most of them.
    unmoved_target = jnp.where(lam >= 1.0, config.smc_final_unmoved, config.smc_unmoved)

    def cond(c):
        i, _, moved, _, _ = c
        frac = jnp.mean(moved)
        return (i < config.smc_min_steps) | (
            (i < config.smc_max_steps) & (1.0 - frac > unmoved_target)
        )

    def body(c):
        i, states, moved, acc_sum, log_scale = c
        keys = jax.random.split(jax.random.fold_in(key, i), n)
        new, info = jax.vmap(lambda k, s: step(k, s, jnp.exp(log_scale)))(keys, states)
        acc = jnp.mean(jnp.where(jnp.isfinite(info.acceptance_rate), info.acceptance_rate, 0.0))
        # The scale follows the population's acceptance towards the kernel's optimum after
        # every step. It depends on all N particles at once (not on any one particle's path),
        # the usual adaptive-SMC practice; the cloud's covariance spans all modes of a
        # multimodal target, so the scale must shrink to the modes' own width quickly.
        log_scale = log_scale + (acc - target)
        return i + 1, new, moved | info.is_accepted, acc_sum + acc, log_scale

    init_c = (jnp.asarray(0), states, jnp.zeros((n,), bool), jnp.asarray(0.0), carry.log_scale)
    num, states, moved, acc_sum, log_scale = jax.lax.while_loop(cond, body, init_c)
    acc = acc_sum / jnp.maximum(num, 1)
    position = states.position
    log_prior = jax.vmap(logprior_fn)(position)
    log_lik = _finite(jax.vmap(loglik_fn)(position))
    return position, log_prior, log_lik, log_scale, num, acc, inv_mass, 1.0 - jnp.mean(moved)


def tempered_smc(
    key: Array,
    logprior_fn: Callable[[Array], Array],
    loglik_fn: Callable[[Array], Array],
    initial_particles: Array,
    config,
) -> tuple[Array, SMCInfo]:
    """Adaptive tempered SMC for one target (pure; jit/vmap-able).

    Args:
        key: PRNG key.
        logprior_fn: log prior density of ONE unconstrained position ``(d,)``, including the
            log-Jacobian of the map to θ.
        loglik_fn: log-likelihood (or log-ratio) of one unconstrained position ``(d,)``;
            NaN/inf values count as −inf (zero weight).
        initial_particles: ``(N, d)`` draws from the prior, in unconstrained space.
        config: :class:`~jaxsbi.mcmc.SamplerConfig` (static).

    Returns:
        ``(particles, info)``: ``(N, d)`` equal-weight unconstrained particles at λ = 1 and an
        :class:`SMCInfo`.
    """
    n, d = initial_particles.shape
    dtype = initial_particles.dtype
    log_prior = jax.vmap(logprior_fn)(initial_particles)
    log_lik = _finite(jax.vmap(loglik_fn)(initial_particles))
    if config.smc_mutation == "rwmh":
        log_scale0 = jnp.log(2.38 / jnp.sqrt(d))
    else:
        log_scale0 = jnp.log(0.5 / d**0.25)
    carry = _Carry(
        initial_particles,
        log_prior,
        log_lik,
        jnp.asarray(0.0, dtype),
        jnp.asarray(0.0, dtype),
        jnp.asarray(log_scale0, dtype),
        jnp.asarray(0),
        jnp.asarray(0),
        jnp.asarray(1.0, dtype),
        jnp.ones((d,), dtype),
        jnp.asarray(1.0, dtype),
        jnp.asarray(0.0, dtype),
    )

    def cond(c: _Carry):
        return (c.tempering < 1.0) & (c.stage < config.smc_max_stages)

    def body(c: _Carry):
        k_stage = jax.random.fold_in(key, c.stage)
        k_res, k_mut = jax.random.split(k_stage)
        max_delta = 1.0 - c.tempering
        delta = ess_solver(lambda _: c.log_lik, c.position, config.target_ess, max_delta, dichotomy)
        # NaN: the ESS already falls below target at the smallest step the bisection resolves;
        # take that smallest step rather than stall.
        delta = jnp.where(jnp.isfinite(delta), delta, 1e-4 * max_delta)
        delta = jnp.clip(delta, 0.0, max_delta)
        lam = jnp.where(c.tempering + delta >= 1.0 - 1e-6, 1.0, c.tempering + delta)
        delta = lam - c.tempering
        log_w = jnp.where(jnp.isfinite(c.log_lik), delta * c.log_lik, -jnp.inf)
        total = logsumexp(log_w)
        log_normalizer = c.log_normalizer + total - jnp.log(n)
        weights = jnp.where(jnp.isfinite(total), jnp.exp(log_w - total), 1.0 / n)
        ess = 1.0 / jnp.sum(weights**2) / n
        idx = resampling.systematic(k_res, weights, n)
        resampled = c._replace(
            position=c.position[idx], log_prior=c.log_prior[idx], log_lik=c.log_lik[idx]
        )
        position, lp, ll, log_scale, num, acc, inv_mass, unmoved = _mutate(
            k_mut, resampled, lam, logprior_fn, loglik_fn, config
        )
        return _Carry(
            position,
            lp,
            ll,
            lam.astype(dtype),
            log_normalizer.astype(dtype),
            log_scale.astype(dtype),
            c.stage + 1,
            c.steps + num,
            acc.astype(dtype),
            inv_mass.astype(dtype),
            jnp.minimum(c.ess_min, ess).astype(dtype),
            unmoved.astype(dtype),
        )

    c = jax.lax.while_loop(cond, body, carry)
    info = SMCInfo(
        log_normalizer=c.log_normalizer,
        num_stages=c.stage,
        tempering=c.tempering,
        acceptance_rate=c.acceptance,
        num_mutation_steps=c.steps,
        scale=jnp.exp(c.log_scale),
        inverse_mass_matrix=c.inv_mass,
        ess_min=c.ess_min,
        unmoved=c.unmoved,
    )
    return c.position, info


def smc_batched(
    key: Array,
    logprior_fn: Callable[[Array], Array],
    loglik_fn: Callable[[Array, Array], Array],
    x_obs: Array,
    initial_particles: Array,
    config,
) -> tuple[Array, SMCInfo]:
    """:func:`tempered_smc` for many observations in one call (``vmap`` over observations).

    Args:
        key: PRNG key; observation i uses ``fold_in(key, i)``.
        logprior_fn: as in :func:`tempered_smc`.
        loglik_fn: ``loglik_fn(u, x) -> scalar`` for one position and one observation.
        x_obs: ``(num_observations, *x_shape)``.
        initial_particles: ``(num_observations, N, d)`` prior draws (unconstrained).
        config: :class:`~jaxsbi.mcmc.SamplerConfig` (static).

    Returns:
        particles ``(num_observations, N, d)`` and an :class:`SMCInfo` whose fields have a
        leading observation axis.
    """
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(x_obs.shape[0]))

    def one(k, x, u0):
        return tempered_smc(k, logprior_fn, lambda u: loglik_fn(u, x), u0, config)

    mode = config.smc_observations
    if mode == "auto":
        mode = "map" if jax.default_backend() == "cpu" else "vmap"
    if mode == "map":
        # One observation after another: each runs only its own stages and steps. Under vmap
        # every observation waits for the one with the most stages and the most steps per stage.
        return jax.lax.map(lambda a: one(*a), (keys, x_obs, initial_particles))
    return jax.vmap(one)(keys, x_obs, initial_particles)
