"""M/G/1 queue against queueing facts and an independent numpy implementation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi.tasks.physics import MG1_TRUE_THETA, mg1, mg1_departures, mg1_summaries

_simulate_many = jax.jit(jax.vmap(mg1().simulate))
_many_departures = jax.jit(jax.vmap(mg1_departures, in_axes=(0, None, None)), static_argnums=(2,))


def test_deterministic_service_in_heavy_traffic_gives_service_time():
    # θ1 = θ2 = 5 (range 0) and arrivals 100× faster than service: the queue never empties
    # after the first customer, so D_i − D_{i−1} = 5 exactly for i ≥ 2; D_1 = A_1 + 5.
    theta = jnp.asarray([5.0, 0.0, 100.0])
    inter = np.asarray(_many_departures(jax.random.split(jax.random.key(0), 16), theta, 4000))
    np.testing.assert_allclose(inter[:, 1:], 5.0, rtol=1e-5)
    assert np.all((inter[:, 0] > 5.0) & (inter[:, 0] < 5.5))
    x = np.asarray(
        _simulate_many(jax.random.split(jax.random.key(0), 3000), jnp.tile(theta, (3000, 1)))
    )
    np.testing.assert_allclose(x[:, :4], 5.0, rtol=1e-5)  # quantiles 0..75 %
    assert np.all(x[:, 4] > 5.0)  # the max is the first (idle-start) one


@pytest.mark.parametrize(
    "theta, rho",
    [((1.0, 2.0, 0.25), 0.5), ((3.0, 2.0, 0.5), 2.0)],  # E[u] = 2 and 4
)
def test_long_run_mean_inter_departure_is_max_of_service_and_arrival(theta, rho):
    theta = jnp.asarray(theta)
    inter = np.asarray(_many_departures(jax.random.split(jax.random.key(1), 16), theta, 4000))
    mean_service = float(theta[0] + theta[1] / 2)
    expected = max(mean_service, 1.0 / float(theta[2]))
    # Throughput is min(λ, 1/E[u]): mean inter-departure → max(E[u], 1/λ).
    assert inter.mean() == pytest.approx(expected, rel=0.03)
    assert float(theta[2]) * mean_service == pytest.approx(rho)


def test_stationary_inter_departure_moments():
    # Stationary M/G/1 (ρ < 1): a departure leaves the queue empty w.p. 1 − ρ, then the server
    # idles Exp(λ) (memoryless) before the next service: D = u + B·I, B ~ Bern(1 − ρ),
    # I ~ Exp(λ), u independent of (B, I). Mean 1/λ, Var = Var(u) + 2(1 − ρ)/λ² − (1 − ρ)²/λ².
    lo, width, lam = 1.0, 2.0, 0.25
    rho = lam * (lo + width / 2)
    inter = np.asarray(
        _many_departures(
            jax.random.split(jax.random.key(2), 16), jnp.asarray([lo, width, lam]), 4000
        )
    )[:, 200:]
    var = width**2 / 12 + 2 * (1 - rho) / lam**2 - (1 - rho) ** 2 / lam**2
    assert inter.mean() == pytest.approx(1 / lam, rel=0.03)
    assert inter.var() == pytest.approx(var, rel=0.06)


def _numpy_mg1(rng, theta, n=50):
    # Written independently in the form of the AALR code (hypothesis.benchmark.mg1): arrival
    # times, then idle-or-not inter-departure times.
    t1, t2, t3 = theta[0], theta[0] + theta[1], theta[2]
    service = (t2 - t1) * rng.random(n) + t1
    arrivals = np.cumsum(-np.log(1.0 - rng.random(n)) / t3)
    out = np.empty(n)
    dep = 0.0
    for i in range(n):
        out[i] = service[i] + max(0.0, arrivals[i] - dep)
        dep += out[i]
    return np.percentile(out, [0, 25, 50, 75, 100])


def test_summaries_match_independent_numpy_simulator_in_distribution():
    theta = np.asarray(MG1_TRUE_THETA)
    rng = np.random.default_rng(0)
    ref = np.stack([_numpy_mg1(rng, theta) for _ in range(3000)])
    keys = jax.random.split(jax.random.key(3), 3000)
    thetas = jnp.broadcast_to(jnp.asarray(theta, jnp.float32)[None, :], (3000, 3))
    ours = np.asarray(_simulate_many(keys, thetas))
    se = np.sqrt(ref.var(0) / 3000 + ours.var(0) / 3000)
    assert np.all(np.abs(ours.mean(0) - ref.mean(0)) < 4.5 * se), (ours.mean(0), ref.mean(0))


def test_summaries_are_numpy_percentiles():
    v = jax.random.uniform(jax.random.key(4), (50,))
    np.testing.assert_allclose(
        mg1_summaries(v), np.percentile(np.asarray(v), [0, 25, 50, 75, 100]), rtol=1e-6
    )


def test_task_shapes_prior_and_determinism():
    task = mg1()
    assert task is mg1() and task.theta_dim == 3 and task.x_shape == (5,)
    theta = task.prior.sample(jax.random.key(5), (3000,))
    assert np.all(np.asarray(theta) >= 0) and np.all(np.asarray(theta[:, 2]) <= 1 / 3)
    assert float(task.prior.log_prob(jnp.asarray([1.0, 4.0, 0.2]))) == pytest.approx(
        -np.log(10 * 10 / 3), rel=1e-5
    )
    assert float(task.prior.log_prob(jnp.asarray([1.0, 11.0, 0.2]))) == -np.inf
    keys = jax.random.split(jax.random.key(6), 3000)
    a, b = np.asarray(_simulate_many(keys, theta)), np.asarray(_simulate_many(keys, theta))
    np.testing.assert_array_equal(a, b)
    assert np.all(np.isfinite(a)) and np.all(np.diff(a, axis=1) >= 0)  # ordered quantiles
