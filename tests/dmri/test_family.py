"""The dMRI model family: structure space and prior, θ prior, simulator, PRISM interface.

Each family function is compiled once (module-level ``jit`` with the structure as a traced
argument) and reused across tests: XLA compile time dominates these tests on a small CPU.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxsbi import dmri
from jaxsbi.prism.families import Structure

F = dmri.dmri_family(protocol=dmri.uk_biobank_like())  # fixed protocol (105 measurements)
R = dmri.dmri_family(n_meas=48)  # a random protocol per simulation

_log_prior_theta = jax.jit(jax.vmap(F.theta_log_prior, (0, None)))
_sample_theta = jax.jit(jax.vmap(F.sample_theta, (0, None)))
_structure_log_prior = jax.jit(jax.vmap(F.structure_log_prior, (0, None)))
_joint = jax.jit(R.sample_joint)  # one simulation per call: vmapping doubles the compile time


def test_interface_and_structure_space():
    assert (F.num_components, F.num_noise, F.theta_dim, F.num_models) == (6, 2, 20, 62)
    assert R.n_points == 48 and F.n_points == 105 and F.linear_gaussian is None
    s = F.all_structures()
    a = np.asarray(s.active)
    assert a.shape == (62, 6)
    assert len({(tuple(r), int(n)) for r, n in zip(a, np.asarray(s.noise), strict=True)}) == 62
    assert np.all(a.sum(1) >= 1)
    assert np.all((a[:, 2] <= a[:, 1]) & (a[:, 3] <= a[:, 2]))  # nested sticks
    index = jax.jit(F.structure_index)
    np.testing.assert_array_equal(np.asarray(index(s)), np.arange(62))
    bad = Structure(jnp.array([1, 0, 1, 0, 0, 0]), jnp.array(0))
    assert int(index(bad)) == -1
    np.testing.assert_array_equal(F.component_dims, [2, 4, 3, 3, 5, 1])
    # param_mask: the free dimensions (remainder fraction implied) + 1 SNR
    masks = np.asarray(jax.jit(jax.vmap(F.param_mask))(s))
    assert np.all(masks.sum(1) == a @ F.component_dims - 1 + 1)


def test_structure_prior_closed_form():
    s = F.all_structures()
    dims = np.asarray(s.active) @ F.component_dims
    for lam in (0.0, 0.37, 0.8, 1.0):
        lp = np.asarray(_structure_log_prior(s, lam), np.float64)
        assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-5)
        # p(M | λ) ∝ exp(-(1 - λ) λ_max dim(M)) with p0 = 1/2, and a uniform noise model
        expected = -(1 - lam) * 4.0 * dims
        expected = expected - np.log(np.exp(expected).sum())
        np.testing.assert_allclose(lp, expected, atol=1e-4)
    bad = Structure(jnp.array([[0, 0, 1, 0, 0, 0]]), jnp.array([0]))
    assert float(_structure_log_prior(bad, 0.5)[0]) == -np.inf


@pytest.mark.slow
def test_sample_structure_matches_the_prior():
    draws = jax.jit(jax.vmap(F.sample_structure, (0, None)))(
        jax.random.split(jax.random.key(0), 8000), 0.8
    )
    idx = np.asarray(jax.jit(F.structure_index)(draws))
    assert idx.min() >= 0
    freq = np.bincount(idx, minlength=62) / idx.size
    p = np.exp(np.asarray(_structure_log_prior(F.all_structures(), 0.8)))
    assert 0.5 * np.abs(freq - p).sum() < 0.04  # total variation


def test_theta_prior_is_normalised_on_the_sorted_simplex():
    grid = (np.arange(400) + 0.5) / 400
    u, v = (a.ravel() for a in np.meshgrid(grid, grid, indexing="ij"))
    for comps, free, support in [
        (("ball", "stick1", "stick2"), ("stick1.f", "stick2.f"), 0.25),
        (("stick1", "stick2"), ("stick2.f",), 0.5),
        (("ball", "zeppelin", "dot"), ("zeppelin.f", "dot.f"), 0.5),
    ]:
        m = F.structure(*comps)
        base = _sample_theta(jax.random.key(1)[None], m)[0]
        pts = np.stack([u, v], 1) if len(free) == 2 else grid[:, None]
        thetas = np.tile(np.asarray(base), (pts.shape[0], 1))
        for j, name in enumerate(free):
            thetas[:, F.index(name)] = pts[:, j]
        lp = np.asarray(_log_prior_theta(jnp.asarray(thetas), m))
        m_active, n_sticks = len(comps), sum(c.startswith("stick") for c in comps)
        frac_density = math.factorial(m_active - 1) * math.factorial(n_sticks)
        box = np.exp(float(_log_prior_theta(base[None], m)[0])) / frac_density
        density = np.exp(lp) / box  # the fractions' part of the density
        assert density.sum() / 400 ** len(free) == pytest.approx(1.0, abs=0.01)
        assert np.mean(np.isfinite(lp)) == pytest.approx(support, abs=0.01)


@pytest.mark.slow
def test_sample_theta_properties():
    m = F.structure("ball", "stick1", "stick2", "stick3", "zeppelin")
    thetas = _sample_theta(jax.random.split(jax.random.key(2), 4000), m)
    assert np.all(np.isfinite(np.asarray(_log_prior_theta(thetas, m))))
    fr = np.asarray(jax.jit(jax.vmap(F.fractions, (None, 0)))(m, thetas))
    assert np.all(fr[:, 1] >= fr[:, 2]) and np.all(fr[:, 2] >= fr[:, 3])  # sorted sticks
    np.testing.assert_allclose(fr.sum(1), 1.0, atol=1e-5)
    # Dirichlet(1) over 5 compartments: the ball's (unsorted) fraction is Beta(1, 4)
    assert stats.kstest(fr[:, 0], stats.beta(1, 4).cdf).pvalue > 1e-3
    th = np.asarray(thetas)
    assert np.all(th[:, ~np.asarray(F.param_mask(m))] == 0)
    # u = cos(polar angle) uniform: axes uniform on the hemisphere
    assert stats.kstest(th[:, F.index("stick1.u")], "uniform").pvalue > 1e-3


def test_simulator_without_noise_and_roundtrip():
    m = F.structure("ball", "stick1", "stick2", "zeppelin", "dot")
    theta = _sample_theta(jax.random.key(5)[None], m)[0]
    p = F.protocol

    @jax.jit
    def noiseless(theta):
        # zero noise: the simulator's output must be the signal itself (b0 signal is exactly 1)
        y = F._noisy(m, theta, p, jnp.zeros((105, 2)))
        tissue = F.tissue(m, theta)
        snr = theta[F.index("rician.snr")]
        return y, tissue, F.signal(m, theta), F.theta_from_tissue(m, tissue, snr)

    y, tissue, signal, back = noiseless(theta)
    np.testing.assert_allclose(np.asarray(y), np.asarray(signal), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(signal[:5]), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(back), np.asarray(theta), rtol=1e-4, atol=1e-5)
    # inactive θ entries never reach the output
    junk = jnp.where(F.param_mask(m), theta, 7.5)
    np.testing.assert_array_equal(np.asarray(noiseless(junk)[0]), np.asarray(y))
    # the same voxel from the closed forms, in NumPy
    b, g = np.asarray(p.bvals, np.float64), np.asarray(p.bvecs, np.float64)
    f, dirs = np.asarray(tissue.fractions), np.asarray(tissue.stick_dirs)
    d_s, d_par, d_perp = float(tissue.d_stick), float(tissue.d_par), float(tissue.d_perp)
    c_z = g @ np.asarray(tissue.zeppelin_dir)
    direct = (
        f[0] * np.exp(-b * float(tissue.d_ball))
        + f[1] * np.exp(-b * d_s * (g @ dirs[0]) ** 2)
        + f[2] * np.exp(-b * d_s * (g @ dirs[1]) ** 2)
        + f[4] * np.exp(-b * (d_perp + (d_par - d_perp) * c_z**2))
        + f[5]
    )
    np.testing.assert_allclose(np.asarray(signal), direct, rtol=1e-5)


@pytest.mark.slow
def test_joint_simulations_and_tokens():
    ys = []
    for i in range(4):
        s, theta, y = _joint(jax.random.key(i), 0.5)
        y = np.asarray(y)
        assert y.shape == (48, 7) and theta.shape == (20,) and np.all(np.isfinite(y))
        F.check_structure(s)
        assert np.all(np.asarray(theta)[~np.asarray(R.param_mask(s))] == 0)
        # "outer" tokens: b·ggᵀ/1000 (6 entries, trace = b/1000, norm = b/1000), signal last
        b = y[:, :3].sum(1)
        np.testing.assert_allclose(np.linalg.norm(y[:, :6], axis=1), b, atol=1e-5)
        assert b[0] == 0  # at least one b0 per random protocol
        # normalised by the mean noisy b0 (b <= 50 s/mm²)
        assert y[b <= 0.05, -1].mean() == pytest.approx(1.0, rel=1e-5)
        ys.append(y)
    assert not np.allclose(ys[0][:, :6], ys[1][:, :6])  # a new protocol per simulation
    np.testing.assert_array_equal(np.asarray(_joint(jax.random.key(0), 0.5)[2]), ys[0])
    assert R.tokens(jnp.asarray(ys[0])).shape == (48, 7)
    with pytest.raises(ValueError, match="tokens of shape"):
        R.tokens(jnp.zeros((48, 5)))


def test_token_layouts():
    p = F.protocol
    signal = jnp.linspace(0.2, 1.0, p.num_measurements)
    outer = np.asarray(dmri.make_tokens(signal, p))
    vector = np.asarray(dmri.make_tokens(signal, p, "vector"))
    assert outer.shape == (105, 7) and vector.shape == (105, 5)
    b, g = np.asarray(p.bvals) / 1000, np.asarray(p.bvecs)
    np.testing.assert_allclose(vector, np.column_stack([b, g, signal]), rtol=1e-6)
    r2 = np.sqrt(2.0)
    expected = b[:, None] * np.column_stack(
        [
            g[:, 0] ** 2,
            g[:, 1] ** 2,
            g[:, 2] ** 2,
            r2 * g[:, 0] * g[:, 1],
            r2 * g[:, 0] * g[:, 2],
            r2 * g[:, 1] * g[:, 2],
        ]
    )
    np.testing.assert_allclose(outer[:, :6], expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(outer[:, -1], signal)  # the measured value is last
    # g and −g are the same measurement: identical "outer" tokens
    flipped = dmri.make_protocol(np.asarray(p.bvals), -np.asarray(p.bvecs))
    np.testing.assert_allclose(np.asarray(dmri.make_tokens(signal, flipped)), outer, atol=1e-7)
    fv = dmri.dmri_family(protocol=p, gradient_encoding="vector")
    assert (F.token_dim, fv.token_dim) == (7, 5)
    np.testing.assert_allclose(np.asarray(fv.observe(signal)), vector, rtol=1e-6)
    with pytest.raises(ValueError, match="gradient_encoding"):
        dmri.dmri_family(gradient_encoding="polar")
    with pytest.raises(ValueError, match="signal must have shape"):
        F.observe(signal[:10])
    with pytest.raises(ValueError, match="no fixed protocol"):
        R.observe(signal)
    # bit_support: stick k+1 only after stick k
    sup = np.asarray(F.bit_support(jnp.array([1, 0, 0, 0, 0, 0])))
    np.testing.assert_array_equal(sup, [True, True, False, False, True, True])
    sup = np.asarray(F.bit_support(jnp.array([0, 1, 1, 0, 0, 0])))
    np.testing.assert_array_equal(sup, [True, True, True, True, True, True])


def test_bad_input():
    with pytest.raises(ValueError, match="noise_models"):
        dmri.dmri_family(noise_models=("poisson",))
    with pytest.raises(ValueError, match="diffusivity"):
        dmri.dmri_family(diffusivity=(3.0, 1.0))
    with pytest.raises(ValueError, match="does not match"):
        dmri.dmri_family(protocol=F.protocol, n_meas=10)
    p = dmri.make_protocol(np.full(7, 1000.0), F.protocol.bvecs[5:12])
    with pytest.raises(ValueError, match="b0"):
        dmri.dmri_family(protocol=p)
    with pytest.raises(ValueError, match="nested"):
        F.structure("ball", "stick2")
    with pytest.raises(ValueError, match="unknown component"):
        F.structure("ball", "tensor")
    with pytest.raises(ValueError, match="at least one"):
        F.check_structure(Structure(np.zeros(6, np.int32), np.int32(0)))
    with pytest.raises(ValueError, match="pass protocol"):
        R.signal(R.structure("ball"), jnp.zeros(20))
