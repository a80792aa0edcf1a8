"""Search methods find the known optimum of a 1-D evidence curve; one interface; determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi import evidence as ev
from jaxsbi import hpo
from jaxsbi.hpo.experiment import polynomial_problem, polynomial_splits

pytestmark = pytest.mark.usefixtures("x64")

LO, HI, GRID = -10.0, 6.0, 33  # grid resolution 0.5 in ln α


@pytest.fixture(scope="module")
def evidence_1d(x64):
    data = polynomial_splits(jax.random.key(0), 30, 30, 200, 0.3, 9)
    beta = 1.0 / 0.3**2
    prob = polynomial_problem(
        jax.random.key(1), data, "evidence", beta, "single", LO, HI, inner_steps=20
    )
    # Ground truth: the evidence module's fixed point (β known).
    fit = ev.maximise_evidence(
        ev.sufficient_stats(data.train.x, data.train.y), 1.0, beta, update_beta=False
    )
    return prob, float(jnp.log(fit.alpha))


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
