"""Convergence summaries of MCMC chains: rank-normalised split R-hat and bulk/tail ESS.

Thin wrappers over ``blackjax.diagnostics`` (1.7): ``rhat`` is the rank-normalised split R-hat
of Vehtari et al. 2021 (the larger of the bulk and folded-draw values, as ArviZ's default), and
``ess_bulk`` / ``ess_tail`` the rank-normalised bulk ESS and the 5%/95% tail ESS. Usual
thresholds: R-hat < 1.01 and bulk ESS > 100 per chain for reliable estimates (Vehtari et al.).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from blackjax import diagnostics as bjd
from jax import Array

__all__ = ["mcmc_summary", "mcmc_summary_batched"]

_MIN_SAMPLES = 4  # split chains need at least 2 draws per half


@jax.jit
def _summary_arrays(samples: Array) -> dict[str, Array]:
    """Per-dimension diagnostics of ``(num_chains, num_samples, dim)`` samples."""
    # blackjax broadcasts implicitly (e.g. draws minus a per-dimension median); allow it here
    # even when the caller runs with rank promotion set to "raise".
    with jax.numpy_rank_promotion("allow"):
        rhat = bjd.rhat(samples, chain_axis=0, sample_axis=1)
        ess_bulk = bjd.ess_bulk(samples, chain_axis=0, sample_axis=1)
        ess_tail = bjd.ess_tail(samples, chain_axis=0, sample_axis=1)
    return {
        "rhat": rhat,
        "ess_bulk": ess_bulk,
        "ess_tail": ess_tail,
        "max_rhat": jnp.max(rhat),
        "min_ess_bulk": jnp.min(ess_bulk),
        "min_ess_tail": jnp.min(ess_tail),
        "mean": jnp.mean(samples, axis=(0, 1)),
        "std": jnp.std(samples, axis=(0, 1)),
    }


def _check(samples, leading: tuple[str, ...]) -> Array:
    samples = jnp.asarray(samples)
    names = (*leading, "num_chains", "num_samples", "dim")
    if samples.ndim != len(names):
        raise ValueError(f"samples must be ({', '.join(names)}); got shape {samples.shape}")
    if samples.shape[-2] < _MIN_SAMPLES:
        raise ValueError(
            f"need at least {_MIN_SAMPLES} samples per chain for split R-hat; "
            f"got {samples.shape[-2]}"
        )
    if not jnp.issubdtype(samples.dtype, jnp.floating):
        samples = samples.astype(jnp.float32)
    return samples


def _info_summary(info, batch_axes: int) -> dict[str, Array]:
    """Acceptance rate and divergences from a sampler info pytree with leading chain axes."""
    out = {}
    axes = tuple(range(batch_axes, batch_axes + 2))  # (num_chains, num_samples)
    rate = getattr(info, "acceptance_rate", None)
    if rate is not None:
        out["acceptance_rate"] = jnp.mean(jnp.asarray(rate, jnp.float32), axis=axes)
    divergent = getattr(info, "is_divergent", None)
    if divergent is not None:
        out["num_divergent"] = jnp.sum(jnp.asarray(divergent, jnp.int32), axis=axes)
    return out


def mcmc_summary(samples: Array, info=None) -> dict[str, Array]:
    """R-hat, ESS and moments per dimension for one set of chains.

    Args:
        samples: ``(num_chains, num_samples, dim)`` draws (one chain is allowed: split R-hat
            compares its halves).
        info: optional sampler info (a blackjax ``*Info`` NamedTuple or any object) whose
            ``acceptance_rate`` / ``is_divergent`` fields have leading
            ``(num_chains, num_samples)`` axes.

    Returns:
        A dict of arrays: ``rhat``, ``ess_bulk``, ``ess_tail``, ``mean``, ``std`` of shape
        ``(dim,)``; scalars ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail``; and, from
        ``info`` when present, ``acceptance_rate`` and ``num_divergent`` (scalars).

    Raises:
        ValueError: if ``samples`` is not 3-D or has fewer than 4 draws per chain.

    Example:
        >>> import jax
        >>> draws = jax.random.normal(jax.random.key(0), (4, 500, 2))
        >>> bool(mcmc_summary(draws)["max_rhat"] < 1.01)
        True
    """
    samples = _check(samples, ())
    out = _summary_arrays(samples)
    if info is not None:
        out.update(_info_summary(info, 0))
    return out


def mcmc_summary_batched(samples: Array, info=None) -> dict[str, Array]:
    """:func:`mcmc_summary` for several observations at once (``vmap`` over the first axis).

    Args:
        samples: ``(num_observations, num_chains, num_samples, dim)`` draws.
        info: optional sampler info with leading
            ``(num_observations, num_chains, num_samples)`` axes.

    Returns:
        The keys of :func:`mcmc_summary`, each with a leading ``num_observations`` axis.

    Raises:
        ValueError: if ``samples`` is not 4-D or has fewer than 4 draws per chain.
    """
    samples = _check(samples, ("num_observations",))
    out = jax.vmap(_summary_arrays)(samples)
    if info is not None:
        out.update(_info_summary(info, 1))
    return out
