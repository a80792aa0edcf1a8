"""The front door, ``import jaxsbi as js``: its names, their docstrings, the log-density builder."""

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

import jaxsbi as js

ROOT = Path(__file__).resolve().parents[1]

# Changing the public API is a decision: change this list with it.
PUBLIC = [
    # Tasks and priors
    "Prior",
    "Task",
    "from_numpyro",
    "get_task",
    "lognormal",
    "normal",
    "task_names",
    "uniform",
    # Simulation and training
    "RatioEstimator",
    "RatioNetworkConfig",
    "SimulationData",
    "TrainConfig",
    "build_estimator",
    "fit",
    "simulate",
    "train_estimator",
    # Posterior sampling
    "PosteriorSamples",
    "SamplerConfig",
    "TruncationConfig",
    "posterior_logdensity",
    "sample_posterior",
    "truncated_posterior",
    # Diagnostics
    "c2st",
    "expected_coverage",
    "sbc_ranks",
    "sbc_uniformity",
    # PRISM
    "PrismEstimator",
    "PrismNetworkConfig",
    "linear_gaussian_family",
    "prism_estimator",
    "symbolic_family",
    # Evidence
    "compare_models",
    "design_matrix",
    "log_evidence",
    "maximise_evidence",
    "polynomial_basis",
    "sufficient_stats",
    "enable_compilation_cache",
]


def test_exported_names_are_pinned():
    assert sorted(js.__all__) == sorted(PUBLIC)
    assert len(js.__all__) == len(set(js.__all__)), "a name is exported twice"
    assert js.__all__ == list(js._EXPORTS), "__all__ and the lazy table disagree"
    assert set(PUBLIC) <= set(dir(js))


def test_no_private_names_exported():
    for name in js.__all__:
        assert not name.startswith("_"), name
        module = getattr(js, name).__module__
        assert not any(part.startswith("_") for part in module.split(".")), (name, module)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_export_resolves_and_has_a_docstring(name):
    obj = getattr(js, name)
    module, attr = js._EXPORTS[name]
    assert obj is getattr(importlib.import_module(module), attr)
    doc = inspect.getdoc(obj)
    assert doc and len(doc) > 20, f"js.{name} needs a docstring"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        js.no_such_name  # noqa: B018


def test_import_is_cheap():
    # The names load on first use: `import jaxsbi` imports neither jax nor the subpackages.
    code = "import sys, jaxsbi; assert 'jax' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- posterior_logdensity ---------------------------------------------------------------------

LOC, SCALE = jnp.array([0.5, -1.0]), jnp.array([1.0, 2.0])
NOISE = 0.5


def _log_ratio(params, theta, x):
    # A Gaussian log-likelihood up to a constant: x ~ N(params * θ, NOISE² I).
    return -0.5 * jnp.sum((x - params * theta) ** 2) / NOISE**2


def test_logdensity_is_log_prior_plus_log_ratio():
    prior = js.normal(LOC, SCALE**2)
    x_obs = jnp.array([1.0, 0.3])
    logdensity_fn = js.posterior_logdensity(prior, _log_ratio, 1.0, x_obs, x_shape=(2,))
    thetas = jax.random.normal(jax.random.key(0), (7, 2)) * 2.0
    expected = (
        jnp.sum(norm.logpdf(thetas, LOC[None], SCALE[None]), axis=1)
        - 0.5 * jnp.sum((x_obs[None] - thetas) ** 2, axis=1) / NOISE**2
    )
    np.testing.assert_allclose(jax.vmap(logdensity_fn)(thetas), expected, rtol=1e-5)
    np.testing.assert_allclose(jax.jit(logdensity_fn)(thetas[0]), expected[0], rtol=1e-5)
    # the gradient of a Gaussian prior times a Gaussian likelihood
    grad = jax.grad(logdensity_fn)(thetas[0])
    expected_grad = -(thetas[0] - LOC) / SCALE**2 + (x_obs - thetas[0]) / NOISE**2
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-4, atol=1e-5)


def test_unconstrained_logdensity_includes_the_log_jacobian():
    low, high = jnp.array([-1.0, 0.0]), jnp.array([1.0, 4.0])
    prior = js.uniform(low, high)
    x_obs = jnp.array([0.2, 1.0])
    logdensity_fn = js.posterior_logdensity(prior, _log_ratio, 1.0, x_obs, space="unconstrained")
    u = jnp.array([0.3, -1.2])
    # θ = low + (high - low) σ(u): log p(θ) = -Σ log(high - low) cancels the width in log|J|.
    theta = low + (high - low) * jax.nn.sigmoid(u)
    expected = jnp.sum(jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-u)) + _log_ratio(
        1.0, theta, x_obs
    )
    np.testing.assert_allclose(logdensity_fn(u), expected, rtol=1e-5)
    # in θ space the same prior is -inf outside its box
    in_theta = js.posterior_logdensity(prior, _log_ratio, 1.0, x_obs)
    assert in_theta(jnp.array([2.0, 1.0])) == -jnp.inf


def test_logdensity_checks_shapes():
    prior = js.normal(LOC, SCALE**2)
    with pytest.raises(ValueError, match="one observation of shape"):
        js.posterior_logdensity(prior, _log_ratio, 1.0, jnp.zeros((3, 2)), x_shape=(2,))
    with pytest.raises(ValueError, match="space"):
        js.posterior_logdensity(prior, _log_ratio, 1.0, jnp.zeros(2), space="u")
    logdensity_fn = js.posterior_logdensity(prior, _log_ratio, 1.0, jnp.zeros(2))
    with pytest.raises(ValueError, match="jax.vmap"):
        logdensity_fn(jnp.zeros((4, 2)))


def test_logdensity_drives_blackjax_samplers():
    # Conjugate: prior N(LOC, diag SCALE²), likelihood N(θ, NOISE² I): posterior in closed form.
    prior = js.normal(LOC, SCALE**2)
    x_obs = jnp.array([1.0, 0.3])
    logdensity_fn = js.posterior_logdensity(prior, _log_ratio, 1.0, x_obs)
    precision = 1 / SCALE**2 + 1 / NOISE**2
    mean, sd = (LOC / SCALE**2 + x_obs / NOISE**2) / precision, 1 / jnp.sqrt(precision)

    rmh = blackjax.rmh(logdensity_fn, blackjax.mcmc.random_walk.normal(sd))
    state, info = rmh.step(jax.random.key(1), rmh.init(jnp.zeros(2)))
    assert state.position.shape == (2,)

    nuts = blackjax.nuts(logdensity_fn, step_size=0.3, inverse_mass_matrix=sd**2)

    def one_step(state, key):
        state, _ = nuts.step(key, state)
        return state, state.position

    _, draws = jax.lax.scan(one_step, nuts.init(mean), jax.random.split(jax.random.key(2), 400))
    # 400 NUTS draws of a 2-D Gaussian: the mean within ~5 Monte Carlo standard errors
    np.testing.assert_allclose(draws.mean(0), mean, atol=float(5 * sd.max() / np.sqrt(400)))
    np.testing.assert_allclose(draws.std(0), sd, rtol=0.25)


# ---- the README uses the front door only ----------------------------------------------------


def test_readme_python_uses_one_import_line_from_jaxsbi():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "the README has a python example"
    for block in blocks:
        lines = [
            line.strip()
            for line in block.splitlines()
            if re.match(r"\s*(import|from)\s+jaxsbi\b", line)
        ]
        assert lines == ["import jaxsbi as js"], lines
