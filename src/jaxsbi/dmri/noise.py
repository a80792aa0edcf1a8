"""Measurement noise: Rician (magnitude images) and Gaussian, with σ = S0 / SNR.

Rician: s = |ν + σ(ε₁ + iε₂)|, ε ~ N(0, 1) iid, with density

    log p(s | ν, σ) = log s − 2 log σ − (s² + ν²) / (2σ²) + log I₀(s ν / σ²),   s ≥ 0,

computed with log I₀(z) = z + log i0e(z) (exponentially scaled Bessel function), which never
overflows: the exponent is regrouped as −(s − ν)² / (2σ²) + log i0e(sν/σ²). Gaussian
(the high-SNR limit): s = ν + σ ε.

All functions are elementwise over the measurements (sum the log densities yourself), pure
and jit/vmap-able.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import i0e

__all__ = [
    "noise_sigma",
    "add_rician_noise",
    "add_gaussian_noise",
    "log_i0",
    "rician_log_prob",
    "gaussian_log_prob",
]


def noise_sigma(snr: Array, s0: Array = 1.0) -> Array:
    """σ = S0 / SNR."""
    return s0 / snr


def add_rician_noise(key: Array, signal: Array, snr: Array, s0: Array = 1.0) -> Array:
    """|ν + σ(ε₁ + iε₂)| for ``signal`` ν of any shape (σ = S0 / SNR)."""
    sigma = noise_sigma(snr, s0)
    e = jax.random.normal(key, (2, *jnp.shape(signal)))
    return jnp.sqrt((signal + sigma * e[0]) ** 2 + (sigma * e[1]) ** 2)


def add_gaussian_noise(key: Array, signal: Array, snr: Array, s0: Array = 1.0) -> Array:
    """ν + σ ε for ``signal`` ν of any shape (σ = S0 / SNR)."""
    return signal + noise_sigma(snr, s0) * jax.random.normal(key, jnp.shape(signal))


def log_i0(z: Array) -> Array:
    """log I₀(z) = |z| + log i0e(z), finite for every finite z."""
    return jnp.abs(z) + jnp.log(i0e(z))


def rician_log_prob(s: Array, nu: Array, sigma: Array) -> Array:
    """Elementwise log Rice density of magnitudes ``s`` given noiseless ``nu`` ≥ 0 and σ > 0.

    Exact for s > 0; the density at s = 0 is 0 (−inf here) and −inf for s < 0.
    """
    var = sigma**2
    nu = jnp.abs(nu)  # the density depends on |ν| only
    z = s * nu / var
    lp = jnp.log(s) - jnp.log(var) - (s - nu) ** 2 / (2.0 * var) + jnp.log(i0e(z))
    return jnp.where(s >= 0, lp, -jnp.inf)


def gaussian_log_prob(s: Array, nu: Array, sigma: Array) -> Array:
    """Elementwise log N(s; ν, σ²)."""
    return -0.5 * ((s - nu) / sigma) ** 2 - jnp.log(sigma) - 0.5 * math.log(2 * math.pi)
