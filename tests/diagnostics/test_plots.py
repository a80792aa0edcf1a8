import numpy as np
import pytest

from jaxsbi.diagnostics import coverage_plot, pair_plot, sbc_histogram

PNG_MAGIC = b"\x89PNG"


def _is_png(path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == PNG_MAGIC


def test_pair_plot_overlays_sets(tmp_path):
    rng = np.random.default_rng(0)
    sets = {
        "reference": rng.normal(size=(3000, 3)),  # contours
        "estimate": rng.normal(size=(400, 3)) + 0.5,  # scatter
    }
    path = pair_plot(sets, tmp_path / "pair.png", labels=["a", "b", "c"], truth=np.zeros(3))
    assert path == str(tmp_path / "pair.png") and _is_png(path)


def test_coverage_plot(tmp_path):
    levels = np.linspace(0, 1, 21)
    coverage = np.stack([levels, levels**1.5], axis=1)
    path = coverage_plot(
        levels, coverage, tmp_path / "cov.png", num_observations=200, labels=["exact", "over"]
    )
    assert _is_png(path)


def test_sbc_histogram(tmp_path):
    ranks = np.random.default_rng(0).integers(0, 101, size=(300, 2))
    path = sbc_histogram(ranks, 100, tmp_path / "sbc.png", labels=["mu", "sigma"])
    assert _is_png(path)


def test_bad_plot_inputs_raise(tmp_path):
    with pytest.raises(ValueError, match="one dim"):
        pair_plot({"a": np.zeros((10, 2)), "b": np.zeros((10, 3))}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="truth"):
        pair_plot({"a": np.ones((10, 2))}, tmp_path / "x.png", truth=np.zeros(3))
    with pytest.raises(ValueError, match="num_levels"):
        coverage_plot(np.linspace(0, 1, 5), np.zeros(4), tmp_path / "x.png")
