"""Truncated sequential rounds for one observation (truncated NRE; Miller et al. 2021).

A ratio trained on prior-predictive simulations is accurate where those simulations are dense.
An observation in the tail of the prior predictive sits where almost none fall, and its
posterior suffers (on a conjugate Gaussian model, C2ST 0.62-0.68 in the tail against 0.51-0.53
for central observations, ``benchmarks/tails.py``). Truncation spends the budget where this
observation's posterior lives:

1. Round 0 simulates from the prior, trains, and draws the posterior with tempered SMC.
2. The next round's box is the per-dimension ``[tail_mass, 1 - tail_mass]`` quantile range of
   those draws, widened by ``padding`` times its width on each side, and intersected with the
   previous box and the prior's support (boxes only shrink, as in TMNRE).
3. The round simulates θ uniformly in the box, keeps every earlier simulation that falls inside
   it, trains a fresh ratio on them, and draws the posterior again, SMC starting from the box.

Why no correction is needed: a ratio classifier trained on pairs from any proposal q(θ) learns
log p(x | θ) − log p_q(x), whose θ-dependence is the likelihood's, so p(θ) r(θ, x_o) is the
posterior wherever q > 0. A mixture of earlier proposals restricted to the box is such a q.
The posterior is then the one restricted to the final box; ``tail_mass`` and ``padding`` set how
much of it the box may cut (``TruncationRound.mass_outside`` reports the fraction of each
round's draws outside the next box, before padding: a check that the truncation is safe).

When to use it: one (or a few) observations that matter, especially ones the prior predictive
rarely reaches (``log Z`` far from 0 in the sampler's info is the symptom: a calibrated ratio
has ∫ p(θ) r(θ, x_o) dθ = 1); not for amortised inference over many observations, which needs a
ratio good everywhere.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.distributions import Prior, uniform
from jaxsbi.mcmc import PosteriorSamples, SamplerConfig, sample_posterior
from jaxsbi.train import SimulationData, TrainConfig, simulate, train_estimator

__all__ = ["TruncationConfig", "TruncationRound", "TruncatedPosterior", "truncated_posterior"]

log = logging.getLogger("jaxsbi")


@dataclasses.dataclass(frozen=True)
class TruncationConfig:
    """Settings of :func:`truncated_posterior`.

    Attributes:
        num_rounds: rounds in all, the prior round included (1 = plain NRE).
        simulations_per_round: new simulations in every round.
        tail_mass: per-dimension posterior mass left outside each side of the box (before
            padding).
        padding: the box grows by this fraction of its width on each side.
    """

    num_rounds: int = 3
    simulations_per_round: int = 10_000
    tail_mass: float = 1e-3
    padding: float = 0.5

    def __post_init__(self):
        if self.num_rounds < 1:
            raise ValueError(f"num_rounds must be >= 1, got {self.num_rounds}")
        if self.simulations_per_round < 2:
            raise ValueError(
                f"simulations_per_round must be >= 2, got {self.simulations_per_round}"
            )
        if not 0.0 <= self.tail_mass < 0.5:
            raise ValueError(f"tail_mass must be in [0, 0.5), got {self.tail_mass}")
        if self.padding < 0:
            raise ValueError(f"padding must be >= 0, got {self.padding}")


class TruncationRound(NamedTuple):
    """One round: the box it simulated in (``(d,)`` bounds; the prior round's are the support's,
    possibly infinite), its training set size, the posterior's log Z and the share of its draws
    outside the next box's unpadded quantile range in any dimension."""

    low: np.ndarray
    high: np.ndarray
    num_train: int
    log_normalizer: float
    mass_outside: float


class TruncatedPosterior(NamedTuple):
    """Result of :func:`truncated_posterior`: the last round's posterior samples
    (``theta (1, num_chains, num_samples, d)``), its params, and every round's record."""

    posterior: PosteriorSamples
    params: Any
    rounds: tuple[TruncationRound, ...]


def support_bounds(prior: Prior) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension bounds of the prior's support (±inf where unbounded)."""
    c = prior.dist.support
    while hasattr(c, "base_constraint"):
        c = c.base_constraint
    d = prior.theta_dim
    lo = np.broadcast_to(np.asarray(getattr(c, "lower_bound", -np.inf), np.float64), (d,))
    hi = np.broadcast_to(np.asarray(getattr(c, "upper_bound", np.inf), np.float64), (d,))
    return lo.copy(), hi.copy()


def next_box(theta: np.ndarray, low: np.ndarray, high: np.ndarray, config: TruncationConfig):
    """The box of the next round from posterior draws ``theta (n, d)`` and the current box.

    Returns ``(low, high, mass_outside)``: quantile range widened by ``padding`` on each side,
    intersected with the current box; ``mass_outside`` is the share of draws outside the
    unpadded range in some dimension.
    """
    q_lo = np.quantile(theta, config.tail_mass, axis=0)
    q_hi = np.quantile(theta, 1.0 - config.tail_mass, axis=0)
    width = np.maximum(q_hi - q_lo, 1e-6 * (1.0 + np.abs(q_hi)))
    new_lo = np.maximum(low, q_lo - config.padding * width)
    new_hi = np.minimum(high, q_hi + config.padding * width)
    outside = np.any((theta < q_lo) | (theta > q_hi), axis=1).mean()
    return new_lo, new_hi, float(outside)


def _in_box(theta, low, high):
    return np.all((theta >= low) & (theta <= high), axis=1)


def truncated_posterior(
    key: Array,
    task,
    estimator,
    x_obs: Array,
    train_config: TrainConfig,
    sampler_config: SamplerConfig | None = None,
    config: TruncationConfig | None = None,
    *,
    progress: bool = False,
) -> TruncatedPosterior:
    """Posterior of ONE observation by truncated sequential rounds (see the module docstring).

    Args:
        key: PRNG key (same key, same result).
        task: the :class:`~jaxsbi.tasks.Task` (its prior and simulator).
        estimator: a ratio estimator (:func:`jaxsbi.ratio.aalr`); retrained in every round.
        x_obs: one observation of shape ``task.x_shape``.
        train_config: training settings of every round.
        sampler_config: the posterior sampler (kernel "smc", the default).
        config: :class:`TruncationConfig`.
        progress: training progress bars.

    Returns:
        :class:`TruncatedPosterior`.

    Raises:
        ValueError: x_obs of the wrong shape or not finite; a sampler other than SMC; a round
            whose box holds fewer than 2 valid simulations.
    """
    config = TruncationConfig() if config is None else config
    sampler_config = SamplerConfig() if sampler_config is None else sampler_config
    if sampler_config.kernel != "smc":
        raise ValueError(f"truncated rounds need kernel 'smc', got {sampler_config.kernel!r}")
    x_obs = jnp.asarray(x_obs, jnp.float32)
    if x_obs.shape != tuple(task.x_shape):
        raise ValueError(f"x_obs must have shape {task.x_shape}, got {x_obs.shape}")
    if not bool(jnp.all(jnp.isfinite(x_obs))):
        raise ValueError("x_obs must be finite")
    prior = task.prior
    low, high = support_bounds(prior)
    proposal = None
    theta_all = np.zeros((0, task.theta_dim), np.float32)
    x_all = np.zeros((0, *task.x_shape), np.float32)
    rounds = []
    post = params = None
    for r in range(config.num_rounds):
        k_sim, k_train, k_sample = jax.random.split(jax.random.fold_in(key, r), 3)
        source = task if proposal is None else dataclasses.replace(task, prior=proposal)
        data = simulate(k_sim, source, config.simulations_per_round)
        theta_new, x_new = np.asarray(data.theta), np.asarray(data.x)
        inside = np.asarray(jax.vmap(prior.in_support)(jnp.asarray(theta_new)))
        theta_all = np.concatenate([theta_all, theta_new[inside]])
        x_all = np.concatenate([x_all, x_new[inside]])
        keep = _in_box(theta_all, low, high)
        theta_all, x_all = theta_all[keep], x_all[keep]
        if theta_all.shape[0] < 2:
            raise ValueError(f"round {r}: fewer than 2 valid simulations in the box")
        train = SimulationData(jnp.asarray(theta_all), jnp.asarray(x_all), 0)
        params, _, _ = train_estimator(
            k_train, task, estimator, train_config, data=train, progress=progress
        )
        post = sample_posterior(
            k_sample, prior, estimator.log_ratio, params, x_obs[None], sampler_config,
            x_shape=task.x_shape, proposal=proposal,
        )
        theta = np.asarray(post.theta).reshape(-1, task.theta_dim)
        new_lo, new_hi, outside = next_box(theta, low, high, config)
        rounds.append(TruncationRound(low.copy(), high.copy(), int(theta_all.shape[0]),
                                      float(post.info.log_normalizer[0]), outside))
        log.info("truncation round %d: %d simulations, log Z %.3f, box %s .. %s", r,
                 theta_all.shape[0], rounds[-1].log_normalizer, np.round(new_lo, 3),
                 np.round(new_hi, 3))
        if r + 1 < config.num_rounds:
            low, high = new_lo, new_hi
            proposal = uniform(low, high)
    return TruncatedPosterior(post, params, tuple(rounds))
