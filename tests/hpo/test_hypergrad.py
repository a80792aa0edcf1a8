"""Every hypergradient against the analytic hypergradient of ridge regression."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tests.hpo.conftest import analytic_ridge_hypergradient, cosine, ridge_data, ridge_problem

from jaxsbi import hpo
from jaxsbi.hpo.problem import inner_step

pytestmark = pytest.mark.usefixtures("x64")


@pytest.fixture(scope="module")
def ridge(x64):
    x, y, xv, yv = ridge_data(0)
    h = jnp.asarray(np.random.default_rng(1).normal(size=5))
    ana, w_star = analytic_ridge_hypergradient(x, y, xv, yv, h)
    return ridge_problem(x, y, xv, yv), h, ana, w_star


def test_rmad_matches_analytic(ridge):
    prob, h, ana, w_star = ridge
    q, g, theta = jax.jit(lambda hh: hpo.rmad_hypergradient(prob, hh))(h)
    np.testing.assert_allclose(theta, w_star, atol=1e-10)  # 300 GD steps converged
    assert cosine(g, ana) >= 0.999
    np.testing.assert_allclose(g, ana, rtol=1e-6, atol=1e-12)


def test_hoag_ift_matches_analytic(ridge):
    prob, h, ana, _ = ridge

    @jax.jit
    def hoag_grad(hh):
        theta, _ = hpo.inner_solve(prob, prob.theta_init, hh, 1e-11, 2000)
        return hpo.ift_hypergradient(prob, theta, hh, tol=1e-12)

    res = hoag_grad(h)
    assert cosine(res.grad, ana) >= 0.999
    np.testing.assert_allclose(res.grad, ana, rtol=1e-6, atol=1e-12)
    assert float(res.residual) < 1e-8


def test_drmad_within_stated_tolerance(ridge):
    # DrMAD replaces the trajectory by a straight line: stated tolerance cosine >= 0.99 on a
    # well-conditioned quadratic (measured 0.99999998).
    prob, h, ana, _ = ridge
    _, g, _ = jax.jit(lambda hh: hpo.drmad_hypergradient(prob, hh))(h)
    assert cosine(g, ana) >= 0.99


def test_greedy_within_stated_tolerance(x64):
    # Greedy = IFT with H ≈ I/η: exact in direction when XᵀX ∝ I; near-orthogonal design,
    # stated tolerance cosine >= 0.99 (measured > 0.999).
    x, y, xv, yv = ridge_data(2, orthogonal=True)
    prob = ridge_problem(x, y, xv, yv)
    h = jnp.asarray(np.random.default_rng(3).normal(size=5))
    ana, w_star = analytic_ridge_hypergradient(x, y, xv, yv, h)
    greedy = jax.jit(lambda w, hh: hpo.greedy_hypergradient(prob, w, jnp.zeros(5), hh))
    _, g, _, _ = greedy(jnp.asarray(w_star), h)
    assert cosine(g, ana) >= 0.99


def test_checkpointed_train_equals_plain_loop(x64):
    x, y, xv, yv = ridge_data(4)
    prob = ridge_problem(x, y, xv, yv, inner_steps=37, inner_lr=0.3, momentum=0.5)
    h = jnp.zeros(5)
    theta, _ = hpo.run_inner(prob, h)
    th, v = prob.theta_init, jnp.zeros(5)
    grad = jax.jit(jax.grad(prob.inner_loss))
    for _ in range(37):
        v = 0.5 * v - 0.3 * grad(th, h)
        th = th + v
    np.testing.assert_allclose(theta, th, rtol=1e-12, atol=1e-14)


def test_reverse_pass_on_exact_trajectory_equals_rmad(x64):
    # DrMAD's reverse recursion, fed the stored trajectory instead of the straight line, must
    # be RMAD exactly — with heavy-ball momentum, where the trajectory is far from straight.
    x, y, xv, yv = ridge_data(5)
    prob = ridge_problem(x, y, xv, yv, inner_steps=60, inner_lr=0.1, momentum=0.9)
    h = jnp.asarray(np.random.default_rng(6).normal(size=5))

    @jax.jit
    def via_trajectory(hh):
        def body(carry, _):
            theta, vel = inner_step(prob, *carry, hh)
            return (theta, vel), carry[0]

        (theta_t, _), states = jax.lax.scan(body, (prob.theta_init, jnp.zeros(5)), None, length=60)
        return hpo.reverse_pass(prob, hh, lambda t: states[t], 60, theta_t)

    q, g = via_trajectory(h)
    q_r, g_r, _ = jax.jit(lambda hh: hpo.rmad_hypergradient(prob, hh))(h)
    np.testing.assert_allclose(g, g_r, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(q, q_r, rtol=1e-12)
    # The straight line is a poor stand-in for this oscillating path: DrMAD is off.
    _, g_d, _ = jax.jit(lambda hh: hpo.drmad_hypergradient(prob, hh))(h)
    assert np.max(np.abs(g_d - g_r)) > 1e-3 * np.max(np.abs(g_r))


def test_warm_started_hypergradients_at_the_optimum(ridge):
    # Started at θ*(h), training stays there: DrMAD's straight line is then exact, and both
    # truncated hypergradients over T steps equal the IFT (analytic) one as T grows.
    prob, h, ana, w_star = ridge
    for fn in (hpo.rmad_hypergradient, hpo.drmad_hypergradient):
        _, g, theta = jax.jit(lambda hh, fn=fn: fn(prob, hh, jnp.asarray(w_star), 200))(h)
        np.testing.assert_allclose(theta, w_star, atol=1e-10)
        np.testing.assert_allclose(g, ana, rtol=1e-6, atol=1e-12)
