"""Stochastic Lotka–Volterra jump process: birth/death laws, conservation, summaries, the cap."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi.tasks.physics import (
    LV_TRUE_LOG_RATES,
    lotka_volterra_mjp,
    lotka_volterra_run,
    lotka_volterra_summaries,
)

NEG_INF = -math.inf


N = 1000


@functools.cache
def _runner(max_events=10_000):
    return jax.jit(
        jax.vmap(lambda k, r: lotka_volterra_run(k, r, max_events=max_events), in_axes=(0, None))
    )


def _runs(log_rates, seed, max_events=10_000):
    # One compiled runner for every test (same batch size N): compiling dominates the cost.
    keys = jax.random.split(jax.random.key(seed), N)
    return _runner(max_events)(keys, jnp.asarray(log_rates, jnp.float32))


@functools.cache
def _truth_runs():
    return _runs(list(LV_TRUE_LOG_RATES), 1)


def test_pure_birth_and_pure_death_laws():
    # Predation and predator birth switched off: prey is a Yule process,
    # E[Y_t] = Y0 e^{λt}, Var[Y_t] = Y0 e^{2λt}(1 − e^{−λt}); predators die independently,
    # X_t ~ Binomial(X0, e^{−μt}) exactly.
    lam, mu = 0.05, 0.04
    n = N
    run = _runs([NEG_INF, math.log(mu), math.log(lam), NEG_INF], 0)
    assert not bool(jnp.any(run.exceeded))
    states = np.asarray(run.states, np.float64)  # (n, 151, 2)
    for idx in (25, 75, 150):  # t = 5, 15, 30
        t = 0.2 * idx
        y = states[:, idx, 1]
        mean_y = 100 * math.exp(lam * t)
        var_y = 100 * math.exp(2 * lam * t) * (1 - math.exp(-lam * t))
        assert abs(y.mean() - mean_y) < 4.5 * math.sqrt(var_y / n), (t, y.mean(), mean_y)
        assert y.var() == pytest.approx(var_y, rel=0.15)
        x = states[:, idx, 0]
        p = math.exp(-mu * t)
        assert abs(x.mean() - 50 * p) < 4.5 * math.sqrt(50 * p * (1 - p) / n)
        assert x.var() == pytest.approx(50 * p * (1 - p), rel=0.15)
    assert np.all(np.diff(states[:, :, 1], axis=1) >= 0)  # births only
    assert np.all(np.diff(states[:, :, 0], axis=1) <= 0)  # deaths only


def test_event_counts_conserve_populations():
    run = _truth_runs()
    ok = ~np.asarray(run.exceeded)
    assert ok.sum() > 0.9 * N
    counts = np.asarray(run.reaction_counts)[ok]
    final = np.asarray(run.states)[ok, -1]
    np.testing.assert_array_equal(final[:, 0], 50 + counts[:, 0] - counts[:, 1])
    np.testing.assert_array_equal(final[:, 1], 100 + counts[:, 2] - counts[:, 3])
    assert np.all(np.asarray(run.states)[ok] >= 0)
    assert np.all(counts.sum(1) <= 10_000)  # the default cap


def test_cap_marks_runs_nan_not_truncated():
    # Predators die fast (rate e²) and prey then multiply at rate e²: Y ~ 100 e^{7.4 t} passes
    # the 10,000-event cap before t = 1. The task's output is all NaN, never a truncated
    # trajectory's summaries; a slow θ (all rates e⁻⁵) gives finite summaries.
    task = lotka_volterra_mjp()
    keys = jax.random.split(jax.random.key(2), 2)
    theta = jnp.asarray([[-5.0, 2.0, 2.0, -5.0], [-5.0, -5.0, -5.0, -5.0]])
    x = np.asarray(jax.jit(jax.vmap(task.simulate))(keys, theta))
    assert x.shape == (2, 9) and np.all(np.isnan(x[0])) and np.all(np.isfinite(x[1]))
    # Runs past the default cap are NaN too, and every NaN run is one that exceeded it.
    run = _truth_runs()
    exceeded = np.asarray(run.exceeded)
    np.testing.assert_array_equal(np.isnan(np.asarray(run.states)).any(axis=(1, 2)), exceeded)
    # A run that dies out (no more events) stays finite and ends with no predators.
    dead = _runs([NEG_INF, 0.0, NEG_INF, 1.0], 3)
    assert not bool(jnp.any(dead.exceeded))
    assert np.all(np.asarray(dead.states)[:, -1, 0] == 0)


def _snl_summaries(xy):
    # SNL's calc_summary_stats, written out in numpy.
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    n = xy.shape[0]
    mx, my = x.mean(), y.mean()
    s2x, s2y = x.var(ddof=1), y.var(ddof=1)
    x, y = (x - mx) / np.sqrt(s2x), (y - my) / np.sqrt(s2y)
    acx = [np.dot(x[:-lag], x[lag:]) / (n - 1) for lag in (1, 2)]
    acy = [np.dot(y[:-lag], y[lag:]) / (n - 1) for lag in (1, 2)]
    return np.array([mx, my, np.log(s2x + 1), np.log(s2y + 1), *acx, *acy, np.dot(x, y) / (n - 1)])


def test_summaries_match_snl_formula():
    run = _truth_runs()
    for states in np.asarray(run.states)[:5]:
        if np.isnan(states).any():
            continue
        np.testing.assert_allclose(
            lotka_volterra_summaries(jnp.asarray(states)),
            _snl_summaries(states),
            rtol=2e-4,
            atol=2e-5,
        )
    const = jnp.stack([jnp.full(151, 7.0), jnp.arange(151.0)], axis=1)
    s = np.asarray(lotka_volterra_summaries(const))
    assert s[0] == 7.0 and s[2] == 0.0 and s[4] == 0.0 and s[8] == 0.0  # no NaN


def test_task_record_and_determinism():
    task = lotka_volterra_mjp()
    assert task is lotka_volterra_mjp() and task.theta_dim == 4 and task.x_shape == (9,)
    a, b = _runs(list(LV_TRUE_LOG_RATES), 1), _truth_runs()
    np.testing.assert_array_equal(np.asarray(a.states), np.asarray(b.states))
    with pytest.raises(ValueError, match="max_events"):
        lotka_volterra_mjp(max_events=0)


def _numpy_gillespie(rng, rates, max_events=10_000, dt=0.2):
    """Independent direct-method Gillespie; None if it needs more than max_events events."""
    x, y = 50, 100
    grid = np.arange(151) * dt
    out = np.empty((151, 2))
    t, k, n = 0.0, 0, 0
    while True:
        props = rates * np.array([x * y, x, y, x * y])
        total = props.sum()
        t_next = t + (rng.exponential(1 / total) if total > 0 else np.inf)
        while k < 151 and grid[k] < t_next:
            out[k] = (x, y)
            k += 1
        if k == 151:
            return out
        n += 1
        if n > max_events:
            return None
        r = np.searchsorted(np.cumsum(props), rng.random() * total, side="right")
        x, y = x + (1, -1, 0, 0)[r], y + (0, 0, 1, -1)[r]
        t = t_next


@pytest.mark.slow
def test_summary_means_match_numpy_gillespie():
    # Both sides condition on the same event (the run needs at most 10,000 events).
    rates = np.exp(np.asarray(LV_TRUE_LOG_RATES))
    rng = np.random.default_rng(0)
    runs = [_numpy_gillespie(rng, rates) for _ in range(300)]
    ref = np.stack([_snl_summaries(r) for r in runs if r is not None])
    states = np.asarray(_truth_runs().states)
    ours = np.stack([_snl_summaries(s) for s in states if not np.isnan(s).any()])
    se = np.sqrt(ref.var(0) / len(ref) + ours.var(0) / len(ours))
    assert np.all(np.abs(ours.mean(0) - ref.mean(0)) < 4.5 * se), (ours.mean(0), ref.mean(0))
