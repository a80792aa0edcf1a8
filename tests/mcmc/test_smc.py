"""Tempered SMC against ground truth: mode masses, closed-form evidence, determinism, batching."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxsbi.distributions import normal, uniform
from jaxsbi.mcmc import SamplerConfig, sample_posterior

# Four well-separated modes of unequal weight in 2-D under a U[-5, 5]^2 prior.
CENTRES = jnp.array([[-2.5, -2.5], [-2.5, 2.5], [2.5, -2.5], [2.5, 2.5]])
WEIGHTS = jnp.array([0.1, 0.2, 0.3, 0.4])
MODE_SD = 0.3
BOX = uniform(-5 * jnp.ones(2), 5 * jnp.ones(2))


def four_modes(params, theta, x):
    del params, x
    log_comp = -0.5 * jnp.sum((theta[None, :] - CENTRES) ** 2, axis=1) / MODE_SD**2
    return jax.scipy.special.logsumexp(log_comp + jnp.log(WEIGHTS))


def _mode_masses(theta):
    th = np.asarray(theta).reshape(-1, 2)
    label = (th[:, 0] > 0) * 2 + (th[:, 1] > 0)
    return np.bincount(label, minlength=4) / label.size


def test_default_sampler_is_smc():
    assert SamplerConfig().kernel == "smc"


def test_default_sampler_gets_mode_masses_right():
    # The default sampler, defaults only: every mode's mass within ±0.03 of the truth, and the
    # draws inside a mode have the right spread. (NUTS from "resample" starts fails this: its
    # chains keep the modes they start in, e.g. 0.15 / 0.27 / 0.25 / 0.33 with seed 0.)
    post = sample_posterior(jax.random.key(0), BOX, four_modes, None, jnp.zeros((1, 1)))
    masses = _mode_masses(post.theta)
    np.testing.assert_allclose(masses, np.asarray(WEIGHTS), atol=0.03)
    th = np.asarray(post.theta).reshape(-1, 2)
    in_top = th[(th[:, 0] > 0) & (th[:, 1] > 0)]
    np.testing.assert_allclose(in_top.mean(0), [2.5, 2.5], atol=0.03)
    np.testing.assert_allclose(in_top.std(0), MODE_SD, rtol=0.08)
    # Resampling duplicates are mutated away (a C2ST classifier would memorise them).
    assert np.unique(th, axis=0).shape[0] > 0.98 * th.shape[0]
    # log Z = log ∫ p(θ) L(θ) dθ = log(sum(w) 2π σ² / 100) for this mixture, uniform prior.
    exact = np.log(2 * np.pi * MODE_SD**2 / 100.0)
    assert abs(float(post.info.log_normalizer[0]) - exact) < 0.05
    assert float(post.info.tempering[0]) == 1.0


def test_old_nuts_default_gets_mode_masses_wrong():
    # The reason SMC is the default: the same target with the previous default sampler.
    cfg = SamplerConfig(kernel="nuts", num_warmup=200)
    post = sample_posterior(jax.random.key(0), BOX, four_modes, None, jnp.zeros((1, 1)), cfg)
    masses = _mode_masses(post.theta)
    assert np.max(np.abs(masses - np.asarray(WEIGHTS))) > 0.03


def gaussian_loglik(params, theta, x):
    return -0.5 * jnp.sum((x - theta) ** 2) / 0.1 - 0.5 * theta.shape[0] * jnp.log(2 * jnp.pi * 0.1)


@pytest.mark.parametrize("mutation", ["rwmh", "hmc"])
def test_log_normalizer_is_the_closed_form_evidence(mutation):
    # Prior N(0, I), likelihood N(x | θ, 0.1 I) in 3-D: evidence N(x | 0, 1.1 I), posterior
    # N(x / 1.1, (1/11) I).
    prior = normal(jnp.zeros(3), jnp.ones(3))
    x = jnp.array([[0.5, -0.3, 0.2], [2.0, 1.5, -2.5]])
    cfg = SamplerConfig(num_chains=20, num_samples=250, smc_mutation=mutation)
    post = sample_posterior(jax.random.key(3), prior, gaussian_loglik, None, x, cfg)
    exact = stats.multivariate_normal(np.zeros(3), 1.1 * np.eye(3)).logpdf(np.asarray(x))
    np.testing.assert_allclose(np.asarray(post.info.log_normalizer), exact, atol=0.06)
    th = np.asarray(post.theta).reshape(2, -1, 3)
    np.testing.assert_allclose(th.mean(1), np.asarray(x) / 1.1, atol=0.03)
    np.testing.assert_allclose(th.var(1), 1 / 11, rtol=0.1)


def test_same_seed_same_samples_and_batch_equals_separate_calls():
    x = jnp.array([[0.5, -0.3, 0.2], [2.0, 1.5, -2.5], [-1.0, 0.0, 1.0]])
    prior = normal(jnp.zeros(3), jnp.ones(3))
    cfg = SamplerConfig(num_chains=10, num_samples=100)
    key = jax.random.key(7)
    a = sample_posterior(key, prior, gaussian_loglik, None, x, cfg)
    b = sample_posterior(key, prior, gaussian_loglik, None, x, cfg)
    np.testing.assert_array_equal(np.asarray(a.theta), np.asarray(b.theta))
    # Batched over observations = one observation at a time with that observation's key.
    from jaxsbi.mcmc import potential
    from jaxsbi.mcmc.smc import smc_batched, tempered_smc

    u0 = jax.random.normal(jax.random.key(1), (3, 500, 3))
    lik = lambda u, xo: gaussian_loglik(None, u, xo)  # noqa: E731
    one = jax.jit(
        lambda k, xo, u: tempered_smc(
            k, prior.unconstrained_log_prob, lambda v: lik(v, xo), u, cfg
        )
    )
    singles = [one(jax.random.fold_in(key, i), x[i], u0[i]) for i in range(3)]
    for mode in ("vmap", "map"):
        mode_cfg = dataclasses.replace(cfg, smc_observations=mode)
        batched, info = jax.jit(
            lambda k, xs, u, c=mode_cfg: smc_batched(k, prior.unconstrained_log_prob, lik, xs, u, c)
        )(key, x, u0)
        for i, (single, single_info) in enumerate(singles):
            np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(single), atol=1e-5)
            np.testing.assert_allclose(
                float(info.log_normalizer[i]), float(single_info.log_normalizer), atol=1e-5
            )
    del potential


def test_smc_refuses_init_theta_and_bad_settings():
    prior = normal(jnp.zeros(3), jnp.ones(3))
    with pytest.raises(ValueError, match="init_theta is not used by kernel 'smc'"):
        sample_posterior(
            jax.random.key(0), prior, gaussian_loglik, None, jnp.zeros((1, 3)),
            SamplerConfig(num_chains=2, num_samples=10), init_theta=jnp.zeros((1, 2, 3)),
        )
    with pytest.raises(ValueError, match="target_ess"):
        SamplerConfig(target_ess=1.0)
    with pytest.raises(ValueError, match="smc_mutation"):
        SamplerConfig(smc_mutation="nuts")
    with pytest.raises(ValueError, match="smc_observations"):
        SamplerConfig(smc_observations="pmap")
    with pytest.raises(ValueError, match="smc_min_steps"):
        SamplerConfig(smc_min_steps=10, smc_max_steps=5)
