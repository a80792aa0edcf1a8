"""PRISM on the dMRI family: token width, the structure prior through the decoder, validity.

A tiny network (compile time dominates on a 2-core CPU); an untrained decoder with the prior
skip is exactly p(M | λ), which is known in closed form over the 31 valid structures.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tests.conftest import TINY_PRISM_NETWORK

from jaxsbi import dmri
from jaxsbi.dmri import prism as dp
from jaxsbi.prism import NetworkConfig, prism_estimator
from jaxsbi.prism.families import Structure, all_structures, linear_gaussian_family

NET = NetworkConfig(**{**TINY_PRISM_NETWORK, "width": 8, "mlp_ratio": 1, "token_hidden": 8})


@pytest.fixture(scope="module")
def setup():
    family = dmri.dmri_family(n_meas=12, noise_models=("rician",), lambda_max=1.0)
    est = prism_estimator(family, NET)
    params = est.init(jax.random.key(0))
    _, _, y = jax.jit(family.sample_joint)(jax.random.key(1), 0.7)
    return family, est, params, y


def _nested(active) -> np.ndarray:
    a = np.asarray(active)
    return (a[..., 2] <= a[..., 1]) & (a[..., 3] <= a[..., 2]) & (a.sum(-1) >= 1)


def test_token_width_comes_from_the_family(setup):
    family, est, params, y = setup
    assert family.token_dim == 7 and y.shape == (12, 7)
    assert linear_gaussian_family(3, n_points=8).token_dim == 2
    # the error names the expected width (here 7, and 2 for a symbolic family)
    with pytest.raises(ValueError, match=r"\(n_points, 7\)"):
        est.structure_probs(params, y[:, :5], 0.5)
    lg = linear_gaussian_family(2, n_points=8)
    est2 = prism_estimator(lg, NET)
    with pytest.raises(ValueError, match=r"\(n_points, 2\)"):
        est2.structure_probs(est2.init(jax.random.key(0)), jnp.zeros((8, 7)), 0.5)
    with pytest.raises(ValueError, match="tokens of shape"):
        family.tokens(y[:, :5])


def test_untrained_structure_distribution_is_the_exact_prior(setup):
    family, est, params, y = setup
    bits = all_structures(6, 1)  # all 63 bit patterns
    valid = _nested(bits.active)
    assert valid.sum() == 31
    probs = jax.jit(jax.vmap(lambda lam: est.structure_probs(params, y, lam)))(
        jnp.asarray([0.0, 0.3, 1.0])
    )
    for lam, q in zip((0.0, 0.3, 1.0), np.asarray(probs, np.float64), strict=True):
        exact = np.exp(np.asarray(jax.vmap(family.structure_log_prior, (0, None))(bits, lam)))
        assert np.all(exact[~valid] == 0)
        np.testing.assert_allclose(q[valid], exact[valid], rtol=2e-4, atol=1e-7)
        assert q[~valid].max() < 1e-30  # non-nested sticks: forced off by bit_support
    # the closed form at λ = 1 (p0 = 1/2): uniform over the 31 models
    np.testing.assert_allclose(np.asarray(probs)[2][valid], 1 / 31, rtol=2e-4)


def test_sampled_and_top_k_structures_are_valid(setup):
    family, est, params, y = setup
    s = est.sample_structures(params, jax.random.key(2), y, 1.0, 3000)
    assert _nested(s.active).all()
    idx = np.asarray(family.structure_index(s))
    freq = np.bincount(idx, minlength=31) / idx.size
    assert 0.5 * np.abs(freq - 1 / 31).sum() < 0.06  # TV to the uniform prior at λ = 1
    best, logp = est.top_k(params, y, 0.6, 8)
    assert _nested(best.active).all()
    assert np.all(np.diff(np.asarray(logp)) <= 1e-6)
    # a non-nested structure is refused by the family's own check
    with pytest.raises(ValueError, match="nested"):
        est.structure_log_prob(params, y, 0.5, Structure(jnp.array([1, 0, 1, 0, 0, 0]), 0))


def test_subfamily_probabilities_renormalise_the_prior(setup):
    family, est, params, y = setup
    sub = dp.stack_structures(
        [family.structure("ball"), family.structure("ball", "stick1"), family.structure("dot")]
    )
    q = np.asarray(dp.subfamily_probabilities(est, params, y, 0.0, sub))
    # λ = 0, λ_max = 1: p ∝ exp(−Σ d_k) with d = (ball 2, stick1 4, dot 1)
    w = np.exp(-np.array([2.0, 6.0, 1.0]))
    np.testing.assert_allclose(q, w / w.sum(), rtol=1e-3)
    with pytest.raises(ValueError, match="nested"):
        dp.subfamily_probabilities(
            est, params, y, 0.5, Structure(jnp.array([[1, 0, 1, 0, 0, 0]]), jnp.array([0]))
        )


def test_axis_helpers_are_sign_free():
    family = dmri.dmri_family(n_meas=12, noise_models=("rician",))
    m = family.structure("ball", "stick1")
    theta = np.zeros((2, family.theta_dim), np.float32)
    iu, ip = family.index("stick1.u"), family.index("stick1.phi")
    # the same axis on both sides of the equator seam: (u = 0, φ) and (u = 0, φ + π)
    theta[:, iu] = 0.0
    theta[:, ip] = [0.3, 0.3 + np.pi]
    axis = dp.dominant_axis(family, theta)
    truth = np.array([np.cos(0.3), np.sin(0.3), 0.0])
    assert dp.angular_error_deg(axis, truth) < 0.1
    assert dp.angular_error_deg(axis, -truth) < 0.1
    assert dp.angular_error_deg([1, 0, 0], [0, 1, 1]) == pytest.approx(90.0)
    f = dp.axis_tensor_features(family, theta, m)
    # ball.d, stick1.f, stick.d, snr + 6 axis-tensor entries; equal for μ and −μ
    assert f.shape == (2, 4 + 6)
    np.testing.assert_allclose(f[0], f[1], atol=1e-5)
    names = dp.axis_tensor_feature_names(family, m)
    assert names[:4] == ["ball.d", "stick1.f", "stick.d", "rician.snr"]
    assert names[4:] == [f"stick1.mumuT_{e}" for e in ("xx", "yy", "zz", "xy", "xz", "yz")]
    # μ = (cos 0.3, sin 0.3, 0): xx = cos², zz = 0, xy = √2 cos sin
    col = {n: f[0, i] for i, n in enumerate(names)}
    assert col["stick1.mumuT_xx"] == pytest.approx(np.cos(0.3) ** 2, abs=1e-5)
    assert col["stick1.mumuT_zz"] == pytest.approx(0.0, abs=1e-6)
    assert col["stick1.mumuT_xy"] == pytest.approx(np.sqrt(2) * np.cos(0.3) * np.sin(0.3), abs=1e-5)


def test_prism_voxels_shapes_and_errors(setup):
    family, est, params, y = setup
    p = dp.shelled_protocol(2, (1000.0, 2000.0), 5)
    sig = np.asarray(y[:, -1])[None].repeat(3, 0)
    s, theta = dp.prism_voxels(
        est, params, jax.random.key(0), sig, p, lam=0.5, num_samples=2, num_steps=2
    )
    assert s.active.shape == (3, 2, 6) and theta.shape == (3, 2, family.theta_dim)
    assert _nested(s.active).all()
    with pytest.raises(ValueError, match="n_meas"):
        dp.prism_voxels(est, params, jax.random.key(0), sig[:, :10], p, lam=0.5, num_samples=2)
    with pytest.raises(ValueError, match="λ"):
        dp.prism_voxels(est, params, jax.random.key(0), sig, p, lam=1.5, num_samples=2)
    with pytest.raises(ValueError, match="per_shell"):
        dp.shelled_protocol(2, (1000.0,), 0)


def test_prism_map_samples_feed_the_maps(setup):
    """Each voxel's model probabilities are its own enumerated q(M | x, λ) (a network whose
    output depends on x, voxels with different signals, probabilities in mask order), each
    draw's index names its own structure, and the maps' E[#sticks] is read from them."""
    from jaxsbi.dmri import maps as dmaps

    family, est, params, _ = setup
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(7), len(leaves))
    noisy = [
        a + 0.3 * jax.random.normal(k, a.shape, a.dtype) for a, k in zip(leaves, keys, strict=True)
    ]
    params = jax.tree.unflatten(tree, noisy)  # away from the zero-initialised corrections
    p = dp.shelled_protocol(2, (1000.0, 2000.0), 5)
    sims = [family.sample_joint(jax.random.key(10 + i), 0.7)[2] for i in range(4)]
    sig = np.stack([np.asarray(y[:, -1]) for y in sims]).reshape(2, 2, 1, 12)
    mask = np.array([[True, False], [True, True]])[..., None]
    key = jax.random.key(3)
    r = dp.prism_map_samples(
        est, params, key, sig, p, lam=0.4, num_samples=4, num_steps=2, mask=mask
    )
    s = family.all_structures()
    assert r.probabilities.shape == (3, 31) and r.theta.shape == (3, 4, family.theta_dim)
    want = np.stack(
        [
            np.asarray(dp.subfamily_probabilities(est, params, family.observe(x, p), 0.4, s))
            for x in sig[mask]
        ]
    )
    np.testing.assert_allclose(r.probabilities, want, atol=1e-5)
    assert np.abs(want[0] - want[1]).max() > 1e-3  # the rows really differ between voxels
    drawn, theta = dp.prism_voxels(
        est, params, key, sig, p, lam=0.4, num_samples=4, num_steps=2, mask=mask
    )
    np.testing.assert_array_equal(np.asarray(s.active)[r.model], np.asarray(drawn.active)[mask])
    np.testing.assert_allclose(r.theta, np.asarray(theta)[mask])
    assert not np.allclose(r.theta[0], r.theta[1])  # independent draws per voxel
    summary = dmaps.summarize(family, r.structures, r.probabilities, r.theta, r.model)
    vol = dmaps.volume_maps(summary, r.mask, probabilities=r.probabilities)
    n_sticks = np.asarray(s.active)[:, 1:4].sum(1)
    np.testing.assert_allclose(vol["expected_num_sticks"][mask], want @ n_sticks, atol=1e-4)
    assert vol["expected_num_sticks"][0, 1, 0] == 0.0
    # a network trained on one fixed protocol refuses data acquired with another
    fixed = est._replace(family=dataclasses.replace(family, protocol=p))
    other = p._replace(bvals=np.asarray(p.bvals) * 1.5)
    with pytest.raises(ValueError, match="fixed protocol"):
        dp.prism_voxels(fixed, params, key, sig, other, lam=0.4, num_samples=4, mask=mask)


@pytest.mark.slow
def test_short_training_beats_the_prior_on_top1():
    """~4 min on 2 cores: 400 steps of 128 lift top-1 over the 31 models at λ = 1 (prior mode
    1/31 correct in expectation) to well above the prior's."""
    from jaxsbi.prism.evaluate import structure_metrics
    from jaxsbi.train import TrainConfig, fit, online_source

    family = dmri.dmri_family(
        n_meas=48,
        num_b0=4,
        shells=(1000.0, 2000.0),
        noise_models=("rician",),
        lambda_max=1.0,
        snr_ranges={"rician": (10.0, 40.0)},
    )
    net = NetworkConfig(width=32, encoder_layers=2, time_samples=1, token_hidden=64)
    est = prism_estimator(family, net)
    params = est.init(jax.random.key(0))
    val = est.simulate_batch(jax.random.key(1), 256)
    train = TrainConfig(
        learning_rate=2e-3,
        batch_size=128,
        max_epochs=8,
        steps_per_epoch=50,
        patience=1000,
        epochs_per_call=2,
        validation_repeats=1,
    )
    src = online_source(est.simulate_batch, val, 128, 50)
    params, history = fit(jax.random.key(2), est.loss, params, src, train, progress=False)
    assert history.val_loss[-1] < history.val_loss[0]
    m = structure_metrics(est, params, jax.random.key(3), (1.0,), 300, top_ks=(1, 3))
    top1 = m["per_lambda"]["1"]["top1"]
    # the prior at λ = 1 is uniform over 31 models: any prior-only guess has top-1 ≈ 0.032
    assert top1 >= 0.032 + 0.10, m
