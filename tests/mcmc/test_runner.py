"""Samplers against ground truth: an analytic Gaussian and a bounded-support target."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxsbi.distributions import normal, uniform
from jaxsbi.mcmc import SamplerConfig, sample_chains, sample_posterior

PRIOR_VAR = 0.1
NOISE_VAR = 0.1


def gaussian_loglik(params, theta, x):
    return -0.5 * jnp.sum((x - theta) ** 2) / NOISE_VAR


def box_loglik(params, theta, x):
    return -0.5 * jnp.sum((x - theta) ** 2) / 0.5**2


@pytest.mark.parametrize("kernel", ["nuts", "hmc", "rwmh"])
def test_recovers_conjugate_gaussian(kernel):
    # Prior N(0, 0.1 I), likelihood N(theta, 0.1 I): posterior N(x/2, 0.05 I).
    prior = normal(jnp.zeros(3), PRIOR_VAR * jnp.ones(3))
    x = jnp.array([[0.5, -0.3, 0.2], [1.0, 1.0, -1.0]])
    cfg = SamplerConfig(kernel=kernel, num_chains=40, num_samples=250, num_warmup=300)
    post = sample_posterior(jax.random.key(0), prior, gaussian_loglik, None, x, cfg)
    assert post.theta.shape == (2, 40, 250, 3)
    th = np.asarray(post.theta).reshape(2, -1, 3)
    # 10,000 correlated draws: ESS of a few thousand -> posterior std 0.22 / sqrt(1000) ~ 0.007.
    np.testing.assert_allclose(th.mean(1), np.asarray(x) / 2, atol=0.03)
    np.testing.assert_allclose(th.var(1), 0.05, rtol=0.15)
    cov = np.cov(th[0].T)
    assert np.max(np.abs(cov - np.diag(np.diag(cov)))) < 0.01
    acc = np.asarray(post.info.acceptance_rate)
    assert np.all(acc > 0.15) and np.all(acc < 0.99)


@pytest.mark.parametrize("kernel", ["nuts", "hmc", "rwmh"])
def test_recovers_bounded_support_target(kernel):
    # U[-1, 1]^2 prior and a Gaussian likelihood centred near the edge: a truncated normal.
    prior = uniform(-jnp.ones(2), jnp.ones(2))
    x = jnp.array([[0.9, -0.2]])
    cfg = SamplerConfig(kernel=kernel, num_chains=40, num_samples=250, num_warmup=300)
    post = sample_posterior(jax.random.key(1), prior, box_loglik, None, x, cfg)
    th = np.asarray(post.theta).reshape(-1, 2)
    assert th.min() > -1 and th.max() < 1
    for j in range(2):
        a, b = (-1 - float(x[0, j])) / 0.5, (1 - float(x[0, j])) / 0.5
        ref = stats.truncnorm(a, b, loc=float(x[0, j]), scale=0.5)
        assert abs(th[:, j].mean() - ref.mean()) < 0.03
        assert abs(th[:, j].std() - ref.std()) < 0.03
        # Whole-distribution check: KS distance to the exact truncated normal.
        assert stats.kstest(th[::10, j], ref.cdf).statistic < 0.05


def test_batch_of_observations_equals_separate_calls():
    prior = normal(jnp.zeros(2), PRIOR_VAR * jnp.ones(2))
    x = jnp.array([[0.3, -0.1], [1.0, 0.5], [-0.4, 0.2]])
    cfg = SamplerConfig(kernel="nuts", num_chains=8, num_samples=30, num_warmup=60, init="prior")
    key = jax.random.key(3)
    k_init, k_run = jax.random.split(key)
    init = prior.sample(k_init, (3, 8))
    from jaxsbi.mcmc import potential, sample_batched

    logdensity = potential(prior, gaussian_loglik)
    u0 = jax.vmap(jax.vmap(prior.to_unconstrained))(init)
    batched, info = jax.jit(
        lambda k, x, u: sample_batched(k, lambda u, xo: logdensity(None, u, xo), x, u, cfg)
    )(k_run, x, u0)
    for i in range(3):
        single, sinfo = jax.jit(
            lambda k, xo, u: sample_chains(k, lambda uu: logdensity(None, uu, xo), u, cfg)
        )(jax.random.fold_in(k_run, i), x[i], u0[i])
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(single), atol=1e-5)
        np.testing.assert_allclose(float(info.step_size[i]), float(sinfo.step_size), rtol=1e-5)


def test_second_call_does_not_recompile():
    prior = normal(jnp.zeros(2), PRIOR_VAR * jnp.ones(2))
    traces = []

    def loglik(params, theta, x):
        traces.append(1)
        return gaussian_loglik(params, theta, x)

    cfg = SamplerConfig(kernel="hmc", num_chains=4, num_samples=10, num_warmup=20)
    sample_posterior(jax.random.key(0), prior, loglik, None, jnp.ones((2, 2)), cfg)
    n = len(traces)
    assert n > 0
    sample_posterior(jax.random.key(1), prior, loglik, None, -jnp.ones((2, 2)), cfg)
    assert len(traces) == n


def test_bad_inputs_are_named():
    prior = uniform(-jnp.ones(2), jnp.ones(2))
    cfg = SamplerConfig(kernel="nuts", num_chains=4, num_samples=5, num_warmup=10)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="shape"):
        sample_posterior(key, prior, box_loglik, None, jnp.ones((1, 3)), cfg, x_shape=(2,))
    with pytest.raises(ValueError, match="NaN or inf"):
        sample_posterior(key, prior, box_loglik, None, jnp.array([[0.1, jnp.nan]]), cfg)
    with pytest.raises(ValueError, match="outside the prior's support"):
        init = jnp.full((1, 4, 2), 0.5).at[0, 2, 1].set(1.5)
        sample_posterior(key, prior, box_loglik, None, jnp.zeros((1, 2)), cfg, init_theta=init)
    with pytest.raises(ValueError, match="init_theta must have shape"):
        sample_posterior(
            key, prior, box_loglik, None, jnp.zeros((1, 2)), cfg, init_theta=jnp.zeros((4, 2))
        )
    with pytest.raises(ValueError, match="num_chains"):
        SamplerConfig(num_chains=0)


@pytest.mark.parametrize("kernel", ["nuts", "hmc", "rwmh"])
@pytest.mark.parametrize("num_warmup", [20, 40])
def test_short_warmups_keep_a_working_step_size(kernel, num_warmup):
    # Regression: a dual-averaging restart aimed at 10x the step size right before a 2-4 step
    # final buffer left acceptance near 0 for short warmups.
    prior = normal(jnp.zeros(2), jnp.array([1.0, 100.0]))

    def flat(params, theta, x):
        return jnp.zeros(())

    cfg = SamplerConfig(kernel=kernel, num_chains=50, num_samples=50, num_warmup=num_warmup)
    post = sample_posterior(jax.random.key(0), prior, flat, None, jnp.zeros((1, 1)), cfg)
    assert float(post.info.acceptance_rate[0]) > 0.15
