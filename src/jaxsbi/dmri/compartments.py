"""Tissue compartments and their mixture: normalised signals S(b, g) / S0, pure JAX.

Units: the product b·d must be dimensionless. Protocols carry b in s/mm², so diffusivities
passed here are in mm²/s (free water ≈ 3e-3). (:mod:`jaxsbi.dmri.family` keeps its θ in
µm²/ms, i.e. units of 1e-3 mm²/s, and converts.)

Every signal function takes one :class:`~jaxsbi.dmri.protocol.Protocol` with ``n``
measurements and the compartment's parameters and returns ``(n,)`` (vectorised over the
measurements; batch over voxels or parameters with ``vmap``).

| compartment | S / S0 | parameters |
|---|---|---|
| ball | exp(−b d) | d |
| stick | exp(−b d (g·μ)²) | d, μ |
| zeppelin | exp(−b [d⊥ + (d∥ − d⊥)(g·μ)²]) | d∥ ≥ d⊥, μ |
| dot | 1 | — |
| tensor | exp(−b gᵀ D g) | D (3×3 symmetric) |
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array

from jaxsbi.dmri.protocol import Protocol

__all__ = [
    "COMPARTMENTS",
    "STICKS",
    "Tissue",
    "ball",
    "stick",
    "zeppelin",
    "dot",
    "tensor",
    "orientation",
    "orientation_from_cos",
    "angles",
    "to_hemisphere",
    "mix",
    "tissue_signal",
]

# The order of the fractions in a Tissue.
COMPARTMENTS = ("ball", "stick1", "stick2", "stick3", "zeppelin", "dot")
STICKS = COMPARTMENTS[1:4]  # the nested sticks, in order


def ball(protocol: Protocol, d: Array) -> Array:
    """Isotropic free diffusion exp(−b d): ``(n,)``."""
    return jnp.exp(-protocol.bvals * d)


def stick(protocol: Protocol, d: Array, mu: Array) -> Array:
    """Zero radial diffusivity along the unit axis ``mu (3,)``: exp(−b d (g·μ)²), ``(n,)``."""
    c = protocol.bvecs @ mu
    return jnp.exp(-protocol.bvals * d * c**2)


def zeppelin(protocol: Protocol, d_par: Array, d_perp: Array, mu: Array) -> Array:
    """Axially symmetric tensor with axis ``mu (3,)``: exp(−b [d⊥ + (d∥ − d⊥)(g·μ)²])."""
    c = protocol.bvecs @ mu
    return jnp.exp(-protocol.bvals * (d_perp + (d_par - d_perp) * c**2))


def dot(protocol: Protocol) -> Array:
    """Restricted water, no decay: ones ``(n,)``."""
    return jnp.ones_like(protocol.bvals)


def tensor(protocol: Protocol, diffusion_tensor: Array) -> Array:
    """exp(−b gᵀ D g) for a symmetric ``(3, 3)`` tensor: ``(n,)``."""
    q = jnp.einsum("ni,ij,nj->n", protocol.bvecs, diffusion_tensor, protocol.bvecs)
    return jnp.exp(-protocol.bvals * q)


def orientation(theta: Array, phi: Array) -> Array:
    """Unit vector ``(3,)`` from polar angle θ (from +z) and azimuth φ."""
    s = jnp.sin(theta)
    return jnp.stack([s * jnp.cos(phi), s * jnp.sin(phi), jnp.cos(theta)], axis=-1)


def orientation_from_cos(u: Array, phi: Array) -> Array:
    """Unit vector ``(3,)`` from u = cos θ ∈ [−1, 1] and φ (u ~ U(0, 1), φ ~ U(0, 2π) is
    uniform on the upper hemisphere)."""
    u = jnp.clip(u, -1.0, 1.0)
    s = jnp.sqrt(jnp.maximum(1.0 - u**2, 0.0))
    return jnp.stack([s * jnp.cos(phi), s * jnp.sin(phi), u], axis=-1)


def to_hemisphere(mu: Array) -> Array:
    """The representative of the axis ±μ with z ≥ 0: ``(..., 3)``."""
    return jnp.where(mu[..., 2:3] < 0, -mu, mu)


def angles(mu: Array) -> tuple[Array, Array]:
    """(θ ∈ [0, π/2], φ ∈ [0, 2π)) of the axis ±μ (``mu (..., 3)``, unit), on the upper
    hemisphere."""
    h = to_hemisphere(mu)
    theta = jnp.arccos(jnp.clip(h[..., 2], -1.0, 1.0))
    phi = jnp.mod(jnp.arctan2(h[..., 1], h[..., 0]), 2 * jnp.pi)
    return theta, phi


def mix(fractions: Array, signals: Array) -> Array:
    """Σ_c f_c S_c: ``fractions (C,)`` and ``signals (C, n)`` -> ``(n,)``."""
    return fractions @ signals


class Tissue(NamedTuple):
    """Physical parameters of a ball/sticks/zeppelin/dot voxel (a pytree).

    Attributes:
        fractions: ``(6,)`` volume fractions in :data:`COMPARTMENTS` order, on the simplex
            (absent compartments 0).
        d_ball: ``()`` ball diffusivity (mm²/s).
        d_stick: ``()`` diffusivity shared by the sticks (mm²/s).
        stick_dirs: ``(3, 3)`` unit axes of sticks 1..3 (rows).
        d_par / d_perp: ``()`` zeppelin axial / radial diffusivities (mm²/s).
        zeppelin_dir: ``(3,)`` unit axis of the zeppelin.
    """

    fractions: Array
    d_ball: Array
    d_stick: Array
    stick_dirs: Array
    d_par: Array
    d_perp: Array
    zeppelin_dir: Array


def tissue_signal(protocol: Protocol, tissue: Tissue) -> Array:
    """S / S0 = Σ_c f_c S_c(b, g): ``(n,)``. Compartments with f_c = 0 contribute exactly 0."""
    signals = jnp.stack(
        [
            ball(protocol, tissue.d_ball),
            stick(protocol, tissue.d_stick, tissue.stick_dirs[0]),
            stick(protocol, tissue.d_stick, tissue.stick_dirs[1]),
            stick(protocol, tissue.d_stick, tissue.stick_dirs[2]),
            zeppelin(protocol, tissue.d_par, tissue.d_perp, tissue.zeppelin_dir),
            dot(protocol),
        ]
    )
    on = tissue.fractions != 0
    return jnp.sum(jnp.where(on[:, None], tissue.fractions[:, None] * signals, 0.0), axis=0)
