"""A posterior log-density of one argument, shaped as blackjax expects a ``logdensity_fn``.

``posterior_logdensity(prior, log_ratio_fn, params, x_obs)`` closes over the estimator's params
and one observation and returns ``logdensity_fn(theta) -> scalar``, the unnormalised log posterior
log p(θ) + log r(θ, x_o). Any blackjax algorithm takes it as is (``blackjax.nuts(logdensity_fn,
...)``, ``blackjax.rmh(logdensity_fn, ...)``), as do ``jax.grad``, ``jax.jit`` and ``jax.vmap``.

Gradient-based samplers on a bounded prior (a box) are better run in the unconstrained space:
with ``space="unconstrained"`` the position is u ∈ R^theta_dim, θ = prior.from_unconstrained(u),
and the log-Jacobian of that map is included, exactly as :func:`jaxsbi.mcmc.sample_posterior` does
internally.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax.numpy as jnp
from jax import Array

from jaxsbi.distributions import Prior

__all__ = ["posterior_logdensity"]


def posterior_logdensity(
    prior: Prior,
    log_ratio_fn: Callable[[Any, Array, Array], Array],
    params: Any,
    x_obs: Array,
    *,
    x_shape: tuple[int, ...] | None = None,
    space: Literal["theta", "unconstrained"] = "theta",
) -> Callable[[Array], Array]:
    """The log posterior of one observation as a one-argument ``logdensity_fn(position)``.

    Args:
        prior: the prior over θ of shape ``(theta_dim,)``.
        log_ratio_fn: ``log_ratio_fn(params, theta (theta_dim,), x x_shape) -> scalar``, e.g. an
            AALR estimator's ``log_ratio`` (log r(θ, x)) or a tractable log-likelihood.
        params: the params pytree ``log_ratio_fn`` takes (closed over).
        x_obs: ONE observation of shape ``x_shape`` (closed over); for many observations build
            one function per observation, or ``jax.vmap`` over ``x_obs`` inside your own code.
        x_shape: the shape of one observation; when given, ``x_obs`` is checked against it.
        space: ``"theta"``: the position is θ of shape ``(theta_dim,)`` and the result is
            log p(θ) + log r(θ, x_o), −inf outside the prior's support. ``"unconstrained"``: the
            position is u of shape ``(theta_dim,)``, θ = ``prior.from_unconstrained(u)``, and the
            result is log p(θ(u)) + log|det dθ/du| + log r(θ(u), x_o) (finite everywhere; map
            samples back with ``jax.vmap(prior.from_unconstrained)``).

    Returns:
        ``logdensity_fn(position (theta_dim,)) -> scalar``: pure, ``jit``/``vmap``/``grad``-able.

    Raises:
        ValueError: ``x_obs`` does not have shape ``x_shape``, ``space`` is unknown, or (when
            called) the position is not of shape ``(theta_dim,)``.

    Example:
        >>> import jax, jax.numpy as jnp, blackjax
        >>> from jaxsbi.distributions import normal
        >>> prior = normal(jnp.zeros(2), jnp.ones(2))
        >>> log_ratio = lambda params, theta, x: -0.5 * jnp.sum((x - theta) ** 2)
        >>> logdensity_fn = posterior_logdensity(prior, log_ratio, None, jnp.ones(2))
        >>> rmh = blackjax.rmh(logdensity_fn, blackjax.mcmc.random_walk.normal(0.5 * jnp.ones(2)))
        >>> state, info = rmh.step(jax.random.key(0), rmh.init(jnp.zeros(2)))
    """
    if space not in ("theta", "unconstrained"):
        raise ValueError(f"space must be 'theta' or 'unconstrained', got {space!r}")
    x_obs = jnp.asarray(x_obs)
    if x_shape is not None and tuple(x_obs.shape) != tuple(x_shape):
        raise ValueError(
            f"x_obs must be one observation of shape {tuple(x_shape)}, got shape {x_obs.shape}; "
            "build one logdensity_fn per observation"
        )
    theta_dim = prior.theta_dim

    def check(position: Array) -> None:
        if jnp.shape(position) != (theta_dim,):
            raise ValueError(
                f"logdensity_fn takes one position of shape ({theta_dim},), got shape "
                f"{jnp.shape(position)}; use jax.vmap for a batch"
            )

    if space == "theta":

        def logdensity_fn(theta: Array) -> Array:
            check(theta)
            return prior.log_prob(theta) + log_ratio_fn(params, theta, x_obs)

    else:

        def logdensity_fn(u: Array) -> Array:
            check(u)
            theta = prior.from_unconstrained(u)
            return prior.unconstrained_log_prob(u) + log_ratio_fn(params, theta, x_obs)

    return logdensity_fn
