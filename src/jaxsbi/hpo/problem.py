"""The bilevel problem every search method works on.

First level: parameters θ (a flat vector, shape ``(P,)``) minimise the inner loss L(θ, h) for
given hyperparameters h (shape ``(H,)``, log-precisions in practice). Second level: h minimises
the outer loss Q(θ*(h), h) — a validation loss, a negative (approximate) log evidence, a
negative ELBO or a cross-validated negative log-likelihood (see :mod:`jaxsbi.hpo.objectives`).

θ*(h) is approximated by ``inner_steps`` steps of heavy-ball gradient descent from the fixed
start ``theta_init``::

    v ← μ v − η ∇_θ L(θ, h);   θ ← θ + v

Every method — black-box or gradient-based — uses this same trainer, so their results and
costs are comparable, and the same seed gives the same result. Black-box methods call
:func:`fit_and_score` once per trial; gradient methods differentiate through or around it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = ["Problem", "Evaluation", "make_problem", "run_inner", "fit_and_score", "check_h"]


class Problem(NamedTuple):
    """A bilevel hyperparameter problem: a record of pure functions and static settings.

    Attributes:
        inner_loss: L(θ, h) -> ``()``, θ ``(P,)``, h ``(H,)``; minimised over θ by the trainer.
        outer_loss: Q(θ, h) -> ``()``; what the search minimises over h.
        val_loss: θ -> ``()``, the reported validation loss (mean NLL per point).
        test_loss: θ -> ``()``, the reported test loss, or None.
        theta_init: the fixed start of every inner run, shape ``(P,)``.
        h_init: where gradient methods start, shape ``(H,)``.
        lower: lower bounds of h, shape ``(H,)``.
        upper: upper bounds of h, shape ``(H,)``.
        inner_steps: T, the number of trainer steps per fit.
        inner_lr: η, the trainer's step size.
        momentum: μ, the trainer's heavy-ball momentum (0 = plain gradient descent).
        names: a name per hyperparameter, length H.
    """

    inner_loss: Callable[[Array, Array], Array]
    outer_loss: Callable[[Array, Array], Array]
    val_loss: Callable[[Array], Array]
    test_loss: Callable[[Array], Array] | None
    theta_init: Array
    h_init: Array
    lower: Array
    upper: Array
    inner_steps: int
    inner_lr: float
    momentum: float
    names: tuple[str, ...]

    @property
    def num_hyper(self) -> int:
        return int(self.lower.shape[0])


class Evaluation(NamedTuple):
    """What one fit at hyperparameters h gives: Q, validation and test loss, all shape ``()``."""

    q: Array
    val_loss: Array
    test_loss: Array


def check_h(problem: Problem, h, name: str = "h") -> Array:
    """h as a float array of shape ``(H,)``, finite; raises ValueError otherwise."""
    h = jnp.asarray(h, problem.lower.dtype)
    if h.shape != problem.lower.shape:
        raise ValueError(f"{name} must have shape {problem.lower.shape}; got {h.shape}")
    if isinstance(h, jax.core.Tracer):
        return h
    if not np.all(np.isfinite(np.asarray(h))):
        raise ValueError(f"{name} must be finite; got {np.asarray(h)}")
    return h


def make_problem(
    inner_loss: Callable[[Array, Array], Array],
    outer_loss: Callable[[Array, Array], Array],
    theta_init,
    lower,
    upper,
    *,
    h_init=None,
    val_loss: Callable[[Array], Array] | None = None,
    test_loss: Callable[[Array], Array] | None = None,
    inner_steps: int = 100,
    inner_lr: float = 0.1,
    momentum: float = 0.0,
    names: tuple[str, ...] | None = None,
) -> Problem:
    """Build and check a :class:`Problem`.

    Args:
        inner_loss: L(θ, h) -> scalar.
        outer_loss: Q(θ, h) -> scalar.
        theta_init: θ₀, shape ``(P,)``, finite.
        lower: lower bounds of h, shape ``(H,)`` (a scalar is broadcast only when ``upper`` and
            ``h_init`` fix H).
        upper: upper bounds of h, shape ``(H,)``, strictly above ``lower``.
        h_init: start of gradient methods; defaults to the middle of the box.
        val_loss: θ -> scalar; defaults to ``outer_loss(θ, h_init)``.
        test_loss: θ -> scalar, optional.
        inner_steps: T ≥ 1.
        inner_lr: η > 0.
        momentum: μ in [0, 1).
        names: one per hyperparameter.

    Raises:
        ValueError: inverted or non-finite bounds, h_init outside them, bad shapes or settings.
    """
    theta_init = jnp.asarray(theta_init)
    if theta_init.ndim != 1 or not jnp.issubdtype(theta_init.dtype, jnp.floating):
        raise ValueError(
            f"theta_init must be a flat float vector (P,); got shape {theta_init.shape} "
            f"dtype {theta_init.dtype} (flatten a pytree with jax.flatten_util.ravel_pytree)"
        )
    if not np.all(np.isfinite(np.asarray(theta_init))):
        raise ValueError("theta_init contains non-finite values")
    dtype = theta_init.dtype
    lower = jnp.atleast_1d(jnp.asarray(lower, dtype))
    upper = jnp.atleast_1d(jnp.asarray(upper, dtype))
    if lower.ndim != 1 or lower.shape != upper.shape:
        raise ValueError(
            f"lower and upper must be vectors of one shape (H,); got {lower.shape}, {upper.shape}"
        )
    lo, hi = np.asarray(lower), np.asarray(upper)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError(f"hyperparameter bounds must be finite; got lower={lo}, upper={hi}")
    bad = np.flatnonzero(lo >= hi)
    if bad.size:
        raise ValueError(
            f"hyperparameter bounds inverted or empty at index(es) {bad.tolist()}: lower "
            f"{lo[bad].tolist()} >= upper {hi[bad].tolist()}; need lower < upper"
        )
    h_init = 0.5 * (lower + upper) if h_init is None else jnp.asarray(h_init, dtype)
    if h_init.shape != lower.shape:
        raise ValueError(f"h_init must have shape {lower.shape}; got {h_init.shape}")
    hv = np.asarray(h_init)
    if not np.all((hv >= lo) & (hv <= hi)):
        raise ValueError(f"h_init {hv} lies outside the bounds [{lo}, {hi}]")
    if not (isinstance(inner_steps, int) and inner_steps >= 1):
        raise ValueError(f"inner_steps must be a positive integer; got {inner_steps!r}")
    if not inner_lr > 0:
        raise ValueError(f"inner_lr must be positive; got {inner_lr!r}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must lie in [0, 1); got {momentum!r}")
    names = tuple(names) if names is not None else tuple(f"h{i}" for i in range(lower.shape[0]))
    if len(names) != lower.shape[0]:
        raise ValueError(f"names has {len(names)} entries for {lower.shape[0]} hyperparameters")
    if val_loss is None:
        h0 = h_init

        def val_loss(theta):
            return outer_loss(theta, h0)

    return Problem(
        inner_loss=inner_loss,
        outer_loss=outer_loss,
        val_loss=val_loss,
        test_loss=test_loss,
        theta_init=theta_init,
        h_init=h_init,
        lower=lower,
        upper=upper,
        inner_steps=inner_steps,
        inner_lr=float(inner_lr),
        momentum=float(momentum),
        names=names,
    )


def inner_step(problem: Problem, theta: Array, velocity: Array, h: Array) -> tuple[Array, Array]:
    """One heavy-ball step of the trainer; ``(θ, v) -> (θ', v')``, both ``(P,)``."""
    g = jax.grad(problem.inner_loss)(theta, h)
    velocity = problem.momentum * velocity - problem.inner_lr * g
    return theta + velocity, velocity


def run_inner(
    problem: Problem, h: Array, theta0: Array | None = None, num_steps: int | None = None
) -> tuple[Array, Array]:
    """Run the trainer; returns (θ_T, v_T). Differentiable in h with bounded memory.

    The T steps run as √T segments of √T steps, each segment wrapped in ``jax.checkpoint``:
    reverse mode (RMAD) then stores O(√T) states of size P instead of O(T), recomputing each
    segment's steps once on the way back.

    Args:
        problem: the problem.
        h: hyperparameters, shape ``(H,)``.
        theta0: start, shape ``(P,)``; defaults to ``problem.theta_init``.
        num_steps: T; defaults to ``problem.inner_steps``.
    """
    theta0 = problem.theta_init if theta0 is None else theta0
    num_steps = problem.inner_steps if num_steps is None else num_steps
    seg = max(1, int(np.ceil(np.sqrt(num_steps))))
    num_seg = -(-num_steps // seg)

    def segment(carry, seg_index):
        def body(c, j):
            theta, vel = c
            new_theta, new_vel = inner_step(problem, theta, vel, h)
            active = seg_index * seg + j < num_steps  # the last segment may be partial
            return (
                jnp.where(active, new_theta, theta),
                jnp.where(active, new_vel, vel),
            ), None

        carry, _ = jax.lax.scan(body, carry, jnp.arange(seg))
        return carry, None

    carry = (theta0, jnp.zeros_like(theta0))
    carry, _ = jax.lax.scan(jax.checkpoint(segment), carry, jnp.arange(num_seg))
    return carry


def _score(problem: Problem, theta: Array, h: Array) -> Evaluation:
    test = problem.test_loss(theta) if problem.test_loss is not None else jnp.nan
    return Evaluation(
        problem.outer_loss(theta, h), problem.val_loss(theta), jnp.asarray(test, theta.dtype)
    )


def fit_and_score(problem: Problem, h: Array) -> tuple[Evaluation, Array]:
    """Train at h from ``theta_init`` and score: (Evaluation, θ_T). One model fit."""
    theta, _ = run_inner(problem, h)
    return _score(problem, theta, h), theta
