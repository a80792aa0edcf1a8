from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi.diagnostics import mcmc_summary, mcmc_summary_batched


class _Info(NamedTuple):
    acceptance_rate: jax.Array
    is_divergent: jax.Array


def _iid(shape, seed=0):
    return jax.random.normal(jax.random.key(seed), shape)


def test_iid_chains_converged():
    out = mcmc_summary(_iid((4, 500, 2)))
    assert out["rhat"].shape == out["ess_bulk"].shape == (2,)
    assert float(out["max_rhat"]) < 1.02
    assert float(out["min_ess_bulk"]) > 1000  # 2,000 independent draws


def test_chains_with_different_means_flagged():
    offsets = jnp.arange(4.0)[:, None, None]
    out = mcmc_summary(_iid((4, 500, 2)) + offsets)
    assert bool(jnp.all(out["rhat"] > 1.1))


def test_batched_matches_unbatched_and_reads_info():
    draws = _iid((3, 4, 500, 2), seed=1)
    info = _Info(
        acceptance_rate=jnp.full((3, 4, 500), 0.8),
        is_divergent=jnp.zeros((3, 4, 500), bool).at[1, 0, :5].set(True),
    )
    out = mcmc_summary_batched(draws, info)
    assert out["rhat"].shape == (3, 2) and out["max_rhat"].shape == (3,)
    np.testing.assert_allclose(out["rhat"][2], mcmc_summary(draws[2])["rhat"], rtol=1e-5)
    np.testing.assert_allclose(out["acceptance_rate"], 0.8, rtol=1e-6)
    assert out["num_divergent"].tolist() == [0, 5, 0]


@pytest.mark.parametrize(
    "shape, match", [((100, 2), "num_chains"), ((4, 3, 2), "at least 4 samples")]
)
def test_bad_inputs_raise(shape, match):
    with pytest.raises(ValueError, match=match):
        mcmc_summary(jnp.zeros(shape))
