"""Laplace, ELBO and CV objectives against closed forms of the linear-Gaussian model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi import evidence as ev
from jaxsbi import hpo

pytestmark = pytest.mark.usefixtures("x64")


def _linear(seed, n=25, m=4, beta=4.0, orthogonal=False, correlated=False):
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=(n, m))
    if correlated:  # strongly correlated columns: a far-from-diagonal posterior
        phi = phi + 2.0 * rng.normal(size=(n, 1))
    if orthogonal:
        q, _ = np.linalg.qr(phi)
        phi = q * np.sqrt(n)
    t = phi @ rng.normal(size=m) + rng.normal(size=n) / np.sqrt(beta)
    return jnp.asarray(phi), jnp.asarray(t), beta


def _posterior(phi, t, a, beta):
    prec = beta * phi.T @ phi + np.diag(a)
    return np.linalg.solve(prec, beta * phi.T @ t), prec


@pytest.mark.parametrize("hessian", ["exact", "ggn"])
def test_laplace_equals_exact_evidence_linear_gaussian(x64, hessian):
    phi, t, beta = _linear(0)
    h = jnp.asarray([0.3, -1.0, 2.0, 0.5])
    a = np.exp(np.asarray(h))
    mean, _ = _posterior(np.asarray(phi), np.asarray(t), a, beta)
    model = hpo.linear_model(4, beta, np.arange(4))
    lap = hpo.laplace_log_evidence(model, mean, h, hpo.Dataset(phi, t), hessian)
    exact = ev.log_evidence_gaussian_prior(
        ev.sufficient_stats(phi, t), jnp.zeros(4), jnp.diag(1.0 / jnp.asarray(a)), beta
    )
    np.testing.assert_allclose(float(lap.log_evidence), float(exact), rtol=1e-10)


def test_laplace_diag_exact_for_orthogonal_design(x64):
    phi, t, beta = _linear(1, orthogonal=True)
    model = hpo.linear_model(4, beta)  # one shared precision
    h = jnp.asarray([0.7])
    mean, _ = _posterior(np.asarray(phi), np.asarray(t), np.full(4, np.exp(0.7)), beta)
    lap = hpo.laplace_log_evidence(model, mean, h, hpo.Dataset(phi, t), "diag")
    exact = ev.log_evidence(ev.sufficient_stats(phi, t), float(np.exp(0.7)), beta)
    np.testing.assert_allclose(float(lap.log_evidence), float(exact), rtol=1e-10)


def _elbo_at_mean_field_optimum(phi, t, beta, h, num_samples, seed=0):
    """Mean-field optimum for a Gaussian posterior: μ = m_N, σ_j² = 1/Λ_jj."""
    a = np.exp(np.asarray(h))
    mean, prec = _posterior(np.asarray(phi), np.asarray(t), a, beta)
    sigma = 1.0 / np.sqrt(np.diag(prec))
    q = jnp.concatenate([jnp.asarray(mean), jnp.log(jnp.expm1(jnp.asarray(sigma)))])
    eps = jax.random.normal(jax.random.key(seed), (num_samples, 4), jnp.float64)
    model = hpo.linear_model(4, beta, np.arange(4))
    value = jax.jit(lambda qq: hpo.elbo(model, qq, h, hpo.Dataset(phi, t), eps))(q)
    # KL(q‖posterior) in closed form: the gap log Z − ELBO.
    gap = 0.5 * (np.sum(np.log(np.diag(prec))) - np.linalg.slogdet(prec)[1])
    return float(value), gap


def test_elbo_below_evidence_and_tight_when_q_can_match(x64):
    h = jnp.asarray([0.3, -1.0, 2.0, 0.5])
    cov = jnp.diag(jnp.exp(-h))
    for orthogonal in (False, True):
        phi, t, beta = _linear(2, orthogonal=orthogonal, correlated=not orthogonal)
        log_z = float(
            ev.log_evidence_gaussian_prior(ev.sufficient_stats(phi, t), jnp.zeros(4), cov, beta)
        )
        value, gap = _elbo_at_mean_field_optimum(phi, t, beta, h, 20_000)
        # Monte Carlo error of the expected log-likelihood at 20k samples is ~1e-2 here.
        np.testing.assert_allclose(value, log_z - gap, atol=0.05)
        if orthogonal:
            assert gap < 1e-10  # diagonal posterior: q matches it, ELBO = ln Z
        else:
            assert gap > 0.1 and value < log_z


def test_kl_closed_form_matches_monte_carlo(x64):
    # Independent reference: a NumPy Monte Carlo estimate of E_q[ln q − ln p] (SE ≈ 0.003).
    mu, sigma, a = np.array([0.5, -1.0, 2.0]), np.array([0.3, 1.5, 0.7]), np.array([2.0, 0.5, 1.0])
    w = mu + sigma * np.random.default_rng(0).normal(size=(400_000, 3))

    def log_normal(x, m, s):
        return -0.5 * ((x - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)

    mc = np.mean(np.sum(log_normal(w, mu, sigma) - log_normal(w, 0.0, 1.0 / np.sqrt(a)), axis=1))
    kl = hpo.gaussian_kl_diag(jnp.asarray(mu), jnp.asarray(sigma), jnp.asarray(a))
    np.testing.assert_allclose(float(kl), mc, atol=1e-2)


def test_cv_objective_equals_closed_form_folds(x64):
    phi, t, beta = _linear(3, n=20)
    data = hpo.Splits(*(hpo.Dataset(phi, t),) * 3)
    model = hpo.linear_model(4, beta)
    prob = hpo.cv_problem(
        model,
        data,
        jnp.zeros(4),
        -5 * jnp.ones(1),
        5 * jnp.ones(1),
        num_folds=5,
        inner_steps=400,
        inner_lr=0.05,
    )
    h = jnp.asarray([0.4])
    q, _ = jax.jit(lambda hh: hpo.fit_and_score(prob, hh))(h)
    held = np.asarray(hpo.kfold_weights(20, 5), bool)
    total = 0.0
    for k in range(5):
        mean, _ = _posterior(
            np.asarray(phi)[~held[k]], np.asarray(t)[~held[k]], np.full(4, np.exp(0.4)), beta
        )
        r = np.asarray(t)[held[k]] - np.asarray(phi)[held[k]] @ mean
        total += np.sum(0.5 * beta * r**2 - 0.5 * np.log(beta / (2 * np.pi)))
    np.testing.assert_allclose(float(q.q), total / 20, rtol=1e-8)


def test_prune_mask_relative_density():
    mu = jnp.asarray([0.0, 0.1, 3.0])
    sigma = jnp.asarray([1.0, 1.0, 1.0])
    # q(0)/q(μ) = exp(−μ²/2) = 1, 0.995, 0.011
    np.testing.assert_array_equal(hpo.prune_mask(mu, sigma, 0.99), [False, False, True])
    np.testing.assert_array_equal(hpo.prune_mask(mu, sigma, 0.999), [False, True, True])
