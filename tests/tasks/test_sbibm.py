"""sbibm tasks, likelihoods and reference posteriors, checked against independent facts.

References: closed-form moments, scipy densities, numerical integration on grids, histograms of
the simulators themselves, and (when the sbibm 1.1.0 data are installed) sbibm's own files.
"""

import functools
import importlib.util
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxsbi.tasks import (
    SBIBM_OBSERVATION_1,
    get_task,
    load_sbibm_observation,
    load_sbibm_reference,
    reference_posterior,
    task_names,
)
from jaxsbi.tasks import sbibm as S
from jaxsbi.tasks.reference import truncated_standard_normal

HAS_SBIBM = importlib.util.find_spec("sbibm") is not None
needs_sbibm = pytest.mark.skipif(
    not HAS_SBIBM, reason="sbibm data not installed (pip install --no-deps sbibm==1.1.0)"
)
SIX = (
    "gaussian_linear",
    "gaussian_linear_uniform",
    "two_moons",
    "slcp",
    "gaussian_mixture",
    "bernoulli_glm",
)


@functools.cache
def batched(fn):
    """jit(vmap(fn)), built once per function so repeated calls hit the compilation cache."""
    return jax.jit(jax.vmap(fn))


def simulate_many(task, key, theta, n):
    """n simulations at one fixed θ, shape (n, *x_shape), as float64 numpy."""
    thetas = jnp.broadcast_to(jnp.asarray(theta, jnp.float32)[None, :], (n, task.theta_dim))
    x = batched(task.simulate)(jax.random.split(key, n), thetas)
    return np.asarray(x, np.float64)


def close(estimate, truth, se, z=5.0):
    """|estimate − truth| < z standard errors, elementwise."""
    return np.all(np.abs(np.asarray(estimate) - np.asarray(truth)) < z * np.asarray(se))


# --------------------------------------------------------------------------------------------
# registry and the JAX contract
# --------------------------------------------------------------------------------------------


def test_registry_lists_the_six_tasks_and_rejects_unknown_names():
    assert set(SIX) <= set(task_names())
    with pytest.raises(ValueError, match="nope") as err:
        get_task("nope")
    for name in SIX:
        assert name in str(err.value)
    assert get_task("two_moons") is get_task("two_moons")  # cached: jit caches stay warm


EXPECTED_DIMS = {
    "gaussian_linear": (10, 10),
    "gaussian_linear_uniform": (10, 10),
    "two_moons": (2, 2),
    "slcp": (5, 8),
    "gaussian_mixture": (2, 2),
    "bernoulli_glm": (10, 10),
    "bernoulli_glm_raw": (10, 100),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_DIMS))
def test_simulate_and_likelihood_are_jit_vmap_able(name):
    task = get_task(name)
    theta_dim, x_dim = EXPECTED_DIMS[name]
    assert task.theta_dim == theta_dim and task.x_shape == (x_dim,)
    n = 7
    theta = task.prior.sample(jax.random.key(0), (n,))
    assert theta.shape == (n, theta_dim) and theta.dtype == jnp.float32
    simulate = batched(task.simulate)
    x = simulate(jax.random.split(jax.random.key(1), n), theta)
    assert x.shape == (n, x_dim) and x.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(x)))
    # The simulator is a function of its key: same key, same x; no hidden state.
    x_again = simulate(jax.random.split(jax.random.key(1), n), theta)
    np.testing.assert_array_equal(np.asarray(x), np.asarray(x_again))
    assert not np.array_equal(
        np.asarray(x), np.asarray(simulate(jax.random.split(jax.random.key(2), n), theta))
    )
    ll = batched(task.log_likelihood)(theta, x)
    assert ll.shape == (n,) and ll.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(ll)))
    grad = jax.jit(jax.vmap(jax.grad(task.log_likelihood)))(theta, x)
    assert bool(jnp.all(jnp.isfinite(grad)))


# --------------------------------------------------------------------------------------------
# priors
# --------------------------------------------------------------------------------------------


def _glm_prior_cov():
    # Independent re-derivation of sbibm's smoothness prior: second differences plus a ramp.
    m = 9
    d = np.zeros((m, m))
    for i in range(m):
        d[i, i] = 1.0
        if i > 0:
            d[i, i - 1] = -1.0
    f = d @ d + np.diag([math.sqrt(i / m) for i in range(m)])
    precision = np.zeros((10, 10))
    precision[0, 0] = 0.5
    precision[1:, 1:] = f.T @ f
    return np.linalg.inv(precision)


PRIOR_COVS = {
    "gaussian_linear": 0.1 * np.eye(10),
    "gaussian_linear_uniform": (2.0**2 / 12) * np.eye(10),
    "two_moons": (2.0**2 / 12) * np.eye(2),
    "slcp": (6.0**2 / 12) * np.eye(5),
    "gaussian_mixture": (20.0**2 / 12) * np.eye(2),
    "bernoulli_glm": _glm_prior_cov(),
}


@pytest.mark.parametrize("name", SIX)
def test_prior_mean_and_covariance(name):
    n = 100_000
    theta = np.asarray(get_task(name).prior.sample(jax.random.key(3), (n,)), np.float64)
    cov = PRIOR_COVS[name]
    sd = np.sqrt(np.diag(cov))
    assert close(theta.mean(0), 0.0, sd / math.sqrt(n))
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert close(np.cov(theta.T), cov, se_cov, z=6.0)


@pytest.mark.parametrize("name", SIX)
def test_prior_log_prob_matches_scipy(name):
    prior = get_task(name).prior
    theta = np.asarray(prior.sample(jax.random.key(4), (5,)), np.float64)
    cov = PRIOR_COVS[name]
    if name in ("gaussian_linear", "bernoulli_glm"):
        want = stats.multivariate_normal(np.zeros(len(cov)), cov).logpdf(theta)
    else:  # uniform box [−b, b]^d with variance b²/3
        bound = math.sqrt(3 * cov[0, 0])
        want = np.full(5, -len(cov) * math.log(2 * bound))
        outside = theta.copy()
        outside[:, 0] = 1.01 * bound
        assert np.all(batched(prior.log_prob)(jnp.asarray(outside, jnp.float32)) == -np.inf)
    got = batched(prior.log_prob)(jnp.asarray(theta, jnp.float32))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)


def test_bernoulli_glm_bias_prior_variance_is_two():
    assert _glm_prior_cov()[0, 0] == pytest.approx(2.0)


# --------------------------------------------------------------------------------------------
# simulators at a fixed θ
# --------------------------------------------------------------------------------------------


def test_gaussian_linear_noise_variance_is_0_1():
    theta = np.linspace(-0.5, 0.5, 10)
    n = 50_000
    x = simulate_many(get_task("gaussian_linear"), jax.random.key(4), theta, n)
    assert close(x.mean(0), theta, math.sqrt(0.1 / n))
    assert close(x.var(0), 0.1, 0.1 * math.sqrt(2 / n))
    assert np.abs(np.corrcoef(x.T) - np.eye(10)).max() < 0.03


def test_gaussian_mixture_component_is_shared_by_both_coordinates():
    theta = np.array([3.0, -2.0])
    n = 200_000
    e = simulate_many(get_task("gaussian_mixture"), jax.random.key(5), theta, n) - theta[None, :]
    var = 0.5 * 1.0 + 0.5 * 0.01
    assert close(e.mean(0), 0.0, math.sqrt(var / n))
    fourth = 0.5 * 3 * 1.0 + 0.5 * 3 * 0.01**2
    assert close(e.var(0), var, math.sqrt((fourth - var**2) / n))
    # Coordinates are uncorrelated either way; their SQUARES are correlated only if the component
    # is shared: Cov(e1², e2²) = E_k[σ_k⁴] − (E_k[σ_k²])² = 0.245 (0 for independent draws).
    shared_corr = (0.5 * 1.0 + 0.5 * 0.01**2 - var**2) / (fourth - var**2)
    sq_corr = np.corrcoef(e[:, 0] ** 2, e[:, 1] ** 2)[0, 1]
    assert abs(sq_corr - shared_corr) < 0.03 and shared_corr > 0.19
    # Equivalent event check: both coordinates small together far more often than independently.
    both_small = np.mean(np.all(np.abs(e) < 0.2, axis=1))
    assert both_small == pytest.approx(0.5 * 0.9545**2 + 0.5 * 0.1585**2, abs=0.01)


def test_slcp_four_iid_draws_with_the_right_mean_covariance_and_order():
    theta = np.array([0.7, -1.2, 1.1, -0.9, 0.6])
    s1, s2, rho = theta[2] ** 2, theta[3] ** 2, math.tanh(theta[4])
    sigma = np.array([[s1**2, rho * s1 * s2], [rho * s1 * s2, s2**2]]) + 1e-6 * np.eye(2)
    n = 50_000
    x = simulate_many(get_task("slcp"), jax.random.key(6), theta, n).reshape(n, 4, 2)
    sd = np.sqrt(np.diag(sigma))
    for draw in range(4):  # x is (x1a, x1b, x2a, x2b, ...): a = θ1-coordinate, b = θ2-coordinate
        assert close(x[:, draw].mean(0), theta[:2], sd / math.sqrt(n))
        se = np.sqrt((np.outer(sd**2, sd**2) + sigma**2) / n)
        assert close(np.cov(x[:, draw].T), sigma, se)
    # Draws are independent of each other.
    cross = np.corrcoef(x.reshape(n, 8).T)
    for i in range(4):
        for j in range(4):
            if i != j:
                assert np.abs(cross[2 * i : 2 * i + 2, 2 * j : 2 * j + 2]).max() < 0.03


def _two_moons_p(theta, x):
    """p = x − g(θ) by the sbibm formula (rotation by −π/4, |·| on the first coordinate)."""
    c, s = math.cos(-math.pi / 4), math.sin(-math.pi / 4)
    z0 = c * theta[0] - s * theta[1]
    z1 = s * theta[0] + c * theta[1]
    return x - np.array([-abs(z0), z1])[None, :]


def test_two_moons_radius_and_angle_distribution():
    theta = np.array([0.3, -0.6])
    n = 100_000
    p = _two_moons_p(theta, simulate_many(get_task("two_moons"), jax.random.key(7), theta, n))
    u, v = p[:, 0] - 0.25, p[:, 1]
    r = np.hypot(u, v)
    assert close(r.mean(), 0.1, 0.01 / math.sqrt(n))
    assert close(r.std(), 0.01, 0.01 / math.sqrt(2 * n))
    a = np.arctan2(v, u)
    assert stats.kstest(a, stats.uniform(-math.pi / 2, math.pi).cdf).pvalue > 1e-3


# --------------------------------------------------------------------------------------------
# likelihoods
# --------------------------------------------------------------------------------------------


def _loglik(task, theta, x):
    ll = batched(task.log_likelihood)(jnp.asarray(theta, jnp.float32), jnp.asarray(x, jnp.float32))
    return np.asarray(ll, np.float64)


def test_gaussian_likelihoods_match_scipy():
    rng = np.random.default_rng(0)
    theta = rng.uniform(-1, 1, (20, 10))
    x = theta + rng.normal(0, 0.5, (20, 10))
    want = stats.norm(theta, math.sqrt(0.1)).logpdf(x).sum(1)
    for name in ("gaussian_linear", "gaussian_linear_uniform"):
        np.testing.assert_allclose(_loglik(get_task(name), theta, x), want, rtol=1e-5, atol=1e-3)

    theta = rng.uniform(-10, 10, (20, 2))
    x = theta + rng.normal(0, 0.3, (20, 2))
    want = np.log(
        0.5 * stats.multivariate_normal.pdf(x - theta, cov=np.eye(2))
        + 0.5 * stats.multivariate_normal.pdf(x - theta, cov=0.01 * np.eye(2))
    )
    np.testing.assert_allclose(_loglik(get_task("gaussian_mixture"), theta, x), want, rtol=1e-5)


def test_slcp_likelihood_matches_scipy():
    task = get_task("slcp")
    theta = np.asarray(task.prior.sample(jax.random.key(8), (30,)), np.float64)
    x = np.asarray(
        batched(task.simulate)(
            jax.random.split(jax.random.key(9), 30), jnp.asarray(theta, jnp.float32)
        ),
        np.float64,
    )
    want = []
    for t, xi in zip(theta, x, strict=True):
        s1, s2, rho = t[2] ** 2, t[3] ** 2, math.tanh(t[4])
        cov = np.array([[s1**2, rho * s1 * s2], [rho * s1 * s2, s2**2]]) + 1e-6 * np.eye(2)
        want.append(stats.multivariate_normal(t[:2], cov).logpdf(xi.reshape(4, 2)).sum())
    np.testing.assert_allclose(_loglik(task, theta, x), want, rtol=2e-3, atol=0.05)


def _two_moons_x_grid(theta, h):
    """Cell centres of a grid of spacing h covering the crescent for θ, shape (nu, nv, 2)."""
    shift = _two_moons_p(theta, np.zeros((1, 2)))[0]  # = −g(θ)
    u = np.arange(-0.06, 0.17, h) + h / 2 + 0.25 - shift[0]
    v = np.arange(-0.17, 0.17, h) + h / 2 - shift[1]
    uu, vv = np.meshgrid(u, v, indexing="ij")
    return np.stack([uu, vv], -1)


def test_two_moons_likelihood_is_a_normalised_density_matching_a_histogram():
    task = get_task("two_moons")
    theta = np.array([-0.4, 0.25])
    h = 0.0005
    grid = _two_moons_x_grid(theta, h)
    nu, nv, _ = grid.shape
    flat = grid.reshape(-1, 2)
    dens = np.exp(_loglik(task, np.broadcast_to(theta, flat.shape), flat)).reshape(nu, nv)
    assert dens.sum() * h**2 == pytest.approx(1.0, abs=0.01)
    # sbibm's `_likelihood` (radial normal only) would integrate to π·0.1 ≈ 0.31.

    # Compare probabilities of 0.01 × 0.01 bins: grid integral vs 200k simulations.
    k = 20  # fine cells per bin
    nb_u, nb_v = nu // k, nv // k
    mass = dens[: nb_u * k, : nb_v * k].reshape(nb_u, k, nb_v, k).sum((1, 3)) * h**2
    edges_u = grid[0, 0, 0] - h / 2 + np.arange(nb_u + 1) * k * h
    edges_v = grid[0, 0, 1] - h / 2 + np.arange(nb_v + 1) * k * h
    x = simulate_many(task, jax.random.key(10), theta, 200_000)
    hist, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=(edges_u, edges_v))
    hist = hist / x.shape[0]
    assert 0.5 * np.abs(hist - mass).sum() < 0.03


def test_two_moons_likelihood_is_finite_but_tiny_on_the_far_side():
    # x left of the crescent centre is reachable only through r < 0 (a 10-sigma event): the true
    # density there is positive but ~e^-200, not zero.
    task = get_task("two_moons")
    theta = np.zeros((1, 2))
    ll = _loglik(task, theta, np.array([[0.25 - 0.1, 0.0]]))[0]
    assert np.isfinite(ll) and ll < -150
    assert _loglik(task, theta, np.array([[0.35, 0.0]]))[0] > 3.0  # the mode: 1/(π·0.1·√(2π)·0.01)


def test_bernoulli_glm_design_matrix():
    stimulus = np.random.RandomState(42).randn(100).astype(np.float32)
    X = S.BERNOULLI_GLM_DESIGN
    assert X.shape == (100, 10) and X.dtype == np.float32
    np.testing.assert_array_equal(S.BERNOULLI_GLM_STIMULUS, stimulus)
    np.testing.assert_array_equal(X[:, 0], 1.0)
    for j in range(9):
        np.testing.assert_array_equal(X[j:, 1 + j], stimulus[: 100 - j])  # delayed by j bins
        np.testing.assert_array_equal(X[:j, 1 + j], 0.0)


def test_bernoulli_glm_summary_and_likelihoods():
    summary, raw = get_task("bernoulli_glm"), get_task("bernoulli_glm_raw")
    X = S.BERNOULLI_GLM_DESIGN.astype(np.float64)
    theta = np.array([-1.0, 0.8, 0.5, 0.2, 0.0, -0.2, -0.3, -0.2, -0.1, 0.0])
    n = 20_000
    key = jax.random.key(11)
    x = simulate_many(summary, key, theta, n)
    y = simulate_many(raw, key, theta, n)
    assert set(np.unique(y)) <= {0.0, 1.0}
    np.testing.assert_allclose(x, y @ X, atol=1e-4)  # same key: x is Xᵀy
    rate = 1 / (1 + np.exp(-X @ theta))
    var = (X**2).T @ (rate * (1 - rate))
    assert close(x.mean(0), X.T @ rate, np.sqrt(var / n))

    want = stats.bernoulli(rate[None, :]).logpmf(y[:5]).sum(1)
    ll_raw = _loglik(raw, np.broadcast_to(theta, (5, 10)), y[:5])
    np.testing.assert_allclose(ll_raw, want, rtol=1e-5)
    # Exponential family: the summary likelihood equals the raw one for the y behind each x.
    ll_sum = _loglik(summary, np.broadcast_to(theta, (5, 10)), x[:5])
    np.testing.assert_allclose(ll_sum, ll_raw, rtol=1e-4)


# --------------------------------------------------------------------------------------------
# reference posteriors
# --------------------------------------------------------------------------------------------


def test_truncated_standard_normal_matches_scipy_in_the_tails():
    draw = jax.jit(truncated_standard_normal)
    n = 50_000
    for a, b in [(-1.0, 1.0), (-12.6, -6.3), (6.3, 12.6), (25.0, 40.0), (-3.0, 30.0)]:
        z = draw(jax.random.key(12), jnp.full((n,), a, jnp.float32), jnp.full((n,), b, jnp.float32))
        z = np.asarray(z, np.float64)
        assert np.all((z >= a) & (z <= b))
        ref = stats.truncnorm(a, b)
        assert close(z.mean(), ref.mean(), ref.std() / math.sqrt(n))
        assert z.std() == pytest.approx(ref.std(), rel=0.02)


def test_reference_gaussian_linear_is_exact():
    x_obs = np.array(SBIBM_OBSERVATION_1["gaussian_linear"])
    n = 40_000
    theta = np.asarray(reference_posterior("gaussian_linear", jax.random.key(13), x_obs, n))
    assert theta.shape == (n, 10) and theta.dtype == np.float32
    assert close(theta.mean(0), x_obs / 2, math.sqrt(0.05 / n))
    assert close(np.cov(theta.T, dtype=np.float64), 0.05 * np.eye(10), 0.05 * math.sqrt(2 / n))


def test_reference_gaussian_linear_uniform_is_the_truncated_normal():
    x_obs = np.array(SBIBM_OBSERVATION_1["gaussian_linear_uniform"])
    n = 40_000
    theta = np.asarray(
        reference_posterior("gaussian_linear_uniform", jax.random.key(14), x_obs, n), np.float64
    )
    assert np.all(np.abs(theta) <= 1.0)
    sd = math.sqrt(0.1)
    ref = stats.truncnorm((-1 - x_obs) / sd, (1 - x_obs) / sd, loc=x_obs, scale=sd)
    assert close(theta.mean(0), ref.mean(), ref.std() / math.sqrt(n))
    np.testing.assert_allclose(theta.std(0), ref.std(), rtol=0.02)


def test_reference_gaussian_mixture_matches_numerical_integration():
    # x near the box edge, so the wide component loses mass and the weights are not ½/½.
    x_obs = np.array(SBIBM_OBSERVATION_1["gaussian_mixture"])
    n = 100_000
    theta = np.asarray(
        reference_posterior("gaussian_mixture", jax.random.key(15), x_obs, n), np.float64
    )
    assert np.all(np.abs(theta) <= 10.0)
    g = np.linspace(-10, 10, 8001)
    dg = g[1] - g[0]
    for i in range(2):
        other = x_obs[1 - i]
        marginal = sum(
            stats.norm.pdf(g, x_obs[i], s)
            * (stats.norm.cdf((10 - other) / s) - stats.norm.cdf((-10 - other) / s))
            for s in (1.0, 0.1)
        )
        marginal /= marginal.sum() * dg
        mean = (g * marginal).sum() * dg
        sd = math.sqrt(((g - mean) ** 2 * marginal).sum() * dg)
        assert close(theta[:, i].mean(), mean, sd / math.sqrt(n))
        assert theta[:, i].std() == pytest.approx(sd, rel=0.02)
        # Fraction of draws in the narrow component's core, vs the grid.
        core = np.abs(g - x_obs[i]) < 0.05
        assert np.mean(np.abs(theta[:, i] - x_obs[i]) < 0.05) == pytest.approx(
            marginal[core].sum() * dg, abs=0.01
        )


def _two_moons_posterior_grid(x_obs, h):
    centres = np.arange(-1, 1, h) + h / 2
    tt = np.stack(np.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2)
    task = get_task("two_moons")
    log_post = _loglik(task, tt, np.broadcast_to(x_obs, tt.shape))  # uniform prior on the box
    dens = np.exp(log_post - log_post.max()).reshape(centres.size, centres.size)
    return dens / (dens.sum() * h**2)


def test_reference_two_moons_matches_likelihood_times_prior():
    x_obs = np.array(SBIBM_OBSERVATION_1["two_moons"])
    n = 20_000
    theta = reference_posterior("two_moons", jax.random.key(16), x_obs, n)
    assert theta.shape == (n, 2) and theta.dtype == jnp.float32
    assert bool(jnp.all(jnp.abs(theta) <= 1.0))
    ll = _loglik(get_task("two_moons"), theta, np.broadcast_to(x_obs, (n, 2)))
    assert np.all(ll > -np.inf) and np.median(ll) > 0.0

    h, k = 0.0025, 40  # fine grid 800², bins of 0.1
    dens = _two_moons_posterior_grid(x_obs, h)
    nb = dens.shape[0] // k
    mass = dens.reshape(nb, k, nb, k).sum((1, 3)) * h**2
    edges = np.linspace(-1, 1, nb + 1)
    t = np.asarray(theta, np.float64)
    hist, _, _ = np.histogram2d(t[:, 0], t[:, 1], bins=(edges, edges))
    assert 0.5 * np.abs(hist / n - mass).sum() < 0.04


def test_reference_errors():
    with pytest.raises(ValueError, match="slcp"):
        reference_posterior("slcp", jax.random.key(0), np.zeros(8), 10)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        reference_posterior("two_moons", jax.random.key(0), np.zeros(3), 10)
    with pytest.raises(ValueError, match="rejection"):
        # x₀ = 5 exceeds every crescent point p₀ ≤ ~0.4: no θ can produce it.
        reference_posterior("two_moons", jax.random.key(0), np.array([5.0, 0.0]), 10)


# --------------------------------------------------------------------------------------------
# sbibm data
# --------------------------------------------------------------------------------------------


def test_loaders_name_the_install_step_without_sbibm(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sbibm" else real(name, *a)
    )
    for load in (load_sbibm_observation, load_sbibm_reference):
        with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps sbibm==1\.1\.0"):
            load("two_moons", 1)
    with pytest.raises(ValueError, match="1..10"):
        load_sbibm_observation("two_moons", 11)


@needs_sbibm
def test_published_observation_1_matches_the_wheel():
    for name, values in SBIBM_OBSERVATION_1.items():
        x = load_sbibm_observation(name, 1)
        assert x.shape == get_task(name).x_shape
        np.testing.assert_allclose(np.asarray(x), values, rtol=1e-6)
        assert load_sbibm_reference(name, 1).shape == (10_000, get_task(name).theta_dim)


@needs_sbibm
def test_bernoulli_glm_observation_is_design_transpose_raw():
    for k in (1, 5):
        y = np.asarray(load_sbibm_observation("bernoulli_glm_raw", k), np.float64)
        x = np.asarray(load_sbibm_observation("bernoulli_glm", k), np.float64)
        np.testing.assert_allclose(S.BERNOULLI_GLM_DESIGN.T.astype(np.float64) @ y, x, atol=1e-3)


@needs_sbibm
def test_two_moons_reference_agrees_with_sbibm():
    theirs = np.asarray(load_sbibm_reference("two_moons", 1), np.float64)
    x_obs = load_sbibm_observation("two_moons", 1)
    ours = np.asarray(reference_posterior("two_moons", jax.random.key(17), x_obs, 10_000))
    # The posterior has one crescent per sign of θ₁ + θ₂ (the |·| branch): compare the branch
    # weights, then quantiles within each branch (pooled quantiles jump between the modes).
    assert np.mean(ours.sum(1) > 0) == pytest.approx(np.mean(theirs.sum(1) > 0), abs=0.03)
    qs = [0.05, 0.25, 0.5, 0.75, 0.95]
    for branch in (True, False):
        a = ours[(ours.sum(1) > 0) == branch]
        b = theirs[(theirs.sum(1) > 0) == branch]
        np.testing.assert_allclose(np.quantile(a, qs, 0), np.quantile(b, qs, 0), atol=0.05)
    # And sbibm's samples are likely under our likelihood too.
    ll = _loglik(get_task("two_moons"), theirs, np.broadcast_to(np.asarray(x_obs), theirs.shape))
    assert np.all(np.isfinite(ll)) and np.median(ll) > 0.0
