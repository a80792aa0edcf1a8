"""From a prior and a log-ratio (or log-likelihood) to posterior samples for many observations."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.distributions import Prior
from jaxsbi.mcmc.config import SamplerConfig, SamplerInfo
from jaxsbi.mcmc.kernel import Kernel
from jaxsbi.mcmc.runner import sample_batched
from jaxsbi.mcmc.smc import smc_batched

__all__ = [
    "CompiledSampler",
    "PosteriorSamples",
    "compiled_sampler",
    "potential",
    "sample_posterior",
]

# A prior draw exactly on the edge of a box (possible in float32) maps to ±inf in unconstrained
# space; such starting points are moved to ±_INIT_BOUND. They are starting points, not samples.
_INIT_BOUND = 15.0


class PosteriorSamples(NamedTuple):
    """Samples ``theta`` of shape ``(num_observations, num_chains, num_samples, theta_dim)``."""

    theta: Array
    info: SamplerInfo


def potential(
    prior: Prior, log_ratio_fn: Callable[[Any, Array, Array], Array]
) -> Callable[[Any, Array, Array], Array]:
    """``logdensity(params, u, x) = log p(θ(u)) + log|dθ/du| + log_ratio_fn(params, θ(u), x)``.

    ``log_ratio_fn`` is an estimator's log r(θ, x) (AALR) or a tractable log-likelihood; either
    way the sum is the unnormalised log posterior density in unconstrained space.
    """

    def logdensity(params, u, x):
        theta = prior.from_unconstrained(u)
        return prior.unconstrained_log_prob(u) + log_ratio_fn(params, theta, x)

    return logdensity


def _resample_init(key, prior: Prior, log_ratio_fn, params, x, config: SamplerConfig):
    # sbi's "resample" initialisation (sampling-importance-resampling): prior draws weighted by
    # exp(log r), each chain's start drawn independently in proportion to the weights (with
    # replacement), so the chains are spread over the posterior's modes in proportion to their
    # mass. (Drawing without replacement from one pool would flatten the weights and put too
    # many chains in light modes, which chains that never cross between modes then keep.)
    k_cand, k_pick = jax.random.split(key)
    candidates = prior.sample(k_cand, (config.num_init_candidates,))
    logw = jax.vmap(lambda t: log_ratio_fn(params, t, x))(candidates)
    logw = jnp.where(jnp.isfinite(logw), logw, -jnp.inf)
    idx = jax.random.categorical(k_pick, logw, shape=(config.num_chains,))
    return candidates[idx]


_STATIC = ("prior", "log_ratio_fn", "config", "proposal", "kernel")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _sample(key, params, x_obs, init_theta, use_init, *, prior, log_ratio_fn, config, proposal,
            kernel):
    # One jitted function for every sampler: jax's own cache, keyed on the hashable static
    # arguments (Prior and functions hash by identity, SamplerConfig and Kernel by value),
    # holds one compiled program per (prior, log_ratio_fn, config, proposal, kernel) and shape.
    logdensity = potential(prior, log_ratio_fn)

    # SMC tempers from its initial distribution q (the prior, or a proposal such as a truncated
    # box) to the posterior, in q's unconstrained space: log-"likelihood" log r + log p − log q.
    start = prior if proposal is None else proposal

    def log_target_ratio(params, u, x):
        theta = start.from_unconstrained(u)
        out = log_ratio_fn(params, theta, x)
        if proposal is not None:
            out = out + prior.log_prob(theta) - proposal.log_prob(theta)
        return out

    def run_smc(key, params, x_obs, init_theta, use_init):
        del init_theta, use_init
        k_init, k_run = jax.random.split(key)
        n, c, s = x_obs.shape[0], config.num_chains, config.num_samples
        # Observation i's particles come from its own key, so a batch equals separate calls.
        theta0 = jax.vmap(lambda i: start.sample(jax.random.fold_in(k_init, i), (c * s,)))(
            jnp.arange(n)
        )
        u0 = jax.vmap(jax.vmap(start.to_unconstrained))(theta0)
        u0 = jnp.where(jnp.isfinite(u0), u0, jnp.sign(u0) * _INIT_BOUND)
        u, info = smc_batched(
            k_run,
            start.unconstrained_log_prob,
            lambda u, x: log_target_ratio(params, u, x),
            x_obs,
            u0,
            config,
        )
        theta = jax.vmap(jax.vmap(start.from_unconstrained))(u).reshape(n, c, s, -1)
        steps = info.num_mutation_steps.astype(jnp.float32)
        if config.smc_mutation == "hmc":
            steps = steps * config.num_integration_steps
        out = SamplerInfo(
            step_size=info.scale,
            inverse_mass_matrix=info.inverse_mass_matrix,
            acceptance_rate=info.acceptance_rate,
            num_divergent=jnp.zeros((n,), jnp.int32),
            mean_num_steps=steps,
            log_normalizer=info.log_normalizer,
            num_stages=info.num_stages,
            tempering=info.tempering,
            ess_min=info.ess_min,
        )
        return PosteriorSamples(theta, out)

    def run(key, params, x_obs, init_theta, use_init):
        k_init, k_run = jax.random.split(key)
        n = x_obs.shape[0]
        if config.init == "resample":
            auto = jax.vmap(lambda k, x: _resample_init(k, prior, log_ratio_fn, params, x, config))(
                jax.random.split(k_init, n), x_obs
            )
        else:
            auto = prior.sample(k_init, (n, config.num_chains))
        theta0 = jnp.where(use_init, init_theta, auto)
        u0 = jax.vmap(jax.vmap(prior.to_unconstrained))(theta0)
        u0 = jnp.where(jnp.isfinite(u0), u0, jnp.sign(u0) * _INIT_BOUND)
        u, info = sample_batched(
            k_run, lambda u, x: logdensity(params, u, x), x_obs, u0, config, kernel=kernel
        )
        theta = jax.vmap(jax.vmap(jax.vmap(prior.from_unconstrained)))(u)
        return PosteriorSamples(theta, info)

    fn = run_smc if kernel is None and config.kernel == "smc" else run
    return fn(key, params, x_obs, init_theta, use_init)


class CompiledSampler(NamedTuple):
    """:func:`sample_posterior`'s jitted program with its static arguments bound.

    Calling it or its :meth:`lower` goes through one module-level ``jax.jit``, so two
    ``CompiledSampler`` s with equal fields share one cache entry (no retrace, no recompile).
    """

    prior: Prior
    log_ratio_fn: Callable[[Any, Array, Array], Array]
    config: SamplerConfig
    proposal: Prior | None = None
    kernel: Kernel | None = None

    def __call__(self, key, params, x_obs, init_theta, use_init) -> PosteriorSamples:
        return _sample(key, params, x_obs, init_theta, use_init, **self._asdict())

    def lower(self, key, params, x_obs, init_theta, use_init):
        """``jax.jit(...).lower`` for these arguments: ``.compile()`` it to time compilation."""
        return _sample.lower(key, params, x_obs, init_theta, use_init, **self._asdict())


def compiled_sampler(
    prior: Prior,
    log_ratio_fn,
    config: SamplerConfig,
    proposal: Prior | None = None,
    kernel: Kernel | None = None,
) -> CompiledSampler:
    """The jitted function behind :func:`sample_posterior`, for ahead-of-time compilation.

    ``fn(key, params, x_obs (n, *x_shape), init_theta (n, num_chains, d), use_init ()) ->
    PosteriorSamples`` with ``use_init`` a boolean scalar (False: the config's own start).
    jax's jit cache holds one program per ``(prior, log_ratio_fn, config, proposal, kernel)``
    (and argument shapes), so ``fn.lower(...).compile()`` times the compilation that a first
    :func:`sample_posterior` call would pay (``benchmarks/aalr.py``). No input checks:
    :func:`sample_posterior` is the checked entry point.
    """
    return CompiledSampler(prior, log_ratio_fn, config, proposal, kernel)


def sample_posterior(
    key: Array,
    prior: Prior,
    log_ratio_fn: Callable[[Any, Array, Array], Array],
    params: Any,
    x_obs: Array,
    config: SamplerConfig | None = None,
    *,
    x_shape: tuple[int, ...] | None = None,
    init_theta: Array | None = None,
    proposal: Prior | None = None,
    kernel: Kernel | None = None,
) -> PosteriorSamples:
    """Sample p(θ | x_o) ∝ p(θ) exp(log_ratio_fn(params, θ, x_o)) for one or many observations.

    Args:
        key: PRNG key. Observation i of a batch uses ``fold_in(key_run, i)``: a batch of N
            observations gives exactly what N one-observation calls give (see tests).
        prior: the prior.
        log_ratio_fn: ``log_ratio_fn(params, theta (d,), x x_shape) -> scalar``, e.g.
            ``estimator.log_ratio``; keep the same function object across calls to reuse the
            compiled sampler.
        params: its parameters (a pytree; None for a tractable likelihood).
        x_obs: ``(num_observations, *x_shape)``, or one observation of shape ``x_shape``.
        config: :class:`SamplerConfig`.
        x_shape: the shape of one observation; inferred from ``x_obs`` when omitted (then a
            single observation must be passed with a leading axis of 1 if ambiguous).
        init_theta: optional starting points ``(num_observations, num_chains, d)`` inside the
            prior's support (MCMC kernels only: "smc" always starts from the prior).
        proposal: "smc" only: start from this distribution q instead of the prior and temper
            to p(θ) exp(log_ratio) restricted to q's support (e.g. the box of a truncated
            round, :mod:`jaxsbi.sequential`); q must cover the posterior's mass. ``log Z`` is
            then log ∫_supp(q) p(θ) exp(log_ratio) dθ.
        kernel: an MCMC :class:`~jaxsbi.mcmc.Kernel` (e.g. a wrapped blackjax algorithm, see
            ``docs/sampling.md``) run with the config's pooled adaptation, overriding
            ``config.kernel``; reuse the same object across calls to reuse the compiled sampler.

    Returns:
        :class:`PosteriorSamples` with ``theta`` of shape
        ``(num_observations, num_chains, num_samples, d)``.

    Raises:
        ValueError: on an observation of the wrong shape, NaN/inf in observations, or initial
            positions of the wrong shape / outside the prior's support.
    """
    config = SamplerConfig() if config is None else config
    x_obs = jnp.asarray(x_obs, jnp.float32)
    d = prior.theta_dim
    if x_shape is not None:
        x_shape = tuple(x_shape)
        if x_obs.shape == x_shape:
            x_obs = x_obs[None]
        if x_obs.shape[1:] != x_shape:
            raise ValueError(
                f"observations must have shape (num_observations, *{x_shape}) or {x_shape}; "
                f"got {x_obs.shape}"
            )
    elif x_obs.ndim == 1:
        x_obs = x_obs[None]
    if x_obs.shape[0] == 0:
        raise ValueError("no observations given (x_obs has a leading axis of size 0)")
    bad = ~np.all(np.isfinite(np.asarray(x_obs).reshape(x_obs.shape[0], -1)), axis=1)
    if bad.any():
        raise ValueError(
            f"observations {np.flatnonzero(bad).tolist()} contain NaN or inf; posterior "
            "sampling needs finite observations"
        )
    n = x_obs.shape[0]
    use_init = init_theta is not None
    smc = kernel is None and config.kernel == "smc"
    if kernel is not None and not isinstance(kernel, Kernel):
        raise TypeError(f"kernel must be a jaxsbi.mcmc.Kernel or None, got {type(kernel)!r}")
    if proposal is not None:
        if not smc:
            name = config.kernel if kernel is None else "a Kernel object"
            raise ValueError(f"a proposal needs kernel 'smc', got {name!r}")
        if proposal.theta_dim != d:
            raise ValueError(
                f"proposal has theta_dim {proposal.theta_dim}, the prior {d}; they must match"
            )
    if use_init and smc:
        raise ValueError(
            "init_theta is not used by kernel 'smc', which starts from prior draws; "
            "pass an MCMC kernel ('nuts', 'hmc', 'rwmh') to start chains at given points"
        )
    if use_init:
        init_theta = jnp.asarray(init_theta, jnp.float32)
        expected = (n, config.num_chains, d)
        if init_theta.shape != expected:
            raise ValueError(f"init_theta must have shape {expected}, got {init_theta.shape}")
        flat = init_theta.reshape(-1, d)
        inside = np.asarray(jax.vmap(prior.in_support)(flat)) & np.all(
            np.isfinite(np.asarray(flat)), axis=1
        )
        if not inside.all():
            first = np.asarray(flat)[np.flatnonzero(~inside)[0]]
            raise ValueError(
                f"{int((~inside).sum())} initial position(s) lie outside the prior's support, "
                f"e.g. {first.tolist()}"
            )
    else:
        init_theta = jnp.zeros((n, config.num_chains, d), jnp.float32)
    fn = compiled_sampler(prior, log_ratio_fn, config, proposal, kernel)
    return fn(key, params, x_obs, init_theta, jnp.asarray(use_init))
