"""MCMC baseline: the voxel model's parametrisation, evidences against exact values."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from jaxsbi import dmri
from jaxsbi.mcmc import SamplerConfig


@functools.cache
def _setup():
    protocol = dmri.uk_biobank_like()
    family = dmri.dmri_family(protocol=protocol)
    return protocol, family


@pytest.mark.slow
def test_voxel_model_prior_pushforward():
    protocol, family = _setup()
    m = family.structure("ball", "stick1", "stick2", "zeppelin")
    model = dmri.voxel_model(family, m, protocol)
    # log-weights (4) + ball.d + stick.d + 2 axes (3 each) + d_par + ratio + axis (3) + snr + s0
    assert model.dim == 4 + 1 + 1 + 6 + 1 + 1 + 3 + 1 + 1
    draws = jax.jit(jax.vmap(lambda k: model.to_theta(model.sample_prior(k))))(
        jax.random.split(jax.random.key(0), 3000)
    )
    theta, s0 = np.asarray(draws[0]), np.asarray(draws[1])
    ref = np.asarray(
        jax.jit(jax.vmap(family.sample_theta, (0, None)))(
            jax.random.split(jax.random.key(1), 3000), m
        )
    )
    mask = np.asarray(family.param_mask(m))
    # every free entry has the family's prior (sorted fractions, hemisphere axes, boxes)
    for i in np.flatnonzero(mask):
        assert stats.ks_2samp(theta[:, i], ref[:, i]).pvalue > 1e-3, family.param_names[i]
    assert np.all(theta[:, ~mask] == 0)
    assert np.all((s0 >= 0.5) & (s0 <= 1.5))
    lp = jax.vmap(family.theta_log_prior, (0, None))(jnp.asarray(theta), m)
    assert np.all(np.isfinite(np.asarray(lp)))


def test_log_prior_is_normalised_and_likelihood_is_the_familys():
    protocol, family = _setup()
    ball = dmri.voxel_model(family, family.structure("ball"), protocol, fit_s0=False)
    assert ball.dim == 2  # ball.d, snr
    t = np.linspace(-25, 25, 501)
    uu = jnp.asarray(np.stack(np.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2), jnp.float32)
    dens = np.exp(np.asarray(jax.jit(jax.vmap(ball.log_prior))(uu), np.float64))
    assert dens.sum() * (t[1] - t[0]) ** 2 == pytest.approx(1.0, abs=1e-3)
    m = family.structure("ball", "stick1", "stick2", "dot")
    model = dmri.voxel_model(family, m, protocol)

    @jax.jit
    def both(u, noise):
        theta, s0 = model.to_theta(u)
        nu = s0 * family.signal(m, theta)
        signal = jnp.abs(nu + noise)
        snr = theta[family.index("rician.snr")]
        expected = jnp.sum(dmri.rician_log_prob(signal, nu, s0 / snr))
        return model.log_likelihood(u, signal), expected

    rng = np.random.default_rng(2)
    u = rng.normal(size=model.dim).astype(np.float32)  # any point of the unconstrained space
    ours, expected = both(u, (0.03 * rng.normal(size=105)).astype(np.float32))
    assert float(ours) == pytest.approx(float(expected), rel=1e-4)


def test_model_probabilities_and_bad_input():
    le = jnp.array([[-10.0, -12.0, -10.0]])
    np.testing.assert_allclose(
        dmri.model_probabilities(le),
        [[e / (2 + np.exp(-2)) for e in (1, np.exp(-2), 1)]],
        rtol=1e-6,
    )
    p = dmri.model_probabilities(le, jnp.log(jnp.array([0.5, 0.25, 0.25])))
    np.testing.assert_allclose(p[0, 0] / p[0, 2], 2.0, rtol=1e-6)
    with pytest.raises(ValueError, match="log_prior must have shape"):
        dmri.model_probabilities(le, jnp.zeros(2))
    protocol, family = _setup()
    model = dmri.voxel_model(family, family.structure("ball"), protocol)
    good = np.full((2, 105), 0.5, np.float32)
    with pytest.raises(ValueError, match=r"shape \(\*spatial, 105\)"):
        dmri.fit_voxels(jax.random.key(0), model, good[:, :-1])
    bad = good.copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN/inf"):
        dmri.fit_voxels(jax.random.key(0), model, bad)
    bad[1, 3] = -0.2
    with pytest.raises(ValueError, match="negative"):
        dmri.fit_voxels(jax.random.key(0), model, bad)
    with pytest.raises(ValueError, match="selects no voxel"):
        dmri.fit_voxels(jax.random.key(0), model, good, np.zeros(2, bool))
    with pytest.raises(ValueError, match="nested"):
        dmri.voxel_model(
            family,
            family.structure("ball", "stick1")._replace(active=np.array([0, 0, 1, 0, 0, 0])),
            protocol,
        )
    with pytest.raises(ValueError, match="num_prior_draws"):
        dmri.EvidenceConfig(num_prior_draws=2)


# ---- evidences (NUTS; slow) ------------------------------------------------------------------

_FAST = SamplerConfig(
    kernel="nuts", num_chains=4, num_samples=150, num_warmup=150, max_num_doublings=5
)


@pytest.mark.slow
def test_stepping_stone_matches_the_linear_gaussian_evidence():
    rng = np.random.default_rng(0)
    n, d, alpha, beta = 20, 3, 1.0, 25.0
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ rng.normal(size=d) + rng.normal(size=n) / np.sqrt(beta)).astype(np.float32)
    cov = np.eye(n) / beta + x @ x.T / alpha
    exact = stats.multivariate_normal(np.zeros(n), cov).logpdf(y)

    def log_prior(u):
        return -0.5 * alpha * jnp.sum(u**2) + 0.5 * d * jnp.log(alpha / (2 * jnp.pi))

    def log_lik(u, data):
        xx, yy = data
        return -0.5 * beta * jnp.sum((yy - xx @ u) ** 2) + 0.5 * n * jnp.log(beta / (2 * jnp.pi))

    config = dmri.EvidenceConfig(num_temperatures=16, sampler=_FAST)
    run = jax.jit(
        lambda k: dmri.power_posterior_evidence(
            k,
            log_prior,
            log_lik,
            lambda k: jax.random.normal(k, (d,)) / np.sqrt(alpha),
            (jnp.asarray(x), jnp.asarray(y)),
            config,
        )
    )
    est = [run(jax.random.key(i)) for i in range(3)]
    for e in est:
        assert abs(float(e.log_evidence) - exact) < 0.3
    assert abs(np.mean([float(e.log_evidence) for e in est]) - exact) < 0.15
    assert abs(float(est[0].log_evidence_ti) - exact) < 1.0  # trapezoid: coarser


def _quadrature_log_evidence(signal, protocol, family):
    """log ∫∫ L(d, snr) p(d) p(snr) for the ball model (S0 = 1) on a fine grid, in float64."""
    b = np.asarray(protocol.bvals, np.float64)
    s = np.asarray(signal, np.float64)
    (dlo, dhi), (slo, shi) = [
        (family.prior_lo[family.index(k)], family.prior_hi[family.index(k)])
        for k in ("ball.d", "rician.snr")
    ]

    def loglik(dd, snr):
        nu = np.exp(-b[None, None, :] * dd[..., None] * 1e-3)
        sig = 1.0 / snr[..., None]
        z = s * nu / sig**2
        return np.sum(
            np.log(s) - 2 * np.log(sig) - (s - nu) ** 2 / (2 * sig**2) + np.log(special.i0e(z)), -1
        )

    dd, ss = np.meshgrid(np.linspace(dlo, dhi, 300), np.linspace(slo, shi, 300), indexing="ij")
    coarse = loglik(dd, ss)
    i, j = np.unravel_index(np.argmax(coarse), coarse.shape)
    d_c, s_c = dd[i, j], ss[i, j]
    dg = np.linspace(max(dlo, d_c - 0.15), min(dhi, d_c + 0.15), 600)
    sg = np.linspace(max(slo, s_c - 12), min(shi, s_c + 12), 600)
    D, S = np.meshgrid(dg, sg, indexing="ij")
    ll = loglik(D, S)
    cell = (dg[1] - dg[0]) * (sg[1] - sg[0])
    return special.logsumexp(ll) + np.log(cell) - np.log((dhi - dlo) * (shi - slo))


@pytest.mark.slow
def test_ball_evidence_matches_quadrature():
    protocol, family = _setup()
    m = family.structure("ball")
    model = dmri.voxel_model(family, m, protocol, fit_s0=False)
    nu = dmri.ball(protocol, 1.1e-3)
    signals = jnp.stack([dmri.add_rician_noise(jax.random.key(i), nu, 25.0) for i in range(2)])
    config = dmri.EvidenceConfig(num_temperatures=16, sampler=_FAST)
    log_z = dmri.fit_voxels(
        jax.random.key(7),
        model,
        np.asarray(signals),
        evidence=config,
        summary=lambda r: r.log_evidence,  # only the evidence comes back to the host
    )
    assert log_z.shape == (2,)
    for v in range(2):
        exact = _quadrature_log_evidence(signals[v], protocol, family)
        assert abs(float(log_z[v]) - exact) < 0.3, (float(log_z[v]), exact)


@pytest.mark.slow
def test_evidence_selects_the_true_model_and_recovers_the_fibre():
    protocol, family = _setup()
    structures = [
        family.structure("ball"),
        family.structure("ball", "stick1"),
        family.structure("ball", "stick1", "stick2"),
    ]
    models = [dmri.voxel_model(family, s, protocol) for s in structures]
    mu1, mu2 = dmri.orientation(0.5, 1.0), dmri.orientation(1.4, 2.6)
    voxels = [
        ("ball", [0.0, 0.0, 0.0], 1.2e-3),
        ("ball+1", [0.6, 0.0, 0.0], 1.0e-3),
        ("ball+2", [0.4, 0.3, 0.0], 1.0e-3),
    ]
    truth = []
    for _, f, d in voxels:
        tissue = dmri.Tissue(
            jnp.array([1 - sum(f), f[0], f[1], 0.0, 0.0, 0.0]),
            jnp.float32(2e-3),
            jnp.float32(d),
            jnp.stack([mu1, mu2, mu2]),
            jnp.float32(0.0),
            jnp.float32(0.0),
            mu1,
        )
        truth.append(dmri.tissue_signal(protocol, tissue))
    signals = np.stack(
        [
            np.asarray(dmri.add_rician_noise(jax.random.key(10 + i), s, 30.0))
            for i, s in enumerate(truth)
        ]
    )
    config = dmri.EvidenceConfig(num_temperatures=12, sampler=_FAST)
    cmp_ = dmri.compare_voxel_models(jax.random.key(3), models, signals, config=config)
    assert list(np.argmax(cmp_.probabilities, axis=1)) == [0, 1, 2]
    # the trapezoid TI estimate is coarser and biased low (1.4-3.8 nats here at 12 rungs)
    gap = cmp_.log_evidence - cmp_.log_evidence_ti
    assert np.all(gap > -0.5) and np.all(gap < 5.0)
    # dominant fibre of the 1-stick voxel under the 1-stick model: posterior mean axis
    theta = cmp_.fits[1].theta[1].reshape(-1, family.theta_dim)
    axes = jax.vmap(dmri.orientation_from_cos)(
        theta[:, family.index("stick1.u")], theta[:, family.index("stick1.phi")]
    )
    evals, evecs = np.linalg.eigh(np.einsum("ni,nj->ij", axes, axes) / len(axes))
    assert np.degrees(np.arccos(abs(evecs[:, -1] @ np.asarray(mu1)))) < 5.0
    assert json.dumps(cmp_.names) == json.dumps(
        ["ball|rician", "ball+stick1|rician", "ball+stick1+stick2|rician"]
    )
