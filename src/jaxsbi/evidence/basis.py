"""Basis functions φ(x) and the design matrix Φ (PRML §3.1).

A basis is a plain function ``basis_fn(x) -> (M,)`` of one input ``x`` (a scalar, or a vector of
shape ``(input_dim,)`` for the Gaussian and sigmoidal families). The factories below close over
their hyperparameters and return such a function; any user function with the same contract works
everywhere a basis is expected. :func:`design_matrix` vmaps a basis over inputs.

Example:
    >>> import jax.numpy as jnp
    >>> basis_fn = polynomial_basis(3)
    >>> design_matrix(basis_fn, jnp.array([0.0, 0.5, 1.0])).shape
    (3, 4)
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

BasisFn = Callable[[Array], Array]

__all__ = [
    "BasisFn",
    "polynomial_basis",
    "gaussian_basis",
    "sigmoidal_basis",
    "fourier_basis",
    "concat_bases",
    "design_matrix",
]


def _as_float(x) -> Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))


def polynomial_basis(degree: int) -> BasisFn:
    """φ_j(x) = x^j for j = 0, ..., degree (φ_0 = 1 is the bias).

    Args:
        degree: the polynomial degree, ≥ 0; the basis has M = degree + 1 functions.

    Returns:
        ``basis_fn(x)`` for a scalar ``x`` of shape ``()``, returning shape ``(degree + 1,)``.
    """
    if not isinstance(degree, int) or degree < 0:
        raise ValueError(f"degree must be a non-negative integer; got {degree!r}")

    def basis_fn(x: Array) -> Array:
        x = _as_float(x)
        if x.ndim != 0:
            raise ValueError(f"polynomial_basis takes a scalar x; got shape {x.shape}")
        # Repeated products instead of x ** j keep 0 ** 0 = 1 and stay exact for integer powers.
        powers = jnp.cumprod(jnp.full((degree,), x, dtype=x.dtype))
        return jnp.concatenate([jnp.ones((1,), x.dtype), powers])

    return basis_fn


def _centers_and_input(centers, x) -> tuple[Array, Array]:
    centers = _as_float(centers)
    x = _as_float(x).astype(centers.dtype)
    if centers.ndim == 1:
        centers = centers[:, None]
    if x.ndim == 0:
        x = x[None]
    if centers.ndim != 2 or x.shape != centers.shape[1:]:
        raise ValueError(
            f"x of shape {x.shape} does not match centers of shape {centers.shape}; expected "
            "centers (K,) with scalar x, or centers (K, input_dim) with x (input_dim,)"
        )
    return centers, x


def _with_bias(features: Array, bias: bool) -> Array:
    if not bias:
        return features
    return jnp.concatenate([jnp.ones((1,), features.dtype), features])


def gaussian_basis(centers, scale: float, *, bias: bool = True) -> BasisFn:
    """φ_j(x) = exp(−‖x − μ_j‖² / (2 s²)), PRML eq. 3.4, plus an optional bias φ_0 = 1.

    Args:
        centers: μ_j, shape ``(K,)`` for scalar inputs or ``(K, input_dim)``.
        scale: the length scale s > 0.
        bias: prepend the constant basis function.

    Returns:
        ``basis_fn(x)`` returning shape ``(K + bias,)``.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive; got {scale!r}")

    def basis_fn(x: Array) -> Array:
        c, xv = _centers_and_input(centers, x)
        sq = jnp.sum((c - xv[None, :]) ** 2, axis=1)
        return _with_bias(jnp.exp(-0.5 * sq / scale**2), bias)

    return basis_fn


def sigmoidal_basis(centers, scale: float, *, bias: bool = True) -> BasisFn:
    """φ_j(x) = σ((x − μ_j) / s) with the logistic σ, PRML eq. 3.5 (vector x: summed offsets).

    Args:
        centers: μ_j, shape ``(K,)`` for scalar inputs or ``(K, input_dim)``.
        scale: s > 0.
        bias: prepend the constant basis function.

    Returns:
        ``basis_fn(x)`` returning shape ``(K + bias,)``.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive; got {scale!r}")

    def basis_fn(x: Array) -> Array:
        c, xv = _centers_and_input(centers, x)
        return _with_bias(jax.nn.sigmoid(jnp.sum(xv[None, :] - c, axis=1) / scale), bias)

    return basis_fn


def fourier_basis(num_frequencies: int, period: float = 1.0, *, bias: bool = True) -> BasisFn:
    """cos(2πkx/P) and sin(2πkx/P) for k = 1, ..., K, plus an optional bias.

    Args:
        num_frequencies: K ≥ 1.
        period: P > 0.
        bias: prepend the constant basis function.

    Returns:
        ``basis_fn(x)`` for scalar x, returning shape ``(2K + bias,)`` ordered
        ``[1, cos_1, sin_1, cos_2, sin_2, ...]``.
    """
    if not isinstance(num_frequencies, int) or num_frequencies < 1:
        raise ValueError(f"num_frequencies must be a positive integer; got {num_frequencies!r}")
    if not period > 0:
        raise ValueError(f"period must be positive; got {period!r}")

    def basis_fn(x: Array) -> Array:
        x = _as_float(x)
        if x.ndim != 0:
            raise ValueError(f"fourier_basis takes a scalar x; got shape {x.shape}")
        k = jnp.arange(1, num_frequencies + 1, dtype=x.dtype)
        angle = 2.0 * jnp.pi * k * x / period
        pairs = jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1).reshape(-1)
        return _with_bias(pairs, bias)

    return basis_fn


def concat_bases(*basis_fns: BasisFn) -> BasisFn:
    """One basis whose features are those of ``basis_fns`` side by side (e.g. poly + Fourier)."""
    if not basis_fns:
        raise ValueError("concat_bases needs at least one basis function")

    def basis_fn(x: Array) -> Array:
        return jnp.concatenate([jnp.atleast_1d(f(x)) for f in basis_fns])

    return basis_fn


@functools.lru_cache(maxsize=128)
def _vmapped(basis_fn: BasisFn):
    # One compiled vmap per basis object: eager vmap re-dispatches every op on every call.
    return jax.jit(jax.vmap(basis_fn))


def design_matrix(basis_fn: BasisFn, x) -> Array:
    """Φ with Φ[n, j] = φ_j(x_n).

    Args:
        basis_fn: maps one input to its features, shape ``(M,)``.
        x: inputs, shape ``(N,)`` for scalar inputs or ``(N, input_dim)``.

    Returns:
        Φ, shape ``(N, M)``.
    """
    x = _as_float(x)
    if x.ndim not in (1, 2):
        raise ValueError(f"x must have shape (N,) or (N, input_dim); got shape {x.shape}")
    phi = _vmapped(basis_fn)(x)
    if phi.ndim != 2:
        raise ValueError(f"basis_fn must return a vector (M,) per input; got {phi.shape[1:]}")
    return phi
