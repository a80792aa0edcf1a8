"""Diagnostic figures written straight to files: corner plots, coverage curves, SBC histograms.

Figures are built with ``matplotlib.figure.Figure`` and rendered by the Agg canvas, so nothing
touches pyplot's global state or needs a display. Every function takes arrays and a path, writes
the figure there and returns the path.
"""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy.ndimage import gaussian_filter

from jaxsbi.diagnostics.sbc import sbc_uniformity

__all__ = ["coverage_plot", "pair_plot", "sbc_histogram"]

_SCATTER_MAX = 1000  # below this many points a scatter beats a contour of a 2-D histogram
_MASSES = (0.95, 0.68)  # probability mass inside the contour lines


def _save(fig: Figure, path) -> str:
    path = os.fspath(path)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _check_sets(samples_dict) -> tuple[dict[str, np.ndarray], int]:
    if not samples_dict:
        raise ValueError("samples_dict is empty; pass {label: (num_samples, dim) array}")
    sets = {str(k): np.asarray(v, dtype=float) for k, v in samples_dict.items()}
    dims = {k: v.shape for k, v in sets.items()}
    d = next(iter(sets.values())).shape[-1] if next(iter(sets.values())).ndim == 2 else None
    if d is None or any(v.ndim != 2 or v.shape[1] != d for v in sets.values()):
        raise ValueError(f"every sample set must be (num_samples, dim) with one dim; got {dims}")
    return sets, d


def _limits(sets, truth, limits, d: int) -> np.ndarray:
    if limits is not None:
        limits = np.asarray(limits, dtype=float)
        if limits.shape != (d, 2):
            raise ValueError(f"limits must have shape ({d}, 2); got {limits.shape}")
        return limits
    pooled = np.concatenate([v[np.all(np.isfinite(v), axis=1)] for v in sets.values()])
    lo, hi = np.percentile(pooled, [0.5, 99.5], axis=0)
    if truth is not None:
        lo, hi = np.minimum(lo, truth), np.maximum(hi, truth)
    pad = 0.05 * np.where(hi > lo, hi - lo, 1.0)
    return np.stack([lo - pad, hi + pad], axis=1)


def _contour_levels(hist: np.ndarray) -> list[float]:
    """Density thresholds enclosing ``_MASSES`` of a 2-D histogram's mass, increasing."""
    flat = np.sort(hist.ravel())[::-1]
    cum = np.cumsum(flat) / max(flat.sum(), 1e-300)
    levels = [flat[min(np.searchsorted(cum, m), flat.size - 1)] for m in _MASSES]
    return sorted(set(levels)) if levels[0] > 0 else [levels[-1]]


def _panel_2d(ax, x, y, lim_x, lim_y, color):
    if x.size <= _SCATTER_MAX:
        ax.scatter(x, y, s=2, alpha=0.4, color=color, rasterized=True)
        return
    hist, ex, ey = np.histogram2d(x, y, bins=40, range=[lim_x, lim_y])
    hist = gaussian_filter(hist, sigma=1.0)  # raw counts give ragged contours
    centres = (0.5 * (ex[1:] + ex[:-1]), 0.5 * (ey[1:] + ey[:-1]))
    if hist.max() > 0:
        ax.contour(*centres, hist.T, levels=_contour_levels(hist), colors=[color])


def pair_plot(samples_dict, path, labels=None, truth=None, limits=None) -> str:
    """Corner plot of one or more sample sets, overlaid in different colours.

    Diagonal: 1-D histograms (density). Lower triangle: 68%/95% contours of a 2-D histogram,
    or a scatter for sets of at most 1,000 samples. Upper triangle: empty.

    Args:
        samples_dict: ``{label: (num_samples, dim) array}``, e.g. ``{"reference": a, "NPE": b}``.
        path: where to write the image (format from the extension, e.g. ``.png``).
        labels: ``dim`` axis labels; by default ``theta_1 ... theta_dim``.
        truth: ``(dim,)`` true parameter, drawn as lines and a marker.
        limits: ``(dim, 2)`` axis limits; by default the pooled 0.5-99.5% range plus 5%.

    Returns:
        ``path`` as a string.

    Raises:
        ValueError: if the sets do not share one ``dim``, or ``labels`` / ``truth`` /
            ``limits`` do not match it.
    """
    sets, d = _check_sets(samples_dict)
    labels = [rf"$\theta_{{{i + 1}}}$" for i in range(d)] if labels is None else list(labels)
    if len(labels) != d:
        raise ValueError(f"need {d} labels; got {len(labels)}")
    if truth is not None:
        truth = np.asarray(truth, dtype=float).reshape(-1)
        if truth.shape != (d,):
            raise ValueError(f"truth must have shape ({d},); got {truth.shape}")
    lims = _limits(sets, truth, limits, d)

    fig = Figure(figsize=(2.2 * d + 1.0, 2.2 * d + 0.5))
    axes = fig.subplots(d, d, squeeze=False)
    colors = [f"C{i}" for i in range(len(sets))]
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            for s, c in zip(sets.values(), colors, strict=True):
                if i == j:
                    ax.hist(
                        s[:, i],
                        bins=40,
                        range=tuple(lims[i]),
                        density=True,
                        histtype="step",
                        color=c,
                    )
                else:
                    _panel_2d(ax, s[:, j], s[:, i], lims[j], lims[i], c)
            if truth is not None:
                ax.axvline(truth[j], color="k", lw=0.8)
                if i != j:
                    ax.plot(truth[j], truth[i], "k*", ms=8)
            ax.set_xlim(lims[j])
            if i != j:
                ax.set_ylim(lims[i])
            if i == j:
                ax.set_yticks([])
            elif j > 0:
                ax.tick_params(labelleft=False)
            if i < d - 1:
                ax.tick_params(labelbottom=False)
            ax.set_xlabel(labels[j] if i == d - 1 else "")
            ax.set_ylabel(labels[i] if (j == 0 and i > 0) else "")
    handles = [Line2D([], [], color=c, label=name) for name, c in zip(sets, colors, strict=True)]
    fig.legend(handles=handles, loc="upper right")
    return _save(fig, path)


def coverage_plot(
    levels,
    coverage,
    path,
    *,
    num_observations: int | None = None,
    labels=None,
    confidence: float = 0.95,
) -> str:
    """Empirical coverage against credibility level, with the diagonal and a binomial band.

    Args:
        levels: ``(num_levels,)`` credibility levels.
        coverage: ``(num_levels,)`` or ``(num_levels, num_curves)`` coverages, e.g. from
            :func:`expected_coverage` or :func:`central_interval_coverage`.
        path: where to write the image.
        num_observations: observations behind each coverage value; when given, shades the
            central ``confidence`` interval of Binomial(num_observations, level) / num_observations,
            where a calibrated estimator's curve should stay.
        labels: ``num_curves`` legend labels.
        confidence: mass of the binomial band.

    Returns:
        ``path`` as a string.

    Raises:
        ValueError: if the shapes of ``levels``, ``coverage`` and ``labels`` do not match.
    """
    from scipy import stats

    levels = np.asarray(levels, dtype=float)
    cov = np.asarray(coverage, dtype=float)
    cov = cov[:, None] if cov.ndim == 1 else cov
    if levels.ndim != 1 or cov.ndim != 2 or cov.shape[0] != levels.shape[0]:
        raise ValueError(
            f"coverage must be (num_levels,) or (num_levels, num_curves) with num_levels = "
            f"{levels.shape}; got {np.shape(coverage)}"
        )
    labels = [None] * cov.shape[1] if labels is None else list(labels)
    if len(labels) != cov.shape[1]:
        raise ValueError(f"need {cov.shape[1]} labels; got {len(labels)}")

    fig = Figure(figsize=(4.0, 4.0))
    ax = fig.subplots()
    if num_observations is not None:
        tail = (1.0 - confidence) / 2.0
        lo = stats.binom.ppf(tail, num_observations, levels) / num_observations
        hi = stats.binom.ppf(1.0 - tail, num_observations, levels) / num_observations
        ax.fill_between(levels, lo, hi, color="0.85", label=f"{confidence:.0%} binomial band")
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    for k, label in enumerate(labels):
        ax.plot(levels, cov[:, k], label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="credibility level", ylabel="empirical coverage")
    if num_observations is not None or labels[0] is not None:
        ax.legend(loc="upper left")
    return _save(fig, path)


def sbc_histogram(ranks, num_samples: int, path, labels=None, num_bins: int | None = None) -> str:
    """Histograms of SBC ranks per dimension, with the 99% band of a uniform histogram.

    Args:
        ranks: ``(num_observations, theta_dim)`` ranks from :func:`sbc_ranks`.
        num_samples: posterior samples per observation behind the ranks.
        path: where to write the image.
        labels: ``theta_dim`` panel titles.
        num_bins: bins, as in :func:`sbc_uniformity` (same default).

    Returns:
        ``path`` as a string.

    Raises:
        ValueError: bad ranks (see :func:`sbc_uniformity`) or a wrong number of labels.
    """
    from scipy import stats

    test = sbc_uniformity(ranks, num_samples, num_bins)
    counts, expected = test["counts"], test["expected"]
    n, d = np.shape(ranks)
    labels = [rf"$\theta_{{{i + 1}}}$" for i in range(d)] if labels is None else list(labels)
    if len(labels) != d:
        raise ValueError(f"need {d} labels; got {len(labels)}")
    p = expected / n
    lo, hi = stats.binom.ppf(0.005, n, p), stats.binom.ppf(0.995, n, p)
    centres = np.arange(counts.shape[0])
    edges = np.arange(counts.shape[0] + 1) - 0.5

    fig = Figure(figsize=(2.8 * d, 2.6))
    axes = fig.subplots(1, d, squeeze=False)[0]
    for j, ax in enumerate(axes):
        ax.fill_between(
            edges, np.append(lo, lo[-1]), np.append(hi, hi[-1]), step="post", color="0.85"
        )
        ax.bar(centres, counts[:, j], width=1.0, fill=False, edgecolor="C0")
        ax.set_title(f"{labels[j]}  (KS p={test['ks_pvalue'][j]:.2g})", fontsize=9)
        ax.set_xlabel("rank bin")
    axes[0].set_ylabel("count")
    return _save(fig, path)
