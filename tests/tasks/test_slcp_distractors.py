"""slcp_distractors: the RandomState recipe, the permutation, the mixture, sbibm's observations."""

import functools
import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxsbi.tasks import get_task, load_sbibm_observation, load_sbibm_reference
from jaxsbi.tasks import slcp_distractors as D

HAS_SBIBM = importlib.util.find_spec("sbibm") is not None
needs_sbibm = pytest.mark.skipif(
    not HAS_SBIBM, reason="sbibm data not installed (pip install --no-deps sbibm==1.1.0)"
)
N = 20_000
LEAD = 8  # leading block of the mixture whose density is well conditioned in float32


@jax.jit
def lead_log_prob(noise):
    """Leading-block mixture log density of each row of ``noise`` ``(n, 92)``."""
    return jax.vmap(lambda v: D.distractor_log_prob(v, LEAD))(noise)


@functools.cache
def draws():
    """N distractor draws with their components, as float64 numpy."""
    noise, comp = jax.jit(jax.vmap(D.sample_distractors))(jax.random.split(jax.random.key(0), N))
    return np.asarray(noise, np.float64), np.asarray(comp)


def test_constants_follow_the_legacy_global_recipe():
    # sbibm's own code path: the *global* legacy RandomState, seeded with np.random.seed(42).
    state = np.random.get_state()
    try:
        np.random.seed(42)
        loc = np.array([15 * np.random.normal(size=92) for _ in range(20)])
        for k in range(20):
            tril = np.tril(np.random.normal(size=(92, 92)))
            diag = np.diag(np.exp(np.random.normal(size=92)))
            np.testing.assert_array_equal(
                D.DISTRACTOR_SCALE_TRIL[k], (3 * (tril + diag)).astype(np.float32)
            )
        perm = np.random.permutation(100)
    finally:
        np.random.set_state(state)
    np.testing.assert_array_equal(D.DISTRACTOR_LOC, loc.astype(np.float32))
    np.testing.assert_array_equal(D.PERMUTATION, perm)
    # NOTES §2.3: the 8 slcp values land at these output positions.
    np.testing.assert_array_equal(D.REAL_POSITIONS, [22, 33, 23, 67, 42, 21, 16, 90])
    assert sorted(np.concatenate([D.REAL_POSITIONS, D.NOISE_POSITIONS]).tolist()) == list(
        range(100)
    )
    assert np.all(np.triu(D.DISTRACTOR_SCALE_TRIL[0], 1) == 0)


def test_real_entries_are_slcp_for_the_same_key_and_likelihood_is_slcp_plus_constant():
    task, slcp = get_task("slcp_distractors"), get_task("slcp")
    theta = task.prior.sample(jax.random.key(1), (64,))
    keys = jax.random.split(jax.random.key(2), 64)
    x = jax.jit(jax.vmap(task.simulate))(keys, theta)
    x8 = jax.jit(jax.vmap(slcp.simulate))(keys, theta)
    np.testing.assert_array_equal(np.asarray(x[:, D.REAL_POSITIONS]), np.asarray(x8))
    # The distractor term does not depend on θ: log-likelihood differences are slcp's.
    other = task.prior.sample(jax.random.key(3), (64,))
    ll = jax.jit(jax.vmap(task.log_likelihood))
    ll8 = jax.jit(jax.vmap(slcp.log_likelihood))
    diff = np.asarray(ll(theta, x)) - np.asarray(ll(other, x))
    diff8 = np.asarray(ll8(theta, x8)) - np.asarray(ll8(other, x8))
    finite = np.isfinite(diff8)
    np.testing.assert_allclose(diff[finite], diff8[finite], rtol=1e-4, atol=5e-2)
    assert np.all(np.isfinite(np.asarray(ll(theta, x))))


def test_mixture_log_prob_matches_scipy():
    # The generic mixture density against scipy on a small well-conditioned mixture ...
    rng = np.random.default_rng(0)
    loc = rng.normal(size=(3, 4)) * 3
    tril = np.tril(rng.normal(size=(3, 4, 4)) * 0.3) + np.eye(4)[None] * rng.uniform(
        0.5, 2, (3, 1, 1)
    )
    tril[0, 1, 1] *= -1  # a negative diagonal entry, as in sbibm's factors
    x = rng.normal(size=(5, 4)) * 3
    want = [
        np.log(
            np.mean(
                [stats.multivariate_t(loc[k], tril[k] @ tril[k].T, df=2).pdf(xi) for k in range(3)]
            )
        )
        for xi in x
    ]
    mixture = jax.jit(
        jax.vmap(D._student_t_mixture_log_prob, in_axes=(0, None, None, None)), static_argnums=3
    )
    got = mixture(
        jnp.asarray(x, jnp.float32),
        jnp.asarray(loc, jnp.float32),
        jnp.asarray(tril, jnp.float32),
        2.0,
    )
    np.testing.assert_allclose(got, want, rtol=1e-4)
    # ... and sbibm's mixture restricted to its leading block (an exact marginal: L is
    # lower triangular), again against scipy.
    noise, _ = draws()
    lead_loc, lead_l = D._LOC64[:, :LEAD], D._SCALE_TRIL64[:, :LEAD, :LEAD]
    got = lead_log_prob(jnp.asarray(noise[:3], jnp.float32))
    for xi, g in zip(noise[:3], np.asarray(got), strict=False):
        want = np.log(
            np.mean(
                [
                    stats.multivariate_t(lead_loc[k], lead_l[k] @ lead_l[k].T, df=2).pdf(xi[:LEAD])
                    for k in range(20)
                ]
            )
        )
        assert g == pytest.approx(want, rel=1e-4, abs=1e-3)
    with pytest.raises(ValueError, match="num_leading"):
        D.distractor_log_prob(jnp.zeros(92), 0)


def test_distractor_sampler_matches_the_mixture():
    noise, comp = draws()
    # Equal component weights.
    counts = np.bincount(comp, minlength=20)
    assert stats.chisquare(counts).pvalue > 1e-3
    # Each coordinate, given the component, is loc + sqrt(Σ_jj)·t₂ (a multivariate t's
    # marginals are univariate t with the same df): all 92 coordinates, scale = row norms of L.
    sd = np.sqrt(np.sum(D._SCALE_TRIL64**2, axis=2))  # (20, 92)
    r = (noise - D._LOC64[comp]) / sd[comp]
    pvals = np.array([stats.kstest(r[:, j], stats.t(df=2).cdf).pvalue for j in range(92)])
    assert pvals.min() > 1e-4 / 92 * 10, pvals.min()
    assert stats.kstest(pvals, "uniform").pvalue > 1e-3
    # Jointly on the leading block: d²/m ~ F(m, 2) for a multivariate t in m dims.
    z = np.stack(
        [
            np.linalg.solve(D._SCALE_TRIL64[c, :LEAD, :LEAD], v[:LEAD] - D._LOC64[c, :LEAD])
            for v, c in zip(noise[:4000], comp[:4000], strict=False)
        ]
    )
    assert stats.kstest((z**2).sum(1) / LEAD, stats.f(LEAD, 2).cdf).pvalue > 1e-3


def _lead_stat(noise_rows, loc, tril):
    """Mean over rows of the leading-block mixture log density (float64 numpy)."""
    out = []
    for v in noise_rows:
        comps = [
            stats.multivariate_t(
                loc[k, :LEAD], tril[k, :LEAD, :LEAD] @ tril[k, :LEAD, :LEAD].T, df=2
            ).logpdf(v[:LEAD])
            for k in range(20)
        ]
        out.append(np.logaddexp.reduce(comps) - np.log(20))
    return np.mean(out)


@needs_sbibm
def test_sbibm_observations_match_our_constants():
    xs = np.stack([np.asarray(load_sbibm_observation("slcp_distractors", k)) for k in range(1, 11)])
    assert xs.shape == (10, 100)
    # The permutation: the real entries are exactly slcp's observations.
    for k in range(10):
        np.testing.assert_array_equal(
            xs[k, D.REAL_POSITIONS], np.asarray(load_sbibm_observation("slcp", k + 1))
        )
    np.testing.assert_array_equal(
        np.asarray(load_sbibm_reference("slcp_distractors", 1)),
        np.asarray(load_sbibm_reference("slcp", 1)),
    )
    noise_obs = xs[:, D.NOISE_POSITIONS].astype(np.float64)
    # The distractors: sbibm's 10 draws (from its pickled torch mixture) are typical under our
    # mixture. Statistic: mean leading-block log density of 10 draws, vs the same statistic for
    # 200 batches of 10 of our draws.
    ours, _ = draws()
    obs_stat = _lead_stat(noise_obs, D._LOC64, D._SCALE_TRIL64)
    lp = np.asarray(lead_log_prob(jnp.asarray(ours[:2000], jnp.float32)), np.float64)
    null = lp.reshape(200, 10).mean(1)
    lo, hi = np.quantile(null, [0.001, 0.999])
    assert lo < obs_stat < hi, (obs_stat, lo, hi)
    # Negative control: constants from another seed make sbibm's draws wildly atypical — the
    # test has power to tell the recipe apart.
    loc43, tril43, perm43 = D.distractor_constants(43)
    noise43 = xs[:, np.argsort(perm43)[8:]].astype(np.float64)
    assert _lead_stat(noise43, loc43, tril43) < lo - 10
    # Per-coordinate check on all 92 coordinates: given the most likely component (leading
    # block), |x_j − loc_j| / sd_j has the t₂ median |t| = √(2/3) on average.
    sd = np.sqrt(np.sum(D._SCALE_TRIL64**2, axis=2))
    comp = [
        np.argmax(
            [
                stats.multivariate_t(
                    D._LOC64[k, :LEAD],
                    D._SCALE_TRIL64[k, :LEAD, :LEAD] @ D._SCALE_TRIL64[k, :LEAD, :LEAD].T,
                    df=2,
                ).logpdf(v[:LEAD])
                for k in range(20)
            ]
        )
        for v in noise_obs
    ]
    r = np.abs(noise_obs - D._LOC64[comp]) / sd[comp]
    assert 0.5 < np.median(r) < 1.2, np.median(r)


def test_bad_shapes_raise():
    task = get_task("slcp_distractors")
    with pytest.raises(ValueError, match=r"theta must have shape \(5,\)"):
        task.simulate(jax.random.key(0), jnp.zeros(4))
    with pytest.raises(ValueError, match=r"x must have shape \(100,\)"):
        task.log_likelihood(jnp.zeros(5), jnp.zeros(8))
