"""jaxsbi: JAX-native simulation-based inference and Bayesian model selection.

The front door: ``import jaxsbi as js`` gives the main path in a handful of calls.

The main path, in order (see the README for a runnable example)::

    import jax
    import jaxsbi as js

    task = js.get_task("two_moons")               # or js.Task(name, prior, simulator, x_shape)
    data = js.simulate(jax.random.key(0), task, 10_000)
    estimator = js.build_estimator(task, js.RatioNetworkConfig())
    params, history, num_invalid = js.train_estimator(
        jax.random.key(1), task, estimator, js.TrainConfig(), data=data)
    x_obs = task.simulate(jax.random.key(2), task.prior.sample(jax.random.key(3)))
    logdensity_fn = js.posterior_logdensity(task.prior, estimator.log_ratio, params, x_obs)
    posterior = js.sample_posterior(                 # tempered SMC, many observations at once
        jax.random.key(4), task.prior, estimator.log_ratio, params, x_obs, js.SamplerConfig())

``logdensity_fn(theta)`` is what any blackjax algorithm takes.

The names are imported lazily (PEP 562), so ``import jaxsbi`` stays cheap; each lives in, and is
documented at, the module named in ``_EXPORTS``. The subpackages (``jaxsbi.tasks``,
``jaxsbi.mcmc``, ``jaxsbi.prism``, ``jaxsbi.evidence``, ...) hold the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> (module, attribute there). One line per name, grouped as in __all__.
_EXPORTS: dict[str, tuple[str, str]] = {
    # Tasks and priors
    "Prior": ("jaxsbi.distributions", "Prior"),
    "Task": ("jaxsbi.tasks", "Task"),
    "from_numpyro": ("jaxsbi.distributions", "from_numpyro"),
    "get_task": ("jaxsbi.tasks", "get_task"),
    "lognormal": ("jaxsbi.distributions", "lognormal"),
    "normal": ("jaxsbi.distributions", "normal"),
    "task_names": ("jaxsbi.tasks", "task_names"),
    "uniform": ("jaxsbi.distributions", "uniform"),
    # Simulation and training (AALR ratio estimator)
    "RatioEstimator": ("jaxsbi.ratio", "RatioEstimator"),
    "RatioNetworkConfig": ("jaxsbi.ratio", "RatioNetworkConfig"),
    "SimulationData": ("jaxsbi.train", "SimulationData"),
    "TrainConfig": ("jaxsbi.train", "TrainConfig"),
    "build_estimator": ("jaxsbi.ratio", "build_estimator"),
    "fit": ("jaxsbi.train", "fit"),
    "simulate": ("jaxsbi.train", "simulate"),
    "train_estimator": ("jaxsbi.train", "train_estimator"),
    # Posterior sampling
    "PosteriorSamples": ("jaxsbi.mcmc", "PosteriorSamples"),
    "SamplerConfig": ("jaxsbi.mcmc", "SamplerConfig"),
    "TruncationConfig": ("jaxsbi.sequential", "TruncationConfig"),
    "posterior_logdensity": ("jaxsbi.mcmc.logdensity", "posterior_logdensity"),
    "sample_posterior": ("jaxsbi.mcmc", "sample_posterior"),
    "truncated_posterior": ("jaxsbi.sequential", "truncated_posterior"),
    # Diagnostics (arrays in)
    "c2st": ("jaxsbi.diagnostics", "c2st"),
    "expected_coverage": ("jaxsbi.diagnostics", "expected_coverage"),
    "sbc_ranks": ("jaxsbi.diagnostics", "sbc_ranks"),
    "sbc_uniformity": ("jaxsbi.diagnostics", "sbc_uniformity"),
    # PRISM: which model, and its parameters
    "PrismEstimator": ("jaxsbi.prism", "PrismEstimator"),
    "PrismNetworkConfig": ("jaxsbi.prism", "NetworkConfig"),
    "linear_gaussian_family": ("jaxsbi.prism.families", "linear_gaussian_family"),
    "prism_estimator": ("jaxsbi.prism", "prism_estimator"),
    "symbolic_family": ("jaxsbi.prism.families", "symbolic_family"),
    # Evidence and Bayesian model comparison (linear-Gaussian, PRML §3.3-3.5)
    "compare_models": ("jaxsbi.evidence", "compare_models"),
    "design_matrix": ("jaxsbi.evidence", "design_matrix"),
    "log_evidence": ("jaxsbi.evidence", "log_evidence"),
    "maximise_evidence": ("jaxsbi.evidence", "maximise_evidence"),
    "polynomial_basis": ("jaxsbi.evidence", "polynomial_basis"),
    "sufficient_stats": ("jaxsbi.evidence", "sufficient_stats"),
    # Compile once per machine
    "enable_compilation_cache": ("jaxsbi.compilation", "enable_compilation_cache"),
}

__all__ = [
    # Tasks and priors
    "Prior",
    "Task",
    "from_numpyro",
    "get_task",
    "lognormal",
    "normal",
    "task_names",
    "uniform",
    # Simulation and training (AALR ratio estimator)
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
    # Diagnostics (arrays in)
    "c2st",
    "expected_coverage",
    "sbc_ranks",
    "sbc_uniformity",
    # PRISM: which model, and its parameters
    "PrismEstimator",
    "PrismNetworkConfig",
    "linear_gaussian_family",
    "prism_estimator",
    "symbolic_family",
    # Evidence and Bayesian model comparison
    "compare_models",
    "design_matrix",
    "log_evidence",
    "maximise_evidence",
    "polynomial_basis",
    "sufficient_stats",
    # Compile once per machine
    "enable_compilation_cache",
]

if TYPE_CHECKING:  # static tools see ordinary imports; at run time __getattr__ loads on use
    from jaxsbi.compilation import enable_compilation_cache
    from jaxsbi.diagnostics import c2st, expected_coverage, sbc_ranks, sbc_uniformity
    from jaxsbi.distributions import Prior, from_numpyro, lognormal, normal, uniform
    from jaxsbi.evidence import (
        compare_models,
        design_matrix,
        log_evidence,
        maximise_evidence,
        polynomial_basis,
        sufficient_stats,
    )
    from jaxsbi.mcmc import PosteriorSamples, SamplerConfig, sample_posterior
    from jaxsbi.mcmc.logdensity import posterior_logdensity
    from jaxsbi.prism import NetworkConfig as PrismNetworkConfig
    from jaxsbi.prism import PrismEstimator, prism_estimator
    from jaxsbi.prism.families import linear_gaussian_family, symbolic_family
    from jaxsbi.ratio import RatioEstimator, RatioNetworkConfig, build_estimator
    from jaxsbi.sequential import TruncationConfig, truncated_posterior
    from jaxsbi.tasks import Task, get_task, task_names
    from jaxsbi.train import SimulationData, TrainConfig, fit, simulate, train_estimator


def __getattr__(name: str):
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'jaxsbi' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
