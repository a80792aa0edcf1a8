"""The ROC diagnostic of ratio quality (Hermans, Begy & Louppe, ICML 2020, §3.3).

If r̂(x | θ) = p(x | θ) / p(x) exactly, then marginal draws x' ~ p(x) weighted by r̂(x' | θ) have
the law p(x | θ): a classifier cannot tell them from real draws x ~ p(x | θ) and its ROC curve is
the diagonal (AUC 0.5). Any departure of the AUC from 0.5 measures a ratio error.

Two forms:

* fixed θ (the paper's): x ~ p(x | θ) against x' ~ p(x) weighted by r̂(x' | θ); the classifier
  sees x;
* amortised: (θ, x) ~ p(θ, x) against (θ, x') ~ p(θ) p(x) weighted by r̂(x' | θ); the classifier
  sees (θ, x), so one test covers the whole prior.

**Local proposals.** When the data are informative, r̂(x' | θ) for x' ~ p(x) is negligible for
almost every x', and the weights degenerate (an effective sample size of ~10 in thousands for
lensing images): the AUC is then noise. With ``proposal_scale = s`` the marginal draws come from
near the θ being checked instead: J parameters θ'_j = θ + s·(θ̃_j − θ), θ̃_j ~ p(θ) (the prior
contracted towards θ by s, inside the support when it is convex), x' ~ p(x | θ'_1), weighted by

    w = r̂(x' | θ) / ((1/J) Σ_j r̂(x' | θ'_j)).

For the exact ratio, w = p(x' | θ) / ((1/J) Σ_j p(x' | θ'_j)): p(x) cancels, and since w is
symmetric in the θ'_j, weighted x' have the law p(x | θ) *exactly* (multiple importance sampling
with the balance heuristic; no density of the proposal is needed). A factor c(x) in r̂, which
leaves every posterior unchanged, cancels too: the check then tests exactly what MCMC uses, the
θ-dependence of r̂, on the scale s of the prior. s = 1 is the amortised check with the mixture
denominator; smaller s keeps the weights even when posteriors are narrow.

:func:`ratio_roc` works on arrays (samples and log-weights); :func:`ratio_roc_check` draws them
from a prior, a simulator and a log-ratio function. The classifier is the small ReLU MLP of
:mod:`jaxsbi.diagnostics.c2st` (scikit-learn's initialisation and L2 penalty), trained with the
self-normalised weights as per-row loss weights; the AUC and ROC curve are computed on a
held-out split with the same weights. With N weighted samples the AUC's noise is roughly
``0.3 / sqrt(min(N_test, ESS_test))``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from jaxsbi.diagnostics.c2st import _batch_loss, _glorot_mlp, _logit

__all__ = [
    "RocResult",
    "ratio_roc",
    "ratio_roc_check",
    "ratio_roc_draws",
    "weighted_roc",
    "roc_plot",
]


class RocResult(NamedTuple):
    """Held-out ROC of the joint-vs-reweighted-marginal classifier (host values).

    Attributes:
        auc: area under the ROC curve (0.5: the ratio passes the check).
        fpr: ``(k,)`` false-positive rates (weighted marginal samples called "joint").
        tpr: ``(k,)`` true-positive rates.
        effective_sample_size: Kish ESS of the held-out marginal weights.
        num_test: held-out rows per class.
        num_dropped: rows dropped for non-finite inputs or log-weights.
    """

    auc: float
    fpr: np.ndarray
    tpr: np.ndarray
    effective_sample_size: float
    num_test: int
    num_dropped: int


# --------------------------------------------------------------------------- weighted ROC


def weighted_roc(scores, labels, weights=None) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted ROC curve and AUC (ties counted half, as scikit-learn's ``roc_auc_score``).

    Args:
        scores: ``(n,)`` classifier scores (larger: more "positive").
        labels: ``(n,)`` 0/1 labels.
        weights: ``(n,)`` non-negative sample weights (default 1).

    Returns:
        ``(auc, fpr, tpr)``; the curve starts at (0, 0) and ends at (1, 1).
    """
    s = np.asarray(scores, np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1).astype(bool)
    w = np.ones_like(s) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    if not (s.shape == y.shape == w.shape):
        raise ValueError(
            f"scores, labels, weights must share one shape; got {s.shape}, {y.shape}, {w.shape}"
        )
    if np.any(w < 0) or not np.all(np.isfinite(w)) or not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite and weights finite and non-negative")
    pos, neg = np.sum(w[y]), np.sum(w[~y])
    if pos <= 0 or neg <= 0:
        raise ValueError("both classes need positive total weight")
    order = np.argsort(-s, kind="mergesort")
    s, y, w = s[order], y[order], w[order]
    # One ROC point per distinct score (a tie moves diagonally, which counts ties as half).
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    tp = np.cumsum(np.where(y, w, 0.0))[last]
    fp = np.cumsum(np.where(y, 0.0, w))[last]
    tpr = np.r_[0.0, tp / pos]
    fpr = np.r_[0.0, fp / neg]
    auc = float(np.sum(np.diff(fpr) * 0.5 * (tpr[1:] + tpr[:-1])))
    return auc, fpr, tpr


# --------------------------------------------------------------------------- classifier


@partial(jax.jit, static_argnames=("sizes", "epochs", "batch"))
def _train(key, data, labels, weights, hyper, *, sizes, epochs, batch):
    """Adam on the weighted log loss; ``data`` padded to a whole number of batches (weight 0)."""
    learning_rate, alpha = hyper
    k_init, k_shuffle = jax.random.split(key)
    params = _glorot_mlp(k_init, sizes)
    optimizer = optax.adam(learning_rate)
    n = data.shape[0]
    grad_fn = jax.grad(_batch_loss)

    def minibatch(carry, idx):
        params, opt_state = carry
        grads = grad_fn(params, data[idx], labels[idx], weights[idx], alpha)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    def epoch(carry, e):
        perm = jax.random.permutation(jax.random.fold_in(k_shuffle, e), n)
        carry, _ = jax.lax.scan(minibatch, carry, perm.reshape(-1, batch))
        return carry, None

    (params, _), _ = jax.lax.scan(epoch, (params, optimizer.init(params)), jnp.arange(epochs))
    return params


@jax.jit
def _scores(params, data):
    return jax.vmap(_logit, in_axes=(None, 0))(params, data)


def _flat(name, arr) -> np.ndarray:
    arr = np.asarray(arr, np.float32)
    if arr.ndim < 1 or arr.shape[0] < 4:
        raise ValueError(
            f"{name} needs a leading sample axis with at least 4 rows; got {arr.shape}"
        )
    return arr.reshape(arr.shape[0], -1)


def ratio_roc(
    x_joint,
    x_marginal,
    log_weights,
    *,
    theta_joint=None,
    theta_marginal=None,
    seed: int = 0,
    test_fraction: float = 0.5,
    hidden: tuple[int, ...] = (64, 64),
    epochs: int = 100,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    alpha: float = 1e-4,
) -> RocResult:
    """Held-out ROC of a classifier between joint samples and reweighted marginal samples.

    Args:
        x_joint: ``(n, *x_shape)`` draws of x ~ p(x | θ) (label 1).
        x_marginal: ``(m, *x_shape)`` draws of x' ~ p(x) (label 0).
        log_weights: ``(m,)`` log r̂ of each marginal draw (self-normalised here).
        theta_joint, theta_marginal: amortised form: ``(n, d)`` / ``(m, d)`` parameters paired
            with the x's (θ_i of x_joint[i]; the θ at which r̂ was evaluated for x_marginal[j]).
            The classifier then sees (θ, x). Give both or neither.
        seed: seeds the split, the initialisation and the shuffles.
        test_fraction: share of each class held out for the ROC.
        hidden: hidden widths of the ReLU MLP.
        epochs, batch_size, learning_rate, alpha: Adam epochs, minibatch size, step size, L2.

    Returns:
        :class:`RocResult` (AUC 0.5: the weighted marginal matches the joint).

    Raises:
        ValueError: mismatched shapes, too few rows, only one of the θ arrays, an invalid
            ``test_fraction`` or all weights non-finite.
    """
    xj, xm = _flat("x_joint", x_joint), _flat("x_marginal", x_marginal)
    logw = np.asarray(log_weights, np.float64).reshape(-1)
    if xj.shape[1] != xm.shape[1]:
        raise ValueError(f"x_joint and x_marginal differ in shape: {xj.shape} vs {xm.shape}")
    if logw.shape[0] != xm.shape[0]:
        raise ValueError(f"log_weights must have shape ({xm.shape[0]},), got {logw.shape}")
    if (theta_joint is None) != (theta_marginal is None):
        raise ValueError("give both theta_joint and theta_marginal (amortised) or neither")
    if theta_joint is not None:
        tj, tm = _flat("theta_joint", theta_joint), _flat("theta_marginal", theta_marginal)
        if tj.shape[0] != xj.shape[0] or tm.shape[0] != xm.shape[0] or tj.shape[1] != tm.shape[1]:
            raise ValueError(
                f"theta_joint {tj.shape} / theta_marginal {tm.shape} must pair with x_joint "
                f"{xj.shape} / x_marginal {xm.shape}"
            )
        xj, xm = np.concatenate([tj, xj], axis=1), np.concatenate([tm, xm], axis=1)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    # Drop non-finite rows (failed simulations, −inf ratios carry zero weight anyway).
    ok_j = np.all(np.isfinite(xj), axis=1)
    ok_m = np.all(np.isfinite(xm), axis=1) & ~np.isnan(logw) & (logw < np.inf)
    dropped = int((~ok_j).sum() + (~ok_m).sum())
    xj, xm, logw = xj[ok_j], xm[ok_m], logw[ok_m]
    if not np.any(np.isfinite(logw)):
        raise ValueError("no marginal sample has a finite log-weight")

    rng = np.random.default_rng(seed)
    pj, pm = rng.permutation(xj.shape[0]), rng.permutation(xm.shape[0])
    nj_test = max(2, int(round(test_fraction * xj.shape[0])))
    nm_test = max(2, int(round(test_fraction * xm.shape[0])))
    if xj.shape[0] - nj_test < 2 or xm.shape[0] - nm_test < 2:
        raise ValueError("too few finite rows for a train/test split")

    def normalised(lw):
        w = np.exp(lw - np.max(lw))
        return w / np.sum(w)

    train_x = np.concatenate([xj[pj[nj_test:]], xm[pm[nm_test:]]])
    n_tj = xj.shape[0] - nj_test
    train_y = np.r_[np.ones(n_tj), np.zeros(xm.shape[0] - nm_test)]
    # Each class carries total weight 1/2; rescaled so the mean row weight is 1.
    train_w = np.r_[np.full(n_tj, 0.5 / n_tj), 0.5 * normalised(logw[pm[nm_test:]])]
    train_w *= train_w.size
    mean, std = train_x.mean(axis=0), train_x.std(axis=0)
    std = np.where(std > 0, std, 1.0)

    n = train_x.shape[0]
    batch = min(int(batch_size), n)
    padded = -(-n // batch) * batch
    pad = padded - n

    def padded_rows(a):
        return np.concatenate([a, np.zeros((pad,) + a.shape[1:], a.dtype)])

    params = _train(
        jax.random.key(seed),
        jnp.asarray(padded_rows((train_x - mean) / std), jnp.float32),
        jnp.asarray(padded_rows(train_y), jnp.float32),
        jnp.asarray(padded_rows(train_w), jnp.float32),
        (jnp.float32(learning_rate), jnp.float32(alpha)),
        sizes=(train_x.shape[1], *map(int, hidden), 1),
        epochs=int(epochs),
        batch=batch,
    )
    test_x = np.concatenate([xj[pj[:nj_test]], xm[pm[:nm_test]]])
    wm = normalised(logw[pm[:nm_test]])
    test_w = np.r_[np.full(nj_test, 1.0 / nj_test), wm]
    test_y = np.r_[np.ones(nj_test), np.zeros(nm_test)]
    s = np.asarray(_scores(params, jnp.asarray((test_x - mean) / std, jnp.float32)))
    auc, fpr, tpr = weighted_roc(s, test_y, test_w)
    return RocResult(auc, fpr, tpr, float(1.0 / np.sum(wm**2)), int(min(nj_test, nm_test)), dropped)


# --------------------------------------------------------------------------- from a simulator


def ratio_roc_draws(
    key: Array,
    prior,
    simulate: Callable[[Array, Array], Array],
    log_ratio_fn: Callable[[Any, Array, Array], Array],
    params: Any,
    *,
    num_samples: int = 4000,
    theta=None,
    proposal_scale: float | None = None,
    num_mixture: int = 16,
    batch_size_ratio: int = 256,
) -> dict:
    """The two weighted sample sets of the ratio check, as keyword arguments of :func:`ratio_roc`.

    Args:
        key: PRNG key (the same key gives the same draws, so two estimators can be compared
            on one set: only ``log_weights`` depends on ``params``).
        prior: a :class:`~jaxsbi.distributions.Prior`.
        simulate: ``simulate(key, theta (d,)) -> x``.
        log_ratio_fn: ``log_ratio_fn(params, theta (d,), x) -> scalar`` (e.g.
            ``RatioEstimator.log_ratio``).
        params: its parameters.
        num_samples: draws per class.
        theta: ``(d,)`` to check the ratio at one θ (the paper's form); None for the amortised
            form over the prior.
        proposal_scale: None: marginal draws x' ~ p(x) weighted by r̂(x' | θ) (the paper's
            form); s in (0, 1]: local proposals, weighted by multiple importance sampling (see
            the module docstring).
        num_mixture: J, the proposal parameters per marginal draw (local proposals only).
        batch_size_ratio: marginal draws per compiled batch of the J ratio evaluations.

    Returns:
        dict with ``x_joint``, ``x_marginal``, ``log_weights`` and, in the amortised form,
        ``theta_joint``, ``theta_marginal``.
    """
    if not isinstance(num_samples, int) or num_samples < 8:
        raise ValueError(f"num_samples must be an integer >= 8, got {num_samples!r}")
    if proposal_scale is not None and not 0.0 < float(proposal_scale) <= 1.0:
        raise ValueError(f"proposal_scale must be in (0, 1] or None, got {proposal_scale}")
    if not isinstance(num_mixture, int) or num_mixture < 1:
        raise ValueError(f"num_mixture must be an integer >= 1, got {num_mixture!r}")
    d = prior.theta_dim
    k_tj, k_xj, k_tm, k_tp, k_xm = jax.random.split(key, 5)
    n = num_samples
    sim = jax.vmap(simulate)
    log_r = jax.vmap(lambda t, x: log_ratio_fn(params, t, x))
    # anchor: the θ at which r̂ weighs each marginal draw (independent of that draw).
    if theta is not None:
        theta = _check_theta(theta, d)
        anchor = jnp.broadcast_to(jnp.asarray(theta)[None, :], (n, d))
        theta_joint = anchor
    else:
        anchor = prior.sample(k_tm, (n,))
        theta_joint = prior.sample(k_tj, (n,))
    x_joint = sim(jax.random.split(k_xj, n), theta_joint)
    if proposal_scale is None:
        x_marginal = sim(jax.random.split(k_xm, n), prior.sample(k_tp, (n,)))  # x' ~ p(x)
        logw = log_r(anchor, x_marginal)
    else:
        x_marginal, logw = _local_marginal(
            k_tp,
            k_xm,
            prior,
            sim,
            log_ratio_fn,
            params,
            anchor,
            float(proposal_scale),
            num_mixture,
            batch_size_ratio,
        )
    draws = {"x_joint": x_joint, "x_marginal": x_marginal, "log_weights": logw}
    if theta is None:
        draws.update(theta_joint=theta_joint, theta_marginal=anchor)
    return draws


def ratio_roc_check(
    key: Array,
    prior,
    simulate: Callable[[Array, Array], Array],
    log_ratio_fn: Callable[[Any, Array, Array], Array],
    params: Any,
    *,
    num_samples: int = 4000,
    theta=None,
    proposal_scale: float | None = None,
    num_mixture: int = 16,
    batch_size_ratio: int = 256,
    **classifier_kwargs,
) -> RocResult:
    """Draw the two sample sets from a simulator (:func:`ratio_roc_draws`, whose arguments
    these are) and run :func:`ratio_roc` (``classifier_kwargs``) on them.

    Returns:
        :class:`RocResult`.
    """
    draws = ratio_roc_draws(
        key,
        prior,
        simulate,
        log_ratio_fn,
        params,
        num_samples=num_samples,
        theta=theta,
        proposal_scale=proposal_scale,
        num_mixture=num_mixture,
        batch_size_ratio=batch_size_ratio,
    )
    return ratio_roc(**draws, **classifier_kwargs)


def _check_theta(theta, d: int) -> np.ndarray:
    theta = np.asarray(theta, np.float32)
    if theta.shape != (d,) or not np.all(np.isfinite(theta)):
        raise ValueError(f"theta must be a finite array of shape ({d},), got {theta.shape}")
    return theta


def _local_marginal(k_mix, k_x, prior, sim, log_ratio_fn, params, anchor, scale, j, batch):
    """x' ~ p(x | θ'_1), θ'_j = a + s(θ̃_j − a); log w = log r̂(x'|a) − log mean_j r̂(x'|θ'_j)."""
    n, d = anchor.shape
    tilde = prior.sample(k_mix, (n, j))
    mix = anchor[:, None, :] + scale * (tilde - anchor[:, None, :])
    x = sim(jax.random.split(k_x, n), mix[:, 0])

    def one(args):
        a, ts, xx = args
        lr_mix = jax.vmap(lambda t: log_ratio_fn(params, t, xx))(ts)
        return log_ratio_fn(params, a, xx) - (jax.nn.logsumexp(lr_mix) - jnp.log(float(j)))

    logw = jax.jit(lambda a, m, xs: jax.lax.map(one, (a, m, xs), batch_size=batch))(anchor, mix, x)
    return x, logw


# --------------------------------------------------------------------------- plot


def roc_plot(result: RocResult, path=None, *, label: str | None = None, ax=None):
    """Plot the ROC curve with the diagonal; save it to ``path`` (PNG) if given.

    Args:
        result: a :class:`RocResult`.
        path: optional file path.
        label: legend label (default "AUC = …").
        ax: draw into this Axes (its figure is returned) instead of a new Figure.

    Returns:
        The matplotlib ``Figure``.
    """
    from matplotlib.figure import Figure

    if ax is None:
        fig = Figure(figsize=(4.0, 4.0))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="diagonal (exact)")
    ax.plot(result.fpr, result.tpr, linewidth=1.5, label=label or f"AUC = {result.auc:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right", fontsize=8)
    if path is not None:
        fig.savefig(str(path), dpi=100, bbox_inches="tight")
    return fig
