"""Model comparison, the model-averaged predictive, and the PRML worked example."""

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from jaxsbi import evidence as ev
from jaxsbi.experiments.config import ConfigError, from_dict
from jaxsbi.experiments.evidence import ComparisonConfig, GammaConfig, PRMLConfig, run_prml
from jaxsbi.experiments.registry import load_config

CONFIG = Path(__file__).parents[2] / "configs" / "prml_evidence.toml"


def test_compare_models_and_bayes_factors():
    log_ev = jnp.array([-10.0, -8.0, -9.0])
    comp = ev.compare_models(log_ev)
    expected = np.exp([-10.0, -8.0, -9.0]) / np.exp([-10.0, -8.0, -9.0]).sum()
    np.testing.assert_allclose(comp.posterior_probs, expected, rtol=1e-5)
    prior = jnp.array([2.0, 1.0, 1.0])
    weighted = ev.compare_models(log_ev, prior).posterior_probs
    np.testing.assert_allclose(weighted, expected * [2, 1, 1] / (expected @ [2, 1, 1]), rtol=1e-5)
    lbf = ev.log_bayes_factors(log_ev)
    np.testing.assert_allclose(lbf[1, 0], 2.0)
    np.testing.assert_allclose(lbf, -lbf.T)


def test_mixture_predictive():
    mix = ev.MixturePredictive(
        jnp.array([0.3, 0.7]),
        jnp.array([[0.0, 1.0], [2.0, 1.0]]),
        jnp.array([[1.0, 1.0], [4.0, 1.0]]),
    )
    moments = ev.mixture_moments(mix)
    np.testing.assert_allclose(moments.mean, [1.4, 1.0], rtol=1e-6)
    np.testing.assert_allclose(moments.variance[0], 0.3 * 1 + 0.7 * 8 - 1.4**2, rtol=1e-5)
    t = jnp.array([0.5, 1.5])
    cdf = 0.3 * norm.cdf(t, [0.0, 1.0], 1.0) + 0.7 * norm.cdf(t, [2.0, 1.0], [2.0, 1.0])
    np.testing.assert_allclose(ev.mixture_cdf(mix, t), cdf, rtol=1e-5)
    pdf = 0.3 * norm.pdf(t, [0.0, 1.0], 1.0) + 0.7 * norm.pdf(t, [2.0, 1.0], [2.0, 1.0])
    np.testing.assert_allclose(ev.mixture_log_density(mix, t), np.log(pdf), rtol=1e-5)
    lo, hi = ev.mixture_interval(mix, 0.8)
    np.testing.assert_allclose(ev.mixture_cdf(mix, lo), 0.1, atol=1e-5)
    np.testing.assert_allclose(ev.mixture_cdf(mix, hi), 0.9, atol=1e-5)


def test_basis_families_compared_in_one_call():
    # Data from a Fourier series: the Fourier family must win against polynomial and RBF.
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.uniform(size=200))
        t = jnp.sin(2 * jnp.pi * x) + 0.5 * jnp.cos(4 * jnp.pi * x) + 0.1 * rng.normal(size=200)
        families = [
            ev.polynomial_basis(4),
            ev.gaussian_basis(jnp.linspace(0, 1, 4), 0.3),
            ev.fourier_basis(2),
        ]
        phi = ev.design_matrix(ev.concat_bases(*families), x)
        masks = ev.block_masks([5, 5, 5])
        fits = ev.maximise_evidence_models(ev.sufficient_stats(phi, t), masks)
        probs = ev.compare_models(fits.log_evidence).posterior_probs
        assert int(jnp.argmax(probs)) == 2 and float(probs[2]) > 0.99


def test_config_file_loads_strictly():
    config = load_config(CONFIG)
    assert isinstance(config, PRMLConfig)
    assert config.comparison.model_prior == "uniform"
    with pytest.raises(ConfigError, match="unknown config key"):
        from_dict(PRMLConfig, {"sed": 1})
    with pytest.raises(ConfigError, match="model_prior"):
        from_dict(PRMLConfig, {"comparison": {"model_prior": [1.0, 2.0]}})


def test_worked_example_picks_the_true_degree_and_covers(tmp_path):
    # The shipped example with fewer N values and replicates, to stay fast.
    config = dataclasses.replace(
        load_config(CONFIG),
        gamma=GammaConfig(num_alpha=41),
        comparison=ComparisonConfig(n_points=(10, 200, 5000), num_replicates=10, num_test=2000),
    )
    metrics = run_prml(config, tmp_path)
    comp = metrics["comparison"]
    # The evidence picks the generating degree more often, and with more mass, as N grows.
    assert comp["selection_rate"][-1] >= 0.8
    assert comp["selection_rate"][0] < comp["selection_rate"][-1]
    assert comp["mean_prob_true_degree"] == sorted(comp["mean_prob_true_degree"])
    # Held-out coverage of the 90 % model-averaged interval is nominal once N is moderate.
    assert all(abs(c - 0.9) < 0.02 for c in comp["coverage"][1:])
    g = metrics["gamma"]
    assert g["converged"] and g["gamma"] == pytest.approx(g["alpha_mTm"], rel=1e-8)
    assert abs(g["log_alpha"] - g["grid_best_log_alpha"]) < 0.25 + 1e-9
    for name in metrics["figures"]:
        assert (tmp_path / name).stat().st_size > 10_000
    assert (tmp_path / "metrics.json").is_file()
