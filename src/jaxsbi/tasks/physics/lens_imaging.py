"""Imaging for the strong-lensing task: the Sérsic source, the pixel grid, the PSF, and image
summaries.

Source: Sérsic profile I(r) = A exp(−b_n ((r / R_e)^{1/n} − 1)) with the Ciotti & Bertin (1999)
expansion b_n ≈ 2n − 1/3 + 4/(405 n) + 46/(25515 n²), so R_e is the half-light radius and A the
intensity at R_e (n = 1/2 is a Gaussian, n = 1 exponential).

The image is ``(H, W)`` with row index = y (increasing upwards, so plot with
``imshow(origin="lower")``) and column index = x, centred on the optical axis; angles are in
arcseconds. :func:`pixel_grid` places ``supersample × supersample`` rays per pixel (pixel
integration), :func:`gaussian_psf_matrix` is the PSF blur as a matrix, and
:func:`image_moments` a fixed low-dimensional feature map of one image for diagnostics.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = [
    "sersic",
    "sersic_b",
    "pixel_grid",
    "gaussian_psf_matrix",
    "image_moments",
]


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
