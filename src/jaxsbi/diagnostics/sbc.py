"""Simulation-based calibration (Talts et al. 2018): ranks and their uniformity tests.

For ``theta_i ~ prior``, ``x_i ~ simulator(theta_i)`` and ``s`` posterior samples given ``x_i``,
the rank of each coordinate of ``theta_i`` among its posterior samples is uniform on
``{0, ..., s}`` when the posterior is exact (given that the samples are independent). An
over-confident posterior piles ranks at both ends (a U-shaped histogram), an under-confident
one in the middle, a biased one on one side.
"""

from __future__ import annotations

import numpy as np
from jax import Array
from jax import numpy as jnp

__all__ = ["sbc_ranks", "sbc_uniformity"]


def check_truth_and_samples(theta_true, samples) -> None:
    """Raise ValueError unless theta_true is (n, d) and samples is (n, num_samples, d)."""
    if jnp.ndim(theta_true) != 2 or jnp.ndim(samples) != 3:
        raise ValueError(
            "theta_true must be (num_observations, theta_dim) and samples "
            "(num_observations, num_samples, theta_dim); got shapes "
            f"{jnp.shape(theta_true)} and {jnp.shape(samples)}"
        )
    n, d = jnp.shape(theta_true)
    if jnp.shape(samples)[0] != n or jnp.shape(samples)[2] != d:
        raise ValueError(
            f"samples of shape {jnp.shape(samples)} do not match theta_true of shape "
            f"{(n, d)}: expected ({n}, num_samples, {d})"
        )


def sbc_ranks(theta_true: Array, samples: Array) -> Array:
    """Rank of each true parameter among its posterior samples, per dimension.

    Jit-able (shapes are checked at trace time).

    Args:
        theta_true: ``(num_observations, theta_dim)`` parameters that generated each ``x``.
        samples: ``(num_observations, num_samples, theta_dim)`` posterior samples given each
            ``x``.

    Returns:
        ``(num_observations, theta_dim)`` int32 ranks in ``[0, num_samples]``: the number of
        posterior samples strictly below the true value.

    Raises:
        ValueError: if the shapes do not match.

    Example:
        >>> import jax.numpy as jnp
        >>> sbc_ranks(jnp.zeros((1, 1)), jnp.array([[[-1.0], [2.0], [-3.0]]])).tolist()
        [[2]]
    """
    check_truth_and_samples(theta_true, samples)
    below = jnp.asarray(samples) < jnp.asarray(theta_true)[:, None, :]
    return jnp.sum(below, axis=1, dtype=jnp.int32)


def _default_num_bins(num_observations: int, num_samples: int) -> int:
    # At least ~5 expected counts per bin (the chi-square approximation's usual rule), at most
    # 20 bins and never more bins than rank values.
    return int(max(2, min(20, num_samples + 1, num_observations // 5)))


def sbc_uniformity(ranks, num_samples: int, num_bins: int | None = None) -> dict:
    """Tests whether SBC ranks are uniform, per dimension (chi-square and Kolmogorov-Smirnov).

    The chi-square test bins the ``num_samples + 1`` possible rank values into ``num_bins``
    contiguous groups and compares the counts with their exact expected values; the KS test
    compares ``ranks / num_samples`` with U(0, 1). Both p-values are uniform under an exact
    posterior, so a calibrated posterior fails a test at level ``a`` with probability ``a``.

    Thresholds: flag a dimension when a p-value is below 0.01 (divide by ``theta_dim`` for a
    Bonferroni correction across dimensions); p-values below 1e-6 mean clear miscalibration.
    With few observations (< ~100) only gross miscalibration is detectable; look at the
    histogram (:func:`jaxsbi.diagnostics.sbc_histogram`) as well.

    Args:
        ranks: ``(num_observations, theta_dim)`` integer ranks from :func:`sbc_ranks`.
        num_samples: posterior samples per observation used to compute the ranks.
        num_bins: chi-square bins; by default ``min(20, num_samples + 1,
            num_observations // 5)`` (at least 2) so that each bin expects ~5 or more counts.

    Returns:
        A dict with ``chi2_statistic``, ``chi2_pvalue``, ``ks_statistic``, ``ks_pvalue`` (each a
        ``(theta_dim,)`` numpy array), ``min_pvalue`` (float, smallest of all p-values),
        ``counts`` (``(num_bins, theta_dim)``), ``expected`` (``(num_bins,)``) and ``num_bins``.

    Raises:
        ValueError: ranks that are not 2-D integers in ``[0, num_samples]``, or a bad
            ``num_bins``.
    """
    from scipy import stats

    r = np.asarray(ranks)
    if r.ndim != 2 or r.shape[0] < 1:
        raise ValueError(f"ranks must be (num_observations, theta_dim); got shape {r.shape}")
    if not np.issubdtype(r.dtype, np.integer):
        raise ValueError(f"ranks must be integers (from sbc_ranks); got dtype {r.dtype}")
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be >= 1; got {num_samples}")
    if r.min() < 0 or r.max() > num_samples:
        raise ValueError(
            f"ranks must lie in [0, num_samples={num_samples}]; got [{r.min()}, {r.max()}]"
        )
    n, d = r.shape
    bins = _default_num_bins(n, num_samples) if num_bins is None else int(num_bins)
    if not 2 <= bins <= num_samples + 1:
        raise ValueError(
            f"num_bins must be in [2, num_samples + 1 = {num_samples + 1}]; got {bins}"
        )

    # Rank value v falls in bin floor(v * bins / (num_samples + 1)); bins may hold unequal
    # numbers of rank values, so expected counts are computed exactly.
    bin_of_value = (np.arange(num_samples + 1) * bins) // (num_samples + 1)
    expected = n * np.bincount(bin_of_value, minlength=bins) / (num_samples + 1)
    counts = np.stack([np.bincount(bin_of_value[r[:, j]], minlength=bins) for j in range(d)], 1)

    chi2 = [stats.chisquare(counts[:, j], expected) for j in range(d)]
    ks = [stats.kstest(r[:, j] / num_samples, "uniform") for j in range(d)]
    out = {
        "chi2_statistic": np.array([c.statistic for c in chi2]),
        "chi2_pvalue": np.array([c.pvalue for c in chi2]),
        "ks_statistic": np.array([k.statistic for k in ks]),
        "ks_pvalue": np.array([k.pvalue for k in ks]),
        "counts": counts,
        "expected": expected,
        "num_bins": bins,
    }
    out["min_pvalue"] = float(min(out["chi2_pvalue"].min(), out["ks_pvalue"].min()))
    return out
