"""Model families: masking, priors, and the exact enumeration against brute force."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxsbi.prism.families import (
    Structure,
    all_structures,
    check_lambda,
    exact_model_posterior,
    exact_theta_posterior,
    linear_gaussian_family,
    structure_index,
    symbolic_family,
)


@pytest.mark.parametrize(
    "make",
    [
        lambda: symbolic_family(5, n_points=16),
        lambda: linear_gaussian_family(5),
        pytest.param(lambda: symbolic_family(15), marks=pytest.mark.slow),
        pytest.param(lambda: symbolic_family(30), marks=pytest.mark.slow),
    ],
)
def test_inactive_theta_never_changes_the_simulator_output(make):
    family = make()
    k = family.num_components

    @jax.jit
    def check(ki):
        structure, theta, _ = family.sample_joint(ki, 0.4)
        inactive = ~family.param_mask(structure)
        # Wild values (huge, negative, out of their prior support) in every inactive entry.
        junk = 1e6 * jax.random.normal(jax.random.fold_in(ki, 1), theta.shape)
        theta2 = jnp.where(inactive, junk, theta)
        ky = jax.random.fold_in(ki, 2)
        y1 = family.simulate(ky, structure, theta)
        y2 = family.simulate(ky, structure, theta2)
        return structure, y1, y2, family.signal(structure, theta), family.signal(structure, theta2)

    structure, y1, y2, f1, f2 = jax.vmap(check)(jax.random.split(jax.random.key(0), 50))
    np.testing.assert_array_equal(np.asarray(y1), np.asarray(y2))
    np.testing.assert_array_equal(np.asarray(f1), np.asarray(f2))
    assert np.all(np.isfinite(np.asarray(y1)))
    assert int(structure.active.sum(axis=1).min()) >= 1 and structure.active.shape == (50, k)


def test_structure_prior_is_exact():
    family = symbolic_family(5, n_points=8, noise_models=("gaussian", "ar1"))
    lam = 0.3
    s = all_structures(5, 2)
    total = jnp.sum(jnp.exp(jax.vmap(family.structure_log_prior, (0, None))(s, lam)))
    np.testing.assert_allclose(float(total), 1.0, atol=1e-5)
    n = 20_000
    draws = jax.jit(jax.vmap(family.sample_structure, (0, None)))(
        jax.random.split(jax.random.key(1), n), lam
    )
    assert int(jnp.min(jnp.sum(draws.active, axis=1))) >= 1
    # Marginal inclusion probability given at least one active term: λ / (1 − (1 − λ)^K).
    p = lam / (1 - (1 - lam) ** 5)
    freq = np.asarray(draws.active.mean(axis=0))
    np.testing.assert_allclose(freq, p, atol=4 * np.sqrt(p * (1 - p) / n))
    # Frequencies of all 62 structures against the prior (chi-square).
    idx = np.asarray(structure_index(draws, 2))
    counts = np.bincount(idx, minlength=62)
    log_prior = jax.vmap(family.structure_log_prior, (0, None))(s, lam)
    expected = np.exp(np.asarray(log_prior, dtype=float))
    expected = n * expected / expected.sum()
    assert stats.chisquare(counts, expected).pvalue > 1e-3


def test_exact_model_posterior_matches_brute_force():
    family = linear_gaussian_family(4, n_points=20, noise_scale=0.2)
    lg = family.linear_gaussian
    s, theta, y = family.sample_joint(jax.random.key(3), 0.5)
    lam = 0.35
    post = np.asarray(exact_model_posterior(family, y, lam))
    structures = np.asarray(all_structures(4).active)
    logp = []
    for m in structures:
        phi = lg.design[:, m > 0]
        cov = lg.amplitude_scale**2 * phi @ phi.T + lg.noise_scale**2 * np.eye(20)
        k = m.sum()
        prior = lam**k * (1 - lam) ** (4 - k) / (1 - (1 - lam) ** 4)
        logp.append(
            stats.multivariate_normal(np.zeros(20), cov).logpdf(np.asarray(y, np.float64))
            + np.log(prior)
        )
    logp = np.array(logp)
    ref = np.exp(logp - logp.max())
    ref /= ref.sum()
    np.testing.assert_allclose(post, ref, atol=2e-4)
    np.testing.assert_allclose(post.sum(), 1.0, atol=1e-5)


def test_exact_theta_posterior_matches_closed_form():
    family = linear_gaussian_family(5, n_points=25, noise_scale=0.3)
    lg = family.linear_gaussian
    s, theta, y = family.sample_joint(jax.random.key(4), 0.6)
    mean, cov = exact_theta_posterior(family, y, s.active)
    on = np.asarray(s.active) > 0
    phi = lg.design[:, on]
    prec = phi.T @ phi / lg.noise_scale**2 + np.eye(on.sum()) / lg.amplitude_scale**2
    ref_cov = np.linalg.inv(prec)
    ref_mean = ref_cov @ phi.T @ np.asarray(y, np.float64) / lg.noise_scale**2
    np.testing.assert_allclose(np.asarray(mean)[on], ref_mean, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(np.asarray(cov)[np.ix_(on, on)], ref_cov, rtol=1e-3, atol=1e-5)


def test_exact_expected_size_increases_with_lambda():
    # For any x, E[|M| | x, λ] is increasing in λ (an exponential tilt in logit λ): ground truth
    # for the network's λ-monotonicity check.
    family = linear_gaussian_family(5)
    sizes = np.asarray(all_structures(5).active.sum(axis=1))
    for i in range(3):
        _, _, y = family.sample_joint(jax.random.key(10 + i), 0.5)
        e = [float(exact_model_posterior(family, y, lam) @ sizes) for lam in np.linspace(0, 1, 11)]
        assert np.all(np.diff(e) > 0)


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan"), [0.5, 2.0]])
def test_lambda_outside_training_range_is_refused(bad):
    with pytest.raises(ValueError, match="λ"):
        check_lambda(bad)
    family = linear_gaussian_family(3)
    with pytest.raises(ValueError, match="λ"):
        exact_model_posterior(family, jnp.zeros(32), bad)


def test_family_sizes_and_bad_arguments():
    assert symbolic_family(15).num_models == (2**15 - 1) * 5
    assert symbolic_family(30).num_models == (2**30 - 1) * 5
    with pytest.raises(ValueError, match="num_components"):
        symbolic_family(31)
    with pytest.raises(ValueError, match="noise_models"):
        symbolic_family(5, noise_models=("gaussian", "cauchy"))
    with pytest.raises(ValueError, match="num_components"):
        linear_gaussian_family(9)
    with pytest.raises(ValueError, match="noise_scale"):
        linear_gaussian_family(3, noise_scale=0.0)
    with pytest.raises(ValueError, match="shape"):
        exact_model_posterior(linear_gaussian_family(3), jnp.zeros(7), 0.5)
    s = all_structures(3, 2)
    np.testing.assert_array_equal(np.asarray(structure_index(s, 2)), np.arange(14))
    assert isinstance(s, Structure)
