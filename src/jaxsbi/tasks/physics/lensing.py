"""Strong gravitational lensing: images of a Sérsic source behind a singular isothermal ellipsoid.

The simulator ray-traces a square grid of image-plane positions θ through the lens equation

    β = θ − α(θ),

evaluates the source's surface brightness at β (lensing conserves surface brightness, so the
image is I_img(θ) = I_src(β(θ))), averages ``supersample × supersample`` rays per pixel (pixel
integration), blurs with a Gaussian PSF and adds Gaussian noise of known σ. Angles are in
arcseconds; the image is ``(H, W)`` with row index = y (increasing upwards, so plot with
``imshow(origin="lower")``) and column index = x, centred on the optical axis.

This module holds the simulator and the task record; the lens (SIE + external shear,
deflections, ray tracing) is in :mod:`jaxsbi.tasks.physics.lens_models`, the source profile,
pixel grid, PSF and image summaries in :mod:`jaxsbi.tasks.physics.lens_imaging`.

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
from jax import Array
from jax.scipy.special import ndtri

from jaxsbi.distributions import uniform
from jaxsbi.tasks.base import Task
from jaxsbi.tasks.physics.lens_imaging import gaussian_psf_matrix, pixel_grid, sersic
from jaxsbi.tasks.physics.lens_models import ray_trace

__all__ = [
    "LensingConfig",
    "Nuisance",
    "LensingSimulator",
    "lensing_simulator",
    "lensing",
]


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
