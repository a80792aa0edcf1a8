"""The analytic linear-Gaussian family (:func:`linear_gaussian_family`, K ≤ 8) and its exact
posteriors: fixed basis shapes, linear amplitudes and Gaussian noise of known scale, so each
structure's marginal likelihood is Gaussian, the model posterior is exact by enumeration
(:func:`exact_model_posterior`) and so is the parameter posterior
(:func:`exact_theta_posterior`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.prism.families.family import _NORMAL, X_MAX, SymbolicFamily, _grid
from jaxsbi.prism.families.structures import all_structures, check_lambda

__all__ = [
    "LinearGaussianForm",
    "exact_model_posterior",
    "exact_theta_posterior",
    "linear_gaussian_family",
]


@dataclasses.dataclass(frozen=True)
class LinearGaussianForm:
    """The closed form of the analytic family: y = Φ_M a_M + N(0, σ² I), a ~ N(0, s² I).

    Attributes:
        design: ``(n_points, K)`` basis Φ on the grid.
        amplitude_scale: s; noise_scale: σ.
    """

    design: np.ndarray  # (n_points, K)
    amplitude_scale: float
    noise_scale: float


# Fixed-shape terms of the analytic family (shapes of the library with b fixed).
_LINEAR_GAUSSIAN_TERMS: tuple[tuple[str, Callable[[np.ndarray], np.ndarray]], ...] = (
    ("const", lambda x: np.ones_like(x)),
    ("linear", lambda x: x / X_MAX),
    ("sin", lambda x: np.sin(1.3 * x)),
    ("exp_decay", lambda x: np.exp(-x / 1.5)),
    ("gauss_bump", lambda x: np.exp(-0.5 * (x - 6.0) ** 2)),
    ("cos", lambda x: np.cos(0.6 * x)),
    ("tanh_step", lambda x: np.tanh((x - 3.0) / 0.7)),
    ("quadratic", lambda x: (x / X_MAX) ** 2),
)


def linear_gaussian_family(
    num_components: int = 5,
    *,
    n_points: int = 32,
    amplitude_scale: float = 1.0,
    noise_scale: float = 0.1,
) -> SymbolicFamily:
    """The analytic family: y = Σ_k M_k a_k g_k(x) + N(0, noise_scale²), a_k ~ N(0, s²).

    The basis shapes are fixed, so p(y | M) = N(0, s² Φ_M Φ_Mᵀ + σ² I) in closed form and
    the model posterior is exact by enumeration (:func:`exact_model_posterior`). One noise model
    ("gaussian", no parameters); θ = the K amplitudes.

    Raises:
        ValueError: K outside 1..8, or non-positive scales.
    """
    if not 1 <= num_components <= len(_LINEAR_GAUSSIAN_TERMS):
        raise ValueError(
            f"num_components must be in 1..{len(_LINEAR_GAUSSIAN_TERMS)} for the analytic "
            f"family, got {num_components}"
        )
    if not (amplitude_scale > 0 and noise_scale > 0):
        raise ValueError(
            f"amplitude_scale and noise_scale must be > 0; got {amplitude_scale}, {noise_scale}"
        )
    grid = _grid(n_points)
    terms = _LINEAR_GAUSSIAN_TERMS[:num_components]
    design = np.stack([fn(grid.astype(np.float64)) for _, fn in terms], axis=1)
    phi = jnp.asarray(design, jnp.float32)

    def signal(active, theta):
        return phi @ jnp.where(active > 0, theta, 0.0)

    def simulate_fn(key, active, noise, theta):
        return signal(active, theta) + noise_scale * jax.random.normal(key, (phi.shape[0],))

    k = num_components
    return SymbolicFamily(
        name=f"linear_gaussian_k{k}",
        component_names=tuple(n for n, _ in terms),
        noise_names=("gaussian",),
        grid=grid,
        param_names=tuple(f"{n}.a" for n, _ in terms),
        param_owner=np.arange(k, dtype=np.int32),
        prior_kind=np.full(k, _NORMAL, np.int32),
        prior_a=np.zeros(k, np.float32),
        prior_b=np.full(k, amplitude_scale, np.float32),
        simulate_fn=simulate_fn,
        signal_fn=signal,
        linear_gaussian=LinearGaussianForm(design, float(amplitude_scale), float(noise_scale)),
    )


def _linear_gaussian_terms(family: SymbolicFamily, y: Array, active: Array):
    lg = family.linear_gaussian
    phi = jnp.asarray(lg.design, y.dtype)
    s2, sig2 = lg.amplitude_scale**2, lg.noise_scale**2
    on = active.astype(y.dtype)
    k = phi.shape[1]
    # Inactive columns: weight at its prior, an identity row/column, contributes nothing.
    a = (on[:, None] * on[None, :]) * (phi.T @ phi) / sig2 + jnp.diag(on / s2 + (1.0 - on))
    b = on * (phi.T @ y) / sig2
    chol = jnp.linalg.cholesky(a)
    mean = jax.scipy.linalg.cho_solve((chol, True), b)
    n = y.shape[0]
    logdet_a = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    log_ml = (
        -0.5 * n * jnp.log(2 * jnp.pi * sig2)
        - 0.5 * jnp.sum(on) * jnp.log(s2)
        - 0.5 * logdet_a
        - 0.5 * y @ y / sig2
        + 0.5 * b @ mean
    )
    cov = jax.scipy.linalg.cho_solve((chol, True), jnp.eye(k, dtype=y.dtype))
    return log_ml, mean, cov


def exact_model_posterior(family: SymbolicFamily, y: Array, lam) -> Array:
    """p(M | y, λ) for every structure of the analytic family, by enumeration.

    Computed in float64 when x64 is enabled, float32 otherwise (Cholesky of a K×K matrix).

    Args:
        family: a :func:`linear_gaussian_family`.
        y: ``(n_points,)`` observation.
        lam: scalar complexity in [0, 1].

    Returns:
        ``(2^K − 1,)`` probabilities in :func:`all_structures` order.

    Raises:
        ValueError: a family without a closed form, a wrong ``y`` shape, λ out of range.
    """
    if family.linear_gaussian is None:
        raise ValueError(f"{family.name} has no closed-form marginal likelihood")
    check_lambda(lam)
    if jnp.shape(y) != (family.n_points,):
        raise ValueError(f"y must have shape ({family.n_points},), got {jnp.shape(y)}")
    return _exact_model_posterior(family, jnp.asarray(y), jnp.asarray(lam, jnp.asarray(y).dtype))


@functools.partial(jax.jit, static_argnums=0)
def _exact_model_posterior(family, y, lam):
    structures = all_structures(family.num_components)
    log_ml = jax.vmap(lambda a: _linear_gaussian_terms(family, y, a)[0])(structures.active)
    log_prior = jax.vmap(family.structure_log_prior, (0, None))(structures, lam)
    return jax.nn.softmax(log_ml + log_prior.astype(log_ml.dtype))


def exact_theta_posterior(family: SymbolicFamily, y: Array, active: Array) -> tuple[Array, Array]:
    """Gaussian p(θ | M, y) of the analytic family: mean ``(K,)`` and covariance ``(K, K)``.

    Inactive entries have mean 0 and an identity block (they are not part of the model).
    """
    if family.linear_gaussian is None:
        raise ValueError(f"{family.name} has no closed-form parameter posterior")
    return _exact_theta_posterior(family, jnp.asarray(y), jnp.asarray(active))


@functools.partial(jax.jit, static_argnums=0)
def _exact_theta_posterior(family, y, active):
    _, mean, cov = _linear_gaussian_terms(family, y, active)
    return mean, cov
