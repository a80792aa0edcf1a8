"""ROC ratio diagnostic: an exact ratio gives AUC ≈ 0.5, a wrong one clearly more."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxsbi.diagnostics.roc import (
    RocResult,
    ratio_roc,
    ratio_roc_check,
    roc_plot,
    weighted_roc,
)
from jaxsbi.distributions import normal

# Toy: θ ~ N(0, 1), x | θ ~ N(θ, 1), so p(x) = N(0, 2) and
# log r(x | θ) = log N(x; θ, 1) − log N(x; 0, 2) in closed form.
PRIOR = normal(jnp.zeros(1), jnp.ones(1))


def simulate(key, theta):
    return theta + jax.random.normal(key, (1,))


def exact_log_ratio(params, theta, x):
    del params
    d = x[0] - theta[0]
    return -0.5 * d**2 + 0.5 * x[0] ** 2 / 2.0 + 0.5 * math.log(2.0)


def zero_log_ratio(params, theta, x):
    del params, theta
    return jnp.sum(x) * 0.0


EXACT_TOL = 0.05  # |AUC − 0.5| for the exact ratio (noise ≈ 0.3/√(ESS of ~500) ≈ 0.013)


@pytest.mark.parametrize("theta", [None, np.array([1.5], np.float32)], ids=["amortised", "fixed"])
def test_exact_ratio_gives_half_and_wrong_ratio_does_not(theta):
    kw = dict(num_samples=2000, theta=theta, epochs=40)
    exact = ratio_roc_check(jax.random.key(0), PRIOR, simulate, exact_log_ratio, None, **kw)
    wrong = ratio_roc_check(jax.random.key(0), PRIOR, simulate, zero_log_ratio, None, **kw)
    assert abs(exact.auc - 0.5) < EXACT_TOL, exact.auc
    # log r ≡ 0: the classifier sees p(x|θ) against p(x). Fixed θ = 1.5: the best AUC is
    # ≈ Φ(1.5/√3) = 0.81; amortised (corr(θ, x) = 1/√2): ≈ 0.7. Thresholds well below those.
    threshold = 0.7 if theta is not None else 0.6
    assert wrong.auc > threshold, wrong.auc
    assert exact.num_test == 1000 and exact.num_dropped == 0
    assert 0 < exact.effective_sample_size <= 1000
    assert wrong.effective_sample_size == pytest.approx(1000)


def test_weighted_roc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    s = np.round(rng.normal(size=500), 1)  # ties included
    y = rng.integers(0, 2, 500)
    w = rng.exponential(size=500)
    auc, fpr, tpr = weighted_roc(s + 0.5 * y, y, w)
    assert auc == pytest.approx(roc_auc_score(y, s + 0.5 * y, sample_weight=w), abs=1e-10)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == pytest.approx(1) and tpr[-1] == pytest.approx(1)
    assert weighted_roc([1.0, 0.0], [1, 0])[0] == 1.0


def test_roc_plot_writes_png(tmp_path):
    rng = np.random.default_rng(1)
    auc, fpr, tpr = weighted_roc(
        rng.normal(size=200) + np.r_[np.ones(100), np.zeros(100)],
        np.r_[np.ones(100), np.zeros(100)],
    )
    res = RocResult(auc, fpr, tpr, 100.0, 100, 0)
    fig = roc_plot(res, tmp_path / "roc.png")
    assert isinstance(fig, Figure) and (tmp_path / "roc.png").stat().st_size > 1000
    assert len(fig.axes[0].lines) == 2  # the curve and the diagonal


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((np.zeros((10, 2)), np.zeros((10, 3)), np.zeros(10)), {}, "differ in shape"),
        ((np.zeros((10, 2)), np.zeros((10, 2)), np.zeros(9)), {}, "log_weights"),
        ((np.zeros((2, 2)), np.zeros((10, 2)), np.zeros(10)), {}, "at least 4 rows"),
        (
            (np.zeros((10, 2)), np.zeros((10, 2)), np.zeros(10)),
            {"theta_joint": np.zeros((10, 1))},
            "both",
        ),
        ((np.zeros((10, 2)), np.zeros((10, 2)), np.full(10, -np.inf)), {}, "finite log-weight"),
        (
            (np.zeros((10, 2)), np.zeros((10, 2)), np.zeros(10)),
            {"test_fraction": 1.0},
            "test_fraction",
        ),
    ],
)
def test_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ratio_roc(*args, **kwargs)


# Narrow likelihood: θ ~ N(0, 1), x | θ ~ N(θ, 0.05²); p(x) = N(0, 1 + 0.05²).
SIGMA = 0.05


def simulate_narrow(key, theta):
    return theta + SIGMA * jax.random.normal(key, (1,))


def exact_log_ratio_narrow(params, theta, x):
    del params
    v = 1.0 + SIGMA**2
    return (
        -0.5 * ((x[0] - theta[0]) / SIGMA) ** 2
        - math.log(SIGMA)
        + 0.5 * x[0] ** 2 / v
        + 0.5 * math.log(v)
    )


def overconfident_log_ratio_narrow(params, theta, x):
    # The θ-dependence of the exact ratio × 4: posteriors half as wide as they should be.
    return 4.0 * exact_log_ratio_narrow(params, theta, x)


@pytest.mark.slow
def test_local_proposals_keep_the_weights_even_and_the_check_exact():
    kw = dict(num_samples=1000, epochs=40)
    local = dict(proposal_scale=0.1, num_mixture=16)
    prior_form = ratio_roc_check(
        jax.random.key(0), PRIOR, simulate_narrow, exact_log_ratio_narrow, None, **kw
    )
    exact = ratio_roc_check(
        jax.random.key(0), PRIOR, simulate_narrow, exact_log_ratio_narrow, None, **kw, **local
    )
    wrong = ratio_roc_check(
        jax.random.key(0),
        PRIOR,
        simulate_narrow,
        overconfident_log_ratio_narrow,
        None,
        **kw,
        **local,
    )
    # p(x) draws weighted by a likelihood 20× narrower than the prior keep an ESS of ~16 of
    # 500 held-out draws (measured), and the exact ratio's AUC is then noise (0.66 measured);
    # the local proposal (0.1 × the prior's spread, around θ) keeps ~135.
    assert exact.effective_sample_size > 4 * prior_form.effective_sample_size
    assert exact.effective_sample_size > 100
    assert abs(exact.auc - 0.5) < EXACT_TOL, exact.auc
    # Overconfident: the weights pile onto few draws near θ, far from p(x | θ) (0.12 measured).
    assert abs(wrong.auc - 0.5) > 0.15, wrong.auc


def test_local_proposal_at_a_fixed_theta_and_bad_scale():
    theta = np.array([0.7], np.float32)
    kw = dict(num_samples=1000, epochs=40, theta=theta, proposal_scale=0.1)
    exact = ratio_roc_check(
        jax.random.key(1), PRIOR, simulate_narrow, exact_log_ratio_narrow, None, **kw
    )
    assert abs(exact.auc - 0.5) < EXACT_TOL, exact.auc
    with pytest.raises(ValueError, match="proposal_scale"):
        ratio_roc_check(
            jax.random.key(1), PRIOR, simulate, exact_log_ratio, None, proposal_scale=1.5
        )
    with pytest.raises(ValueError, match="num_mixture"):
        ratio_roc_check(
            jax.random.key(1),
            PRIOR,
            simulate,
            exact_log_ratio,
            None,
            proposal_scale=0.5,
            num_mixture=0,
        )
