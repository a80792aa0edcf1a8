"""SBC and expected coverage on a conjugate Gaussian model, where the exact posterior is known.

theta ~ N(0, I_2), x ~ N(theta, s^2 I_2): the posterior is N(x / (1 + s^2), s^2 / (1 + s^2) I_2).
An "over-confident" posterior keeps the mean and multiplies the variance by 0.25.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi.diagnostics import (
    central_interval_coverage,
    expected_coverage,
    sbc_ranks,
    sbc_uniformity,
)

NUM_OBS, NUM_SAMPLES, DIM, NOISE = 500, 200, 2, 0.5


def _posterior(variance_scale: float, seed: int = 0):
    """True theta, posterior samples and log densities (samples and truth) of a posterior."""
    k_theta, k_x, k_post = jax.random.split(jax.random.key(seed), 3)
    theta = jax.random.normal(k_theta, (NUM_OBS, DIM))
    x = theta + NOISE * jax.random.normal(k_x, (NUM_OBS, DIM))
    mean = x / (1.0 + NOISE**2)
    std = jnp.sqrt(variance_scale * NOISE**2 / (1.0 + NOISE**2))
    samples = mean[:, None, :] + std * jax.random.normal(k_post, (NUM_OBS, NUM_SAMPLES, DIM))

    def log_density(t):  # up to a constant shared by all theta of an observation
        return -0.5 * jnp.sum(jnp.square((t - mean[:, None, :]) / std), axis=-1)

    return theta, samples, log_density(samples), log_density(theta[:, None, :])[:, 0]


def test_sbc_uniform_for_exact_posterior():
    theta, samples, _, _ = _posterior(1.0)
    ranks = sbc_ranks(theta, samples)
    assert ranks.shape == (NUM_OBS, DIM) and ranks.dtype == jnp.int32
    result = sbc_uniformity(ranks, NUM_SAMPLES)
    assert result["min_pvalue"] > 1e-3, result


def test_sbc_detects_overconfidence():
    theta, samples, _, _ = _posterior(0.25)
    result = sbc_uniformity(sbc_ranks(theta, samples), NUM_SAMPLES)
    assert np.all(result["chi2_pvalue"] < 1e-6) and np.all(result["ks_pvalue"] < 1e-6), result


def test_sbc_ranks_jit_and_counts():
    theta, samples, _, _ = _posterior(1.0)
    np.testing.assert_array_equal(jax.jit(sbc_ranks)(theta, samples), sbc_ranks(theta, samples))
    ranks = sbc_ranks(jnp.zeros((1, 2)), jnp.array([[[-1.0, 1.0], [2.0, -2.0], [-3.0, -3.0]]]))
    assert ranks.tolist() == [[2, 2]]


def test_expected_coverage_exact_is_diagonal_overconfident_below():
    levels = jnp.linspace(0.05, 0.95, 19)
    *_, lp_samples, lp_true = _posterior(1.0)
    lv, cov = expected_coverage(lp_samples, lp_true, levels)
    # 500 observations: binomial standard error <= 0.023 at each level.
    assert lv.shape == cov.shape == (19,)
    assert float(jnp.max(jnp.abs(cov - levels))) < 0.07
    *_, lp_samples, lp_true = _posterior(0.25)
    _, cov_over = jax.jit(expected_coverage)(lp_samples, lp_true, levels)
    mid = (levels > 0.3) & (levels < 0.9)
    assert bool(jnp.all(jnp.where(mid, cov_over < levels - 0.15, True)))


def test_central_interval_coverage():
    levels = jnp.array([0.5, 0.9])
    theta, samples, _, _ = _posterior(1.0)
    lv, cov = jax.jit(central_interval_coverage)(theta, samples, levels)
    assert cov.shape == (2, DIM)
    np.testing.assert_allclose(cov, jnp.broadcast_to(levels[:, None], (2, DIM)), atol=0.07)
    theta, samples, _, _ = _posterior(0.25)
    _, cov_over = central_interval_coverage(theta, samples, levels)
    assert bool(jnp.all(cov_over < levels[:, None] - 0.15))


def test_expected_coverage_default_levels():
    levels, cov = expected_coverage(jnp.zeros((3, 10)), jnp.zeros(3))
    assert levels.shape == cov.shape == (101,)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="theta_dim"):
        sbc_ranks(jnp.zeros(5), jnp.zeros((5, 10, 1)))
    with pytest.raises(ValueError, match="do not match"):
        sbc_ranks(jnp.zeros((5, 2)), jnp.zeros((5, 10, 3)))
    with pytest.raises(ValueError, match="num_observations"):
        expected_coverage(jnp.zeros((5, 10)), jnp.zeros(4))
    with pytest.raises(ValueError, match="do not match"):
        central_interval_coverage(jnp.zeros((4, 2)), jnp.zeros((5, 10, 2)))
    with pytest.raises(ValueError, match="lie in"):
        sbc_uniformity(np.array([[0], [11]]), num_samples=10)
    with pytest.raises(ValueError, match="integers"):
        sbc_uniformity(np.zeros((4, 1)), num_samples=10)
