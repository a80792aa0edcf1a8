"""The training loop: determinism, resume after a kill, NaN handling, compilation."""

import importlib
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi.distributions import uniform
from jaxsbi.ratio import aalr
from jaxsbi.tasks import Task
from jaxsbi.train import TrainConfig, array_source, fit, simulate, split

# The module (the package re-exports a function of the same name).
fit_module = importlib.import_module("jaxsbi.train.fit")


def _data(n=2000):
    key = jax.random.key(0)
    theta = jax.random.uniform(key, (n, 2), minval=-1, maxval=1)
    x = theta + 0.1 * jax.random.normal(jax.random.key(1), (n, 2))
    return split(jax.random.key(2), (theta, x), 0.1)


CFG = TrainConfig(max_epochs=12, epochs_per_call=3, batch_size=64, patience=100, checkpoint_every=3)


def _same(a, b):
    return all(
        bool(jnp.array_equal(x, y))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_same_seed_same_params_and_no_recompile(caplog):
    est = aalr(2, (2,), hidden=(32, 32))
    train, val = _data()
    params = est.init(jax.random.key(3), *train)
    traces = []

    def loss(p, k, b):
        traces.append(1)
        return est.loss(p, k, b)

    source = array_source(train, val, CFG.batch_size)
    p1, h1 = fit(jax.random.key(4), loss, params, source, CFG, progress=False)
    n = len(traces)
    # New data of the same shapes: the compiled loop is reused.
    train2 = (train[0] + 0.01, train[1])
    fit(
        jax.random.key(4),
        loss,
        params,
        array_source(train2, val, CFG.batch_size),
        CFG,
        progress=False,
    )
    assert len(traces) == n
    with caplog.at_level(logging.INFO, logger="jaxsbi.train.fit"):
        p2, h2 = fit(jax.random.key(4), loss, params, source, CFG, progress=False)
    assert _same(p1, p2)
    # without the bar, progress reaches the log: the last line names the final epoch and best
    last = caplog.records[-1].getMessage()
    assert f"epoch {h2.epochs_run}/{CFG.max_epochs}" in last, last
    assert f"best {h2.best_val_loss:.4f}" in last, last
    np.testing.assert_array_equal(h1.val_loss, h2.val_loss)
    assert h1.val_loss[-1] < h1.val_loss[0]


def test_killed_run_resumes_to_identical_params(tmp_path, monkeypatch):
    est = aalr(2, (2,), hidden=(32, 32))
    train, val = _data()
    params = est.init(jax.random.key(3), *train)
    source = array_source(train, val, CFG.batch_size)
    full, h_full = fit(jax.random.key(4), est.loss, params, source, CFG, progress=False)

    original = fit_module._save
    calls = []

    def save_then_die(manager, state):
        original(manager, state)
        calls.append(int(state.epoch))
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(fit_module, "_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit(
            jax.random.key(4),
            est.loss,
            params,
            source,
            CFG,
            checkpoint_dir=tmp_path,
            progress=False,
        )
    monkeypatch.setattr(fit_module, "_save", original)
    resumed, h = fit(
        jax.random.key(4), est.loss, params, source, CFG, checkpoint_dir=tmp_path, progress=False
    )
    assert h.resumed_from_epoch == 6
    assert _same(full, resumed)
    np.testing.assert_allclose(h.val_loss, h_full.val_loss)
    # A different config must not silently continue these checkpoints.
    with pytest.raises(ValueError, match="different TrainConfig"):
        fit(
            jax.random.key(4),
            est.loss,
            params,
            source,
            TrainConfig(max_epochs=5),
            checkpoint_dir=tmp_path,
            progress=False,
        )


def test_nonfinite_simulations_are_excluded_and_counted():
    def simulate_fn(key, theta):
        x = theta + 0.1 * jax.random.normal(key, (2,))
        return jnp.where(theta[0] > 0.5, jnp.nan, x)  # 25% of the prior fails

    task = Task("flaky", uniform(-jnp.ones(2), jnp.ones(2)), simulate_fn, (2,))
    with pytest.warns(UserWarning, match="returned NaN/inf and were excluded"):
        data = simulate(jax.random.key(0), task, 4000)
    assert 800 < data.num_invalid < 1200
    assert data.theta.shape[0] == 4000 - data.num_invalid
    assert np.all(np.isfinite(np.asarray(data.x)))
    assert np.all(np.asarray(data.theta)[:, 0] <= 0.5)


def test_bad_training_settings_are_named():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="validation_fraction"):
        split(jax.random.key(0), (jnp.zeros((10, 2)),), 1.5)
    est = aalr(2, (2,))
    with pytest.raises(ValueError, match=r"theta must have shape \(n, 2\)"):
        est.init(jax.random.key(0), jnp.zeros((10, 3)), jnp.zeros((10, 2)))
    with pytest.raises(ValueError, match="x must have shape"):
        est.init(jax.random.key(0), jnp.zeros((10, 2)), jnp.zeros((10, 5)))


def test_time_budget_stops_and_carries_over_a_resume(tmp_path, monkeypatch):
    """Each compiled call costs 10 fake seconds: a 25 s budget stops after the third call
    (9 of 12 epochs); a resumed run counts the seconds already spent and stops at once."""
    est = aalr(2, (2,), hidden=(32, 32))
    train, val = _data()
    params = est.init(jax.random.key(3), *train)
    source = array_source(train, val, CFG.batch_size)
    cfg = TrainConfig(**{**CFG.__dict__, "time_budget_s": 25.0})
    clock = iter(np.arange(0.0, 1000.0, 10.0))
    monkeypatch.setattr(fit_module, "_now", lambda: float(next(clock)))
    _, h = fit(
        jax.random.key(4), est.loss, params, source, cfg, checkpoint_dir=tmp_path, progress=False
    )
    assert (h.epochs_run, h.stop_reason) == (9, "time_budget")
    _, h2 = fit(
        jax.random.key(4), est.loss, params, source, cfg, checkpoint_dir=tmp_path, progress=False
    )
    assert (h2.resumed_from_epoch, h2.epochs_run, h2.stop_reason) == (9, 9, "time_budget")
    with pytest.raises(ValueError, match="time_budget_s"):
        TrainConfig(time_budget_s=-1.0)


def _least_squares(params, key, batch):
    # Regress x on θ: x ≈ θ W + b, whose minimiser is the least-squares fit.
    del key
    theta, x = batch[0], batch[1]
    return jnp.mean((theta @ params["w"] + params["b"][None, :] - x) ** 2)


def test_fit_takes_an_optax_transformation_and_a_frozen_mask():
    import optax

    train, _ = _data()
    # Validation on the training split: the best params are then the training optimum.
    source = array_source(train, train, 64)
    cfg = TrainConfig(max_epochs=30, batch_size=64, patience=100, steps_per_epoch=20)
    p0 = {"w": jnp.zeros((2, 2)), "b": jnp.ones((2,))}
    sgd = optax.sgd(optax.cosine_decay_schedule(0.5, 30 * 20))  # decays: no minibatch jitter
    # Exact least squares on the training split: free intercept, and intercept fixed at 1.
    theta, x = np.asarray(train[0]), np.asarray(train[1])
    design = np.hstack([theta, np.ones((len(theta), 1))])
    exact = np.linalg.lstsq(design, x, rcond=None)[0]
    exact_w_b1 = np.linalg.lstsq(theta, x - 1.0, rcond=None)[0]
    # The given optimiser is the one used: plain SGD reaches least squares, and set_to_zero
    # leaves every parameter as it was.
    p_sgd, _ = fit(
        jax.random.key(0), _least_squares, p0, source, cfg, progress=False, optimizer=sgd
    )
    np.testing.assert_allclose(p_sgd["w"], exact[:2], atol=0.02)
    np.testing.assert_allclose(p_sgd["b"], exact[2], atol=0.02)
    p_zero, _ = fit(
        jax.random.key(0),
        _least_squares,
        p0,
        source,
        cfg,
        progress=False,
        optimizer=optax.set_to_zero(),
    )
    assert _same(p_zero, p0)
    # A frozen mask (a pytree, or a function of the params) keeps its entries fixed while the
    # others train: with b frozen at 1, W goes to the least squares with that intercept.
    for frozen in ({"w": False, "b": True}, lambda p: {"w": False, "b": True}):
        p_b, _ = fit(
            jax.random.key(0),
            _least_squares,
            p0,
            source,
            cfg,
            progress=False,
            optimizer=sgd,
            frozen=frozen,
        )
        assert _same(p_b["b"], p0["b"])
        np.testing.assert_allclose(p_b["w"], exact_w_b1, atol=0.02)
    with pytest.raises(ValueError, match="frozen must be a pytree of booleans"):
        fit(
            jax.random.key(0),
            _least_squares,
            p0,
            source,
            cfg,
            progress=False,
            frozen={"w": False, "c": True},
        )
