"""Strong gravitational lensing: images of a Sérsic source behind a singular isothermal ellipsoid.

The simulator ray-traces a square grid of image-plane positions θ through the lens equation

    β = θ − α(θ),

evaluates the source's surface brightness at β (lensing conserves surface brightness, so the
image is I_img(θ) = I_src(β(θ))), averages ``supersample × supersample`` rays per pixel (pixel
integration), blurs with a Gaussian PSF and adds Gaussian noise of known σ. Angles are in
arcseconds; the image is ``(H, W)`` with row index = y (increasing upwards, so plot with
``imshow(origin="lower")``) and column index = x, centred on the optical axis.

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

Source: Sérsic profile I(r) = A exp(−b_n ((r / R_e)^{1/n} − 1)) with the Ciotti & Bertin (1999)
expansion b_n ≈ 2n − 1/3 + 4/(405 n) + 46/(25515 n²), so R_e is the half-light radius and A the
intensity at R_e (n = 1/2 is a Gaussian, n = 1 exponential).

The Task (:func:`lensing`) infers θ = (θ_E, e1, e2) — or (θ_E, e1, e2, γ1, γ2) with
``infer_shear`` — under a uniform box prior; the source (position, R_e, amplitude) and, unless
inferred, the external shear are nuisance parameters drawn inside the simulator from their own
priors, so the learned posterior marginalises over them.

Example:
    >>> import jax
    >>> task = lensing()
    >>> theta = task.prior.sample(jax.random.key(0), (4,))
    >>> jax.vmap(task.simulate)(jax.random.split(jax.random.key(1), 4), theta).shape
    (4, 32, 32)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import ndtri

from jaxsbi.distributions import uniform
from jaxsbi.tasks.base import Task

__all__ = [
    "LensingConfig",
    "Nuisance",
    "LensingSimulator",
    "ellipticity_to_q_phi",
    "sie_deflection",
    "sis_deflection",
    "shear_deflection",
    "sie_convergence",
    "sersic",
    "sersic_b",
    "pixel_grid",
    "gaussian_psf_matrix",
    "ray_trace",
    "lensing_simulator",
    "lensing",
    "image_moments",
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


# --------------------------------------------------------------------------------------------
# Lens models
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Source, grid, PSF
# --------------------------------------------------------------------------------------------


def sersic_b(n) -> Array:
    """b_n with I(R_e) = A enclosing half the light (Ciotti & Bertin 1999, n ≳ 0.36)."""
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n**2)


def sersic(bx: Array, by: Array, amplitude, r_eff, n, center=(0.0, 0.0)) -> Array:
    """Circular Sérsic surface brightness A exp(−b_n ((r/R_e)^{1/n} − 1)) at source positions.

    Args:
        bx, by: source-plane positions (equal shapes).
        amplitude: A, the intensity at r = R_e.
        r_eff: half-light radius R_e (> 0).
        n: Sérsic index (> 0).
        center: source centre.

    Returns:
        Intensity with the shape of ``bx``.
    """
    r = jnp.sqrt((bx - center[0]) ** 2 + (by - center[1]) ** 2)
    # Tiny floor: (0)^(1/n) has an infinite derivative for n > 1.
    rr = jnp.maximum(r / r_eff, 1e-12)
    return amplitude * jnp.exp(-sersic_b(n) * (rr ** (1.0 / n) - 1.0))


def pixel_grid(size: int, fov: float, supersample: int = 1) -> tuple[Array, Array]:
    """Ray positions of a ``size × size`` image of side ``fov`` centred on the axis.

    Returns:
        ``(x, y)``, each ``(size, supersample, size, supersample)``: ray (iy, sy, ix, sx) is
        sub-pixel (sy, sx) of pixel (iy, ix); averaging axes 1 and 3 integrates over pixels.
    """
    n = size * supersample
    c = (jnp.arange(n, dtype=jnp.float32) + 0.5) * (fov / n) - 0.5 * fov
    y, x = jnp.meshgrid(c, c, indexing="ij")
    shape = (size, supersample, size, supersample)
    return x.reshape(shape), y.reshape(shape)


def gaussian_psf_matrix(size: int, pixel_scale: float, fwhm: float) -> Array:
    """``(size, size)`` matrix B with image ↦ B @ image @ B.T a Gaussian blur of that FWHM.

    B[i, j] = g(i − j), the pixel-sampled Gaussian normalised to unit sum over all integer
    offsets, truncated at the image border (flux blurred off the image is lost, as on a
    detector). ``fwhm = 0`` gives the identity.
    """
    if fwhm == 0:
        return jnp.eye(size, dtype=jnp.float32)
    sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0))) / pixel_scale  # in pixels
    half = max(int(math.ceil(5 * sigma)), size)
    offsets = np.arange(-half, half + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    idx = np.arange(size)
    diff = idx[:, None] - idx[None, :]
    return jnp.asarray(kernel[diff + half], jnp.float32)


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


# --------------------------------------------------------------------------------------------
# The task
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LensingConfig:
    """Image, instrument and prior settings (arcsec throughout).

    Attributes:
        size: image side in pixels (32 on CPU, 64 on an accelerator).
        fov: side of the field of view.
        supersample: rays per pixel side (pixel integration).
        psf_fwhm: FWHM of the Gaussian PSF (0 disables the blur).
        noise_sigma: standard deviation of the Gaussian pixel noise (known).
        theta_e_range: box prior on the Einstein radius θ_E.
        e_max: box prior e1, e2 ∈ [−e_max, e_max] (|e| ≤ √2 e_max < 1 is required).
        infer_shear: infer (γ1, γ2) ∈ [−shear_max, shear_max]² as θ[3:5]; otherwise the shear
            is a nuisance with components ~ N(0, shear_std²).
        shear_std: nuisance shear scale (0 disables the external shear).
        shear_max: half-width of the box prior on inferred shear.
        source_offset_max: nuisance source centre ~ U[−m, m]².
        source_r_eff_range: nuisance half-light radius ~ U[lo, hi].
        source_amplitude_range: nuisance intensity at R_e ~ U[lo, hi].
        source_n: Sérsic index of the source (fixed).
    """

    size: int = 32
    fov: float = 4.0
    supersample: int = 2
    psf_fwhm: float = 0.25
    noise_sigma: float = 0.2
    theta_e_range: tuple[float, float] = (0.6, 1.4)
    e_max: float = 0.3
    infer_shear: bool = False
    shear_std: float = 0.02
    shear_max: float = 0.1
    source_offset_max: float = 0.3
    source_r_eff_range: tuple[float, float] = (0.1, 0.35)
    source_amplitude_range: tuple[float, float] = (0.6, 1.4)
    source_n: float = 1.0

    def __post_init__(self):
        def positive(name, integer=False):
            v = getattr(self, name)
            if integer and (not isinstance(v, int) or isinstance(v, bool)):
                raise TypeError(f"lensing.{name} must be an int, got {type(v).__name__}")
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"lensing.{name} must be > 0, got {v}")

        positive("size", integer=True)
        positive("supersample", integer=True)
        for name in ("fov", "source_n", "shear_max", "source_offset_max"):
            positive(name)
        for name in ("psf_fwhm", "noise_sigma", "shear_std"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"lensing.{name} must be >= 0, got {v}")
        if self.size < 4:
            raise ValueError(f"lensing.size must be >= 4 pixels, got {self.size}")
        if not 0 < self.e_max < 1 / math.sqrt(2):
            raise ValueError(
                f"lensing.e_max must be in (0, 1/√2) so that |e| < 1 in the box, got {self.e_max}"
            )
        for name in ("theta_e_range", "source_r_eff_range", "source_amplitude_range"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
                raise ValueError(f"lensing.{name} must satisfy 0 < low < high, got {(lo, hi)}")

    @property
    def pixel_scale(self) -> float:
        return self.fov / self.size

    @property
    def theta_names(self) -> tuple[str, ...]:
        names = ("theta_E", "e1", "e2")
        return names + ("gamma1", "gamma2") if self.infer_shear else names

    @property
    def prior_bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        lo = [self.theta_e_range[0], -self.e_max, -self.e_max]
        hi = [self.theta_e_range[1], self.e_max, self.e_max]
        if self.infer_shear:
            lo += [-self.shear_max, -self.shear_max]
            hi += [self.shear_max, self.shear_max]
        return tuple(lo), tuple(hi)


class Nuisance(NamedTuple):
    """Parameters drawn inside the simulator (scalars; ``shear`` is (2,))."""

    source_center: Array  # (2,)
    source_r_eff: Array
    source_amplitude: Array
    shear: Array  # (2,) the nuisance shear (ignored when inferred)


class LensingSimulator(NamedTuple):
    """The simulator's pure functions (one θ at a time; batch with ``vmap``).

    Attributes:
        simulate: ``simulate(key, theta (d,)) -> x (size, size)``: noisy image.
        noiseless: ``noiseless(key, theta) -> (size, size)``: the same draw without noise (the
            nuisance draw of ``simulate`` with the same key).
        render: ``render(theta, nuisance) -> (size, size)``: noiseless image for given
            nuisance parameters.
        sample_nuisance: ``sample_nuisance(key) -> Nuisance``.
        config: the :class:`LensingConfig`.
    """

    simulate: Callable[[Array, Array], Array]
    noiseless: Callable[[Array, Array], Array]
    render: Callable[[Array, Nuisance], Array]
    sample_nuisance: Callable[[Array], Nuisance]
    config: LensingConfig


def lensing_simulator(config: LensingConfig = LensingConfig()) -> LensingSimulator:
    """Build the simulator functions for ``config`` (see :class:`LensingSimulator`)."""
    if not isinstance(config, LensingConfig):
        raise TypeError(f"config must be a LensingConfig, got {type(config).__name__}")
    c = config
    d = 5 if c.infer_shear else 3
    gx, gy = pixel_grid(c.size, c.fov, c.supersample)
    blur = gaussian_psf_matrix(c.size, c.pixel_scale, c.psf_fwhm)

    def check_theta(theta):
        if theta.shape != (d,):
            raise ValueError(f"theta must have shape ({d},) {c.theta_names}, got {theta.shape}")

    def sample_nuisance(key: Array) -> Nuisance:
        # One uniform draw for everything (each random draw is a threefry kernel to compile);
        # the shear's normals come from the inverse normal CDF, which is exact in law.
        u = jax.random.uniform(key, (6,), minval=1e-7, maxval=1.0 - 1e-7)
        m = c.source_offset_max
        (r_lo, r_hi), (a_lo, a_hi) = c.source_r_eff_range, c.source_amplitude_range
        return Nuisance(
            (2.0 * u[0:2] - 1.0) * m,
            r_lo + (r_hi - r_lo) * u[2],
            a_lo + (a_hi - a_lo) * u[3],
            c.shear_std * ndtri(u[4:6]),
        )

    def render(theta: Array, nuisance: Nuisance) -> Array:
        theta = jnp.asarray(theta, jnp.float32)
        check_theta(theta)
        shear = theta[3:5] if c.infer_shear else nuisance.shear
        bx, by = ray_trace(gx, gy, theta[0], theta[1], theta[2], shear[0], shear[1])
        sb = sersic(
            bx,
            by,
            nuisance.source_amplitude,
            nuisance.source_r_eff,
            c.source_n,
            (nuisance.source_center[0], nuisance.source_center[1]),
        )
        img = jnp.mean(sb, axis=(1, 3))
        return blur @ img @ blur.T

    def noiseless(key: Array, theta: Array) -> Array:
        k_nuis, _ = jax.random.split(key)
        return render(theta, sample_nuisance(k_nuis))

    def simulate(key: Array, theta: Array) -> Array:
        k_nuis, k_noise = jax.random.split(key)
        img = render(theta, sample_nuisance(k_nuis))
        return img + c.noise_sigma * jax.random.normal(k_noise, img.shape)

    return LensingSimulator(simulate, noiseless, render, sample_nuisance, c)


def image_moments(
    image: Array, fov: float, num_rings: int = 8, r_max: float | None = None
) -> Array:
    """Low-dimensional summaries of one lensing image: radial profile and quadrupoles.

    The image is split into ``num_rings`` annuli of equal width about the optical axis, out to
    ``r_max`` (default half the field of view). Per annulus: the mean intensity, and the
    intensity-weighted mean of cos 2φ and sin 2φ (φ the pixel's position angle). An Einstein
    ring puts the profile's peak at θ_E; an elliptical lens makes the ring's light
    anisotropic, which the quadrupoles (e1-, e2-like) pick up. Not used by the simulator or the
    estimator: a fixed feature map for diagnostics (e.g. the ROC ratio check, which needs a
    classifier that can tell images apart; see ``benchmarks/lensing.py``).

    Args:
        image: ``(size, size)`` image (row index = y, as the simulator's).
        fov: side of the field of view (arcsec).
        num_rings: number of annuli.
        r_max: outer radius of the last annulus (default ``fov / 2``).

    Returns:
        ``(3 · num_rings,)``: the ring means, then the cos 2φ moments, then the sin 2φ moments.
    """
    if image.ndim != 2 or image.shape[0] != image.shape[1]:
        raise ValueError(f"image must be square (size, size), got shape {image.shape}")
    size = image.shape[0]
    r_max = 0.5 * fov if r_max is None else r_max
    x, y = pixel_grid(size, fov)
    x, y = x[:, 0, :, 0], y[:, 0, :, 0]
    r = jnp.sqrt(x**2 + y**2)
    phi = jnp.arctan2(y, x)
    ring = jnp.floor(r / r_max * num_rings).astype(jnp.int32)
    onehot = (ring[..., None] == jnp.arange(num_rings)[None, None, :]).astype(image.dtype)
    count = jnp.sum(onehot, axis=(0, 1))
    total = jnp.einsum("hw,hwr->r", image, onehot)
    c2 = jnp.einsum("hw,hwr->r", image * jnp.cos(2 * phi), onehot)
    s2 = jnp.einsum("hw,hwr->r", image * jnp.sin(2 * phi), onehot)
    mean = total / jnp.maximum(count, 1.0)
    # Normalise the quadrupoles by the ring's light (|total| guarded: noise can make it ~0).
    norm = jnp.maximum(jnp.abs(total), 1e-3 * jnp.maximum(count, 1.0))
    return jnp.concatenate([mean, c2 / norm, s2 / norm])


@functools.cache
def lensing(config: LensingConfig = LensingConfig()) -> Task:
    """The strong-lensing task: infer (θ_E, e1, e2[, γ1, γ2]) from a ``(size, size)`` image.

    Prior: independent uniforms, θ_E ∈ ``theta_e_range`` (default [0.6, 1.4]″), e1, e2 ∈
    [−e_max, e_max] (default 0.3, i.e. axis ratios q ≥ 0.41), and with ``infer_shear``
    γ1, γ2 ∈ [−shear_max, shear_max]. Nuisance (drawn in the simulator, marginalised):
    source centre ~ U[−0.3, 0.3]²″, R_e ~ U[0.1, 0.35]″, amplitude ~ U[0.6, 1.4], shear
    components ~ N(0, 0.02²); Sérsic n = 1; PSF FWHM 0.25″; noise σ = 0.2; 32 × 32 pixels over
    4″ with 2 × 2 rays per pixel. The likelihood is intractable (nuisance integral), so
    ``log_likelihood`` is None.

    Cached per config, so ``lensing()`` returns the same Task (and the same compiled
    ``simulate``) on every call.
    """
    sim = lensing_simulator(config)
    lo, hi = config.prior_bounds
    return Task(
        name="lensing" if config == LensingConfig() else f"lensing_{config.size}",
        prior=uniform(lo, hi),
        simulate=sim.simulate,
        x_shape=(config.size, config.size),
        log_likelihood=None,
        theta_names=config.theta_names,
    )
