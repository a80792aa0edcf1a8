"""Reference posterior samples for any task with a likelihood, by NUTS on the exact likelihood.

The target is p(θ | x_o) ∝ p(θ) p(x_o | θ) with the task's own ``log_likelihood`` — no learned
surrogate. Sampling uses :func:`jaxsbi.mcmc.sample_posterior`: NUTS in the prior's unconstrained
space (the potential is ``prior.unconstrained_log_prob(u) + log_likelihood(θ(u), x_o)``), many
chains per observation with pooled windowed adaptation of one step size and one diagonal mass
matrix, then convergence is checked with rank-normalised split R-hat (:mod:`jaxsbi.diagnostics`).

How the modes are covered (slcp has four, one per sign pattern of (θ₃, θ₄), separated by the
θ₃ = 0 and θ₄ = 0 walls where Σ(θ) degenerates — NUTS chains never cross them):

1. **Start spread over the posterior.** Chains start at ``num_init_candidates`` prior draws
   resampled by likelihood weight without replacement (Gumbel top-k, as
   :func:`jaxsbi.mcmc.sample_posterior` does). This puts chains in every mode, but NOT in
   proportion to the modes' mass when the likelihood is peaked: top-k then mostly takes the
   highest-likelihood candidates, which cluster in whichever mode the prior draws happened to hit
   best (slcp observation 1, 400 chains: 198 / 149 / 15 / 38 chains in four equal-mass modes).
2. **Check.** For tasks with a known posterior symmetry (slcp, slcp_distractors: the likelihood
   and the uniform prior are invariant under θ₃ → −θ₃ and θ₄ → −θ₄ separately) the chains are
   counted per mode (``mode_counts``) and R-hat is computed on the symmetry-invariant statistics
   (|θ₃|, |θ₄| in place of θ₃, θ₄): chains in different modes are then draws of one law, and
   R-hat tests convergence *within* modes. Without the fold, R-hat would (correctly) report the
   chains as unmixed.
3. **Exact mode weights.** The symmetry group acts transitively on the modes, so the exact
   posterior gives every mode the same weight. Each returned draw gets an independent uniformly
   random group element (random sign flips of θ₃, θ₄), which makes the mode weights exactly equal
   whatever the chain allocation of step 1 was (and leaves the within-mode law unchanged, since
   the posterior is invariant). Without this step the slcp reference would be badly wrong.

two_moons is handled the same way: its likelihood depends on |θ₁ + θ₂| and θ₂ − θ₁, so the
reflection (θ₁, θ₂) ↦ (−θ₂, −θ₁) (which also preserves the uniform prior) swaps its two crescents.

For unimodal posteriors (sir, lotka_volterra, the GLMs, gaussian_linear) only step 1 and the
plain R-hat check apply. A posterior with modes that are not related by a known symmetry would
get mode weights from the allocation of chains in step 1, which is biased for peaked
likelihoods; R-hat over all chains flags such a posterior (chains in different modes disagree).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from jaxsbi.tasks import get_task
    >>> task = get_task("gaussian_linear")
    >>> cfg = LikelihoodReferenceConfig(num_chains=20, num_warmup=200)
    >>> ref = likelihood_reference(task, jax.random.key(0), jnp.zeros(10), 1000, cfg)
    >>> ref.theta.shape
    (1000, 10)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.diagnostics import mcmc_summary
from jaxsbi.mcmc.config import SamplerConfig
from jaxsbi.mcmc.posterior import sample_posterior
from jaxsbi.tasks.base import Task

__all__ = ["LikelihoodReferenceConfig", "LikelihoodReference", "likelihood_reference"]


@dataclasses.dataclass(frozen=True)
class LikelihoodReferenceConfig:
    """Settings of :func:`likelihood_reference`.

    Attributes:
        num_chains: NUTS chains; each keeps ``max(min_draws_per_chain, ceil(num_samples /
            num_chains))`` draws and ``num_samples`` are drawn without replacement from the pool.
        min_draws_per_chain: split R-hat needs long enough chains to be informative (with ~50
            draws per chain it exceeds 1.01 by noise alone).
        num_warmup: adaptation steps per chain (discarded).
        thinning: keep every ``thinning``-th draw of each chain.
        num_init_candidates: prior draws that the starting points are resampled from.
        max_num_doublings: NUTS tree-depth cap (at most 2^depth − 1 leapfrog steps).
        target_acceptance: dual-averaging target.
        max_rhat: raise if the largest R-hat exceeds this (None: only report it).
    """

    num_chains: int = 100
    min_draws_per_chain: int = 200
    num_warmup: int = 1000
    thinning: int = 1
    num_init_candidates: int = 10_000
    max_num_doublings: int = 8
    target_acceptance: float = 0.85
    max_rhat: float | None = 1.01

    def __post_init__(self):
        for name in (
            "num_chains",
            "min_draws_per_chain",
            "num_warmup",
            "thinning",
            "num_init_candidates",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_init_candidates < self.num_chains:
            raise ValueError(
                f"num_init_candidates ({self.num_init_candidates}) must be >= num_chains "
                f"({self.num_chains})"
            )
        if not 0.0 < self.target_acceptance < 1.0:
            raise ValueError(f"target_acceptance must be in (0, 1), got {self.target_acceptance}")
        if self.max_rhat is not None and self.max_rhat <= 1.0:
            raise ValueError(f"max_rhat must be > 1 (or None), got {self.max_rhat}")


class LikelihoodReference(NamedTuple):
    """Result of :func:`likelihood_reference`.

    Attributes:
        theta: ``(num_samples, theta_dim)`` posterior draws, shuffled across chains (and
            symmetrised where the task has a known symmetry).
        chains: ``(num_chains, draws_per_chain, theta_dim)`` raw chains (not symmetrised).
        rhat: ``(theta_dim,)`` rank-normalised split R-hat (of the folded statistics for
            symmetric tasks).
        ess_bulk: ``(theta_dim,)`` bulk effective sample size over all chains.
        acceptance_rate: mean NUTS acceptance probability.
        num_divergent: divergent transitions among the kept draws.
        mode_counts: chains per mode for tasks with a known symmetry (slcp's four sign
            patterns of (θ₃, θ₄), ordered (+,+), (+,−), (−,+), (−,−); two_moons' sign of
            θ₁ + θ₂, ordered +, −), else None.
    """

    theta: Array
    chains: Array
    rhat: np.ndarray
    ess_bulk: np.ndarray
    acceptance_rate: float
    num_divergent: int
    mode_counts: np.ndarray | None


# ---------------------------------------------------------------------------- symmetries


class _Symmetry(NamedTuple):
    fold: Callable[[Array], Array]  # (..., d) -> canonical representative, same shape
    act: Callable[[Array, Array], Array]  # (key, (n, d)) -> random group element applied per row
    mode_index: Callable[[Array], Array]  # (..., d) -> int mode label


def _slcp_fold(theta):
    return theta.at[..., 2:4].set(jnp.abs(theta[..., 2:4]))


def _slcp_act(key, theta):
    signs = jnp.where(jax.random.bernoulli(key, 0.5, (theta.shape[0], 2)), 1.0, -1.0)
    return theta.at[:, 2:4].multiply(signs)


def _slcp_mode(theta):
    return 2 * (theta[..., 2] < 0).astype(jnp.int32) + (theta[..., 3] < 0).astype(jnp.int32)


def _reflect(theta):
    # two_moons: (θ₁, θ₂) ↦ (−θ₂, −θ₁) flips the sign of θ₁ + θ₂ and keeps θ₂ − θ₁.
    return jnp.stack([-theta[..., 1], -theta[..., 0]], axis=-1)


def _two_moons_fold(theta):
    return jnp.where((theta[..., 0] + theta[..., 1] < 0)[..., None], _reflect(theta), theta)


def _two_moons_act(key, theta):
    flip = jax.random.bernoulli(key, 0.5, (theta.shape[0],))
    return jnp.where(flip[:, None], _reflect(theta), theta)


def _two_moons_mode(theta):
    return (theta[..., 0] + theta[..., 1] < 0).astype(jnp.int32)


_SLCP_SYMMETRY = _Symmetry(_slcp_fold, _slcp_act, _slcp_mode)
_SYMMETRIES: dict[str, _Symmetry] = {
    "slcp": _SLCP_SYMMETRY,
    "slcp_distractors": _SLCP_SYMMETRY,
    "two_moons": _Symmetry(_two_moons_fold, _two_moons_act, _two_moons_mode),
}
_NUM_MODES = {"slcp": 4, "slcp_distractors": 4, "two_moons": 2}


# ---------------------------------------------------------------------------- sampler


@functools.cache
def _log_ratio_fn(task: Task):
    # One function object per task, so sample_posterior's compiled sampler is reused.
    def log_ratio(params, theta, x):
        del params
        return task.log_likelihood(theta, x)

    return log_ratio


def likelihood_reference(
    task: Task,
    key: Array,
    x_obs,
    num_samples: int = 10_000,
    config: LikelihoodReferenceConfig | None = None,
) -> LikelihoodReference:
    """Draw reference posterior samples p(θ | x_obs) by NUTS on the task's exact likelihood.

    Args:
        task: a :class:`~jaxsbi.tasks.Task` with ``log_likelihood``.
        key: PRNG key (same key, same samples).
        x_obs: one observation, shape ``task.x_shape``.
        num_samples: number of returned draws.
        config: :class:`LikelihoodReferenceConfig`.

    Returns:
        :class:`LikelihoodReference` (``theta`` of shape ``(num_samples, theta_dim)``).

    Raises:
        ValueError: task without a likelihood, x_obs of the wrong shape or not finite,
            num_samples < 1.
        RuntimeError: R-hat above ``config.max_rhat`` (the message lists R-hat per dimension).
    """
    config = LikelihoodReferenceConfig() if config is None else config
    if task.log_likelihood is None:
        raise ValueError(f"task {task.name!r} has no log_likelihood; NUTS needs one")
    x_obs = jnp.asarray(x_obs, jnp.float32)
    if x_obs.shape != tuple(task.x_shape):
        raise ValueError(f"x_obs for {task.name} must have shape {task.x_shape}, got {x_obs.shape}")
    if not bool(jnp.all(jnp.isfinite(x_obs))):
        raise ValueError(f"x_obs must be finite, got {np.asarray(x_obs)}")
    if int(num_samples) != num_samples or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    num_samples = int(num_samples)
    per_chain = max(4, config.min_draws_per_chain, math.ceil(num_samples / config.num_chains))
    sampler = SamplerConfig(
        kernel="nuts",
        num_chains=config.num_chains,
        num_samples=per_chain,
        num_warmup=config.num_warmup,
        thinning=config.thinning,
        target_acceptance=config.target_acceptance,
        max_num_doublings=config.max_num_doublings,
        init="resample",
        num_init_candidates=config.num_init_candidates,
    )
    k_run, k_sym, k_shuffle = jax.random.split(key, 3)
    out = sample_posterior(
        k_run, task.prior, _log_ratio_fn(task), None, x_obs[None], sampler, x_shape=task.x_shape
    )
    chains = out.theta[0]  # (num_chains, per_chain, d)
    symmetry = _SYMMETRIES.get(task.name)
    summary = mcmc_summary(chains if symmetry is None else symmetry.fold(chains))
    rhat = np.asarray(summary["rhat"])
    mode_counts = None
    if symmetry is not None:
        # A chain's mode is that of its median draw (chains do not cross the walls).
        labels = np.asarray(symmetry.mode_index(jnp.median(chains, axis=1)))
        mode_counts = np.bincount(labels, minlength=_NUM_MODES[task.name])
    if config.max_rhat is not None and not np.all(rhat <= config.max_rhat):
        raise RuntimeError(
            f"NUTS reference for {task.name} did not converge: R-hat per dimension "
            f"{np.round(rhat, 4).tolist()} (threshold {config.max_rhat}); increase num_warmup "
            "or num_chains"
        )
    flat = chains.reshape(-1, chains.shape[-1])
    if symmetry is not None:
        flat = symmetry.act(k_sym, flat)
    flat = jax.random.permutation(k_shuffle, flat, axis=0)[:num_samples]
    return LikelihoodReference(
        theta=flat,
        chains=chains,
        rhat=rhat,
        ess_bulk=np.asarray(summary["ess_bulk"]),
        acceptance_rate=float(out.info.acceptance_rate[0]),
        num_divergent=int(out.info.num_divergent[0]),
        mode_counts=mode_counts,
    )
