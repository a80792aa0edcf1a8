"""Weinberg-angle task against an independent helicity-amplitude derivation and published limits."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxsbi.tasks.physics import (
    WEINBERG_TRUE_THETA,
    cos_theta_cdf,
    cos_theta_log_density,
    forward_backward_asymmetry,
    sample_cos_theta,
    weinberg,
)
from jaxsbi.tasks.physics.weinberg_angle import GAMMA_Z, MZ


def helicity_afb(s2, beam_energy):
    """A_FB from the four helicity amplitudes M_ij = Q_e Q_μ + g_i g_j χ' (independent form).

    Vertex (e / (s_W c_W)) γ^μ (g_L P_L + g_R P_R) with g_L = T3 − Q s² = −1/2 + s²,
    g_R = −Q s² = s²; χ' = s / (s − M² + iMΓ) / (s_W² c_W²). LL and RR go as (1 + c)²,
    LR and RL as (1 − c)², so A_FB = 3/4 (|LL|² + |RR|² − |LR|² − |RL|²) / Σ|M|².
    """
    s = (2.0 * beam_energy) ** 2
    chi = s / (s - MZ**2 + 1j * MZ * GAMMA_Z) / (s2 * (1 - s2))
    g = {"L": -0.5 + s2, "R": s2}
    amp = {i + j: abs(1.0 + g[i] * g[j] * chi) ** 2 for i in "LR" for j in "LR"}
    same, opposite = amp["LL"] + amp["RR"], amp["LR"] + amp["RL"]
    return 0.75 * (same - opposite) / (same + opposite)


_afb = jax.jit(jax.vmap(forward_backward_asymmetry))
_afb1 = jax.jit(forward_backward_asymmetry)  # eager calls compile op by op: slow
_density = jax.jit(lambda c, s2, e: jnp.exp(cos_theta_log_density(c, s2, e)))


def gauss_legendre(a, b, s2, energy, n=20):
    """∫_a^b f(c) dc by n-point Gauss–Legendre (exact for f, a quadratic in c)."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    c = 0.5 * (b - a) * nodes + 0.5 * (b + a)
    f = np.asarray(_density(jnp.asarray(c, jnp.float32), s2, energy), np.float64)
    return 0.5 * (b - a) * float(np.sum(weights * f))


def test_asymmetry_matches_helicity_amplitudes():
    s2 = np.array([0.1, 0.2, 0.2312, 0.25, 0.3, 0.4] * 5)
    energy = np.repeat([10.0, 30.0, 44.0, MZ / 2, 47.0], 6)
    ours = np.asarray(_afb(jnp.asarray(s2), jnp.asarray(energy)))
    ref = np.array([helicity_afb(a, e) for a, e in zip(s2, energy, strict=True)])
    np.testing.assert_allclose(ours, ref, rtol=2e-4, atol=2e-6)


def test_pole_asymmetry_is_three_quarters_a_e_a_mu():
    # On the pole Re χ = 0 and |χ|² ≈ 2700: A_FB → (3/4) 𝒜_ℓ², 𝒜_ℓ = 2 g_V g_A / (g_V² + g_A²).
    # At sin²θ_eff = 0.23153 the published SM value is 𝒜_ℓ = 0.1469-0.1470 (LEP/SLD, PDG), so
    # A_FB^0 ≈ 0.0162; the photon exchange we keep lowers our value by ~0.6 %.
    s2 = 0.23153
    gv, ga = -0.5 + 2 * s2, -0.5
    a_l = 2 * gv * ga / (gv**2 + ga**2)
    assert a_l == pytest.approx(0.1470, abs=5e-4)
    pole = float(_afb1(s2, MZ / 2))
    assert pole == pytest.approx(0.75 * a_l**2, rel=0.01)
    assert pole == pytest.approx(0.0162, rel=0.015)


def test_low_energy_asymmetry():
    # Far below the Z (|χ| ≪ 1): A_FB ≈ (3/2) g_A² Re χ = (3/8) κ s / (s − M_Z²), κ = 1/(4 s² c²);
    # with κ = √2 G_F M_Z² / (4πα) this is the classic −3 G_F s / (16√2 π α) · M²/(M² − s).
    for e in (5.0, 10.0, 17.5):
        s, s2 = (2 * e) ** 2, 0.2312
        kappa = 1 / (4 * s2 * (1 - s2))
        expected = 0.375 * kappa * s / (s - MZ**2)
        assert float(_afb1(s2, e)) == pytest.approx(expected, rel=0.01)
    # √s = 35 GeV (PETRA): about −0.09 at tree level (measured ≈ −0.1 with QED corrections).
    assert float(_afb1(0.2312, 17.5)) == pytest.approx(-0.09, abs=0.015)


@pytest.mark.parametrize("energy", [40.0, 45.0, 50.0])
def test_sampler_matches_cdf_ks(energy):
    s2 = WEINBERG_TRUE_THETA[0]
    c = np.asarray(
        jax.jit(sample_cos_theta, static_argnums=3)(jax.random.key(0), s2, energy, 20_000)
    )
    assert np.all((c >= -1) & (c <= 1))
    cdf = jax.jit(cos_theta_cdf)
    p = stats.kstest(c, lambda v: np.asarray(cdf(jnp.asarray(v, jnp.float32), s2, energy))).pvalue
    assert p > 1e-3, p
    # The empirical asymmetry matches A_FB within 4 standard errors.
    afb = np.mean(c > 0) - np.mean(c < 0)
    assert abs(afb - float(_afb1(s2, energy))) < 4 / math.sqrt(c.size)


@pytest.mark.parametrize("s2, energy", [(0.2312, 45.0), (0.12, 43.0), (0.38, 50.0)])
def test_event_density_integrates_to_one(s2, energy):
    assert gauss_legendre(-1.0, 1.0, s2, energy) == pytest.approx(1.0, abs=1e-5)
    outside = np.asarray(_density(jnp.asarray([-1.2, 1.2]), s2, energy))
    np.testing.assert_array_equal(outside, 0.0)


def test_histogram_likelihood_is_a_normalised_multinomial():
    # Enumerate every histogram of 3 events in 4 bins: the probabilities sum to 1 and each
    # equals scipy's multinomial pmf with bin probabilities integrated by quadrature.
    task = weinberg(beam_energy=44.0, num_events=3, num_bins=4)
    theta = jnp.asarray([0.28])
    edges = np.linspace(-1, 1, 5)
    probs = np.array(
        [gauss_legendre(a, b, 0.28, 44.0) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    )
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)
    probs /= probs.sum()
    loglik = jax.jit(task.log_likelihood)
    total = 0.0
    for counts in itertools.product(range(4), repeat=4):
        if sum(counts) != 3:
            continue
        lp = float(loglik(theta, jnp.asarray(counts, jnp.float32)))
        assert lp == pytest.approx(stats.multinomial.logpmf(counts, 3, probs), abs=1e-4)
        total += math.exp(lp)
    assert total == pytest.approx(1.0, abs=1e-5)


def test_default_task_simulates_histograms_and_events():
    task = weinberg()
    assert task is weinberg() and task.theta_dim == 1 and task.x_shape == (20,)
    theta = jnp.asarray(WEINBERG_TRUE_THETA)
    sim = jax.jit(task.simulate)
    x = sim(jax.random.key(1), theta)
    assert float(jnp.sum(x)) == 1000 and bool(jnp.all(x >= 0))
    np.testing.assert_array_equal(x, sim(jax.random.key(1), theta))
    ev = weinberg(num_events=50, representation="events")
    c = jax.jit(ev.simulate)(jax.random.key(1), theta)
    assert c.shape == (50,)
    both = jax.jit(
        lambda t, c: (ev.log_likelihood(t, c), jnp.sum(cos_theta_log_density(c, t[0], 45.0)))
    )
    a, b = both(theta, c)
    assert float(a) == pytest.approx(float(b), rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"beam_energy": -1.0}, "beam_energy"),
        ({"num_events": 0}, "num_events"),
        ({"num_bins": 2.5}, "num_bins"),
        ({"representation": "raw"}, "representation"),
    ],
)
def test_bad_task_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        weinberg(**kwargs)


@pytest.mark.slow
def test_exact_nuts_matches_grid_posterior():
    from jaxsbi.mcmc import SamplerConfig, sample_posterior

    task = weinberg()
    x_o = task.simulate(jax.random.key(7), jnp.asarray(WEINBERG_TRUE_THETA))
    cfg = SamplerConfig(kernel="nuts", num_chains=50, num_samples=200, num_warmup=300)
    out = sample_posterior(
        jax.random.key(8), task.prior, lambda p, t, x: task.log_likelihood(t, x), None, x_o, cfg
    )
    samples = np.asarray(out.theta).reshape(-1)
    grid = np.linspace(0.1, 0.4, 3001)
    logp = np.asarray(jax.vmap(lambda t: task.log_likelihood(t[None], x_o))(jnp.asarray(grid)))
    w = np.exp(logp - logp.max())
    cdf = np.cumsum(w) / np.sum(w)
    p = stats.kstest(samples[::10], lambda v: np.interp(v, grid, cdf)).pvalue
    assert p > 1e-3, p
