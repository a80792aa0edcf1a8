"""Quality functions Q(θ, h) of hyperparameters, as pure functions, and the problems built on them.

The model is y ~ p(y | f(x, w)) with a Gaussian (noise precision β) or categorical likelihood and
the prior w ~ N(0, A⁻¹), A = diag(exp(h)[groups]): each parameter belongs to one group (a layer,
a polynomial degree, itself), and h holds one log-precision per group.

- :func:`laplace_log_evidence` — ln p(D|h) ≈ ln p(D|ŵ) + ln p(ŵ|h) + (P/2) ln 2π − ½ ln|H|,
  H = −∇²ln p(D, w|h) at the mode ŵ. ``hessian="exact"`` (autodiff, P ≲ 3000),
  ``"ggn"`` (generalised Gauss–Newton ΣJᵀΛJ + A: positive definite by construction) or
  ``"diag"`` (the diagonal of the GGN, O(P) memory, for large models).
- :func:`elbo` — Graves (2011): E_q[ln p(D|w)] − KL(q‖p(w|h)) with q = N(μ, diag σ²),
  reparameterised with fixed base noise, closed-form KL (:func:`gaussian_kl_diag`).
- :func:`kfold_weights` + :func:`cv_problem` — k-fold cross-validated log-likelihood with the
  folds ``vmap``ped.
- exact evidence of the linear model — from :mod:`jaxsbi.evidence`
  (:func:`~jaxsbi.evidence.log_evidence_gaussian_prior`), in :func:`linear_evidence_problem`.

Every ``*_problem`` builder returns a :class:`~jaxsbi.hpo.problem.Problem`: the inner loss is
the negative log joint (or −ELBO) per training point; the outer loss is the negative objective
per training point (or the mean validation NLL for ``"validation"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.evidence import log_evidence_gaussian_prior, sufficient_stats

# The checked public log_evidence_gaussian_prior cannot run under jit when the statistics are
# closed-over constants (its finiteness check converts a traced reduction to bool), so the
# compiled implementation is called directly; the statistics are checked once, here.
from jaxsbi.hpo.problem import Problem, make_problem

__all__ = [
    "Model",
    "Dataset",
    "Splits",
    "nll_per_example",
    "log_prior",
    "prior_precision",
    "hessian_nll",
    "LaplaceEvidence",
    "laplace_log_evidence",
    "gaussian_kl_diag",
    "elbo",
    "prune_mask",
    "kfold_weights",
    "linear_model",
    "map_problem",
    "laplace_problem",
    "elbo_problem",
    "cv_problem",
    "linear_evidence_problem",
]

_LOG_2PI = 1.8378770664093453
HessianKind = Literal["exact", "ggn", "diag"]


class Model(NamedTuple):
    """A parametric model with a factorised prior.

    Attributes:
        apply: ``apply(w, x) -> f`` for one input x; w shape ``(P,)``; f shape ``()`` for the
            Gaussian likelihood or ``(C,)`` logits for the categorical one.
        likelihood: ``"gaussian"`` or ``"categorical"``.
        noise_precision: β of the Gaussian likelihood (ignored for categorical).
        groups: the hyperparameter index of each parameter, int shape ``(P,)``.
        num_hyper: H, the number of groups.
    """

    apply: Callable[[Array, Array], Array]
    likelihood: str
    noise_precision: float
    groups: np.ndarray
    num_hyper: int


class Dataset(NamedTuple):
    """Inputs ``x`` ``(N, ...)`` and targets ``y`` ``(N,)`` (floats, or int class labels)."""

    x: Array
    y: Array


class Splits(NamedTuple):
    """Training, validation and test sets."""

    train: Dataset
    val: Dataset
    test: Dataset


def _nll_one(model: Model, w: Array, x: Array, y: Array) -> Array:
    f = model.apply(w, x)
    if model.likelihood == "gaussian":
        beta = model.noise_precision
        return 0.5 * beta * (y - f) ** 2 - 0.5 * (jnp.log(beta) - _LOG_2PI)
    return -jax.nn.log_softmax(f)[y]


def nll_per_example(model: Model, w: Array, data: Dataset) -> Array:
    """−ln p(y_n | x_n, w) for every example, shape ``(N,)``."""
    return jax.vmap(lambda x, y: _nll_one(model, w, x, y))(data.x, data.y)


def prior_precision(model: Model, h: Array) -> Array:
    """A = exp(h)[groups], shape ``(P,)``."""
    return jnp.exp(h)[jnp.asarray(model.groups)]


def log_prior(model: Model, w: Array, h: Array) -> Array:
    """ln N(w | 0, A⁻¹), shape ``()``."""
    a = prior_precision(model, h)
    return 0.5 * jnp.sum(jnp.log(a) - _LOG_2PI - a * w**2)


def _neg_log_joint(model: Model, w: Array, h: Array, data: Dataset, weights=None) -> Array:
    nll = nll_per_example(model, w, data)
    nll = jnp.sum(nll) if weights is None else jnp.sum(weights * nll)
    return nll - log_prior(model, w, h)


def _output_hessian(model: Model, f: Array) -> Array:
    """Λ = ∇²_f (−ln p(y|f)): β (Gaussian) or diag(p) − ppᵀ (softmax)."""
    if model.likelihood == "gaussian":
        return jnp.full((1, 1), model.noise_precision, f.dtype)
    p = jax.nn.softmax(f)
    return jnp.diag(p) - p[:, None] * p[None, :]


def hessian_nll(
    model: Model, w: Array, data: Dataset, kind: HessianKind = "ggn", chunk: int = 256
) -> Array:
    """The Hessian of Σ_n −ln p(y_n|x_n, w): ``(P, P)``, or its GGN diagonal ``(P,)``.

    ``"exact"`` differentiates twice; ``"ggn"`` = Σ J_nᵀΛ_nJ_n (positive semidefinite);
    ``"diag"`` = diag(Σ J_nᵀΛ_nJ_n), accumulated over chunks of ``chunk`` examples.
    """
    if kind == "exact":
        return jax.hessian(lambda ww: jnp.sum(nll_per_example(model, ww, data)))(w)

    def per_example(x):
        jac = jax.jacrev(lambda ww: jnp.atleast_1d(model.apply(ww, x)))(w)  # (C, P)
        lam = _output_hessian(model, jnp.atleast_1d(model.apply(w, x)))
        if kind == "ggn":
            return jac.T @ lam @ jac
        return jnp.sum(jac * (lam @ jac), axis=0)

    n = data.x.shape[0]
    c = min(chunk, n)
    num = -(-n // c)
    pad = num * c - n
    xs = jnp.concatenate([data.x, jnp.zeros((pad,) + data.x.shape[1:], data.x.dtype)])
    keep = jnp.concatenate([jnp.ones((n,), w.dtype), jnp.zeros((pad,), w.dtype)])
    xs = xs.reshape((num, c) + data.x.shape[1:])
    keep = keep.reshape(num, c)

    def body(acc, inp):
        xb, kb = inp
        hb = jax.vmap(per_example)(xb)
        kb = kb.reshape((c,) + (1,) * (hb.ndim - 1))
        return acc + jnp.sum(kb * hb, axis=0), None

    shape = (w.shape[0],) * (2 if kind == "ggn" else 1)
    acc, _ = jax.lax.scan(body, jnp.zeros(shape, w.dtype), (xs, keep))
    return acc


class LaplaceEvidence(NamedTuple):
    """Laplace approximation at w.

    Attributes:
        log_evidence: ln p(D|h) ≈ ln p(D, ŵ|h) + (P/2) ln 2π − ½ ln|H|; NaN if H is not
            positive definite.
        log_det: ln|H|, shape ``()``.
        min_eigenvalue: the smallest eigenvalue of H (``exact``/``ggn``: by eigvalsh only when
            the Cholesky factorisation fails, else the smallest pivot²-free lower bound is not
            computed and the field is +inf; ``diag``: the smallest diagonal entry).
    """

    log_evidence: Array
    log_det: Array
    min_eigenvalue: Array


def _laplace(model: Model, w: Array, h: Array, data: Dataset, hessian: HessianKind):
    a = prior_precision(model, h)
    log_joint = -_neg_log_joint(model, w, h, data)
    p = w.shape[0]
    h_nll = hessian_nll(model, w, data, hessian)
    if hessian == "diag":
        d = h_nll + a
        log_det = jnp.sum(jnp.log(d))  # NaN where an entry is not positive
        min_eig = jnp.min(d)
    else:
        mat = h_nll + jnp.diag(a)
        mat = 0.5 * (mat + mat.T)
        chol = jnp.linalg.cholesky(mat)
        log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))  # NaN if not positive definite
        min_eig = jax.lax.cond(
            jnp.all(jnp.isfinite(chol)),
            lambda m: jnp.asarray(jnp.inf, m.dtype),
            lambda m: jnp.linalg.eigvalsh(m)[0],
            mat,
        )
    return LaplaceEvidence(log_joint + 0.5 * p * _LOG_2PI - 0.5 * log_det, log_det, min_eig)


def laplace_log_evidence(
    model: Model, w, h, data: Dataset, hessian: HessianKind = "ggn", *, check: bool = True
) -> LaplaceEvidence:
    """The Laplace approximation of ln p(D|h) at the mode w.

    Args:
        model: the model.
        w: the mode (MAP) of the posterior, shape ``(P,)``.
        h: log prior precisions, shape ``(H,)``.
        data: the training data.
        hessian: ``"exact"``, ``"ggn"`` or ``"diag"`` (see the module docstring).
        check: raise when H is not positive definite (eager calls only).

    Returns:
        :class:`LaplaceEvidence`. Exact for the linear-Gaussian model with any ``hessian``
        except ``"diag"`` (which drops the off-diagonal curvature).

    Raises:
        ValueError: H not positive definite at w (w is no mode; with ``"exact"`` try ``"ggn"``).
    """
    if hessian not in ("exact", "ggn", "diag"):
        raise ValueError(f"hessian must be 'exact', 'ggn' or 'diag'; got {hessian!r}")
    w = jnp.asarray(w)
    h = jnp.asarray(h, w.dtype)
    if w.shape != (len(model.groups),) or h.shape != (model.num_hyper,):
        raise ValueError(
            f"w must have shape ({len(model.groups)},) and h ({model.num_hyper},); got "
            f"{w.shape} and {h.shape}"
        )
    out = jax.jit(lambda ww, hh: _laplace(model, ww, hh, data, hessian))(w, h)
    if (
        check
        and not isinstance(out.log_det, jax.core.Tracer)
        and not np.isfinite(float(out.log_evidence))
    ):
        raise ValueError(
            f"the Hessian of the negative log joint is not positive definite at w (smallest "
            f"eigenvalue {float(out.min_eigenvalue):.4g}): w is not a mode of the posterior, so "
            "the Laplace approximation does not exist there. Fit w to convergence first, or use "
            "hessian='ggn' (positive definite by construction)"
        )
    return out


def gaussian_kl_diag(mu: Array, sigma: Array, precision: Array) -> Array:
    """KL(N(μ, diag σ²) ‖ N(0, diag 1/a)) = ½Σ[aσ² + aμ² − 1 − ln(aσ²)]; all ``(P,)`` -> ``()``."""
    s2a = precision * sigma**2
    return 0.5 * jnp.sum(s2a + precision * mu**2 - 1.0 - jnp.log(s2a))


def _split_q(q: Array) -> tuple[Array, Array]:
    p = q.shape[0] // 2
    return q[:p], jax.nn.softplus(q[p:])


def elbo(model: Model, q: Array, h: Array, data: Dataset, eps: Array) -> Array:
    """The evidence lower bound (Graves 2011) with q = N(μ, diag σ²), σ = softplus(ρ).

    Args:
        model: the model.
        q: variational parameters [μ; ρ], shape ``(2P,)``.
        h: log prior precisions, shape ``(H,)``.
        data: the training data.
        eps: fixed standard-normal base noise, shape ``(S, P)`` (S reparameterised samples).

    Returns:
        (1/S)Σ_s ln p(D | μ + σ ⊙ ε_s) − KL(q ‖ p(w|h)), shape ``()``.
    """
    mu, sigma = _split_q(q)
    expected = jnp.mean(
        jax.vmap(lambda e: -jnp.sum(nll_per_example(model, mu + sigma * e, data)))(eps)
    )
    return expected - gaussian_kl_diag(mu, sigma, prior_precision(model, h))


def prune_mask(mu: Array, sigma: Array, threshold: float = 0.95) -> Array:
    """Parameters kept after pruning by the relative density q(0)/q(μ) = exp(−μ²/2σ²).

    A parameter whose zero value is nearly as probable as its mean under q (relative density
    ≥ ``threshold``) is pruned (set to 0).

    Returns:
        Boolean mask of kept parameters, shape ``(P,)``.
    """
    return jnp.exp(-(mu**2) / (2.0 * sigma**2)) < threshold


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


def linear_model(num_features: int, beta: float, groups=None) -> Model:
    """The linear-Gaussian model f(φ, w) = φᵀw on precomputed features φ ``(M,)``."""
    groups = np.zeros(num_features, int) if groups is None else np.asarray(groups, int)
    return Model(lambda w, phi: phi @ w, "gaussian", float(beta), groups, int(groups.max()) + 1)


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
