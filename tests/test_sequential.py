"""Truncated rounds: the box proposal gives the exact posterior; boxes shrink around it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxsbi.distributions import lognormal, normal, uniform
from jaxsbi.mcmc import SamplerConfig, sample_posterior
from jaxsbi.sequential import TruncationConfig, next_box, support_bounds, truncated_posterior
from jaxsbi.tasks import Task

NOISE = 0.1


def exact_loglik(params, theta, x):
    del params
    return -0.5 * jnp.sum((x - theta) ** 2) / NOISE**2


def test_box_proposal_gives_the_exact_posterior_in_the_tail():
    # Prior N(0, I), x = θ + N(0, 0.01 I), x at prior-predictive radius ~4: the posterior is
    # N(x / 1.01, 0.0099 I). SMC started from a box around it (not from the prior) must give
    # it, the prior's density included through log p − log q.
    prior = normal(jnp.zeros(2), jnp.ones(2))
    x = jnp.array([[3.0, 3.0]])
    box = uniform(jnp.array([2.5, 2.4]), jnp.array([3.5, 3.4]))
    cfg = SamplerConfig(num_chains=20, num_samples=250)
    post = sample_posterior(jax.random.key(0), prior, exact_loglik, None, x, cfg, proposal=box)
    th = np.asarray(post.theta).reshape(-1, 2)
    mean, sd = np.asarray(x[0]) / 1.01, np.sqrt(NOISE**2 / 1.01)
    np.testing.assert_allclose(th.mean(0), mean, atol=0.01)
    np.testing.assert_allclose(th.std(0), sd, rtol=0.06)
    assert stats.kstest(th[::5, 0], stats.norm(mean[0], sd).cdf).statistic < 0.05
    # log Z = log ∫_box p(θ) L(θ) dθ; the box holds all but ~1e-6 of the mass.
    exact = stats.multivariate_normal(np.zeros(2), 1.01 * np.eye(2)).logpdf(np.asarray(x[0]))
    exact += np.log(2 * np.pi * NOISE**2)  # exact_loglik omits the Gaussian normaliser
    assert abs(float(post.info.log_normalizer[0]) - exact) < 0.05


def test_proposal_needs_smc_and_matching_dimension():
    prior = normal(jnp.zeros(2), jnp.ones(2))
    x = jnp.zeros((1, 2))
    with pytest.raises(ValueError, match="needs kernel 'smc'"):
        sample_posterior(jax.random.key(0), prior, exact_loglik, None, x,
                         SamplerConfig(kernel="nuts"), proposal=uniform(-jnp.ones(2), jnp.ones(2)))
    with pytest.raises(ValueError, match="theta_dim"):
        sample_posterior(jax.random.key(0), prior, exact_loglik, None, x,
                         proposal=uniform(-jnp.ones(3), jnp.ones(3)))


def test_support_bounds_and_next_box():
    lo, hi = support_bounds(uniform(jnp.array([-1.0, 0.0]), jnp.array([1.0, 2.0])))
    np.testing.assert_array_equal(lo, [-1, 0])
    np.testing.assert_array_equal(hi, [1, 2])
    lo, hi = support_bounds(normal(jnp.zeros(3), jnp.ones(3)))
    assert np.all(np.isneginf(lo)) and np.all(np.isposinf(hi))
    lo, hi = support_bounds(lognormal(jnp.zeros(2), jnp.ones(2)))
    np.testing.assert_array_equal(lo, [0, 0])
    assert np.all(np.isposinf(hi))
    # Quantile range [0, 1] (tail_mass 0), widened by half its width, clipped to the old box.
    theta = np.stack([np.linspace(0, 1, 101), np.linspace(0, 1, 101)], axis=1)
    cfg = TruncationConfig(tail_mass=0.0, padding=0.5)
    new_lo, new_hi, outside = next_box(theta, np.array([-np.inf, -0.2]), np.array([np.inf, 5]),
                                       cfg)
    np.testing.assert_allclose(new_lo, [-0.5, -0.2])
    np.testing.assert_allclose(new_hi, [1.5, 1.5])
    assert outside == 0.0


def _exact_estimator(theta_dim, x_shape):
    # A "ratio estimator" that is the exact log-likelihood (its one parameter is trained to 0
    # and unused): the rounds' mechanics are then checked against the exact posterior,
    # independently of how well a network learns.
    from jaxsbi.ratio import RatioEstimator

    def init(key, theta, x):
        return {"w": jnp.ones(())}

    def loss(params, key, batch):
        return params["w"] ** 2

    def log_ratio(params, theta, x):
        return exact_loglik(None, theta, x)

    return RatioEstimator(init, loss, log_ratio, lambda p, t, x: log_ratio(p, t, x)[None],
                          theta_dim, x_shape)


def test_truncated_rounds_shrink_the_box_around_a_tail_posterior():
    from jaxsbi.train import TrainConfig

    def simulate(key, theta):
        return theta + NOISE * jax.random.normal(key, theta.shape)

    task = Task("conjugate", normal(jnp.zeros(2), jnp.ones(2)), simulate, x_shape=(2,))
    x = jnp.array([2.5, -2.0])
    res = truncated_posterior(
        jax.random.key(0), task, _exact_estimator(2, (2,)), x,
        TrainConfig(max_epochs=2, batch_size=256), SamplerConfig(num_chains=20, num_samples=250),
        TruncationConfig(num_rounds=3, simulations_per_round=1000),
    )
    assert len(res.rounds) == 3 and res.posterior.theta.shape == (1, 20, 250, 2)
    first, second, last = res.rounds
    assert np.all(np.isinf(first.low)) and np.all(np.isfinite(second.low))
    # Boxes only shrink; the exact posterior N(x / 1.01, 0.0995²) sits inside every one with
    # room to spare (quantiles 1e-3 .. 1 - 1e-3 widened by half their width: about ±6 sd).
    mean, sd = np.asarray(x) / 1.01, NOISE / np.sqrt(1.01)
    assert np.all(last.low >= second.low) and np.all(last.high <= second.high)
    for r in (second, last):
        assert np.all(r.low < mean - 4.5 * sd) and np.all(r.high > mean + 4.5 * sd)
        assert np.all(r.high - r.low < 16 * sd)
    # Reweighting by p / q inside the box gives the exact posterior.
    th = np.asarray(res.posterior.theta).reshape(-1, 2)
    assert np.all((th >= last.low) & (th <= last.high))
    np.testing.assert_allclose(th.mean(0), mean, atol=0.01)
    np.testing.assert_allclose(th.std(0), sd, rtol=0.06)
    # Earlier rounds' simulations inside the box are reused beside the round's own 1,000.
    assert 1000 <= second.num_train < 1100 and last.num_train > 1900
