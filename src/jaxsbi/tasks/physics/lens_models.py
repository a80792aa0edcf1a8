"""Lens models of the strong-lensing task: deflection angles and ray tracing.

Rays θ of the image plane map to the source plane by the lens equation β = θ − α(θ)
(:func:`ray_trace`). Angles are in arcseconds.

Lens: singular isothermal ellipsoid (SIE), Kormann, Schneider & Bartelmann (1994), in the form of
Keeton (2001, "A catalog of mass models for gravitational lensing", astro-ph/0102341, §3.3 with
core s = 0) and normalised as in lenstronomy's SIE. In the lens frame (major axis along x', axis
ratio 0 < q ≤ 1) the convergence is

    κ(x', y') = θ_E / (2 √(q x'² + y'²/q)),

so θ_E is the circularised Einstein radius: the critical curve is the κ = 1/2 ellipse, whose area
is π θ_E². With ψ = √(q² x'² + y'²) and s_q = √(1 − q²), the deflection is

    α_x' = θ_E √q / s_q · arctan (s_q x' / ψ),
    α_y' = θ_E √q / s_q · arctanh(s_q y' / ψ),

rotated back by the position angle φ. For q → 1 both tend to θ_E · θ/|θ|, the singular
isothermal sphere (SIS); below s_q = 1e-2 a second-order series is used (exact at q = 1). The
ellipticity is given as components (e1, e2) as in lenstronomy:
φ = ½ atan2(e2, e1), |e| = √(e1² + e2²), q = (1 − |e|) / (1 + |e|).

External shear (γ1, γ2) adds α = (γ1 x + γ2 y, γ2 x − γ1 y) (potential ½ γ1 (x² − y²) + γ2 x y).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = [
    "ellipticity_to_q_phi",
    "sie_deflection",
    "sis_deflection",
    "shear_deflection",
    "sie_convergence",
    "ray_trace",
]

# Below this s_q = √(1 − q²) the closed form (a ratio of two small numbers) is replaced by its
# Taylor series: atan(s z)/s = z − s² z³/3 + O(s⁴), atanh(s z)/s = z + s² z³/3 + O(s⁴). The
# neglected s⁴ term is < 1e-8 relative, below float32 resolution.
_SERIES_BELOW = 1e-2
# ψ = 0 only at the lens centre, where α is bounded but undefined; keep the division finite.
_TINY = 1e-12


def _is_concrete(*values) -> bool:
    return not any(isinstance(v, jax.core.Tracer) for v in values)


def _check_range(name: str, value, lo: float, hi: float, *, lo_open=False) -> None:
    """Raise ValueError when a concrete (non-traced) value is NaN/inf or outside [lo, hi]."""
    if not _is_concrete(value):
        return
    v = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite, got {value}")
    below = v <= lo if lo_open else v < lo
    if np.any(below) or np.any(v > hi):
        bracket = "(" if lo_open else "["
        raise ValueError(f"{name} must lie in {bracket}{lo}, {hi}], got {value}")


def ellipticity_to_q_phi(e1: Array, e2: Array) -> tuple[Array, Array]:
    """Axis ratio q = (1 − |e|)/(1 + |e|) and position angle φ = ½ atan2(e2, e1) (scalars).

    Raises:
        ValueError: for concrete ``|e| >= 1`` (q would not be positive).
    """
    if _is_concrete(e1, e2):
        mod = float(np.hypot(np.asarray(e1, np.float64), np.asarray(e2, np.float64)))
        if not mod < 1.0:
            raise ValueError(f"|e| = sqrt(e1² + e2²) must be < 1, got {mod} (e1={e1}, e2={e2})")
    e1 = jnp.asarray(e1, jnp.float32)
    e2 = jnp.asarray(e2, jnp.float32)
    mod = jnp.sqrt(e1**2 + e2**2)
    q = (1.0 - mod) / (1.0 + mod)
    phi = 0.5 * jnp.arctan2(e2, e1)
    return q, phi


def _rotate(x: Array, y: Array, cos: Array, sin: Array) -> tuple[Array, Array]:
    return cos * x - sin * y, sin * x + cos * y


def sis_deflection(x: Array, y: Array, theta_e, center=(0.0, 0.0)) -> tuple[Array, Array]:
    """Singular isothermal sphere: α = θ_E (θ − c)/|θ − c| (0 at the centre itself).

    Args:
        x, y: image-plane positions (any equal shapes), arcsec.
        theta_e: Einstein radius (scalar), arcsec.
        center: lens centre (x, y).

    Returns:
        ``(alpha_x, alpha_y)`` with the shape of ``x``.
    """
    dx, dy = x - center[0], y - center[1]
    r = jnp.sqrt(dx**2 + dy**2)
    inv = jnp.where(r > 0, 1.0 / jnp.where(r > 0, r, 1.0), 0.0)
    return theta_e * dx * inv, theta_e * dy * inv


def sie_deflection(x: Array, y: Array, theta_e, q, phi, center=(0.0, 0.0)) -> tuple[Array, Array]:
    """Deflection of a singular isothermal ellipsoid (Kormann et al. 1994; Keeton 2001).

    See the module docstring for the formulae and the normalisation of ``theta_e``.

    Args:
        x, y: image-plane positions (any equal shapes), arcsec.
        theta_e: circularised Einstein radius (scalar, > 0).
        q: axis ratio of the iso-convergence ellipses, 0 < q ≤ 1 (scalar).
        phi: position angle of the major axis, radians counter-clockwise from +x (scalar).
        center: lens centre (x, y).

    Returns:
        ``(alpha_x, alpha_y)`` with the shape of ``x``.

    Raises:
        ValueError: for concrete ``q`` outside (0, 1] or non-finite / negative ``theta_e``.
    """
    _check_range("q", q, 0.0, 1.0, lo_open=True)
    _check_range("theta_e", theta_e, 0.0, math.inf)
    q = jnp.asarray(q, jnp.float32)
    cos, sin = jnp.cos(phi), jnp.sin(phi)
    # Into the lens frame (rotate by −φ), deflect, and rotate the vector back by +φ.
    xp, yp = _rotate(x - center[0], y - center[1], cos, -sin)
    psi = jnp.maximum(jnp.sqrt(q**2 * xp**2 + yp**2), _TINY)
    s = jnp.sqrt(jnp.maximum(1.0 - q**2, 0.0))
    zx, zy = xp / psi, yp / psi
    small = s < _SERIES_BELOW
    s_safe = jnp.where(small, 1.0, s)
    fx_exact = jnp.arctan(s_safe * zx) / s_safe
    # |s z_y| ≤ s < 1 since ψ ≥ |y'|; clip guards the float32 rounding at that bound.
    fy_exact = jnp.arctanh(jnp.clip(s_safe * zy, -1.0 + 1e-7, 1.0 - 1e-7)) / s_safe
    fx_series = zx - s**2 * zx**3 / 3.0
    fy_series = zy + s**2 * zy**3 / 3.0
    fx = jnp.where(small, fx_series, fx_exact)
    fy = jnp.where(small, fy_series, fy_exact)
    scale = theta_e * jnp.sqrt(q)
    return _rotate(scale * fx, scale * fy, cos, sin)


def sie_convergence(x: Array, y: Array, theta_e, q, phi, center=(0.0, 0.0)) -> Array:
    """κ = θ_E / (2 √(q x'² + y'²/q)) in the lens frame (for tests and plots)."""
    cos, sin = jnp.cos(phi), jnp.sin(phi)
    xp, yp = _rotate(x - center[0], y - center[1], cos, -sin)
    return theta_e / (2.0 * jnp.sqrt(q * xp**2 + yp**2 / q))


def shear_deflection(x: Array, y: Array, gamma1, gamma2) -> tuple[Array, Array]:
    """External shear: α = (γ1 x + γ2 y, γ2 x − γ1 y), from ψ = ½ γ1 (x² − y²) + γ2 x y."""
    return gamma1 * x + gamma2 * y, gamma2 * x - gamma1 * y


def ray_trace(
    x: Array,
    y: Array,
    theta_e,
    e1,
    e2,
    gamma1=0.0,
    gamma2=0.0,
    center=(0.0, 0.0),
) -> tuple[Array, Array]:
    """Source-plane positions β = θ − α_SIE(θ) − α_shear(θ) of image-plane rays θ = (x, y)."""
    q, phi = ellipticity_to_q_phi(e1, e2)
    ax, ay = sie_deflection(x, y, theta_e, q, phi, center)
    sx, sy = shear_deflection(x - center[0], y - center[1], gamma1, gamma2)
    return x - ax - sx, y - ay - sy
