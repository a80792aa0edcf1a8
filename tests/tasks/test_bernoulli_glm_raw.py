"""bernoulli_glm_raw checked against sbibm's raw observations (its definition is sbibm's)."""

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxsbi.tasks import get_task, load_sbibm_observation

HAS_SBIBM = importlib.util.find_spec("sbibm") is not None


@pytest.mark.skipif(
    not HAS_SBIBM, reason="sbibm data not installed (pip install --no-deps sbibm==1.1.0)"
)
def test_raw_observations_are_typical_at_the_true_parameters():
    raw, summary = get_task("bernoulli_glm_raw"), get_task("bernoulli_glm")
    root = Path(list(importlib.util.find_spec("sbibm").submodule_search_locations)[0])
    files = root / "tasks" / "bernoulli_glm" / "files"
    thetas = np.stack(
        [
            np.loadtxt(
                files / f"num_observation_{k}" / "true_parameters.csv",
                delimiter=",",
                skiprows=1,
                dtype=np.float32,
            )
            for k in range(1, 11)
        ]
    )
    y_obs = np.stack(
        [np.asarray(load_sbibm_observation("bernoulli_glm_raw", k)) for k in range(1, 11)]
    )
    x_obs = np.stack([np.asarray(load_sbibm_observation("bernoulli_glm", k)) for k in range(1, 11)])
    assert set(np.unique(y_obs)) <= {0.0, 1.0}
    n = 200
    rep = jnp.asarray(np.repeat(thetas, n, axis=0))
    y = jax.jit(jax.vmap(raw.simulate))(jax.random.split(jax.random.key(0), rep.shape[0]), rep)
    ll = jax.jit(jax.vmap(raw.log_likelihood))
    fresh = np.asarray(ll(rep, y)).reshape(10, n)
    obs = np.asarray(
        ll(jnp.asarray(np.repeat(thetas, n, axis=0)), jnp.asarray(np.repeat(y_obs, n, 0)))
    )
    obs = obs.reshape(10, n)[:, 0]
    q = (fresh < obs[:, None]).mean(1)
    assert np.all((q > 0.005) & (q < 0.995)), q
    assert stats.kstest(q, "uniform").pvalue > 1e-3
    # Exponential family: the summary likelihood of x = Xᵀy equals the raw likelihood of y.
    ll_sum = jax.vmap(summary.log_likelihood)(jnp.asarray(thetas), jnp.asarray(x_obs))
    np.testing.assert_allclose(np.asarray(ll_sum), obs, rtol=1e-4, atol=1e-3)
