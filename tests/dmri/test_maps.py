"""Volume maps from posterior samples: exact summaries, placement, failed voxels, files."""

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi import dmri
from jaxsbi.dmri import maps
from jaxsbi.prism.families import Structure


@pytest.fixture(scope="module")
def family():
    return dmri.dmri_family(protocol=dmri.uk_biobank_like(), noise_models=("rician",))


def _stack(structures):
    return Structure(
        jnp.stack([s.active for s in structures]), jnp.stack([s.noise for s in structures])
    )


_POOL = 128  # one compiled prior sampler for every test: draw a fixed-size pool and slice


@functools.lru_cache(maxsize=4)
def _sampler(family):
    def draw(key, active, noise):
        s = Structure(active, noise)
        return jax.vmap(lambda k: family.sample_theta(k, s))(jax.random.split(key, _POOL))

    return jax.jit(draw)


def _draws(family, structure, key, shape):
    """θ ~ p(θ | M) of shape ``(*shape, theta_dim)`` (at most 128 draws per call)."""
    size = int(np.prod(shape))
    theta = _sampler(family)(key, structure.active, structure.noise)[:size]
    return np.array(theta).reshape(*shape, -1)


def _fractions(family, structure, theta):
    """The family's own fractions of draws ``theta (m, d)`` under one structure."""
    return np.asarray(jax.vmap(lambda t: family.fractions(structure, t))(jnp.asarray(theta)))


def _hemisphere_uphi(mu):
    mu = np.where(mu[..., 2:3] < 0, -mu, mu)
    return mu[..., 2], np.mod(np.arctan2(mu[..., 1], mu[..., 0]), 2 * np.pi)


# diverse structures: remainder compartment ball, stick1 or dot; 0..3 sticks
_NAMES = (
    ("ball", "stick1", "stick2", "zeppelin", "dot"),
    ("stick1",),
    ("dot", "zeppelin"),
    ("ball", "stick1", "stick2", "stick3"),
    ("ball",),
)


def test_fractions_match_the_family(family):
    names = _NAMES
    structures = [family.structure(*n) for n in names]
    theta = np.concatenate(
        [_draws(family, st, jax.random.key(i), (1,)) for i, st in enumerate(structures)]
    )
    expected = np.concatenate(
        [_fractions(family, s, t[None]) for s, t in zip(structures, theta, strict=True)]
    )
    num = len(structures)
    n = 100  # the same draw repeated: sd 0
    out = maps.summarize(
        family,
        _stack(structures),
        np.eye(num),
        np.repeat(theta[:, None, :], n, axis=1),
        np.repeat(np.arange(num)[:, None], n, axis=1),
    )
    np.testing.assert_allclose(out.fraction_mean, expected, atol=1e-6)
    np.testing.assert_allclose(out.fraction_sd, 0.0, atol=1e-6)
    np.testing.assert_array_equal(out.map_model, np.arange(num))
    np.testing.assert_allclose(out.expected_num_sticks, [2, 1, 0, 3, 0])
    np.testing.assert_allclose(out.stick_presence[:, 0], [1, 1, 0, 1, 0])


def test_mixture_moments_and_stick_counts(family):
    structures = [family.structure(*n) for n in _NAMES]  # sticks: 2, 1, 0, 3, 0
    num_v, n = 3, 24
    probs = np.array(
        [[0.3, 0.5, 0.0, 0.0, 0.2], [0.0, 1.0, 0.0, 0.0, 0.0], [0.8, 0.1, 0.0, 0.0, 0.1]],
        np.float32,
    )
    thetas = [
        _draws(family, st, jax.random.key(100 + s), (num_v, n)) for s, st in enumerate(structures)
    ]
    theta, model, weights = maps.mixture_samples(probs, thetas)
    assert theta.shape == (num_v, 5 * n, family.theta_dim)
    np.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-6)
    out = maps.summarize(family, _stack(structures), probs, theta, model, weights)
    # reference: the family's fractions, moments by hand
    for v in range(num_v):
        f = np.concatenate(
            [_fractions(family, st, t[v]) for st, t in zip(structures, thetas, strict=True)]
        )
        mean = weights[v] @ f
        sd = np.sqrt(weights[v] @ (f - mean) ** 2)
        np.testing.assert_allclose(out.fraction_mean[v], mean, atol=1e-5)
        np.testing.assert_allclose(out.fraction_sd[v], sd, atol=1e-5)
    p_sticks = [[0.2, 0.5, 0.3, 0.0], [0.0, 1.0, 0.0, 0.0], [0.1, 0.1, 0.8, 0.0]]
    np.testing.assert_allclose(out.num_sticks_probability, p_sticks, atol=1e-7)
    np.testing.assert_allclose(out.expected_num_sticks, [1.1, 1.0, 1.7], atol=1e-6)
    np.testing.assert_array_equal(out.map_model, [1, 1, 0])
    np.testing.assert_allclose(out.map_probability, [0.5, 1.0, 0.8])
    np.testing.assert_allclose(
        out.stick_presence[:, :2], [[0.8, 0.3], [1, 0], [0.9, 0.8]], atol=1e-6
    )


@pytest.mark.parametrize("polar_deg", [30.0, 88.0])  # 88°: draws straddle the equator
def test_axis_mean_dispersion_and_cone(family, polar_deg):
    # draws at known angles alpha from an axis a, azimuths in opposite pairs: E[μμᵀ] has
    # principal axis a exactly, λ1 = E[cos²α]; the 95% cone is the 95% quantile of α
    t, p = np.radians(polar_deg), 0.7
    a = np.array([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)])
    e1 = np.cross(a, [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(a, e1)
    alpha = np.radians(np.repeat(np.linspace(0.05, 10.0, 60), 2))
    beta = np.random.default_rng(0).uniform(0, 2 * np.pi, 60).repeat(2) + np.tile([0, np.pi], 60)
    mu = np.cos(alpha)[:, None] * a + np.sin(alpha)[:, None] * (
        np.cos(beta)[:, None] * e1 + np.sin(beta)[:, None] * e2
    )
    mu *= np.random.default_rng(1).choice([-1.0, 1.0], size=(120, 1))  # signs do not matter
    u, phi = _hemisphere_uphi(mu)
    theta = np.zeros((1, 120, family.theta_dim), np.float32)
    theta[0, :, family.index("stick1.f")] = 0.6
    theta[0, :, family.index("stick1.u")] = u
    theta[0, :, family.index("stick1.phi")] = phi
    s = family.structure("ball", "stick1")
    out = maps.summarize(family, s.active[None], np.ones((1, 1)), theta)
    direction = out.stick_direction[0, 0]
    assert maps.angle_between_axes(direction, a) < 1e-3
    assert direction[2] >= 0 and abs(np.linalg.norm(direction) - 1) < 1e-5
    np.testing.assert_allclose(out.stick_dispersion[0, 0], np.mean(np.sin(alpha) ** 2), rtol=1e-3)
    cone_ref = np.degrees(np.sort(alpha)[int(np.ceil(0.95 * 120)) - 1])
    np.testing.assert_allclose(out.stick_cone[0, 0], cone_ref, atol=1e-3)
    # weights: only the draws within 5° count
    w = (np.degrees(alpha) <= 5.0).astype(np.float32)[None]
    out5 = maps.summarize(family, s.active[None], np.ones((1, 1)), theta, weights=w)
    assert out5.stick_cone[0, 0] <= 5.0 and out5.stick_cone[0, 0] > 4.5
    np.testing.assert_allclose(out5.fraction_mean[0, :2], [0.4, 0.6], atol=1e-6)


def _small_problem(family, num_v=7, n=100):
    s = family.structure("ball", "stick1")
    pool = _draws(family, s, jax.random.key(7), (_POOL,))
    theta = np.stack([pool[3 * v : 3 * v + n] for v in range(num_v)])  # distinct draw sets
    return s.active[None], np.ones((num_v, 1), np.float32), theta


def test_volume_placement_failed_voxels_and_files(family, tmp_path):
    active, probs, theta = _small_problem(family)
    mask = np.zeros((4, 3, 2), bool)
    mask.ravel()[[0, 3, 5, 8, 13, 20, 23]] = True
    theta[4, 2, family.index("stick1.u")] = np.nan  # voxel 4 (flat 13) failed
    with pytest.raises(ValueError, match=r"1 voxel\(s\) have NaN/inf inputs .* first is voxel 4"):
        maps.summarize(family, active, probs, theta)
    out = maps.summarize(family, active, probs, theta, on_invalid="mark", chunk_size=3)
    assert out.valid.tolist() == [True] * 4 + [False] + [True] * 2
    with pytest.warns(UserWarning, match=r"1 of 7 voxel\(s\) failed .* first at voxel \[2, 0, 1\]"):
        vol = maps.volume_maps(out, mask, probabilities=probs)
    assert vol["failed"].sum() == 1 and vol["failed"][2, 0, 1] == 1
    assert vol["mask"].sum() == 6 and vol["mask"][2, 0, 1] == 0
    for name, v in vol.items():
        assert np.all(np.isfinite(v)), name
        assert np.all(v[~mask] == 0), name
    good = out.valid
    np.testing.assert_allclose(vol["f_stick1"][mask][good], out.fraction_mean[good, 1])
    np.testing.assert_allclose(vol["stick1_dir"][mask], out.stick_direction[:, 0])
    assert vol["f_stick1"][2, 0, 1] == 0 and vol["stick1_cone"][2, 0, 1] == 0
    rgb = vol["stick1_rgb"]
    assert rgb.shape == (4, 3, 2, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert vol["model_probabilities"].shape == (4, 3, 2, 1)

    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = (5.0, -3.0, 1.0)
    paths = maps.write_maps(
        tmp_path, {k: vol[k] for k in ("f_stick1", "stick1_rgb", "mask")}, affine
    )
    assert sorted(p.name for p in paths) == sorted(
        [
            "f_stick1.nii.gz",
            "f_stick1.png",
            "stick1_rgb.nii.gz",
            "stick1_rgb.png",
            "mask.nii.gz",
            "mask.png",
        ]
    )
    back, back_affine = dmri.load_nifti(tmp_path / "f_stick1.nii.gz")
    np.testing.assert_allclose(back, vol["f_stick1"], rtol=1e-6)
    np.testing.assert_allclose(back_affine, affine)
    with pytest.raises(ValueError, match="NaN"):
        maps.write_maps(tmp_path, {"x": np.full((4, 3, 2), np.nan)}, affine)


def test_bad_input(family):
    active, probs, theta = _small_problem(family, num_v=3)
    out = maps.summarize(family, active, probs, theta)
    with pytest.raises(ValueError, match="mask selects 4 voxels but the summaries hold 3"):
        maps.volume_maps(out, np.ones((2, 2, 1), bool))
    with pytest.raises(ValueError, match="3-D"):
        maps.volume_maps(out, np.ones((3, 1), bool))
    with pytest.raises(ValueError, match="selects no voxel"):
        maps.volume_maps(out, np.zeros((2, 2, 1), bool))
    two = _stack([family.structure("ball", "stick1"), family.structure("ball", "stick1", "stick2")])
    model = np.zeros(theta.shape[:2], np.int32)
    with pytest.raises(ValueError, match="must sum to 1 .*voxel 1 sums to 0.9"):
        maps.summarize(family, two, [[0.5, 0.5], [0.5, 0.4], [1, 0]], theta, model)
    with pytest.raises(ValueError, match=r"probabilities must have shape \(V, S\) = \(3, 2\)"):
        maps.summarize(family, two, probs, theta, model)
    with pytest.raises(ValueError, match="model .* is required"):
        maps.summarize(family, two, [[0.5, 0.5]] * 3, theta)
    with pytest.raises(ValueError, match=r"model indices must be in \[0, 2\)"):
        maps.summarize(family, two, [[0.5, 0.5]] * 3, theta, model + 2)
    bad = theta.copy()
    bad[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN/inf inputs .*1 in theta"):
        maps.summarize(family, active, probs, bad)
    names = [n for n in family.param_names if n != "stick2.u"]
    with pytest.raises(ValueError, match=r"\['stick2.u'\] are missing"):
        maps.summarize(names, active, probs, theta[..., : len(names)])
    with pytest.raises(ValueError, match="theta must have shape"):
        maps.summarize(family, active, probs, theta[..., :-1])
    with pytest.raises(ValueError, match="weights must be non-negative"):
        maps.summarize(family, active, probs, theta, weights=-np.ones(theta.shape[:2]))
    with pytest.raises(ValueError, match="structures must have active bits"):
        maps.summarize(family, np.ones((1, 5)), probs, theta)
    with pytest.raises(ValueError, match="on_invalid"):
        maps.summarize(family, active, probs, theta, on_invalid="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean run warns about nothing
        maps.volume_maps(out, np.ones((3, 1, 1), bool))


@pytest.mark.slow
def test_baseline_fits_to_maps_recover_the_fibre(family, tmp_path):
    # NUTS + evidences on a simulated 2x2x1 volume (ball + 1 stick, known axis, SNR 50)
    from jaxsbi.mcmc import SamplerConfig

    protocol = family.protocol
    s1 = family.structure("ball", "stick1")
    s2 = family.structure("ball", "stick1", "stick2")
    truth = np.array([0.6, 0.3, 0.74])
    truth /= np.linalg.norm(truth)
    tissue = dmri.Tissue(
        fractions=jnp.asarray([0.45, 0.55, 0, 0, 0, 0], jnp.float32),
        d_ball=jnp.float32(2.0e-3),
        d_stick=jnp.float32(1.5e-3),
        stick_dirs=jnp.asarray(np.stack([truth] * 3), jnp.float32),
        d_par=jnp.float32(0.0),
        d_perp=jnp.float32(0.0),
        zeppelin_dir=jnp.asarray(truth, jnp.float32),
    )
    nu = np.asarray(dmri.tissue_signal(protocol, tissue))
    rng = np.random.default_rng(0)
    sigma = 1.0 / 50
    data = np.abs(
        nu
        + sigma * rng.normal(size=(2, 2, 1, nu.size))
        + 1j * sigma * rng.normal(size=(2, 2, 1, nu.size))
    )
    prep = dmri.prepare_dwi(data, protocol)
    sampler = SamplerConfig(kernel="nuts", num_chains=2, num_samples=100, num_warmup=150)
    config = dmri.EvidenceConfig(num_temperatures=6, sampler=sampler, num_prior_draws=500)
    models = [dmri.voxel_model(family, s, protocol) for s in (s1, s2)]
    cmp_ = dmri.compare_voxel_models(
        jax.random.key(0), models, prep.signals, prep.mask, config=config
    )
    probs = cmp_.probabilities[prep.mask]
    theta, model, weights = maps.mixture_samples(probs, [f.theta[prep.mask] for f in cmp_.fits])
    out = maps.summarize(family, _stack([s1, s2]), probs, theta, model, weights)
    vol = maps.volume_maps(out, prep.mask, probabilities=probs)
    assert vol["failed"].sum() == 0 and vol["mask"].sum() == 4
    angles = maps.angle_between_axes(vol["stick1_dir"][prep.mask], truth)
    assert np.all(angles < 5.0), angles
    # the anisotropic fraction (under ball + 2 sticks it is split between the sticks)
    assert np.all(np.abs(1.0 - vol["f_ball"][prep.mask] - 0.55) < 0.1), vol["f_ball"][prep.mask]
    # model selection itself is the baseline's business (tests/dmri/test_baseline.py, with
    # more rungs); here: the maps carry its probabilities exactly
    np.testing.assert_allclose(vol["prob_sticks_1"][prep.mask], probs[:, 0], atol=1e-6)
    np.testing.assert_allclose(vol["expected_num_sticks"][prep.mask], 1 + probs[:, 1], atol=1e-5)
    assert np.all(vol["stick1_cone"][prep.mask] < 15.0)
    maps.write_maps(tmp_path, vol, np.eye(4))
