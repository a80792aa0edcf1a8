"""The model of the hyperparameter objectives: a likelihood and a factorised Gaussian prior.

The model is y ~ p(y | f(x, w)) with a Gaussian (noise precision β) or categorical likelihood and
the prior w ~ N(0, A⁻¹), A = diag(exp(h)[groups]): each parameter belongs to one group (a layer,
a polynomial degree, itself), and h holds one log-precision per group. :class:`Model` is that
record, :class:`Dataset` / :class:`Splits` the data it is fitted and scored on; the per-example
negative log-likelihood and the log prior here are shared by every objective.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = [
    "Model",
    "Dataset",
    "Splits",
    "nll_per_example",
    "log_prior",
    "prior_precision",
    "linear_model",
]

_LOG_2PI = 1.8378770664093453


class Model(NamedTuple):
    """A parametric model with a factorised prior.

    Attributes:
        apply: ``apply(w, x) -> f`` for one input x; w shape ``(P,)``; f shape ``()`` for the
            Gaussian likelihood or ``(C,)`` logits for the categorical one.
        likelihood: ``"gaussian"`` or ``"categorical"``.
        noise_precision: β of the Gaussian likelihood (ignored for categorical).
        groups: the hyperparameter index of each parameter, int shape ``(P,)``.
        num_hyper: H, the number of groups.
    """

    apply: Callable[[Array, Array], Array]
    likelihood: str
    noise_precision: float
    groups: np.ndarray
    num_hyper: int


class Dataset(NamedTuple):
    """Inputs ``x`` ``(N, ...)`` and targets ``y`` ``(N,)`` (floats, or int class labels)."""

    x: Array
    y: Array


class Splits(NamedTuple):
    """Training, validation and test sets."""

    train: Dataset
    val: Dataset
    test: Dataset


def _nll_one(model: Model, w: Array, x: Array, y: Array) -> Array:
    f = model.apply(w, x)
    if model.likelihood == "gaussian":
        beta = model.noise_precision
        return 0.5 * beta * (y - f) ** 2 - 0.5 * (jnp.log(beta) - _LOG_2PI)
    return -jax.nn.log_softmax(f)[y]


def nll_per_example(model: Model, w: Array, data: Dataset) -> Array:
    """−ln p(y_n | x_n, w) for every example, shape ``(N,)``."""
    return jax.vmap(lambda x, y: _nll_one(model, w, x, y))(data.x, data.y)


def prior_precision(model: Model, h: Array) -> Array:
    """A = exp(h)[groups], shape ``(P,)``."""
    return jnp.exp(h)[jnp.asarray(model.groups)]


def log_prior(model: Model, w: Array, h: Array) -> Array:
    """ln N(w | 0, A⁻¹), shape ``()``."""
    a = prior_precision(model, h)
    return 0.5 * jnp.sum(jnp.log(a) - _LOG_2PI - a * w**2)


def _neg_log_joint(model: Model, w: Array, h: Array, data: Dataset, weights=None) -> Array:
    nll = nll_per_example(model, w, data)
    nll = jnp.sum(nll) if weights is None else jnp.sum(weights * nll)
    return nll - log_prior(model, w, h)


def linear_model(num_features: int, beta: float, groups=None) -> Model:
    """The linear-Gaussian model f(φ, w) = φᵀw on precomputed features φ ``(M,)``."""
    groups = np.zeros(num_features, int) if groups is None else np.asarray(groups, int)
    return Model(lambda w, phi: phi @ w, "gaussian", float(beta), groups, int(groups.max()) + 1)
