"""The training progress bar on a stream that is not a terminal (logs, CI): a line per 10 s."""

import importlib
import sys

import jax
import pytest
import tqdm.std

from jaxsbi.ratio import aalr
from jaxsbi.train import TrainConfig, array_source, fit, split

fit_module = importlib.import_module("jaxsbi.train.fit")


class _Stream:
    """A stderr stand-in: records what is written; a terminal or not."""

    def __init__(self, tty: bool):
        self.tty = tty
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return self.tty


def _run(monkeypatch, stream, clock, max_epochs=20):
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(tqdm.std, "time", clock)
    theta = jax.random.uniform(jax.random.key(0), (256, 2), minval=-1, maxval=1)
    x = theta + 0.1 * jax.random.normal(jax.random.key(1), (256, 2))
    train, val = split(jax.random.key(2), (theta, x), 0.25)
    est = aalr(2, (2,), hidden=(8,))
    params = est.init(jax.random.key(3), *train)
    config = TrainConfig(max_epochs=max_epochs, epochs_per_call=1, batch_size=64, patience=1000)
    _, history = fit(
        jax.random.key(4),
        est.loss,
        params,
        array_source(train, val, config.batch_size),
        config,
        description="progress-test",
    )
    assert history.epochs_run == max_epochs
    return stream.text.count("progress-test")


def test_non_tty_bar_draws_only_the_first_and_the_last_line_within_10_s(monkeypatch):
    stream = _Stream(tty=False)
    # A frozen clock: no 10 s ever pass, so 20 updates draw nothing between the first draw and
    # the final one (before the throttle: a line per update, 22 in all).
    draws = _run(monkeypatch, stream, lambda: 1000.0)
    assert draws == 2, stream.text
    assert "20/20" in stream.text.splitlines()[-1]


def test_non_tty_bar_draws_at_most_one_line_per_10_s(monkeypatch):
    stream = _Stream(tty=False)
    now = [0.0]

    def clock():  # every reading of the clock is 1 s later
        now[0] += 1.0
        return now[0]

    draws = _run(monkeypatch, stream, clock)
    assert 2 <= draws <= 2 + now[0] / fit_module.NON_TTY_REFRESH_S, (draws, now[0])


@pytest.mark.parametrize("tty, interval", [(True, 0.1), (False, fit_module.NON_TTY_REFRESH_S)])
def test_refresh_interval_follows_the_stream(monkeypatch, tty, interval):
    monkeypatch.setattr(sys, "stderr", _Stream(tty=tty))
    bar = fit_module._progress_bar(10, "x", 0)
    try:
        assert bar.mininterval == interval
    finally:
        bar.close()
