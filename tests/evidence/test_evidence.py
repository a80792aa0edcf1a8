"""The log evidence and its maximisation, against closed forms and scikit-learn (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.linear_model import BayesianRidge

from jaxsbi import evidence as ev

from .conftest import sinusoid_data

pytestmark = pytest.mark.usefixtures("x64")


def _mvn_log_evidence(phi, t, alpha, beta):
    n = phi.shape[0]
    cov = np.eye(n) / beta + phi @ phi.T / alpha
    return multivariate_normal(np.zeros(n), cov).logpdf(t)


def test_log_evidence_equals_marginal_gaussian(poly_problem):
    phi, t = poly_problem
    stats = ev.sufficient_stats(phi, t)
    for alpha, beta in [(5e-3, 11.1), (1.0, 1.0), (30.0, 200.0)]:
        expected = _mvn_log_evidence(np.asarray(phi), np.asarray(t), alpha, beta)
        np.testing.assert_allclose(ev.log_evidence(stats, alpha, beta), expected, rtol=1e-9)


@pytest.mark.parametrize("num_features", [1, 2])
def test_log_evidence_equals_numerical_integration(num_features):
    x, t = sinusoid_data(6, 7)
    phi = np.asarray(ev.design_matrix(ev.polynomial_basis(num_features - 1), jnp.asarray(x)))
    alpha, beta = 0.5, 8.0
    post = ev.posterior(ev.sufficient_stats(phi, t), alpha, beta)
    sd = np.sqrt(np.diag(post.cov))
    axes = [np.linspace(m - 12 * s, m + 12 * s, 801) for m, s in zip(post.mean, sd, strict=True)]
    w = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, num_features)
    log_lik = 0.5 * len(t) * np.log(beta / (2 * np.pi)) - 0.5 * beta * np.sum(
        (t[None, :] - w @ phi.T) ** 2, axis=1
    )
    log_prior = 0.5 * num_features * np.log(alpha / (2 * np.pi)) - 0.5 * alpha * np.sum(w**2, 1)
    log_cell = np.sum([np.log(a[1] - a[0]) for a in axes])  # Riemann sum; tails are negligible
    integral = logsumexp(log_lik + log_prior) + log_cell
    np.testing.assert_allclose(
        ev.log_evidence(ev.sufficient_stats(phi, t), alpha, beta), integral, rtol=1e-8
    )


def test_gaussian_prior_evidence_and_sequential_chain_rule():
    x, t = sinusoid_data(7, 12)
    phi = np.asarray(ev.design_matrix(ev.polynomial_basis(2), jnp.asarray(x)))
    m0, s0, beta = np.array([0.1, 0.2, -0.3]), np.diag([2.0, 1.0, 0.5]), 9.0
    expected = multivariate_normal(phi @ m0, np.eye(12) / beta + phi @ s0 @ phi.T).logpdf(t)
    got = ev.log_evidence_gaussian_prior(ev.sufficient_stats(phi, t), m0, s0, beta)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # ln p(t) = Σ_chunks ln p(t_chunk | earlier chunks): the online evidence.
    belief, total = ev.Posterior(jnp.asarray(m0), jnp.asarray(s0)), 0.0
    for lo in range(0, 12, 4):
        chunk = ev.sufficient_stats(phi[lo : lo + 4], t[lo : lo + 4])
        total += ev.log_evidence_gaussian_prior(chunk, belief.mean, belief.cov, beta)
        belief = ev.posterior_gaussian_prior(chunk, belief.mean, belief.cov, beta)
    np.testing.assert_allclose(total, expected, rtol=1e-10)


def test_fixed_point_is_a_stationary_point_of_the_evidence(poly_problem):
    stats = ev.sufficient_stats(*poly_problem)
    fit = ev.maximise_evidence(stats)
    assert fit.converged
    grad = jax.grad(lambda la, lb: ev.log_evidence(stats, jnp.exp(la), jnp.exp(lb)), (0, 1))(
        jnp.log(fit.alpha), jnp.log(fit.beta)
    )
    assert max(abs(float(g)) for g in grad) < 1e-7
    # The fixed-point conditions themselves, and γ from the eigenvalues.
    mean = fit.posterior.mean
    np.testing.assert_allclose(fit.alpha * mean @ mean, fit.gamma, rtol=1e-8)
    resid = poly_problem[1] - poly_problem[0] @ mean
    np.testing.assert_allclose(fit.beta * resid @ resid, 25 - fit.gamma, rtol=1e-8)
    np.testing.assert_allclose(fit.gamma, ev.effective_num_params(stats, fit.alpha, fit.beta))
    np.testing.assert_allclose(fit.log_evidence, ev.log_evidence(stats, fit.alpha, fit.beta))


def test_fixed_point_matches_sklearn_bayesian_ridge(poly_problem):
    phi, t = (np.asarray(a) for a in poly_problem)
    fit = ev.maximise_evidence(ev.sufficient_stats(phi, t), 1.0, 1.0 / np.var(t), tol=1e-13)
    # Bishop's model exactly: hyperpriors off, no intercept (the bias is a column of Φ).
    ref = BayesianRidge(
        alpha_1=0.0,
        alpha_2=0.0,
        lambda_1=0.0,
        lambda_2=0.0,
        fit_intercept=False,
        tol=1e-12,
        max_iter=10_000,
        compute_score=True,
    ).fit(phi, t)
    rel = {
        "alpha": abs(fit.alpha / ref.lambda_ - 1),  # sklearn lambda_ = Bishop alpha
        "beta": abs(fit.beta / ref.alpha_ - 1),  # sklearn alpha_ = Bishop beta
        "weights": np.max(np.abs(fit.posterior.mean - ref.coef_) / np.abs(ref.coef_)),
        "log_evidence": abs(fit.log_evidence / ref.scores_[-1] - 1),
        "cov": np.max(np.abs(fit.posterior.cov - ref.sigma_)) / np.max(np.abs(ref.sigma_)),
    }
    print("max relative differences vs BayesianRidge:", {k: f"{v:.1e}" for k, v in rel.items()})
    assert all(v < 1e-6 for v in rel.values()), rel


def test_optax_gradient_ascent_reaches_the_fixed_point(poly_problem):
    stats = ev.sufficient_stats(*poly_problem)
    fixed = ev.maximise_evidence(stats)
    lbfgs = ev.maximise_evidence_optax(stats)
    assert lbfgs.converged
    for name in ("alpha", "beta", "log_evidence", "gamma"):
        np.testing.assert_allclose(getattr(lbfgs, name), getattr(fixed, name), rtol=1e-6)
    adam = ev.maximise_evidence_optax(stats, optimizer=optax.adam(0.05), num_steps=1500)
    np.testing.assert_allclose(adam.log_evidence, fixed.log_evidence, rtol=1e-6)
    np.testing.assert_allclose(adam.alpha, fixed.alpha, rtol=1e-2)


def test_known_noise_fixed_point_and_alpha_only():
    x, t = sinusoid_data(8, 25)
    phi = ev.design_matrix(ev.gaussian_basis(jnp.linspace(0, 1, 9), 0.1), jnp.asarray(x))
    stats = ev.sufficient_stats(phi, t)
    fit = ev.maximise_evidence(stats, 1.0, 11.1, update_beta=False)
    assert fit.converged and float(fit.beta) == pytest.approx(11.1)
    grad_alpha = jax.grad(lambda la: ev.log_evidence(stats, jnp.exp(la), 11.1))(jnp.log(fit.alpha))
    assert abs(float(grad_alpha)) < 1e-7
    opt = ev.maximise_evidence_optax(stats, 1.0, 11.1, update_beta=False)
    np.testing.assert_allclose(opt.alpha, fit.alpha, rtol=1e-6)
    assert float(opt.beta) == pytest.approx(11.1)


def test_batched_data_sets_and_models_match_loops(poly_problem):
    phi, t = poly_problem
    rng = np.random.default_rng(0)
    ts = jnp.asarray(np.asarray(t)[None, :] + 0.1 * rng.normal(size=(4, 25)))
    stats = jax.vmap(ev.sufficient_stats, (None, 0))(phi, ts)
    batched = ev.log_evidence_batch(stats, 5e-3, jnp.array([5.0, 8.0, 11.1, 20.0]))
    for i, beta in enumerate([5.0, 8.0, 11.1, 20.0]):
        one = ev.log_evidence(ev.sufficient_stats(phi, ts[i]), 5e-3, beta)
        np.testing.assert_allclose(batched[i], one, rtol=1e-10)
    # Masked (nested) models equal the smaller models fitted on their own.
    full = ev.sufficient_stats(phi, t)
    masks = ev.nested_masks(10)
    fits = ev.maximise_evidence_models(full, masks, batch_size=4)
    fixed = ev.log_evidence_models(full, masks, 5e-3, 11.1)
    for degree in (1, 3, 6):
        small = ev.sufficient_stats(phi[:, : degree + 1], t)
        np.testing.assert_allclose(fixed[degree], ev.log_evidence(small, 5e-3, 11.1), rtol=1e-9)
        alone = ev.maximise_evidence(small)
        np.testing.assert_allclose(fits.log_evidence[degree], alone.log_evidence, rtol=1e-8)
        np.testing.assert_allclose(fits.alpha[degree], alone.alpha, rtol=1e-6)
        np.testing.assert_allclose(fits.posterior.mean[degree, : degree + 1], alone.posterior.mean)


def test_second_call_compiles_nothing(poly_problem):
    from jaxsbi.evidence import evidence as evidence_mod
    from jaxsbi.evidence import maximise as maximise_mod

    stats = ev.sufficient_stats(*poly_problem)
    ev.log_evidence(stats, 1.0, 2.0)
    ev.maximise_evidence(stats)
    before = (evidence_mod._log_evidence._cache_size(), maximise_mod._fixed_point._cache_size())
    ev.log_evidence(stats, 3.0, 4.0)
    ev.maximise_evidence(stats, 2.0, 3.0)
    after = (evidence_mod._log_evidence._cache_size(), maximise_mod._fixed_point._cache_size())
    assert after == before


def test_checks_work_on_arrays_closed_over_by_jit():
    # Regression: the finiteness check converted a staged reduction to bool under jit when the
    # statistics were concrete constants closed over by the traced function.
    import jax

    from jaxsbi.evidence import log_evidence_gaussian_prior, sufficient_stats

    rng = np.random.default_rng(0)
    phi = rng.normal(size=(30, 3))
    t = phi @ np.array([0.5, -1.0, 2.0]) + 0.1 * rng.normal(size=30)
    stats = sufficient_stats(jnp.asarray(phi), jnp.asarray(t))

    def f(log_alpha):
        cov = jnp.eye(3) * jnp.exp(-log_alpha)
        return log_evidence_gaussian_prior(stats, jnp.zeros(3), cov, 25.0)

    np.testing.assert_allclose(jax.jit(f)(0.3), f(0.3), rtol=1e-5)
    bad = stats._replace(gram=stats.gram.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="non-finite"):
        jax.jit(lambda a: log_evidence_gaussian_prior(bad, jnp.zeros(3), jnp.eye(3) * a, 25.0))(
            1.0
        )
