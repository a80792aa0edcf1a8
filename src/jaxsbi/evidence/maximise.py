"""Evidence maximisation ("type-II maximum likelihood") over α and β (PRML §3.5.2).

Fixed point: with λ_i the eigenvalues of βΦᵀΦ and γ = Σ λ_i / (α + λ_i),

    α ← γ / m_Nᵀm_N,        1/β ← ‖t − Φm_N‖² / (N − γ)        (PRML 3.92, 3.95),

both updated simultaneously from the same m_N (as scikit-learn's BayesianRidge does). ΦᵀΦ is
eigendecomposed once; each iteration is then O(M): in the eigenbasis A is diagonal,
α + βe_i, and m_N, γ, ‖m_N‖², the residual and ln|A| are sums over i.

The β update needs N > γ: a model flexible enough to interpolate the data sends β → ∞. The loop
then stops at the last finite iterate with ``converged = False``.

The same optimum is reached by gradient ascent on (ln α, ln β) with any optax optimiser
(:func:`maximise_evidence_optax`), which differentiates the Cholesky-based
:func:`~jaxsbi.evidence.log_evidence` and so is an independent check on the fixed point.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import Array

from jaxsbi.evidence._validate import check_precision
from jaxsbi.evidence.evidence import _LOG_2PI, _log_evidence_impl
from jaxsbi.evidence.posterior import Posterior, _posterior_isotropic, _symmetrise
from jaxsbi.evidence.stats import SufficientStats, check_stats

__all__ = ["EvidenceFit", "maximise_evidence", "maximise_evidence_optax", "default_tol"]


class EvidenceFit(NamedTuple):
    """The result of evidence maximisation (a pytree; batched fits stack along axis 0).

    Attributes:
        alpha: the optimal weight precision α, shape ``()``.
        beta: the optimal noise precision β, shape ``()``.
        log_evidence: ln p(t | α, β) at the optimum, shape ``()``.
        gamma: the effective number of parameters γ, shape ``()``.
        posterior: the weight posterior N(m_N, S_N) at the optimum.
        num_iterations: iterations (fixed point) or steps (optax) taken, shape ``()``.
        converged: whether the stopping rule was met, shape ``()``.
    """

    alpha: Array
    beta: Array
    log_evidence: Array
    gamma: Array
    posterior: Posterior
    num_iterations: Array
    converged: Array


def default_tol(dtype) -> float:
    """1e-10 in float64, 1e-5 in lower precision: a few digits above the rounding floor."""
    return 1e-10 if jnp.finfo(dtype).bits >= 64 else 1e-5


class _Eig(NamedTuple):
    evals: Array  # eigenvalues e_i of ΦᵀΦ, clamped at 0
    evecs: Array
    proj: Array  # Vᵀ Φᵀt
    t_t: Array
    num_points: Array


def _eig(stats: SufficientStats) -> _Eig:
    evals, evecs = jnp.linalg.eigh(_symmetrise(stats.gram), symmetrize_input=False)
    # Rounding can make a zero eigenvalue (rank deficiency, masked features) slightly negative.
    evals = jnp.maximum(evals, 0.0)
    return _Eig(evals, evecs, evecs.T @ stats.phi_t, stats.t_t, stats.num_points)


def _terms(eig: _Eig, alpha: Array, beta: Array):
    """(log evidence, γ, m_Nᵀm_N, residual sum of squares), all O(M) given the eigenbasis."""
    m = eig.evals.shape[0]
    n = eig.num_points
    d = alpha + beta * eig.evals
    u = beta * eig.proj / d  # m_N in the eigenbasis
    mm = u @ u
    sse = jnp.maximum(eig.t_t - 2.0 * u @ eig.proj + (eig.evals * u) @ u, 0.0)
    gamma = jnp.sum(beta * eig.evals / d)
    log_ev = (
        0.5 * m * jnp.log(alpha)
        + 0.5 * n * jnp.log(beta)
        - 0.5 * beta * sse
        - 0.5 * alpha * mm
        - 0.5 * jnp.sum(jnp.log(d))
        - 0.5 * n * _LOG_2PI
    )
    return log_ev, gamma, mm, sse


class _LoopState(NamedTuple):
    alpha: Array
    beta: Array
    log_ev: Array
    step: Array
    done: Array
    converged: Array


def _fixed_point_impl(
    stats: SufficientStats,
    alpha: Array,
    beta: Array,
    tol: Array,
    max_iter: Array,
    update_alpha: bool,
    update_beta: bool,
) -> EvidenceFit:
    eig = _eig(stats)

    def cond(s: _LoopState):
        return (s.step < max_iter) & ~s.done

    def body(s: _LoopState):
        _, gamma, mm, sse = _terms(eig, s.alpha, s.beta)
        alpha_new = gamma / mm if update_alpha else s.alpha
        beta_new = (eig.num_points - gamma) / sse if update_beta else s.beta
        log_ev_new = _terms(eig, alpha_new, beta_new)[0]
        finite = (
            jnp.isfinite(log_ev_new)
            & (alpha_new > 0)
            & (beta_new > 0)
            & jnp.isfinite(alpha_new)
            & jnp.isfinite(beta_new)
        )
        small = (
            (jnp.abs(log_ev_new - s.log_ev) <= tol * (1.0 + jnp.abs(log_ev_new)))
            & (jnp.abs(jnp.log(alpha_new / s.alpha)) <= tol)
            & (jnp.abs(jnp.log(beta_new / s.beta)) <= tol)
        )
        keep = lambda new, old: jnp.where(finite, new, old)  # noqa: E731
        return _LoopState(
            keep(alpha_new, s.alpha),
            keep(beta_new, s.beta),
            keep(log_ev_new, s.log_ev),
            s.step + 1,
            small | ~finite,
            small & finite,
        )

    log_ev0 = _terms(eig, alpha, beta)[0]
    false = jnp.zeros((), bool)
    init = _LoopState(alpha, beta, log_ev0, jnp.zeros((), jnp.int32), false, false)
    s = jax.lax.while_loop(cond, body, init)
    log_ev, gamma, _, _ = _terms(eig, s.alpha, s.beta)
    d = s.alpha + s.beta * eig.evals
    mean = eig.evecs @ (s.beta * eig.proj / d)
    cov = _symmetrise((eig.evecs / d[None, :]) @ eig.evecs.T)
    return EvidenceFit(s.alpha, s.beta, log_ev, gamma, Posterior(mean, cov), s.step, s.converged)


_fixed_point = jax.jit(_fixed_point_impl, static_argnames=("update_alpha", "update_beta"))


def _inits(stats, alpha_init, beta_init, dtype):
    if alpha_init is None:
        alpha_init = 1.0
    if beta_init is None:
        # 1 / mean square of t: the noise precision if the model explained nothing.
        n, t_t = stats.num_points, stats.t_t
        beta_init = n / jnp.maximum(t_t, jnp.finfo(dtype).tiny)
    alpha = check_precision("alpha_init", alpha_init).astype(dtype)
    beta = check_precision("beta_init", beta_init).astype(dtype)
    return alpha, beta


def maximise_evidence(
    stats: SufficientStats,
    alpha_init=None,
    beta_init=None,
    *,
    tol: float | None = None,
    max_iter: int = 1000,
    update_alpha: bool = True,
    update_beta: bool = True,
) -> EvidenceFit:
    """Maximise ln p(t | α, β) by the fixed-point iteration of PRML §3.5.2.

    Stops when, between two iterations, the log evidence changes by at most tol·(1 + |ln p|) and
    ln α and ln β by at most tol each — i.e. convergence is judged on the evidence and on the
    hyperparameters, so that a flat evidence does not stop the loop early.

    Args:
        stats: sufficient statistics, M features.
        alpha_init: starting α > 0 (default 1.0, scikit-learn's ``lambda_init``).
        beta_init: starting β > 0 (default N / tᵀt).
        tol: stopping tolerance; default :func:`default_tol` of the dtype.
        max_iter: iteration cap.
        update_alpha: False keeps α fixed at ``alpha_init``.
        update_beta: False keeps β fixed at ``beta_init`` (known noise, as in PRML Fig. 3.16).

    Returns:
        :class:`EvidenceFit`, including γ and the posterior at the optimum.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxsbi.evidence import design_matrix, polynomial_basis, sufficient_stats
        >>> x = jnp.linspace(0.0, 1.0, 50)
        >>> t = jnp.sin(2 * jnp.pi * x) + 0.1 * jnp.cos(37.0 * x)
        >>> fit = maximise_evidence(sufficient_stats(design_matrix(polynomial_basis(5), x), t))
        >>> bool(fit.converged)
        True
    """
    check_stats(stats)
    dtype = stats.gram.dtype
    alpha, beta = _inits(stats, alpha_init, beta_init, dtype)
    tol = default_tol(dtype) if tol is None else tol
    if not tol > 0:
        raise ValueError(f"tol must be positive; got {tol!r}")
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")
    return _fixed_point(
        stats,
        alpha,
        beta,
        jnp.asarray(tol, dtype),
        jnp.asarray(max_iter, jnp.int32),
        update_alpha=update_alpha,
        update_beta=update_beta,
    )


# One default instance, so that repeated calls with the default hit the jit cache.
_DEFAULT_OPTIMIZER = optax.lbfgs()


def _optax_impl(stats, log_params, tol, optimizer, num_steps, update_beta):
    optimizer = optax.with_extra_args_support(optimizer)
    dtype = stats.gram.dtype
    free = jnp.array([1.0, 1.0 if update_beta else 0.0], dtype)

    def loss(p):
        p = jax.lax.stop_gradient(p * (1.0 - free)) + p * free
        return -_log_evidence_impl(stats, jnp.exp(p[0]), jnp.exp(p[1]))

    def step(carry, _):
        p, opt_state = carry
        value, grad = jax.value_and_grad(loss)(p)
        updates, opt_state = optimizer.update(
            grad, opt_state, p, value=value, grad=grad, value_fn=loss
        )
        return (optax.apply_updates(p, updates), opt_state), None

    (p, _), _ = jax.lax.scan(step, (log_params, optimizer.init(log_params)), length=num_steps)
    value, grad = jax.value_and_grad(loss)(p)
    alpha, beta = jnp.exp(p[0]), jnp.exp(p[1])
    post = _posterior_isotropic(stats, alpha, beta)
    gamma = _terms(_eig(stats), alpha, beta)[1]
    converged = jnp.max(jnp.abs(grad)) <= jnp.sqrt(tol) * (1.0 + jnp.abs(value))
    return EvidenceFit(
        alpha, beta, -value, gamma, post, jnp.asarray(num_steps, jnp.int32), converged
    )


_optax_fit = jax.jit(_optax_impl, static_argnames=("optimizer", "num_steps", "update_beta"))


def maximise_evidence_optax(
    stats: SufficientStats,
    alpha_init=None,
    beta_init=None,
    *,
    optimizer: optax.GradientTransformation | None = None,
    num_steps: int = 100,
    tol: float | None = None,
    update_beta: bool = True,
) -> EvidenceFit:
    """Maximise ln p(t | α, β) by gradient steps on (ln α, ln β) with an optax optimiser.

    The gradient is autodiff through the Cholesky-based log evidence. ``converged`` reports
    max |∂ ln p / ∂(ln α, ln β)| ≤ √tol · (1 + |ln p|).

    Args:
        stats: sufficient statistics, M features.
        alpha_init: starting α > 0 (default 1.0).
        beta_init: starting β > 0 (default N / tᵀt).
        optimizer: any optax optimiser (minimising −ln p); default ``optax.lbfgs()``. Pass the
            same instance on repeated calls to reuse the compiled function.
        num_steps: number of optimiser steps (static).
        tol: tolerance of the ``converged`` flag; default :func:`default_tol` of the dtype.
        update_beta: False keeps β fixed at ``beta_init``.

    Returns:
        :class:`EvidenceFit` (``num_iterations`` = ``num_steps``).
    """
    check_stats(stats)
    dtype = stats.gram.dtype
    alpha, beta = _inits(stats, alpha_init, beta_init, dtype)
    tol = default_tol(dtype) if tol is None else tol
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer; got {num_steps!r}")
    log_params = jnp.log(jnp.stack([alpha, beta]))
    return _optax_fit(
        stats,
        log_params,
        jnp.asarray(tol, dtype),
        optimizer=_DEFAULT_OPTIMIZER if optimizer is None else optimizer,
        num_steps=num_steps,
        update_beta=update_beta,
    )
