"""End-to-end training on a small analytic family, scored against exact enumeration (slow)."""

import jax
import numpy as np
import pytest

from jaxsbi.prism import NetworkConfig, prism_estimator
from jaxsbi.prism.evaluate import lambda_sweep, structure_metrics, theta_sbc
from jaxsbi.prism.families import linear_gaussian_family
from jaxsbi.train import TrainConfig, fit, online_source


@pytest.mark.slow
def test_small_family_matches_the_exact_model_posterior():
    family = linear_gaussian_family(3, n_points=24, noise_scale=0.15)
    net = NetworkConfig(
        width=32,
        num_heads=4,
        encoder_layers=1,
        lambda_layers=1,
        structure_layers=1,
        theta_layers=2,
        time_samples=4,
    )
    est = prism_estimator(family, net)
    params = est.init(jax.random.key(0))
    validation = est.simulate_batch(jax.random.key(1), 256)
    train = TrainConfig(
        learning_rate=2e-3,
        batch_size=128,
        max_epochs=24,
        steps_per_epoch=100,
        patience=1000,
        epochs_per_call=4,
        validation_repeats=2,
    )
    source = online_source(est.simulate_batch, validation, 128, 100)
    params, history = fit(jax.random.key(2), est.loss, params, source, train, progress=False)
    assert history.val_loss[-1] < history.val_loss[0]

    m = structure_metrics(est, params, jax.random.key(3), (0.2, 0.5, 0.8), 150)["mean"]
    # Against the exact enumerated model posterior: close in TV, and top-1 near the Bayes optimum.
    assert m["tv_mean"] <= 0.2, m
    assert m["top1"] >= m["exact_top1"] - 0.1, m
    sweep = lambda_sweep(est, params, jax.random.key(4), 50, np.linspace(0, 1, 11))
    assert sweep["monotone_fraction"] >= 0.9
    sbc, _ = theta_sbc(est, params, jax.random.key(5), 0.6, 150, 50, 16)
    # Amplitude posteriors close to the exact Gaussian posterior.
    assert sbc["mean_error_over_exact_sd"] < 0.5, sbc
    assert 0.6 < sbc["sd_ratio_median"] < 1.6, sbc
