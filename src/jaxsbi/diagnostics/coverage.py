"""Expected coverage of posterior credible regions.

* :func:`expected_coverage` — highest-posterior-density (HPD) regions, as in Hermans et al. 2022,
  "A trust crisis in simulation-based inference?": the true ``theta*`` lies in the ``a``-HPD region
  of ``p(theta | x)`` when the fraction of posterior samples with a density above
  ``p(theta* | x)`` is below ``a``. Averaged over ``(theta*, x)`` pairs from the joint, this is
  ``a`` for an exact posterior; a curve below the diagonal means over-confidence, above it
  conservativeness.
* :func:`central_interval_coverage` — per-dimension equal-tailed marginal intervals.

Both are jit-able; shapes are checked at trace time.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array

from jaxsbi.diagnostics.sbc import check_truth_and_samples

__all__ = ["central_interval_coverage", "expected_coverage"]

_DEFAULT_NUM_LEVELS = 101


def _levels(levels) -> Array:
    if levels is None:
        return jnp.linspace(0.0, 1.0, _DEFAULT_NUM_LEVELS)
    levels = jnp.asarray(levels)
    if levels.ndim != 1:
        raise ValueError(f"levels must be a 1-D array of credibility levels; got {levels.shape}")
    return levels


def expected_coverage(
    log_density_samples: Array, log_density_true: Array, levels=None
) -> tuple[Array, Array]:
    """Expected coverage of HPD regions (Hermans et al. 2022).

    Args:
        log_density_samples: ``(num_observations, num_samples)`` log posterior densities (up to
            an additive constant per observation) of posterior samples given each ``x``.
        log_density_true: ``(num_observations,)`` log posterior density, with the same constant,
            of the true ``theta*`` that generated each ``x``.
        levels: ``(num_levels,)`` credibility levels in ``[0, 1]``; by default 101 equally
            spaced levels from 0 to 1.

    Returns:
        ``(levels, coverage)``, both ``(num_levels,)``: the fraction of observations whose
        ``theta*`` lies in the ``levels[k]``-HPD region.

    Raises:
        ValueError: if the shapes do not match.

    Example:
        >>> import jax.numpy as jnp
        >>> lv, cov = expected_coverage(jnp.array([[0.0, 1.0, 2.0]]), jnp.array([1.5]),
        ...                             levels=jnp.array([0.2, 0.5]))
        >>> cov.tolist()  # 1 of 3 samples is denser than theta*: inside for a > 1/3
        [0.0, 1.0]
    """
    if jnp.ndim(log_density_samples) != 2 or jnp.ndim(log_density_true) != 1:
        raise ValueError(
            "log_density_samples must be (num_observations, num_samples) and log_density_true "
            f"(num_observations,); got {jnp.shape(log_density_samples)} and "
            f"{jnp.shape(log_density_true)}"
        )
    if jnp.shape(log_density_samples)[0] != jnp.shape(log_density_true)[0]:
        raise ValueError(
            f"num_observations differs: {jnp.shape(log_density_samples)[0]} rows of samples, "
            f"{jnp.shape(log_density_true)[0]} true log densities"
        )
    levels = _levels(levels)
    above = jnp.asarray(log_density_samples) > jnp.asarray(log_density_true)[:, None]
    frac_above = jnp.mean(above, axis=1)  # (num_observations,)
    inside = frac_above[None, :] < levels[:, None]  # (num_levels, num_observations)
    return levels, jnp.mean(inside, axis=1)


def central_interval_coverage(
    theta_true: Array, samples: Array, levels=None
) -> tuple[Array, Array]:
    """Coverage of per-dimension equal-tailed (central) marginal credible intervals.

    The ``a`` interval of dimension ``j`` spans the ``(1 - a) / 2`` and ``(1 + a) / 2``
    quantiles of the posterior samples' ``j``-th coordinate (linear interpolation).

    Args:
        theta_true: ``(num_observations, theta_dim)`` true parameters.
        samples: ``(num_observations, num_samples, theta_dim)`` posterior samples.
        levels: ``(num_levels,)`` credibility levels in ``[0, 1]``; by default 101 equally
            spaced levels from 0 to 1.

    Returns:
        ``(levels, coverage)`` with ``coverage`` of shape ``(num_levels, theta_dim)``: the
        fraction of observations whose true value lies inside the interval.

    Raises:
        ValueError: if the shapes do not match.
    """
    check_truth_and_samples(theta_true, samples)
    levels = _levels(levels)
    lo = jnp.quantile(samples, (1.0 - levels) / 2.0, axis=1)  # (num_levels, n, d)
    hi = jnp.quantile(samples, (1.0 + levels) / 2.0, axis=1)
    theta = jnp.asarray(theta_true)[None, :, :]
    inside = (lo <= theta) & (theta <= hi)
    return levels, jnp.mean(inside, axis=1)
