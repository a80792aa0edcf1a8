"""Rejection ABC against the analytic posterior of a conjugate Gaussian model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi.abc import rejection_abc
from jaxsbi.distributions import normal
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
