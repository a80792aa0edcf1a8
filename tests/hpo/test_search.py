"""Search methods find the known optimum of a 1-D evidence curve; one interface; determinism."""

import jax
import numpy as np
import pytest

from jaxsbi import hpo
from jaxsbi.experiments.hpo import polynomial_problem, polynomial_splits

pytestmark = pytest.mark.usefixtures("x64")

LO, HI, GRID = -10.0, 6.0, 33  # grid resolution 0.5 in ln α


def _log_evidence_np(phi, t, beta, log_alpha):
    """Bishop eq. 3.86 in NumPy for a vector of ln α (eigenvalues of βΦᵀΦ), shape (K,)."""
    n, m = phi.shape
    lam, vec = np.linalg.eigh(beta * phi.T @ phi)
    alpha = np.exp(log_alpha)[:, None]  # (K, 1)
    mean = beta * ((vec.T @ (phi.T @ t))[None, :] / (alpha + lam[None, :])) @ vec.T  # (K, M)
    energy = 0.5 * beta * np.sum((t[None, :] - mean @ phi.T) ** 2, axis=1)
    energy += 0.5 * alpha[:, 0] * np.sum(mean**2, axis=1)
    log_det = np.sum(np.log(alpha + lam[None, :]), axis=1)
    return (
        0.5 * m * log_alpha
        + 0.5 * n * np.log(beta)
        - energy
        - 0.5 * log_det
        - 0.5 * n * np.log(2 * np.pi)
    )


@pytest.fixture(scope="module")
def evidence_1d(x64):
    data = polynomial_splits(jax.random.key(0), 30, 30, 200, 0.3, 9)
    beta = 1.0 / 0.3**2
    prob = polynomial_problem(
        jax.random.key(1), data, "evidence", beta, "single", LO, HI, inner_steps=20
    )
    # Ground truth by exact enumeration: the closed-form evidence on a grid 500× finer.
    fine = np.linspace(LO, HI, 16001)
    curve = _log_evidence_np(np.asarray(data.train.x), np.asarray(data.train.y), beta, fine)
    h_star = float(fine[np.argmax(curve)])
    assert LO + 1 < h_star < HI - 1  # an interior optimum
    return prob, h_star


@pytest.mark.parametrize(
    "method,budget",
    [("grid", GRID), ("random", GRID), pytest.param("gpbo", 15, marks=pytest.mark.slow)],
)
def test_black_box_finds_1d_optimum(evidence_1d, method, budget):
    prob, h_star = evidence_1d
    hist = hpo.optimise(jax.random.key(3), prob, method, budget)
    assert hist.h.shape == (budget, 1) and hist.q.shape == (budget,)
    assert abs(hist.h[hist.best, 0] - h_star) <= (HI - LO) / (GRID - 1)
    assert np.all(np.diff(hist.num_fits) == 1.0)


@pytest.mark.parametrize("method", ["rmad", pytest.param("hoag", marks=pytest.mark.slow)])
def test_gradient_methods_find_1d_optimum(evidence_1d, method):
    prob, h_star = evidence_1d
    hist = hpo.optimise(
        jax.random.key(3), prob, method, 40, hpo.SearchConfig(outer_lr=0.5, hoag_step_scale=0.1)
    )
    assert abs(hist.h[hist.best, 0] - h_star) <= 0.05
