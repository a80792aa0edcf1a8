"""sir and lotka_volterra (diffrax) against scipy, conservation laws and sbibm's own files."""

import functools
import importlib.util
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.integrate import solve_ivp

from jaxsbi.tasks import SBIBM_OBSERVATION_1, get_task, load_sbibm_observation, load_sbibm_reference
from jaxsbi.tasks import sbibm_ode as O

HAS_SBIBM = importlib.util.find_spec("sbibm") is not None
needs_sbibm = pytest.mark.skipif(
    not HAS_SBIBM, reason="sbibm data not installed (pip install --no-deps sbibm==1.1.0)"
)


def true_parameters(task: str, k: int) -> np.ndarray:
    root = Path(list(importlib.util.find_spec("sbibm").submodule_search_locations)[0])
    path = root / "tasks" / task / "files" / f"num_observation_{k}" / "true_parameters.csv"
    return np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32).reshape(-1)


@functools.cache
def batched(fn):
    return jax.jit(jax.vmap(fn))


# Every batched call below uses one of two batch sizes, so each function compiles once.
SIM_BATCH = 1000
LL_BATCH = 1010


def _pad(a, size):
    a = jnp.asarray(a)
    if a.shape[0] > size:
        raise ValueError(f"batch {a.shape[0]} > {size}")
    return jnp.concatenate([a, jnp.broadcast_to(a[:1], (size - a.shape[0], *a.shape[1:]))])


def simulate(task, key, theta):
    """x for each row of theta (at most SIM_BATCH rows)."""
    n = theta.shape[0]
    keys = jax.random.split(key, SIM_BATCH)
    return batched(task.simulate)(keys, _pad(theta, SIM_BATCH))[:n]


def loglik(task, theta, x):
    """log p(x_i | θ_i) for each row (at most LL_BATCH rows)."""
    n = theta.shape[0]
    return np.asarray(batched(task.log_likelihood)(_pad(theta, LL_BATCH), _pad(x, LL_BATCH)))[:n]


# --------------------------------------------------------------------------------------------
# trajectories vs scipy, invariants
# --------------------------------------------------------------------------------------------


def test_sir_trajectory_matches_scipy_radau_and_conserves_population():
    theta = np.array([0.61479264, 0.19172086], np.float32)  # sbibm sir observation 1
    days = np.arange(161.0)
    ys, ok = jax.jit(O.sir_trajectory)(jnp.asarray(theta), days)
    ys = np.asarray(ys, np.float64)
    assert bool(ok) and ys.shape == (161, 3)
    b, g = theta.astype(np.float64)
    n = O.SIR_POPULATION

    def rhs(t, y):
        inf = b * y[0] * y[1] / n
        return [-inf, inf - g * y[1], g * y[1]]

    ref = solve_ivp(
        rhs, (0, 160), [n - 1, 1, 0], method="Radau", rtol=1e-11, atol=1e-8, t_eval=days
    ).y.T
    # I/N is what the observation model sees; float32 keeps it to ~1e-6 of N.
    np.testing.assert_allclose(ys[:, 1] / n, ref[:, 1] / n, atol=2e-6)
    np.testing.assert_allclose(ys / n, ref / n, atol=5e-6)
    # S + I + R = N along the trajectory (float32 spacing at 1e6 is 0.0625).
    np.testing.assert_allclose(ys.sum(1), n, rtol=3e-6)
    # The kept days are 0, 17, ..., 153 (sbibm: daily saves, every 17th).
    np.testing.assert_array_equal(O.SIR_TIMES, np.arange(0, 154, 17))


def test_lotka_volterra_trajectory_matches_scipy_and_keeps_its_first_integral():
    theta = np.array([0.6859157, 0.10761319, 0.88789904, 0.116794825], np.float32)  # obs 1
    ts = np.linspace(0.0, 20.0, 201)
    ys, ok = jax.jit(O.lotka_volterra_trajectory)(jnp.asarray(theta), ts)
    ys = np.asarray(ys, np.float64)
    assert bool(ok) and ys.shape == (201, 2)
    a, b, c, d = theta.astype(np.float64)
    ref = solve_ivp(
        lambda t, y: [a * y[0] - b * y[0] * y[1], -c * y[1] + d * y[0] * y[1]],
        (0, 20),
        [30.0, 1.0],
        method="DOP853",
        rtol=1e-13,
        atol=1e-12,
        t_eval=ts,
    ).y.T
    np.testing.assert_allclose(ys, ref, rtol=2e-5)
    # V = δX − γ ln X + βY − α ln Y is constant along every orbit.
    v = d * ys[:, 0] - c * np.log(ys[:, 0]) + b * ys[:, 1] - a * np.log(ys[:, 1])
    np.testing.assert_allclose(v, v[0], rtol=1e-5)
    np.testing.assert_allclose(O.LV_TIMES, np.arange(0, 190, 21) * 0.1, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# sbibm's observations: residuals at the true θ, log-likelihood vs fresh simulations
# --------------------------------------------------------------------------------------------

NUM_FRESH = 100


def _fresh_and_observed(name):
    """Log-likelihoods at each observation's true θ: of the observation and of fresh sims."""
    task = get_task(name)
    thetas = np.stack([true_parameters(name, k) for k in range(1, 11)])
    x_obs = np.stack([np.asarray(load_sbibm_observation(name, k)) for k in range(1, 11)])
    rep = np.repeat(thetas, NUM_FRESH, axis=0)
    x = simulate(task, jax.random.key(0), jnp.asarray(rep))
    ll = loglik(
        task,
        jnp.concatenate([jnp.asarray(rep), jnp.asarray(thetas)]),
        jnp.concatenate([x, jnp.asarray(x_obs)]),
    )
    return thetas, x_obs, ll[: rep.shape[0]].reshape(10, NUM_FRESH), ll[rep.shape[0] :]


def _assert_typical(ll_fresh, ll_obs, max_low=0):
    assert np.all(np.isfinite(ll_fresh)) and np.all(np.isfinite(ll_obs))
    q = (ll_fresh < ll_obs[:, None]).mean(1)
    # Each observation sits inside its fresh-simulation distribution, and the ten quantiles are
    # not piled up at one end (KS against uniform).
    assert np.all(q < 0.995) and np.sum(q < 0.005) <= max_low, q
    assert stats.kstest(q, "uniform").pvalue > 1e-3, q


@needs_sbibm
def test_lotka_volterra_reproduces_sbibm_observations():
    thetas, x_obs, ll_fresh, ll_obs = _fresh_and_observed("lotka_volterra")
    # Observation 8 is a 0.5% event (χ² below); allow one observation in the low tail.
    _assert_typical(ll_fresh, ll_obs, max_low=1)
    # Sharper: at the true θ, (log x − log u(θ)) / 0.1 are the N(0, 1) draws sbibm made, so each
    # observation's Σ z² is χ²(20) and the total χ²(200). (A phase or time-grid error of a few %
    # inflates these by orders of magnitude.)
    log_u = np.stack([np.asarray(O._lv_log_mean(jnp.asarray(t))[0]) for t in thetas])
    z = (np.log(x_obs) - log_u) / 0.1
    per_obs = stats.chi2.sf((z**2).sum(1), 20)
    assert np.all(per_obs > 1e-3), per_obs
    total = stats.chi2.sf((z**2).sum(), 200)
    assert 1e-3 < total < 1 - 1e-3, total
    assert stats.kstest(z.reshape(-1), "norm").pvalue > 1e-3


@needs_sbibm
def test_sir_reproduces_sbibm_observations():
    thetas, x_obs, ll_fresh, ll_obs = _fresh_and_observed("sir")
    # sbibm's observation 10 holds one unlikely count: 2 of 1000 sampled infected on day 119,
    # where I/N·1000 = 0.068 (P(x ≥ 2) = 0.002); every other cell of the ten observations fits
    # (see the χ² below), so allow that one observation in the low tail.
    _assert_typical(ll_fresh, ll_obs, max_low=1)
    # Sharper: x ~ Binomial(1000, I(t)/N) at the true θ; Pearson χ² over informative cells.
    p = np.stack([np.asarray(O._sir_probs(jnp.asarray(t))[0], np.float64) for t in thetas])
    var = 1000 * p * (1 - p)
    cells = var > 5.0
    chi2 = np.sum((x_obs[cells] - 1000 * p[cells]) ** 2 / var[cells])
    assert stats.chi2.sf(chi2, cells.sum()) > 1e-3, (chi2, cells.sum())
    assert stats.chi2.cdf(chi2, cells.sum()) > 1e-3
    # Cells where the model says ~0 infected are 0 in the data too.
    assert np.all(x_obs[1000 * p < 1e-3] == 0)


# --------------------------------------------------------------------------------------------
# the observation model, failures, gradients, bad input
# --------------------------------------------------------------------------------------------


def test_sir_binomial_and_lv_lognormal_observation_models():
    sir, lv = get_task("sir"), get_task("lotka_volterra")
    n = SIM_BATCH
    theta = jnp.broadcast_to(jnp.asarray([0.5, 0.15]), (n, 2))
    x = np.asarray(simulate(sir, jax.random.key(3), theta))
    p = np.asarray(O._sir_probs(theta[0])[0], np.float64)
    assert np.all(x == np.round(x)) and np.all((x >= 0) & (x <= 1000))
    se = np.sqrt(1000 * p * (1 - p) / n) + 1e-9
    assert np.all(np.abs(x.mean(0) - 1000 * p) < 5 * se)
    # Exact pmf: log_likelihood equals scipy's binomial log-pmf summed over the 10 days.
    ll = loglik(sir, theta[:5], jnp.asarray(x[:5]))
    want = stats.binom.logpmf(x[:5], 1000, p).sum(1)
    np.testing.assert_allclose(ll, want, atol=2e-3)  # float32 log-gamma of ~6000
    theta4 = jnp.broadcast_to(jnp.asarray([0.7, 0.1, 0.9, 0.12]), (n, 4))
    y = np.asarray(simulate(lv, jax.random.key(4), theta4))
    log_u = np.asarray(O._lv_log_mean(theta4[0])[0], np.float64)
    z = (np.log(y) - log_u) / 0.1
    assert np.all(np.abs(z.mean(0)) < 5 / math.sqrt(n)) and np.all(np.abs(z.std(0) - 1) < 0.05)
    ll = loglik(lv, theta4[:5], jnp.asarray(y[:5]))
    want = stats.lognorm.logpdf(y[:5], 0.1, scale=np.exp(log_u)).sum(1)
    np.testing.assert_allclose(ll, want, rtol=1e-4, atol=1e-3)


def test_impossible_counts_and_failed_solves():
    sir = get_task("sir")
    theta = jnp.asarray([0.5, 0.15])
    x = jnp.zeros(10).at[0].set(1.0)  # day 0: p = 1e-6, one infected of 1000 sampled is possible
    xs = jnp.stack([x, x.at[1].set(0.5), x.at[1].set(1001.0)])  # ok, not a count, > 1000
    ll = loglik(sir, jnp.broadcast_to(theta, (3, 2)), xs)
    assert np.isfinite(ll[0]) and ll[1] == -np.inf and ll[2] == -np.inf
    lv = get_task("lotka_volterra")
    # A solve that cannot finish within MAX_STEPS (α = 1e4: prey grow like e^{1e4 t}, clipped at
    # float32 overflow) gives all-NaN x and −inf likelihood; its batch-mates are unaffected.
    bad, good = jnp.asarray([1e4, 0.1, 0.9, 0.12]), jnp.asarray([0.7, 0.1, 0.9, 0.12])
    sim, ll_one = jax.jit(lv.simulate), jax.jit(lv.log_likelihood)
    assert np.all(np.isnan(np.asarray(sim(jax.random.key(0), bad))))
    assert np.all(np.isfinite(np.asarray(sim(jax.random.key(0), good))))
    assert float(ll_one(bad, jnp.ones(20))) == -np.inf
    assert np.isfinite(float(ll_one(good, jnp.ones(20))))
    assert float(ll_one(good, jnp.ones(20).at[3].set(0.0))) == -np.inf  # x ≤ 0


@pytest.mark.slow  # a third compilation of the LV solve (~5-20 s); NUTS tests cover it too
def test_lotka_volterra_gradient_matches_finite_differences():
    lv = get_task("lotka_volterra")
    theta = np.array([0.6859157, 0.10761319, 0.88789904, 0.116794825], np.float64)
    x = jnp.asarray(SBIBM_OBSERVATION_1["lotka_volterra"])
    grad = np.asarray(jax.jit(jax.grad(lv.log_likelihood))(jnp.asarray(theta, jnp.float32), x))
    value = jax.jit(lv.log_likelihood)
    for i in range(4):
        h = 1e-3 * theta[i]
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        fd = (
            float(value(jnp.asarray(up, jnp.float32), x))
            - float(value(jnp.asarray(down, jnp.float32), x))
        ) / (2 * h)
        assert grad[i] == pytest.approx(fd, rel=0.02, abs=0.5), (i, grad[i], fd)


def test_bad_shapes_raise():
    sir, lv = get_task("sir"), get_task("lotka_volterra")
    with pytest.raises(ValueError, match=r"theta must have shape \(2,\)"):
        sir.simulate(jax.random.key(0), jnp.ones(3))
    with pytest.raises(ValueError, match=r"theta must have shape \(4,\)"):
        lv.log_likelihood(jnp.ones((2, 4)), jnp.ones(20))
    with pytest.raises(ValueError, match=r"x must have shape \(20,\)"):
        lv.log_likelihood(jnp.ones(4), jnp.ones(10))


@needs_sbibm
def test_loaders_and_shapes():
    for name, (d, n) in {"sir": (2, 10), "lotka_volterra": (4, 20)}.items():
        task = get_task(name)
        assert task.theta_dim == d and task.x_shape == (n,)
        assert load_sbibm_observation(name, 7).shape == (n,)
        ref = load_sbibm_reference(name, 1)
        assert ref.shape == (10_000, d) and bool(jnp.all(ref > 0))
