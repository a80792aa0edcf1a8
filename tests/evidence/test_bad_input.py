"""Bad input: clear errors naming the value, or documented and tested behaviour."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi import evidence as ev


@pytest.fixture
def stats():
    return ev.sufficient_stats(
        jnp.ones((3, 2)) * jnp.arange(1.0, 3.0)[None, :], jnp.array([1.0, 2.0, 3.0])
    )


def test_no_data_is_an_error():
    with pytest.raises(ValueError, match="N = 0"):
        ev.sufficient_stats(jnp.zeros((0, 3)), jnp.zeros((0,)))
    with pytest.raises(ValueError, match="N = 0"):
        ev.sequential_posterior(
            ev.Posterior(jnp.zeros(3), jnp.eye(3)), jnp.zeros((0, 3)), jnp.zeros((0,)), 1.0
        )


def test_nan_and_inf_are_errors_naming_the_rows():
    t = jnp.array([1.0, jnp.nan, 3.0])
    with pytest.raises(ValueError, match=r"t contains 1 non-finite value\(s\) \(NaN\).*\[\[1\]\]"):
        ev.sufficient_stats(jnp.ones((3, 2)), t)
    with pytest.raises(ValueError, match="phi contains"):
        ev.sufficient_stats(jnp.ones((3, 2)).at[0, 1].set(jnp.inf), jnp.ones(3))


@pytest.mark.parametrize("value", [-1.0, 0.0, float("nan"), float("inf")])
def test_precisions_must_be_positive_and_finite(stats, value):
    with pytest.raises(ValueError, match="alpha must be a positive, finite precision"):
        ev.log_evidence(stats, value, 1.0)
    with pytest.raises(ValueError, match="beta must be a positive, finite precision"):
        ev.posterior(stats, 1.0, value)
    with pytest.raises(ValueError, match="beta_init"):
        ev.maximise_evidence(stats, 1.0, value)


def test_alpha_zero_explains_itself(stats):
    with pytest.raises(ValueError, match="improper flat prior"):
        ev.posterior(stats, 0.0, 1.0)


def test_shape_errors(stats):
    with pytest.raises(ValueError, match="phi has 3 rows but t has 2"):
        ev.sufficient_stats(jnp.ones((3, 2)), jnp.ones(2))
    with pytest.raises(ValueError, match=r"shape \(N, M\)"):
        ev.sufficient_stats(jnp.ones(3), jnp.ones(3))
    with pytest.raises(ValueError, match="phi_query must have shape"):
        ev.predictive(ev.posterior(stats, 1.0, 1.0), jnp.ones((4, 3)), 1.0)
    with pytest.raises(ValueError, match="masks must contain only 0"):
        ev.log_evidence_models(stats, jnp.array([[0.5, 1.0]]), 1.0, 1.0)
    with pytest.raises(ValueError, match="keep no feature"):
        ev.log_evidence_models(stats, jnp.array([[0.0, 0.0]]), 1.0, 1.0)
    with pytest.raises(ValueError, match="positive definite"):
        ev.posterior_gaussian_prior(stats, jnp.zeros(2), -jnp.eye(2), 1.0)


def test_rank_deficient_design_is_well_defined(stats):
    # Both columns of Φ are multiples of one vector: rank 1 < M = 2. Documented: fine for α > 0.
    post = ev.posterior(stats, 1e-2, 1.0)
    assert np.all(np.isfinite(post.mean)) and np.all(np.linalg.eigvalsh(post.cov) > 0)
    fit = ev.maximise_evidence(stats)
    assert np.isfinite(float(fit.log_evidence)) and float(fit.gamma) <= 1.0 + 1e-5


def test_interpolating_model_stops_unconverged():
    # N = 3 points, M = 3 features: β → ∞ is the optimum; the loop stops at a finite iterate.
    phi = ev.design_matrix(ev.polynomial_basis(2), jnp.array([0.0, 0.5, 1.0]))
    fit = ev.maximise_evidence(ev.sufficient_stats(phi, jnp.array([0.0, 1.0, 0.0])), max_iter=200)
    assert np.isfinite(float(fit.alpha)) and np.isfinite(float(fit.beta))
    assert not bool(fit.converged)


def test_value_checks_are_skipped_under_vmap(stats):
    # Tracers have no value: vmapping a public function works and checks shapes only.
    out = jax.vmap(ev.log_evidence, (None, 0, None))(stats, jnp.array([0.5, 1.0]), 1.0)
    assert out.shape == (2,) and np.all(np.isfinite(out))
