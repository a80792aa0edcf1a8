"""Posterior, sequential updating and the predictive, against brute force (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from jaxsbi import evidence as ev

from .conftest import sinusoid_data

pytestmark = pytest.mark.usefixtures("x64")


def _grid_posterior(phi, t, log_prior_fn, beta, half_width=8.0, num=401):
    """Mean and covariance of the posterior by exhaustive evaluation on a 1-2 D grid."""
    m = phi.shape[1]
    ls = np.linalg.lstsq(phi, t, rcond=None)[0]
    # Grid extent only: marginal sds of the likelihood (with a tiny ridge), from NumPy.
    sd = np.sqrt(np.diag(np.linalg.inv(beta * phi.T @ phi + 1e-3 * np.eye(m))))
    axes = [
        np.linspace(c - half_width * s, c + half_width * s, num)
        for c, s in zip(ls, sd, strict=True)
    ]
    w = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, m)
    resid = t[None, :] - w @ phi.T
    log_p = -0.5 * beta * np.sum(resid**2, axis=1) + log_prior_fn(w)
    p = np.exp(log_p - logsumexp(log_p))
    mean = p @ w
    centred = w - mean
    return mean, (centred * p[:, None]).T @ centred


@pytest.mark.parametrize("num_features", [1, 2])
def test_isotropic_posterior_equals_grid(num_features):
    x, t = sinusoid_data(1, 8)
    phi = np.asarray(ev.design_matrix(ev.polynomial_basis(num_features - 1), jnp.asarray(x)))
    alpha, beta = 0.7, 11.1
    post = ev.posterior(ev.sufficient_stats(phi, t), alpha, beta)
    mean, cov = _grid_posterior(phi, t, lambda w: -0.5 * alpha * np.sum(w**2, axis=1), beta)
    np.testing.assert_allclose(post.mean, mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(post.cov, cov, rtol=1e-4, atol=1e-8)


def test_gaussian_prior_posterior_equals_grid():
    x, t = sinusoid_data(2, 6)
    phi = np.asarray(ev.design_matrix(ev.polynomial_basis(1), jnp.asarray(x)))
    m0 = np.array([0.3, -0.5])
    s0 = np.array([[0.5, 0.2], [0.2, 0.8]])
    beta = 4.0
    p0 = np.linalg.inv(s0)  # reference only

    def log_prior(w):
        d = w - m0
        return -0.5 * np.einsum("ni,ij,nj->n", d, p0, d)

    post = ev.posterior_gaussian_prior(ev.sufficient_stats(phi, t), m0, s0, beta)
    mean, cov = _grid_posterior(phi, t, log_prior, beta)
    np.testing.assert_allclose(post.mean, mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(post.cov, cov, rtol=1e-4, atol=1e-8)


def test_gaussian_prior_reduces_to_isotropic(poly_problem):
    phi, t = poly_problem
    stats = ev.sufficient_stats(phi, t)
    iso = ev.posterior(stats, 0.5, 11.1)
    gen = ev.posterior_gaussian_prior(stats, jnp.zeros(10), jnp.eye(10) / 0.5, 11.1)
    np.testing.assert_allclose(gen.mean, iso.mean, rtol=1e-7)
    np.testing.assert_allclose(gen.cov, iso.cov, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 4, 25])
def test_sequential_equals_batch(chunk_size):
    x, t = sinusoid_data(3, 25)
    phi = ev.design_matrix(ev.gaussian_basis(jnp.linspace(0, 1, 9), 0.1), jnp.asarray(x))
    alpha, beta = 2.0, 25.0
    batch = ev.posterior(ev.sufficient_stats(phi, t), alpha, beta)
    prior = ev.Posterior(jnp.zeros(10), jnp.eye(10) / alpha)
    final, history = ev.sequential_posterior(prior, phi, t, beta, chunk_size=chunk_size)
    assert history.mean.shape == (-(-25 // chunk_size), 10)
    np.testing.assert_allclose(final.mean, batch.mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(final.cov, batch.cov, rtol=1e-8, atol=1e-12)
    # And one explicit online step at a time.
    belief = prior
    for lo in range(0, 25, 10):
        belief = ev.update_posterior(belief, phi[lo : lo + 10], t[lo : lo + 10], beta)
    np.testing.assert_allclose(belief.mean, batch.mean, rtol=1e-8, atol=1e-10)


def test_alpha_to_zero_gives_least_squares():
    x, t = sinusoid_data(4, 30)
    phi = np.asarray(ev.design_matrix(ev.polynomial_basis(3), jnp.asarray(x)))
    post = ev.posterior(ev.sufficient_stats(phi, t), 1e-12, 1.0)
    np.testing.assert_allclose(post.mean, np.linalg.lstsq(phi, t, rcond=None)[0], rtol=1e-6)


def test_rank_deficient_alpha_to_zero_gives_minimum_norm_least_squares():
    # Documented behaviour: duplicated columns make Φ rank deficient; the posterior is still
    # proper for α > 0 and its mean tends to the minimum-norm solution Φ⁺t as α → 0.
    x, t = sinusoid_data(5, 20)
    base = np.asarray(ev.design_matrix(ev.polynomial_basis(2), jnp.asarray(x)))
    phi = np.concatenate([base, base[:, 1:2]], axis=1)
    assert np.linalg.matrix_rank(phi) == 3
    stats = ev.sufficient_stats(phi, t)
    post = ev.posterior(stats, 1e-9, 1.0)
    np.testing.assert_allclose(post.mean, np.linalg.pinv(phi) @ t, rtol=1e-5)
    assert np.isfinite(float(ev.log_evidence(stats, 1e-3, 1.0)))


def test_predictive_and_equivalent_kernel(poly_problem):
    phi, t = poly_problem
    alpha, beta = 5e-3, 11.1
    post = ev.posterior(ev.sufficient_stats(phi, t), alpha, beta)
    phi_q = ev.design_matrix(ev.polynomial_basis(9), jnp.linspace(0.0, 1.0, 7))
    pred = ev.predictive(post, phi_q, beta)
    np.testing.assert_allclose(pred.mean, phi_q @ post.mean, rtol=1e-10)
    np.testing.assert_allclose(
        pred.variance, 1.0 / beta + np.diag(phi_q @ post.cov @ phi_q.T), rtol=1e-10
    )
    # PRML 3.61: the predictive mean is a linear smoother with the equivalent kernel.
    kernel = ev.equivalent_kernel(post, phi_q, phi, beta)
    np.testing.assert_allclose(kernel @ t, pred.mean, rtol=1e-8, atol=1e-10)
    cov = ev.predictive_covariance(post, phi_q, phi_q)
    np.testing.assert_allclose(jnp.diag(cov) + 1.0 / beta, pred.variance, rtol=1e-10)
    np.testing.assert_allclose(
        cov, kernel_qq := ev.equivalent_kernel(post, phi_q, phi_q, beta) / beta
    )
    assert kernel_qq.shape == (7, 7)


def test_bases_shapes_and_user_basis():
    x = jnp.linspace(0.0, 1.0, 5)
    assert ev.design_matrix(ev.polynomial_basis(4), x).shape == (5, 5)
    assert ev.design_matrix(ev.gaussian_basis(jnp.linspace(0, 1, 3), 0.2), x).shape == (5, 4)
    assert ev.design_matrix(ev.sigmoidal_basis(jnp.linspace(0, 1, 3), 0.1), x).shape == (5, 4)
    assert ev.design_matrix(ev.fourier_basis(2, bias=False), x).shape == (5, 4)
    x2 = jnp.stack([x, 1.0 - x], axis=1)
    rbf2 = ev.gaussian_basis(jnp.zeros((3, 2)), 1.0, bias=False)
    assert ev.design_matrix(rbf2, x2).shape == (5, 3)
    both = ev.concat_bases(ev.polynomial_basis(1), lambda xi: jnp.stack([jnp.abs(xi)]))
    phi = ev.design_matrix(both, x)
    np.testing.assert_allclose(phi[:, 2], jnp.abs(x))
    np.testing.assert_allclose(ev.polynomial_basis(2)(0.0), [1.0, 0.0, 0.0])


def test_dtype_follows_inputs():
    with jax.enable_x64(False):
        phi = jnp.ones((4, 2), jnp.float32)
        post = ev.posterior(ev.sufficient_stats(phi, jnp.arange(4.0)), 1.0, 1.0)
        assert post.mean.dtype == jnp.float32
    post = ev.posterior(ev.sufficient_stats(np.ones((4, 2)), np.arange(4.0)), 1.0, 1.0)
    assert post.mean.dtype == jnp.float64
