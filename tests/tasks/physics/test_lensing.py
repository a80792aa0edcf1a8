"""Strong-lensing simulator against closed-form lensing results."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi.tasks.physics.lens_imaging import gaussian_psf_matrix, pixel_grid, sersic, sersic_b
from jaxsbi.tasks.physics.lens_models import (
    ellipticity_to_q_phi,
    ray_trace,
    sie_convergence,
    sie_deflection,
    sis_deflection,
)
from jaxsbi.tasks.physics.lensing import LensingConfig, Nuisance, lensing, lensing_simulator


def _points(key, n=500, lo=0.05, hi=2.0):
    k_r, k_a = jax.random.split(key)
    r = jax.random.uniform(k_r, (n,), minval=lo, maxval=hi)
    a = jax.random.uniform(k_a, (n,), minval=0.0, maxval=2 * math.pi)
    return r * jnp.cos(a), r * jnp.sin(a)


def _nuisance(center=(0.0, 0.0), r_eff=0.1, amplitude=1.0, shear=(0.0, 0.0)):
    return Nuisance(
        jnp.asarray(center, jnp.float32),
        jnp.asarray(r_eff, jnp.float32),
        jnp.asarray(amplitude, jnp.float32),
        jnp.asarray(shear, jnp.float32),
    )


def test_circular_sie_is_the_sis_exactly():
    x, y = _points(jax.random.key(0))
    theta_e = 1.3
    r = np.hypot(np.asarray(x), np.asarray(y))
    expected = (theta_e * np.asarray(x) / r, theta_e * np.asarray(y) / r)
    for phi in (0.0, 0.9):  # the angle of a circular lens is irrelevant
        ax, ay = sie_deflection(x, y, theta_e, 1.0, phi)
        np.testing.assert_allclose(ax, expected[0], rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(ay, expected[1], rtol=2e-6, atol=1e-6)
    # |α| = θ_E everywhere for the SIS.
    ax, ay = sis_deflection(x, y, theta_e)
    np.testing.assert_allclose(np.hypot(ax, ay), theta_e, rtol=1e-6)
    # The lens equation from e = 0 uses the same deflection.
    bx, by = ray_trace(x, y, theta_e, 0.0, 0.0)
    np.testing.assert_allclose(bx, np.asarray(x) - expected[0], atol=2e-6)


def test_sie_tends_to_sis_as_q_to_one():
    x, y = _points(jax.random.key(1))
    sx, sy = sis_deflection(x, y, 1.0)
    errors = []
    # Both sides of the series switch (s = √(1 − q²) = 1e-2 ⇔ q ≈ 0.99995).
    for q in (0.9, 0.99, 0.999, 0.99990, 0.99996, 0.99999):
        ax, ay = sie_deflection(x, y, 1.0, q, 0.4)
        err = float(jnp.max(jnp.hypot(ax - sx, ay - sy)))
        errors.append(err)
        # The SIE deflection differs from the SIS by O(1 − q).
        assert err < 2.0 * (1.0 - q) + 2e-6, (q, err)
    assert errors == sorted(errors, reverse=True)


def test_sie_satisfies_the_poisson_equation():
    # ∇·α = 2κ, ∇×α = 0, and for an isothermal profile the shear modulus equals κ.
    theta_e, q, phi, center = 1.1, 0.55, 0.7, (0.1, -0.2)
    x, y = _points(jax.random.key(2), n=200, lo=0.2, hi=2.0)
    x, y = x + center[0], y + center[1]

    def alpha(p):
        ax, ay = sie_deflection(p[0], p[1], theta_e, q, phi, center)
        return jnp.stack([ax, ay])

    jac = jax.jit(jax.vmap(jax.jacfwd(alpha)))(jnp.stack([x, y], axis=1))  # (n, 2, 2)
    kappa = np.asarray(sie_convergence(x, y, theta_e, q, phi, center))
    div = np.asarray(jac[:, 0, 0] + jac[:, 1, 1])
    np.testing.assert_allclose(div, 2 * kappa, rtol=2e-4)
    np.testing.assert_allclose(jac[:, 0, 1], jac[:, 1, 0], atol=2e-4 * kappa.max())
    gamma = np.hypot(0.5 * (jac[:, 0, 0] - jac[:, 1, 1]), jac[:, 0, 1])
    np.testing.assert_allclose(gamma, kappa, rtol=2e-4)


def test_critical_curve_encloses_area_pi_theta_e_squared():
    # θ_E is the circularised Einstein radius: det(∂β/∂θ) = 1 − 2κ = 0 on the ellipse
    # q x'² + y'²/q = θ_E², whose area is π θ_E². Check det A changes sign there.
    theta_e, q, phi = 0.9, 0.6, 0.3
    t = jnp.linspace(0, 2 * math.pi, 64, endpoint=False)
    xp, yp = theta_e * jnp.cos(t) / math.sqrt(q), theta_e * jnp.sin(t) * math.sqrt(q)
    x, y = xp * math.cos(phi) - yp * math.sin(phi), xp * math.sin(phi) + yp * math.cos(phi)

    def det(p):
        jac = jax.jacfwd(lambda v: jnp.stack(ray_trace(v[0], v[1], theta_e, *_e(q, phi))))(p)
        return jnp.linalg.det(jac)

    for scale, sign in ((0.98, -1.0), (1.02, 1.0)):
        d = jax.jit(jax.vmap(det))(scale * jnp.stack([x, y], axis=1))
        assert np.all(np.sign(d) == sign)


def _e(q, phi):
    mod = (1 - q) / (1 + q)
    return mod * math.cos(2 * phi), mod * math.sin(2 * phi)


def test_ellipticity_conversion():
    q, phi = ellipticity_to_q_phi(0.2, 0.0)
    np.testing.assert_allclose([q, phi], [0.8 / 1.2, 0.0], rtol=1e-6)
    e1, e2 = _e(0.5, 0.6)
    q, phi = ellipticity_to_q_phi(e1, e2)
    np.testing.assert_allclose([q, phi], [0.5, 0.6], rtol=1e-5)
    # The mass (κ) is elongated along φ.
    k_major = sie_convergence(math.cos(0.6), math.sin(0.6), 1.0, 0.5, 0.6)
    k_minor = sie_convergence(-math.sin(0.6), math.cos(0.6), 1.0, 0.5, 0.6)
    assert float(k_major) > float(k_minor)


def test_point_source_on_axis_forms_einstein_ring_at_theta_e():
    theta_e = 1.1
    cfg = LensingConfig(size=128, fov=4.0, supersample=2, psf_fwhm=0.0, shear_std=0.0)
    sim = lensing_simulator(cfg)
    img = np.asarray(jax.jit(sim.render)(jnp.array([theta_e, 0.0, 0.0]), _nuisance(r_eff=0.02)))
    x, y = pixel_grid(cfg.size, cfg.fov)
    r = np.hypot(np.asarray(x), np.asarray(y)).reshape(cfg.size, cfg.size)
    pix = cfg.pixel_scale
    # Brightness-weighted mean radius: a thin ring at |θ| = θ_E (for the SIS the image of a
    # Gaussian source of width w is exp(−(|θ| − θ_E)²/2w²) exactly).
    radius = float(np.sum(r * img) / np.sum(img))
    assert abs(radius - theta_e) < 0.1 * pix, (radius, theta_e, pix)
    # And it is a ring: every direction has its peak at θ_E.
    angles = np.arctan2(np.asarray(y), np.asarray(x)).reshape(cfg.size, cfg.size)
    for a0 in np.linspace(-math.pi, math.pi, 8, endpoint=False):
        sector = np.abs(np.angle(np.exp(1j * (angles - a0)))) < 0.2
        peak_r = r[sector][np.argmax(img[sector])]
        assert abs(peak_r - theta_e) < 1.0 * pix


def test_total_magnification_of_an_sis():
    # A compact source at 0 < |β| < θ_E forms two images with total magnification 2θ_E/|β|;
    # lensing conserves surface brightness, so image flux = ∫ I(β) 2θ_E/|β| d²β.
    theta_e, beta0, w = 1.0, 0.4, 0.03
    cfg = LensingConfig(size=256, fov=4.0, supersample=4, psf_fwhm=0.0, shear_std=0.0)
    sim = lensing_simulator(cfg)
    nuis = _nuisance(center=(beta0, 0.0), r_eff=w)
    img = jax.jit(sim.render)(jnp.array([theta_e, 0.0, 0.0]), nuis)
    flux_image = float(jnp.sum(img)) * cfg.pixel_scale**2
    # Expected flux by quadrature on a fine source-plane grid.
    g = jnp.linspace(-0.25, 0.25, 1001) + 0.0
    bx, by = jnp.meshgrid(g + beta0, g, indexing="xy")
    src = sersic(bx, by, 1.0, w, 1.0, (beta0, 0.0))
    da = float(g[1] - g[0]) ** 2
    expected = float(jnp.sum(src * 2 * theta_e / jnp.hypot(bx, by))) * da
    source_flux = float(jnp.sum(src)) * da
    assert expected / source_flux == pytest.approx(2 * theta_e / beta0, rel=0.01)
    assert flux_image == pytest.approx(expected, rel=5e-3)


def test_uniform_source_gives_uniform_image():
    # Surface-brightness conservation: an (almost) uniform source — a Gaussian with R_e = 10⁴″ —
    # gives the same value in every pixel however strongly it is lensed (SIE + shear).
    cfg = LensingConfig(size=32, supersample=2, psf_fwhm=0.0, noise_sigma=0.0)
    sim = lensing_simulator(dataclass_replace(cfg, source_n=0.5))
    theta = jnp.array([1.3, 0.25, -0.2])
    img = np.asarray(
        jax.jit(sim.render)(theta, _nuisance(r_eff=1e4, amplitude=2.0, shear=(0.05, 0.03)))
    )
    np.testing.assert_allclose(img, 2.0 * math.exp(float(sersic_b(0.5))), rtol=1e-4)
    # With the PSF on, pixels further than the kernel from the border stay uniform.
    sim_psf = lensing_simulator(dataclass_replace(cfg, source_n=0.5, psf_fwhm=0.25))
    img = np.asarray(jax.jit(sim_psf.render)(theta, _nuisance(r_eff=1e4, amplitude=2.0)))
    np.testing.assert_allclose(img[8:-8, 8:-8], 2.0 * math.exp(float(sersic_b(0.5))), rtol=1e-4)


def dataclass_replace(cfg, **kw):
    import dataclasses

    return dataclasses.replace(cfg, **kw)


def test_psf_matrix_is_a_gaussian_of_the_stated_fwhm():
    size, pix, fwhm = 41, 0.1, 0.5
    blur = gaussian_psf_matrix(size, pix, fwhm)
    point = jnp.zeros((size, size)).at[20, 20].set(1.0)
    psf = np.asarray(blur @ point @ blur.T)
    assert psf.sum() == pytest.approx(1.0, rel=1e-5)
    offsets = (np.arange(size) - 20) * pix
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    var_x = float(np.sum(psf.sum(axis=0) * offsets**2))
    assert var_x == pytest.approx(sigma**2, rel=1e-3)
    np.testing.assert_allclose(psf, psf.T, atol=1e-7)
    np.testing.assert_array_equal(gaussian_psf_matrix(8, 0.1, 0.0), np.eye(8))


@functools.cache
def _simulate_both():
    # One compiled (noisy, noiseless) simulator shared by the tests below.
    sim = lensing_simulator(LensingConfig())
    return jax.jit(jax.vmap(lambda k, t: (sim.simulate(k, t), sim.noiseless(k, t))))


def test_noise_level_matches_sigma():
    task = lensing()
    keys = jax.random.split(jax.random.key(3), 20)
    theta = task.prior.sample(jax.random.key(4), (20,))
    x, clean = _simulate_both()(keys, theta)
    resid = np.asarray(x - clean).ravel()  # 20,480 draws
    assert resid.mean() == pytest.approx(0.0, abs=4 * 0.2 / math.sqrt(resid.size))
    assert resid.std() == pytest.approx(0.2, rel=0.03)


def test_task_contract():
    task = lensing()
    assert task is lensing()  # cached: same simulate function, jit cache hits
    assert task.name == "lensing" and task.x_shape == (32, 32) and task.theta_dim == 3
    assert task.labels == ("theta_E", "e1", "e2")
    theta = task.prior.sample(jax.random.key(0), (20,))
    keys = jax.random.split(jax.random.key(1), 20)
    (x1, _), (x2, _) = _simulate_both()(keys, theta), _simulate_both()(keys, theta)
    assert x1.shape == (20, 32, 32) and x1.dtype == jnp.float32
    np.testing.assert_array_equal(x1, x2)  # same seed, same result
    assert np.all(np.isfinite(np.asarray(x1)))
    # Larger images and inferred shear.
    big = lensing(LensingConfig(size=64, infer_shear=True))
    assert big.x_shape == (64, 64) and big.theta_dim == 5
    assert big.labels == ("theta_E", "e1", "e2", "gamma1", "gamma2")
    t = big.prior.sample(jax.random.key(2))
    assert jax.jit(big.simulate)(jax.random.key(3), t).shape == (64, 64)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="noise_sigma"):
        LensingConfig(noise_sigma=-1.0)
    with pytest.raises(ValueError, match="theta_e_range"):
        LensingConfig(theta_e_range=(1.4, 0.6))
    with pytest.raises(ValueError, match="e_max"):
        LensingConfig(e_max=0.8)
    with pytest.raises(TypeError, match="size"):
        LensingConfig(size=32.0)
    with pytest.raises(ValueError, match="fov"):
        LensingConfig(fov=float("nan"))
    with pytest.raises(TypeError, match="LensingConfig"):
        lensing_simulator({"size": 32})
    task = lensing()
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        task.simulate(jax.random.key(0), jnp.ones(4))
    with pytest.raises(ValueError, match="q must lie"):
        sie_deflection(jnp.ones(3), jnp.ones(3), 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="q must lie"):
        sie_deflection(jnp.ones(3), jnp.ones(3), 1.0, 1.5, 0.0)
    with pytest.raises(ValueError, match="theta_e must be finite"):
        sie_deflection(jnp.ones(3), jnp.ones(3), float("nan"), 0.5, 0.0)
    with pytest.raises(ValueError, match=r"\|e\|"):
        ellipticity_to_q_phi(0.8, 0.7)


def test_image_moments_profile_and_quadrupoles():
    from jaxsbi.tasks.physics.lens_imaging import image_moments

    fov, size = 4.0, 32
    x, y = pixel_grid(size, fov)
    x, y = np.asarray(x[:, 0, :, 0]), np.asarray(y[:, 0, :, 0])
    phi, r = np.arctan2(y, x), np.hypot(x, y)
    # Ring images (Gaussian ring profiles of radius 0.8″ and 1.3″, as an Einstein ring).
    rings = jnp.asarray(
        np.stack([np.exp(-0.5 * ((r - r0) / 0.08) ** 2) for r0 in (0.8, 1.3)]), jnp.float32
    )
    images = jnp.concatenate(
        [
            jnp.ones((1, size, size)),
            jnp.asarray(1.0 + 0.5 * np.cos(2 * phi), jnp.float32)[None],
            rings,
        ]
    )
    m = np.asarray(jax.vmap(lambda im: image_moments(im, fov))(images))
    assert m.shape == (4, 24)
    np.testing.assert_allclose(m[0, :8], 1.0, rtol=1e-6)
    # The pixel grid is symmetric under 90° rotations and reflections: no quadrupole.
    np.testing.assert_allclose(m[0, 8:], 0.0, atol=1e-5)
    # I = 1 + 0.5 cos 2φ: <I cos 2φ> / <I> = 0.5 <cos² 2φ> = 0.25 (rings with many pixels).
    np.testing.assert_allclose(m[1, 8 + 3 : 16], 0.25, atol=0.01)
    np.testing.assert_allclose(m[1, 16:], 0.0, atol=1e-5)
    # The ring profile peaks in the annulus holding the ring (annuli 2″ / 8 = 0.25″ wide).
    assert np.argmax(m[2, :8]) == 3 and np.argmax(m[3, :8]) == 5
    with pytest.raises(ValueError, match="square"):
        image_moments(jnp.ones((4, 5)), fov)
