"""Model evidence by stepping-stone sampling over power posteriors (generic; used per voxel).

**Evidence: stepping-stone sampling** (Xie et al. 2011, Syst. Biol. 60:150) over power
posteriors p_β(θ) ∝ p(θ) L(θ)^β at β_k = (k/T)^{1/0.3}, k = 0..T:

    log Z = Σ_{k=1}^{T} log E_{p_{β_{k−1}}}[ L^{β_k − β_{k−1}} ],

each expectation a log-mean-exp over the draws of rung k−1 (rung 0 draws exactly from the
prior; rungs 1..T by NUTS, each with its own adapted step size and mass matrix, all in one
:func:`jaxsbi.mcmc.sample_batched` call). Thermodynamic integration (trapezoid rule on
E_β[log L]) from the same draws is returned as a second, coarser estimate: E_β[log L] is
usually concave in β (its slope is Var_β[log L]), so the trapezoid is biased low at a few
rungs — on the dMRI voxels of the tests by 1–4 nats at 12 rungs, while the stepping-stone
estimate matched quadrature within 0.3 nats at 16 rungs. (Friel et al.'s variance-corrected
trapezoid over-corrected there, by up to 7 nats, so it is not used.) Both only need *expectations*
under each power posterior, so a chain confined to one of several symmetric modes (stick
relabelling, μ ↔ −μ) still gives the right answer. The top rung (β = 1) is the posterior.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import logsumexp

from jaxsbi.mcmc import SamplerConfig, SamplerInfo, sample_batched

__all__ = ["EvidenceConfig", "EvidenceEstimate", "power_posterior_evidence"]

_DEFAULT_SAMPLER = SamplerConfig(
    kernel="nuts", num_chains=4, num_samples=100, num_warmup=200, max_num_doublings=6
)


@dataclasses.dataclass(frozen=True)
class EvidenceConfig:
    """Power-posterior evidence settings.

    Attributes:
        num_temperatures: MCMC rungs T (β_1..β_T; β_0 = 0 is sampled exactly).
        temperature_power: β_k = (k / T)^power (Xie et al.: 1 / 0.3).
        sampler: NUTS settings per rung (chains, warmup, kept draws).
        num_prior_draws: exact prior draws for rung 0 (also the pool the chains start from:
            rung k's chains start at draws resampled ∝ L^{β_k}).
    """

    num_temperatures: int = 16
    temperature_power: float = 1.0 / 0.3
    sampler: SamplerConfig = _DEFAULT_SAMPLER
    num_prior_draws: int = 1000

    def __post_init__(self):
        if self.num_temperatures < 1:
            raise ValueError(f"num_temperatures must be >= 1, got {self.num_temperatures}")
        if not self.temperature_power > 0:
            raise ValueError(f"temperature_power must be > 0, got {self.temperature_power}")
        if self.num_prior_draws < self.sampler.num_chains:
            raise ValueError(
                f"num_prior_draws ({self.num_prior_draws}) must be >= sampler.num_chains "
                f"({self.sampler.num_chains})"
            )

    def betas(self) -> Array:
        """``(T + 1,)`` inverse temperatures from 0 to 1."""
        k = jnp.arange(self.num_temperatures + 1, dtype=jnp.float32)
        return (k / self.num_temperatures) ** self.temperature_power


class EvidenceEstimate(NamedTuple):
    """Result of :func:`power_posterior_evidence` (one data set).

    Attributes:
        log_evidence: ``()`` stepping-stone estimate of log p(data).
        log_evidence_ti: ``()`` thermodynamic-integration estimate (trapezoid; coarser).
        betas: ``(T + 1,)``.
        mean_log_likelihood: ``(T + 1,)`` E_β[log L] per rung.
        posterior: ``(num_chains, num_samples, d)`` unconstrained draws at β = 1.
        info: :class:`~jaxsbi.mcmc.SamplerInfo` with a leading rung axis ``(T,)``.
    """

    log_evidence: Array
    log_evidence_ti: Array
    betas: Array
    mean_log_likelihood: Array
    posterior: Array
    info: SamplerInfo


def _logmeanexp(x: Array) -> Array:
    return logsumexp(x) - jnp.log(jnp.asarray(x.size, x.dtype))


def power_posterior_evidence(
    key: Array,
    log_prior_fn,
    log_likelihood_fn,
    sample_prior_fn,
    data,
    config: EvidenceConfig = EvidenceConfig(),
) -> EvidenceEstimate:
    """log p(data) by stepping-stone sampling over power posteriors (pure; vmap-able).

    Args:
        key: PRNG key.
        log_prior_fn: ``u (d,) -> ()``, a *normalised* prior log density.
        log_likelihood_fn: ``(u (d,), data) -> ()``.
        sample_prior_fn: ``key -> u (d,)``, exact prior draws.
        data: the data (any pytree), passed to ``log_likelihood_fn``.
        config: :class:`EvidenceConfig` (static).

    Returns:
        :class:`EvidenceEstimate`.
    """
    num_t = config.num_temperatures
    chains = config.sampler.num_chains
    betas = config.betas()
    k_prior, k_init, k_mcmc = jax.random.split(key, 3)
    u0 = jax.vmap(sample_prior_fn)(jax.random.split(k_prior, config.num_prior_draws))
    ll0 = jax.vmap(lambda u: log_likelihood_fn(u, data))(u0)
    ll0 = jnp.where(jnp.isnan(ll0), -jnp.inf, ll0)
    # Start rung k's chains at prior draws resampled ∝ L^β_k (Gumbel top-k, no replacement).
    gumbel = jax.random.gumbel(k_init, (num_t, ll0.shape[0]))
    _, pick = jax.lax.top_k(betas[1:, None] * ll0[None, :] + gumbel, chains)
    init = u0[pick]  # (T, chains, d)

    def logdensity(u, beta):
        return log_prior_fn(u) + beta * log_likelihood_fn(u, data)

    positions, info = sample_batched(k_mcmc, logdensity, betas[1:], init, config.sampler)
    ll = jax.vmap(jax.vmap(jax.vmap(lambda u: log_likelihood_fn(u, data))))(positions)
    ll = jnp.where(jnp.isnan(ll), -jnp.inf, ll).reshape(num_t, -1)  # (T, chains·samples)
    # Stepping stones: rung k-1's draws estimate E[L^(β_k − β_{k−1})].
    gaps = betas[1:] - betas[:-1]
    first = _logmeanexp(gaps[0] * ll0)
    rest = jax.vmap(_logmeanexp)(gaps[1:, None] * ll[:-1]) if num_t > 1 else jnp.zeros((0,))
    log_z = first + jnp.sum(rest)
    mean_ll = jnp.concatenate([jnp.mean(ll0)[None], jnp.mean(ll, axis=1)])
    log_z_ti = jnp.sum(0.5 * gaps * (mean_ll[1:] + mean_ll[:-1]))
    return EvidenceEstimate(log_z, log_z_ti, betas, mean_ll, positions[-1], info)
