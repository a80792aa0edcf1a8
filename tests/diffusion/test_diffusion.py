"""Diffusion pieces against exact denoisers of Gaussian / Gaussian-mixture toys.

For data p(x) = Σ_i w_i N(μ_i, s_i²) (per dimension, independent), z_t = α x + σ ε has
p(z_t) = Σ_i w_i N(α μ_i, α² s_i² + σ²) and E[x | z_t] is available in closed form, so the exact
v̂ is known: the probability-flow ODE must then return the data density, and the samplers must
draw from the data distribution.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxsbi.diffusion import (
    alpha_sigma,
    ancestral_sample,
    ddim_sample,
    predictions,
    probability_flow_log_prob,
    v_loss,
    v_target,
)

W = jnp.array([0.3, 0.7])
MU = jnp.array([-1.5, 1.0])
S = jnp.array([0.4, 0.6])


def exact_v(z, t):
    """Exact v̂ for the 1-D mixture, applied per dimension to z (dim,)."""
    a, s = alpha_sigma(t)

    def one(zi):
        var = a**2 * S**2 + s**2
        logr = jnp.log(W) - 0.5 * (zi - a * MU) ** 2 / var - 0.5 * jnp.log(var)
        r = jax.nn.softmax(logr)
        x_hat = jnp.sum(r * (MU + a * S**2 * (zi - a * MU) / var))
        # ε̂ = (z − α x̂) / σ computed without cancellation: per component
        # z − α E[x|z,i] = σ² (z − α μ_i) / var_i.
        eps_hat = jnp.sum(r * s * (zi - a * MU) / var)
        return a * eps_hat - s * x_hat

    return jax.vmap(one)(z)


def mixture_logpdf(x):
    return jax.scipy.special.logsumexp(jnp.log(W) + jax.scipy.stats.norm.logpdf(x, MU, S))


def test_v_parametrisation_round_trip():
    x, eps = jnp.array([0.3, -1.2]), jnp.array([1.1, 0.4])
    t = jnp.float32(0.37)
    z, v = v_target(x, eps, t)
    x_hat, eps_hat = predictions(z, v, t)
    np.testing.assert_allclose(x_hat, x, atol=1e-6)
    np.testing.assert_allclose(eps_hat, eps, atol=1e-6)
    # ‖v̂ − v‖² = (1 + SNR) ‖x̂ − x‖²
    dv = jnp.array([0.2, -0.1])
    x_hat2, _ = predictions(z, v + dv, t)
    a, s = alpha_sigma(t)
    np.testing.assert_allclose(
        jnp.sum(dv**2), (1 + a**2 / s**2) * jnp.sum((x_hat2 - x) ** 2), rtol=1e-4
    )
    # the loss averages over active entries only
    np.testing.assert_allclose(v_loss(v + dv, v, jnp.array([True, False])), 0.04, rtol=1e-5)


def test_probability_flow_density_integrates_to_one_1d():
    grid = jnp.linspace(-5.0, 5.0, 201)
    mask = jnp.array([True])
    logq = jax.jit(jax.vmap(lambda x: probability_flow_log_prob(exact_v, x[None], mask, 48)))(grid)
    q = np.exp(np.asarray(logq))
    integral = np.trapezoid(q, np.asarray(grid))
    assert abs(integral - 1.0) < 0.01
    logp = np.asarray(jax.vmap(mixture_logpdf)(grid))
    core = logp > -4.0
    np.testing.assert_allclose(np.asarray(logq)[core], logp[core], atol=0.03)
    # A masked entry is not part of the model: its value never matters.
    masked = jax.jit(lambda x: probability_flow_log_prob(exact_v, x, jnp.array([True, False]), 48))
    np.testing.assert_allclose(
        float(masked(jnp.array([0.7, 123.0]))), float(mixture_logpdf(0.7)), atol=0.03
    )


@pytest.mark.slow
def test_probability_flow_density_2d_and_masking():
    # 2-D product of two mixtures: the density is the product; masking one entry out gives the
    # 1-D marginal (the masked entry is not part of the model).
    g = jnp.linspace(-4.5, 4.5, 31)
    xx, yy = jnp.meshgrid(g, g, indexing="ij")
    pts = jnp.stack([xx.ravel(), yy.ravel()], axis=1)
    both = jnp.array([True, True])
    logq = jax.jit(jax.vmap(lambda x: probability_flow_log_prob(exact_v, x, both, 16)))(pts)
    q = np.exp(np.asarray(logq)).reshape(31, 31)
    h = float(g[1] - g[0])
    assert abs(q.sum() * h * h - 1.0) < 0.02
    x = jnp.array([0.7, 123.0])  # the masked entry's value must not matter
    one = probability_flow_log_prob(exact_v, x, jnp.array([True, False]), 48)
    np.testing.assert_allclose(float(one), float(mixture_logpdf(0.7)), atol=0.02)


@pytest.mark.parametrize(
    "sampler,steps",
    [(ddim_sample, 48), pytest.param(ancestral_sample, 100, marks=pytest.mark.slow)],
)
def test_samplers_draw_from_the_data_distribution(sampler, steps):
    mask = jnp.array([True, False])
    n = 4000
    xs = jax.jit(jax.vmap(lambda k: sampler(exact_v, k, mask, steps)))(
        jax.random.split(jax.random.key(0), n)
    )
    xs = np.asarray(xs)
    assert np.all(xs[:, 1] == 0.0)  # inactive entries stay exactly 0
    ref_cdf = np.vectorize(lambda v: float(np.sum(np.asarray(W) * stats.norm.cdf(v, MU, S))))
    assert stats.kstest(xs[:, 0], ref_cdf).pvalue > 1e-3
