"""Cosine variance-preserving schedule and the v-prediction objective (Salimans & Ho 2022).

z_t = α_t x + σ_t ε with α_t = cos(πt/2), σ_t = sin(πt/2) (α² + σ² = 1), t ∈ [0, 1];
training times are drawn from [T_MIN, T_MAX]. The target is v = α_t ε − σ_t x; from a
prediction v̂: x̂ = α_t z − σ_t v̂, ε̂ = σ_t z + α_t v̂. Then ‖v̂ − v‖² = (1 + SNR)‖x̂ − x‖².
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array

__all__ = ["T_MIN", "T_MAX", "alpha_sigma", "v_target", "predictions", "v_loss"]

T_MIN = 1e-3
T_MAX = 1.0 - 1e-3


def alpha_sigma(t: Array) -> tuple[Array, Array]:
    """(α_t, σ_t) of the cosine schedule; t any shape in [0, 1]."""
    return jnp.cos(0.5 * jnp.pi * t), jnp.sin(0.5 * jnp.pi * t)


def v_target(x: Array, eps: Array, t: Array) -> tuple[Array, Array]:
    """Noisy z_t and the v target for clean ``x (dim,)``, noise ``eps (dim,)``, scalar t."""
    a, s = alpha_sigma(t)
    return a * x + s * eps, a * eps - s * x


def predictions(z: Array, v_hat: Array, t: Array) -> tuple[Array, Array]:
    """(x̂, ε̂) from z_t and v̂."""
    a, s = alpha_sigma(t)
    return a * z - s * v_hat, s * z + a * v_hat


def v_loss(v_hat: Array, v: Array, mask: Array) -> Array:
    """Mean squared v error over the active entries (``mask (dim,)`` bool); 0 if none."""
    w = mask.astype(v.dtype)
    return jnp.sum(w * (v_hat - v) ** 2) / jnp.maximum(jnp.sum(w), 1.0)
