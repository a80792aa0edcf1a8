"""Hyperparameter objectives Q(θ, h) as bilevel problems: one builder per objective.

Each ``*_problem`` builder returns a :class:`~jaxsbi.hpo.problem.Problem` for a
:class:`~jaxsbi.hpo.likelihood.Model` (:mod:`jaxsbi.hpo.likelihood`): the inner loss is the
negative log joint (or −ELBO) per training point; the outer loss is the negative objective per
training point (or the mean validation NLL for ``"validation"``).

- :func:`map_problem` — the mean validation NLL.
- :func:`laplace_problem` — the Laplace log evidence (:mod:`jaxsbi.hpo.laplace`).
- :func:`elbo_problem` — the ELBO (:mod:`jaxsbi.hpo.variational`).
- :func:`kfold_weights` + :func:`cv_problem` — k-fold cross-validated log-likelihood with the
  folds ``vmap``ped.
- :func:`linear_evidence_problem` — the exact evidence of the linear model, from
  :mod:`jaxsbi.evidence` (:func:`~jaxsbi.evidence.log_evidence_gaussian_prior`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.evidence import log_evidence_gaussian_prior, sufficient_stats
from jaxsbi.hpo.laplace import HessianKind, _laplace
from jaxsbi.hpo.likelihood import (
    Model,
    Splits,
    _neg_log_joint,
    linear_model,
    log_prior,
    nll_per_example,
    prior_precision,
)
from jaxsbi.hpo.problem import Problem, make_problem
from jaxsbi.hpo.variational import elbo

__all__ = [
    "kfold_weights",
    "map_problem",
    "laplace_problem",
    "elbo_problem",
    "cv_problem",
    "linear_evidence_problem",
]


def kfold_weights(num_points: int, num_folds: int) -> Array:
    """Held-out indicators of k interleaved folds, shape ``(k, N)`` (fold j holds n ≡ j mod k).

    Shuffle the data beforehand for random folds.
    """
    if not 2 <= num_folds <= num_points:
        raise ValueError(f"num_folds must lie in [2, N = {num_points}]; got {num_folds}")
    idx = np.arange(num_points)
    return jnp.asarray((idx[None, :] % num_folds) == np.arange(num_folds)[:, None], jnp.float32)


def _check_model(model: Model, theta_init):
    groups = np.asarray(model.groups)
    if groups.shape != (jnp.shape(theta_init)[0],):
        raise ValueError(
            f"model.groups has shape {groups.shape}; expected (P,) = "
            f"({jnp.shape(theta_init)[0]},) matching theta_init"
        )
    if groups.min() < 0 or groups.max() >= model.num_hyper:
        raise ValueError(
            f"model.groups must lie in [0, {model.num_hyper}); got [{groups.min()}, {groups.max()}]"
        )
    if model.likelihood not in ("gaussian", "categorical"):
        raise ValueError(f"likelihood must be 'gaussian' or 'categorical'; got {model.likelihood}")


def _mean_nll(model, data):
    return lambda w: jnp.mean(nll_per_example(model, w, data))


def map_problem(model: Model, data: Splits, theta_init, lower, upper, **kw) -> Problem:
    """MAP training, Q = mean validation NLL (h tuned on held-out data).

    ``kw`` goes to :func:`~jaxsbi.hpo.problem.make_problem` (inner_steps, inner_lr, ...).
    """
    _check_model(model, theta_init)
    n = data.train.x.shape[0]

    def inner(w, h):
        return _neg_log_joint(model, w, h, data.train) / n

    val = _mean_nll(model, data.val)
    return make_problem(
        inner,
        lambda w, h: val(w),
        theta_init,
        lower,
        upper,
        val_loss=val,
        test_loss=_mean_nll(model, data.test),
        **kw,
    )


def laplace_problem(
    model: Model, data: Splits, theta_init, lower, upper, hessian: HessianKind = "ggn", **kw
) -> Problem:
    """MAP training, Q = −(Laplace ln p(D_train|h)) / N_train."""
    _check_model(model, theta_init)
    n = data.train.x.shape[0]

    def inner(w, h):
        return _neg_log_joint(model, w, h, data.train) / n

    def outer(w, h):
        return -_laplace(model, w, h, data.train, hessian).log_evidence / n

    return make_problem(
        inner,
        outer,
        theta_init,
        lower,
        upper,
        val_loss=_mean_nll(model, data.val),
        test_loss=_mean_nll(model, data.test),
        **kw,
    )


def elbo_problem(
    key,
    model: Model,
    data: Splits,
    theta_init,
    lower,
    upper,
    *,
    init_sigma: float = 1e-2,
    num_samples: int = 4,
    **kw,
) -> Problem:
    """Variational training (θ = [μ; ρ], shape ``(2P,)``), Q = −ELBO/N_train.

    Inner and outer ELBOs use different fixed base noise (``num_samples`` and 4× as many
    draws), so the search is deterministic. Validation / test losses are those of the mean
    weights μ.
    """
    _check_model(model, theta_init)
    theta_init = jnp.asarray(theta_init)
    p = theta_init.shape[0]
    n = data.train.x.shape[0]
    k1, k2 = jax.random.split(key)
    eps_in = jax.random.normal(k1, (num_samples, p), theta_init.dtype)
    eps_out = jax.random.normal(k2, (4 * num_samples, p), theta_init.dtype)
    rho0 = jnp.log(jnp.expm1(jnp.asarray(init_sigma, theta_init.dtype)))
    q_init = jnp.concatenate([theta_init, jnp.full((p,), rho0)])

    def inner(q, h):
        return -elbo(model, q, h, data.train, eps_in) / n

    def outer(q, h):
        return -elbo(model, q, h, data.train, eps_out) / n

    val, test = _mean_nll(model, data.val), _mean_nll(model, data.test)
    return make_problem(
        inner,
        outer,
        q_init,
        lower,
        upper,
        val_loss=lambda q: val(q[:p]),
        test_loss=lambda q: test(q[:p]),
        **kw,
    )


def cv_problem(
    model: Model, data: Splits, theta_init, lower, upper, *, num_folds: int = 5, **kw
) -> Problem:
    """k-fold CV: θ stacks k fold models (shape ``(kP,)``); the folds are vmapped.

    Inner loss: Σ_k [NLL on the training part of fold k + ½ w_kᵀAw_k] / N. Outer loss: the
    mean held-out NLL, Σ_k Σ_{n in fold k} NLL_n(w_k) / N. Validation / test losses average
    the fold models' mean NLLs.
    """
    _check_model(model, theta_init)
    theta_init = jnp.asarray(theta_init)
    p = theta_init.shape[0]
    n = data.train.x.shape[0]
    held = kfold_weights(n, num_folds).astype(theta_init.dtype)

    def per_fold(w, h, hold):
        nll = nll_per_example(model, w, data.train)
        return jnp.sum((1.0 - hold) * nll) - log_prior(model, w, h), jnp.sum(hold * nll)

    def folds(theta, h):
        return jax.vmap(per_fold, in_axes=(0, None, 0))(theta.reshape(num_folds, p), h, held)

    def inner(theta, h):
        return jnp.sum(folds(theta, h)[0]) / n

    def outer(theta, h):
        return jnp.sum(folds(theta, h)[1]) / n

    def averaged(fn):
        return lambda theta: jnp.mean(jax.vmap(fn)(theta.reshape(num_folds, p)))

    return make_problem(
        inner,
        outer,
        jnp.tile(theta_init, num_folds),
        lower,
        upper,
        val_loss=averaged(_mean_nll(model, data.val)),
        test_loss=averaged(_mean_nll(model, data.test)),
        **kw,
    )


def linear_evidence_problem(data: Splits, beta: float, lower, upper, groups=None, **kw) -> Problem:
    """Linear-Gaussian model on features Φ (``data.*.x`` of shape ``(N, M)``), exact evidence.

    Q(θ, h) = −ln p(t | h, β)/N from the evidence module's ``log_evidence_gaussian_prior`` with
    prior covariance diag(1/A); it does not depend on θ. θ (MAP weights) only serves the
    reported validation / test losses.
    """
    m = data.train.x.shape[1]
    model = linear_model(m, beta, groups)
    theta_init = jnp.zeros((m,), data.train.x.dtype)
    _check_model(model, theta_init)
    n = data.train.x.shape[0]
    stats = sufficient_stats(data.train.x, data.train.y)
    beta_arr = jnp.asarray(beta, stats.gram.dtype)

    def inner(w, h):
        return _neg_log_joint(model, w, h, data.train) / n

    def outer(w, h):
        cov = jnp.diag(1.0 / prior_precision(model, h))
        return -log_evidence_gaussian_prior(stats, jnp.zeros_like(w), cov, beta_arr) / n

    return make_problem(
        inner,
        outer,
        theta_init,
        lower,
        upper,
        val_loss=_mean_nll(model, data.val),
        test_loss=_mean_nll(model, data.test),
        **kw,
    )
