"""AALR against the analytic posterior of sbibm's gaussian_linear."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi.mcmc import SamplerConfig, sample_posterior
from jaxsbi.ratio import RatioNetworkConfig, aalr, bce_loss, build_estimator
from jaxsbi.tasks import get_task
from jaxsbi.train import TrainConfig, array_source, fit, simulate, split, train_estimator


def test_logit_is_the_log_ratio_and_loss_is_bce():
    # BCE from logits equals the textbook -log d - log(1 - d) where d is well away from 0/1.
    f_joint = jnp.array([0.3, -1.2, 2.0])
    f_marg = jnp.array([-0.5, 0.7, -2.5])
    d_j, d_m = jax.nn.sigmoid(f_joint), jax.nn.sigmoid(f_marg)
    expected = -jnp.mean(jnp.log(d_j)) - jnp.mean(jnp.log1p(-d_m))
    np.testing.assert_allclose(bce_loss(f_joint, f_marg), expected, rtol=1e-6)
    # Extreme logits stay finite (no log of a saturated sigmoid).
    assert np.isfinite(float(bce_loss(jnp.array([200.0]), jnp.array([-200.0]))))


def test_ensemble_combines_members_in_log_space():
    est = aalr(2, (2,), hidden=(8,), ensemble_size=3)
    theta = jax.random.normal(jax.random.key(0), (50, 2))
    params = est.init(jax.random.key(1), theta, theta)
    f = est.logits(params, theta[0], theta[1])
    assert f.shape == (3,)
    np.testing.assert_allclose(
        est.log_ratio(params, theta[0], theta[1]),
        np.log(np.mean(np.exp(np.asarray(f)))),
        rtol=1e-5,
    )


def test_gaussian_linear_posterior_matches_analytic():
    # Posterior of gaussian_linear: N(x_o / 2, 0.05 I) (prior and noise variance 0.1).
    task = get_task("gaussian_linear")
    data = simulate(jax.random.key(0), task, 20_000)
    est = build_estimator(task, RatioNetworkConfig(hidden=(128, 128)))
    cfg = TrainConfig(max_epochs=60, batch_size=512, learning_rate=2e-3, patience=15)
    params, history, _ = train_estimator(
        jax.random.key(1), task, est, cfg, data=data, progress=False
    )
    x_obs = jnp.stack([0.5 * jnp.ones(10), jnp.linspace(-0.6, 0.6, 10)])
    post = sample_posterior(
        jax.random.key(2),
        task.prior,
        est.log_ratio,
        params,
        x_obs,
        SamplerConfig(kernel="hmc", num_chains=50, num_samples=100, num_warmup=200),
    )
    th = np.asarray(post.theta).reshape(2, -1, 10)
    mean_err = np.abs(th.mean(1) - np.asarray(x_obs) / 2)
    var_ratio = th.var(1) / 0.05
    # Stated tolerances: means within 0.06 (about a quarter of a posterior std, 0.224) in every
    # dimension; marginal variances within [0.6, 1.5] of 0.05; correlations small.
    assert mean_err.max() < 0.06, mean_err
    assert var_ratio.min() > 0.6 and var_ratio.max() < 1.5, var_ratio
    corr = np.corrcoef(th[0].T)
    assert np.max(np.abs(corr - np.eye(10))) < 0.2


def test_balanced_loss_adds_the_balancing_penalty():
    # Two rows: the only roll is by one, so the marginal pairs are (θ_1, x_0), (θ_0, x_1).
    theta = jnp.array([[0.3], [-1.1]])
    x = jnp.array([[0.5], [-0.2]])
    plain, balanced = aalr(1, (1,), hidden=(8,)), aalr(1, (1,), hidden=(8,), balance=100.0)
    params = plain.init(jax.random.key(0), jnp.array([[0.0], [1.0], [2.0]]), jnp.ones((3, 1)))
    f_joint = jax.vmap(lambda t, v: plain.logits(params, t, v)[0])(theta, x)
    f_marg = jax.vmap(lambda t, v: plain.logits(params, t, v)[0])(theta[::-1], x)
    bce = jnp.mean(jax.nn.softplus(-f_joint)) + jnp.mean(jax.nn.softplus(f_marg))
    gap = jnp.mean(jax.nn.sigmoid(f_joint)) + jnp.mean(jax.nn.sigmoid(f_marg)) - 1.0
    key = jax.random.key(1)
    np.testing.assert_allclose(plain.loss(params, key, (theta, x)), bce, rtol=1e-6)
    np.testing.assert_allclose(
        balanced.loss(params, key, (theta, x)), bce + 100.0 * gap**2, rtol=1e-6
    )
    with pytest.raises(ValueError, match="balance"):
        aalr(1, (1,), balance=-1.0)


def test_balanced_nre_is_conservative_on_a_conjugate_gaussian():
    # θ ~ N(0, 1), x | θ ~ N(θ, 0.3²); 300 simulations. Expected coverage of the highest-density
    # credible regions, by quadrature on a grid, over 400 fresh (θ*, x) pairs: balanced NRE
    # (λ = 100) must cover at least the nominal level (conservative) and satisfy the balancing
    # condition on fresh pairs; plain NRE on the same data must cover less at every level.
    def simulate_pairs(key, n):
        k1, k2 = jax.random.split(key)
        th = jax.random.normal(k1, (n, 1))
        return th, th + 0.3 * jax.random.normal(k2, (n, 1))

    theta, x = simulate_pairs(jax.random.key(0), 300)
    theta_t, x_t = simulate_pairs(jax.random.key(9), 400)
    grid = jnp.linspace(-5.0, 5.0, 601)[:, None]
    levels = np.array([0.5, 0.8, 0.9, 0.95])
    def train_and_check(lam):
        est = aalr(1, (1,), hidden=(64, 64), balance=lam)
        params = est.init(jax.random.key(1), theta, x)
        train, val = split(jax.random.key(2), (theta, x), 0.1)
        cfg = TrainConfig(
            max_epochs=200, batch_size=64, learning_rate=1e-3, patience=200, steps_per_epoch=5
        )
        params, _ = fit(
            jax.random.key(3), est.loss, params, array_source(train, val, 64), cfg, progress=False
        )
        log_r = jax.vmap(lambda t, xo: est.log_ratio(params, t, xo))
        f = jax.vmap(lambda t, xo: est.logits(params, t, xo)[0])
        n_t, n_g = x_t.shape[0], grid.shape[0]
        on_grid = log_r(jnp.tile(grid, (n_t, 1)), jnp.repeat(x_t, n_g, axis=0)).reshape(n_t, n_g)
        log_post = on_grid - 0.5 * grid[None, :, 0] ** 2
        weights = jax.nn.softmax(log_post, axis=1)
        at_truth = log_r(theta_t, x_t) - 0.5 * theta_t[:, 0] ** 2
        credibility = jnp.sum(jnp.where(log_post > at_truth[:, None], weights, 0.0), axis=1)
        gap = jax.nn.sigmoid(f(theta_t, x_t)).mean()
        gap = gap + jax.nn.sigmoid(f(jnp.roll(theta_t, 1, axis=0), x_t)).mean() - 1.0
        return np.array([(np.asarray(credibility) < a).mean() for a in levels]), float(gap)

    coverage = {lam: train_and_check(lam) for lam in (0.0, 100.0)}
    assert abs(coverage[100.0][1]) < 0.02, coverage
    coverage = {lam: c for lam, (c, _) in coverage.items()}
    assert np.all(coverage[100.0] >= levels - 0.02), coverage
    assert np.all(coverage[100.0] > coverage[0.0]), coverage
