"""Rejection ABC and SMC-ABC against the analytic posterior of a Gaussian model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi.distributions import normal, uniform
from jaxsbi.likelihood_free import equal_weight_samples, rejection_abc, smc_abc
from jaxsbi.tasks import Task

NOISE_SD = 0.5


def _simulate(key, theta):
    return theta + NOISE_SD * jax.random.normal(key, theta.shape)


TASK = Task(
    name="conjugate_gaussian",
    prior=normal(jnp.zeros(2), jnp.ones(2)),
    simulate=_simulate,
    x_shape=(2,),
)
X_OBS = np.asarray([0.8, -0.4], np.float32)


def test_quantile_abc_matches_conjugate_posterior():
    # θ ~ N(0, I), x | θ ~ N(θ, 0.25 I): posterior N(x / 1.25, 0.2 I).
    res = rejection_abc(jax.random.key(0), TASK, X_OBS, 400_000, quantile=0.005, batch_size=50_000)
    assert res.num_accepted == 2000 and res.num_simulations == 400_000
    assert res.acceptance_rate == pytest.approx(0.005)
    assert res.num_invalid == 0
    assert np.all(np.diff(res.distances) >= 0) and res.epsilon == pytest.approx(res.distances[-1])
    # Tolerances: mean within 0.05 (SE ≈ 0.01), variance within 15 % (the ε-ball adds ≈ 3 %).
    np.testing.assert_allclose(res.theta.mean(0), X_OBS / 1.25, atol=0.05)
    np.testing.assert_allclose(res.theta.var(0), 0.2, rtol=0.15)
    # The pilot scale (1.4826 × MAD) estimates the prior-predictive sd, √(1 + 0.25).
    np.testing.assert_allclose(res.scale, np.sqrt(1.25), rtol=0.05)


def test_epsilon_abc_and_determinism():
    kw = dict(epsilon=0.1, batch_size=50_000, scale=np.ones(2, np.float32))
    a = rejection_abc(jax.random.key(1), TASK, X_OBS, 200_000, **kw)
    b = rejection_abc(jax.random.key(1), TASK, X_OBS, 200_000, **kw)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert a.epsilon == 0.1 and np.all(a.distances <= 0.1)
    # P(‖x − x_o‖ ≤ ε) ≈ π ε² p(x_o) with p(x) = N(0, 1.25 I).
    p_xo = np.exp(-0.5 * np.sum(X_OBS**2) / 1.25) / (2 * np.pi * 1.25)
    assert a.acceptance_rate == pytest.approx(np.pi * 0.01 * p_xo, rel=0.2)
    np.testing.assert_allclose(a.theta.mean(0), X_OBS / 1.25, atol=0.06)


def test_nan_simulations_are_counted_never_accepted():
    def sometimes_nan(key, theta):
        x = _simulate(key, theta)
        return jnp.where(theta[0] > 1.0, jnp.nan, x)

    task = Task("nan", TASK.prior, sometimes_nan, (2,))
    res = rejection_abc(
        jax.random.key(2),
        task,
        X_OBS,
        20_000,
        quantile=0.05,
        batch_size=10_000,
        scale=np.ones(2, np.float32),
    )
    assert 0.12 * 20_000 < res.num_invalid < 0.20 * 20_000  # P(θ₁ > 1) = 0.159
    assert np.all(np.isfinite(res.distances)) and np.all(res.theta[:, 0] <= 1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"x_obs": np.zeros(3)}, "x_shape"),
        ({"x_obs": np.array([np.nan, 0.0])}, "NaN"),
        ({"num_simulations": 0}, "num_simulations"),
        ({"quantile": 0.1, "epsilon": 1.0}, "exactly one"),
        ({"quantile": None}, "exactly one"),
        ({"quantile": 1.5}, "quantile"),
        ({"quantile": None, "epsilon": -1.0}, "epsilon"),
        ({"scale": np.array([1.0, 0.0])}, "scale"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"x_obs": X_OBS, "num_simulations": 100, "quantile": 0.1} | kwargs
    x_obs, n = args.pop("x_obs"), args.pop("num_simulations")
    with pytest.raises(ValueError, match=match):
        rejection_abc(jax.random.key(0), TASK, x_obs, n, **args)


# ----------------------------------------------------------------------------- SMC-ABC

WIDE = Task(
    name="flat_gaussian",
    prior=uniform(jnp.full(2, -5.0), jnp.full(2, 5.0)),
    simulate=_simulate,
    x_shape=(2,),
)


@pytest.mark.slow
@pytest.mark.parametrize("moves", ["theta", "unconstrained"])
def test_smc_abc_reaches_small_tolerance_and_matches_posterior(moves):
    # Flat prior on [-5, 5]², x | θ ~ N(θ, 0.25 I): posterior ≈ N(x_o, 0.25 I); the ε-ball of
    # ABC adds about ε²/4 to each variance (uniform in a disc of radius ε: variance ε²/4).
    kw = dict(target_epsilon=0.15, scale=np.ones(2, np.float32), moves=moves)
    res = smc_abc(jax.random.key(0), WIDE, X_OBS, 1000, **kw)
    assert res.stopped == "target_epsilon" and res.epsilon == pytest.approx(0.15)
    assert np.all(np.diff(res.epsilons) < 0) and np.all(res.distances <= res.epsilon)
    assert res.weights.sum() == pytest.approx(1.0) and res.ess[-1] > 500
    assert res.num_simulations == res.simulations.sum()
    # Far fewer simulations than rejection from the prior at this tolerance would need
    # (acceptance π ε² p(x_o) ≈ 0.07 / 100 → ~1.4M simulations for 1000 samples).
    assert res.num_simulations < 300_000
    mean = res.weights @ res.theta
    var = res.weights @ (res.theta - mean) ** 2
    np.testing.assert_allclose(mean, X_OBS, atol=0.06)
    np.testing.assert_allclose(var, 0.25 + 0.15**2 / 4, rtol=0.15)
    draws = equal_weight_samples(jax.random.key(1), res.theta, res.weights)
    assert 200 < draws.shape[0] <= 1000 and len(np.unique(draws[:, 0])) == draws.shape[0]
    np.testing.assert_allclose(draws.mean(0), X_OBS, atol=0.1)
    again = smc_abc(jax.random.key(0), WIDE, X_OBS, 1000, **kw)
    np.testing.assert_array_equal(again.theta, res.theta)


def test_equal_weight_samples_keeps_in_proportion_to_weight():
    theta = np.arange(4000, dtype=np.float32).reshape(2000, 2)
    w = np.where(np.arange(2000) < 1000, 1.0, 0.25)
    kept = equal_weight_samples(jax.random.key(0), theta, w)
    first = np.sum(kept[:, 0] < 2000)  # rows 0..999
    # Kept with probability 1 and 0.25: ~1000 and ~250 (binomial sd ≈ 14).
    assert first == 1000 and 190 < kept.shape[0] - first < 310
    with pytest.raises(ValueError, match="weights"):
        equal_weight_samples(jax.random.key(0), theta, -w)
    with pytest.raises(ValueError, match="pair"):
        equal_weight_samples(jax.random.key(0), theta, w[:10])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"x_obs": np.zeros(3)}, "x_shape"),
        ({"num_particles": 1}, "num_particles"),
        ({"initial_simulations": 10}, "initial_simulations"),
        ({"epsilon_quantile": 1.0}, "epsilon_quantile"),
        ({"kernel_scale": 0.0}, "kernel_scale"),
        ({"target_epsilon": -1.0}, "target_epsilon"),
        ({"min_acceptance_rate": 1.0}, "min_acceptance_rate"),
        ({"scale": np.array([1.0, np.inf])}, "scale"),
        ({"moves": "sideways"}, "moves"),
    ],
)
def test_smc_abc_bad_input(kwargs, match):
    args = {"x_obs": X_OBS, "num_particles": 100} | kwargs
    x_obs, n = args.pop("x_obs"), args.pop("num_particles")
    with pytest.raises(ValueError, match=match):
        smc_abc(jax.random.key(0), WIDE, x_obs, n, **args)
