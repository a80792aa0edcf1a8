"""Compartment signals against closed forms and dipy's simulator; noise against scipy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from jaxsbi import dmri
from jaxsbi.dmri.protocol import Protocol


def _rotation(seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def _sphere(n):
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = i * np.pi * (3 - np.sqrt(5))
    r = np.sqrt(1 - z**2)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1).astype(np.float32)


@jax.jit
def _signals(protocol, d, d_perp, mu):
    return jnp.stack(
        [
            dmri.ball(protocol, d),
            dmri.stick(protocol, d, mu),
            dmri.zeppelin(protocol, d, d_perp, mu),
            dmri.dot(protocol),
            dmri.tensor(protocol, d_perp * jnp.eye(3) + (d - d_perp) * jnp.outer(mu, mu)),
        ]
    )


def test_limits_and_closed_forms():
    mu = np.array([0.0, 0.6, 0.8], np.float32)
    perp = np.array([1.0, 0.0, 0.0], np.float32)
    b = np.array([0.0, 1000.0, 1000.0, 3000.0], np.float32)
    g = np.stack([perp, mu, perp, mu])
    d, dp = 1.7e-3, 0.4e-3
    s = np.asarray(_signals(Protocol(jnp.asarray(b), jnp.asarray(g)), d, dp, jnp.asarray(mu)))
    ball, stick, zep, dot, ten = s
    np.testing.assert_allclose(s[:, 0], 1.0)  # b = 0 gives S0 for every compartment
    np.testing.assert_allclose(ball, np.exp(-b * d), rtol=1e-6)
    np.testing.assert_allclose(stick, [1, np.exp(-1000 * d), 1, np.exp(-3000 * d)], rtol=1e-5)
    np.testing.assert_allclose(
        zep, [1, np.exp(-1000 * d), np.exp(-1000 * dp), np.exp(-3000 * d)], rtol=1e-5
    )
    np.testing.assert_array_equal(dot, 1.0)
    np.testing.assert_allclose(ten, zep, rtol=1e-5)  # zeppelin = axially symmetric tensor
    # zeppelin limits: d_perp = 0 is the stick, d_perp = d_par the ball
    p = Protocol(jnp.asarray(b), jnp.asarray(g))
    np.testing.assert_allclose(dmri.zeppelin(p, d, 0.0, mu), stick, rtol=1e-6)
    np.testing.assert_allclose(dmri.zeppelin(p, d, d, mu), ball, rtol=1e-6)


def test_rotation_invariance():
    protocol = dmri.uk_biobank_like()
    mu = dmri.orientation(0.7, 2.1)
    r = jnp.asarray(_rotation(3), jnp.float32)
    rotated = Protocol(protocol.bvals, protocol.bvecs @ r.T)
    a = _signals(protocol, 2e-3, 0.5e-3, mu)
    b = _signals(rotated, 2e-3, 0.5e-3, r @ mu)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-6)


def test_stick_powder_average():
    # Mean of exp(-b d (g.mu)^2) over the sphere = sqrt(pi) erf(sqrt(bd)) / (2 sqrt(bd)).
    g = _sphere(20000)
    p = Protocol(jnp.full((20000,), 2500.0), jnp.asarray(g))
    bd = 2500.0 * 1.2e-3
    mean = float(jnp.mean(dmri.stick(p, 1.2e-3, dmri.orientation(0.3, 1.0))))
    assert mean == pytest.approx(
        np.sqrt(np.pi) * special.erf(np.sqrt(bd)) / (2 * np.sqrt(bd)), abs=2e-4
    )


def test_orientation_helpers():
    theta, phi = 2.5, 4.0  # lower hemisphere
    mu = dmri.orientation(theta, phi)
    assert float(jnp.linalg.norm(mu)) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(dmri.orientation_from_cos(np.cos(theta), phi), mu, atol=1e-6)
    t2, p2 = dmri.angles(mu)
    np.testing.assert_allclose(dmri.orientation(t2, p2), -mu, atol=1e-6)  # same axis, upper
    assert float(t2) <= np.pi / 2 and 0 <= float(p2) < 2 * np.pi
    np.testing.assert_allclose(dmri.mix(jnp.array([0.25, 0.75]), jnp.ones((2, 3))), 1.0)


def test_tissue_signal_matches_dipy_sticks_and_ball():
    pytest.importorskip("dipy")
    from dipy.core.gradients import gradient_table
    from dipy.sims.voxel import sticks_and_ball

    protocol = dmri.load_dipy_protocol("gtab_3shell")
    gtab = gradient_table(
        np.asarray(protocol.bvals, np.float64), bvecs=np.asarray(protocol.bvecs, np.float64)
    )
    angles = [(30.0, 40.0), (80.0, 200.0)]
    ref, sticks = sticks_and_ball(
        gtab, d=1.5e-3, S0=1.0, angles=angles, fractions=(40, 25), snr=None
    )
    tissue = dmri.Tissue(
        fractions=jnp.array([0.35, 0.40, 0.25, 0.0, 0.0, 0.0]),
        d_ball=jnp.float32(1.5e-3),
        d_stick=jnp.float32(1.5e-3),
        stick_dirs=jnp.asarray(np.r_[sticks, [[0.0, 0.0, 1.0]]], jnp.float32),
        d_par=jnp.float32(0.0),
        d_perp=jnp.float32(0.0),
        zeppelin_dir=jnp.array([0.0, 0.0, 1.0]),
    )
    np.testing.assert_allclose(np.asarray(dmri.tissue_signal(protocol, tissue)), ref, atol=2e-6)


def test_zeppelin_matches_dipy_multi_tensor():
    pytest.importorskip("dipy")
    from dipy.core.gradients import gradient_table
    from dipy.sims.voxel import multi_tensor

    protocol = dmri.load_dipy_protocol("gtab_isbi2013_2shell")
    gtab = gradient_table(
        np.asarray(protocol.bvals, np.float64), bvecs=np.asarray(protocol.bvecs, np.float64)
    )
    ref, _ = multi_tensor(
        gtab,
        np.array([[1.9e-3, 0.3e-3, 0.3e-3]]),
        S0=1.0,
        angles=[(50.0, 120.0)],
        fractions=[100],
        snr=None,
    )
    mu = dmri.orientation(np.radians(50.0), np.radians(120.0))
    np.testing.assert_allclose(
        np.asarray(dmri.zeppelin(protocol, 1.9e-3, 0.3e-3, mu)), ref, atol=2e-6
    )


# ---- noise --------------------------------------------------------------------------------------


def test_rician_log_prob_matches_scipy():
    s = np.linspace(0.01, 4.0, 40)
    for nu, sigma in [(0.0, 0.5), (0.7, 0.3), (1.0, 0.05), (2.0, 0.002)]:
        ref = stats.rice.logpdf(s, nu / sigma, scale=sigma)
        ours = np.asarray(jax.jit(dmri.rician_log_prob)(jnp.asarray(s, jnp.float32), nu, sigma))
        finite = ref > -1e4
        np.testing.assert_allclose(ours[finite], ref[finite], rtol=2e-5, atol=2e-3)
    # high SNR: I0 overflows in float64 (z = 5e5); the scaled form stays finite and exact
    assert float(dmri.rician_log_prob(jnp.float32(1.0), 1.0, 1e-3)) == pytest.approx(
        stats.rice.logpdf(1.0, 1000.0, scale=1e-3), rel=1e-5
    )
    assert float(dmri.rician_log_prob(jnp.float32(-0.1), 1.0, 0.1)) == -np.inf
    z = np.array([0.0, 0.5, 20.0, 700.0])
    np.testing.assert_allclose(
        dmri.log_i0(jnp.asarray(z)), np.log(special.i0(z)), rtol=1e-5, atol=1e-6
    )
    ref = stats.norm.logpdf(s, 1.0, 0.2)
    np.testing.assert_allclose(
        dmri.gaussian_log_prob(jnp.asarray(s), 1.0, 0.2), ref, rtol=1e-5, atol=1e-6
    )


@pytest.mark.slow
def test_noise_samplers_match_their_densities():
    nu, snr = 0.6, 4.0  # sigma = 0.25: clearly non-Gaussian
    keys = jax.random.split(jax.random.key(0), 2)
    rice = np.asarray(dmri.add_rician_noise(keys[0], jnp.full((40000,), nu), snr))
    gauss = np.asarray(dmri.add_gaussian_noise(keys[1], jnp.full((40000,), nu), snr))
    assert stats.kstest(rice, stats.rice(nu / 0.25, scale=0.25).cdf).pvalue > 1e-3
    assert stats.kstest(gauss, stats.norm(nu, 0.25).cdf).pvalue > 1e-3
    assert np.mean(rice**2) == pytest.approx(
        nu**2 + 2 * 0.25**2, rel=0.02
    )  # E s^2 = nu^2 + 2 sigma^2
    same = np.asarray(dmri.add_rician_noise(keys[0], jnp.full((40000,), nu), snr))
    np.testing.assert_array_equal(same, rice)
