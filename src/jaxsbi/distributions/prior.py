"""A prior over a flat parameter vector θ ∈ R^theta_dim, with its bijection to R^theta_dim.

The density and the support come from numpyro.distributions; the bijection from
``numpyro.distributions.transforms.biject_to(support)`` (sigmoid + affine for boxes, exp for
positive supports, identity for R^d). MCMC runs in the unconstrained space ``u`` with
``theta = prior.from_unconstrained(u)`` and adds ``prior.log_det_jacobian(u)`` to the log density.
All methods take one θ (or one u); batch with ``jax.vmap``.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpyro.distributions as nd
from jax import Array
from numpyro.distributions.transforms import biject_to

__all__ = ["Prior", "from_numpyro", "uniform", "normal", "lognormal"]


def _numpyro(fn):
    # numpyro broadcasts implicitly inside its distributions; our own code (and tests) run with
    # rank promotion set to "raise", so allow it just for calls into numpyro (a trace-time flag).
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with jax.numpy_rank_promotion("allow"):
            return fn(*args, **kwargs)

    return wrapped


@dataclasses.dataclass(frozen=True, eq=False)
class Prior:
    """A distribution over vectors of shape ``(theta_dim,)``.

    Attributes:
        dist: a numpyro distribution with ``event_shape == (theta_dim,)`` and empty batch shape.
    """

    dist: nd.Distribution

    def __post_init__(self):
        if len(self.dist.event_shape) != 1 or self.dist.batch_shape != ():
            raise ValueError(
                "a Prior needs a distribution over vectors (event_shape (theta_dim,), no batch "
                f"shape); got event_shape {self.dist.event_shape}, batch_shape "
                f"{self.dist.batch_shape}. Wrap independent scalars in "
                "numpyro.distributions.Independent(..., 1)."
            )

    @property
    def theta_dim(self) -> int:
        return int(self.dist.event_shape[0])

    @property
    def bijector(self):
        return biject_to(self.dist.support)

    @_numpyro
    def sample(self, key: Array, shape: tuple[int, ...] = ()) -> Array:
        """Draw θ of shape ``(*shape, theta_dim)``."""
        return self.dist.sample(key, shape)

    @_numpyro
    def log_prob(self, theta: Array) -> Array:
        """log p(θ) for one θ of shape ``(theta_dim,)``; −inf outside the support."""
        inside = self.in_support(theta)
        safe = jnp.where(inside, theta, self.dist.mean if _finite_mean(self.dist) else theta)
        return jnp.where(inside, self.dist.log_prob(safe), -jnp.inf)

    @_numpyro
    def in_support(self, theta: Array) -> Array:
        """Whether θ of shape ``(theta_dim,)`` lies in the support (a boolean scalar)."""
        return jnp.all(self.dist.support.check(theta))

    @_numpyro
    def to_unconstrained(self, theta: Array) -> Array:
        return self.bijector.inv(theta)

    @_numpyro
    def from_unconstrained(self, u: Array) -> Array:
        return self.bijector(u)

    @_numpyro
    def log_det_jacobian(self, u: Array) -> Array:
        """log |det dθ/du| at u (scalar)."""
        return jnp.sum(self.bijector.log_abs_det_jacobian(u, self.bijector(u)))

    @_numpyro
    def unconstrained_log_prob(self, u: Array) -> Array:
        """log p(θ(u)) + log |det dθ/du|: the prior's density in unconstrained space."""
        theta = self.from_unconstrained(u)
        return self.dist.log_prob(theta) + self.log_det_jacobian(u)


def _finite_mean(dist) -> bool:
    try:
        return bool(jnp.all(jnp.isfinite(dist.mean)))
    except (NotImplementedError, jax.errors.ConcretizationTypeError):
        return False


def from_numpyro(dist: nd.Distribution) -> Prior:
    """Wrap any numpyro distribution over vectors as a :class:`Prior`, joint priors included.

    Args:
        dist: a numpyro distribution with ``event_shape == (theta_dim,)`` and no batch shape,
            e.g. ``MultivariateNormal(loc (d,), covariance_matrix (d, d))``, a
            ``Dirichlet(concentration (d,))``, a ``TransformedDistribution`` of one of those, or
            independent scalars as ``Independent(Normal(loc (d,), scale (d,)), 1)``. Its
            ``support`` gives the bijection to R^theta_dim used by the samplers.

    Returns:
        The :class:`Prior`: ``sample(key, shape) -> (*shape, theta_dim)``, ``log_prob(theta
        (theta_dim,)) -> ()``.

    Raises:
        ValueError: the event shape is not one-dimensional or the batch shape is not empty.

    Example:
        >>> import jax.numpy as jnp
        >>> import numpyro.distributions as nd
        >>> cov = jnp.array([[1.0, 0.8], [0.8, 1.0]])
        >>> prior = from_numpyro(nd.MultivariateNormal(jnp.zeros(2), covariance_matrix=cov))
        >>> prior.theta_dim
        2
    """
    return Prior(dist)


def uniform(low, high) -> Prior:
    """Independent uniform prior on the box [low, high].

    Args:
        low, high: lower and upper bounds, each of shape ``(theta_dim,)`` (or broadcastable to a
            common 1-D shape), with ``low < high`` elementwise.

    Raises:
        ValueError: the bounds are not 1-D or some ``low >= high``.
    """
    low, high = jnp.broadcast_arrays(jnp.asarray(low, jnp.float32), jnp.asarray(high, jnp.float32))
    if low.ndim != 1 or not bool(jnp.all(low < high)):
        raise ValueError(f"uniform prior needs 1-D low < high, got low={low}, high={high}")
    return Prior(nd.Independent(nd.Uniform(low, high), 1))


def normal(loc, cov) -> Prior:
    """Multivariate normal prior N(loc, cov).

    Args:
        loc: the mean, shape ``(theta_dim,)``.
        cov: the covariance matrix, shape ``(theta_dim, theta_dim)``, or a vector of variances,
            shape ``(theta_dim,)`` (independent coordinates).
    """
    loc = jnp.asarray(loc, jnp.float32)
    cov = jnp.asarray(cov, jnp.float32)
    if cov.ndim == 1:
        return Prior(nd.Independent(nd.Normal(loc, jnp.sqrt(cov)), 1))
    return Prior(nd.MultivariateNormal(loc, covariance_matrix=cov))


def lognormal(loc, scale) -> Prior:
    """Independent log-normal prior: log θ_i ~ N(loc_i, scale_i²).

    Args:
        loc, scale: the mean and standard deviation of log θ, each of shape ``(theta_dim,)`` (or
            broadcastable to a common 1-D shape).
    """
    loc, scale = jnp.broadcast_arrays(
        jnp.asarray(loc, jnp.float32), jnp.asarray(scale, jnp.float32)
    )
    return Prior(nd.Independent(nd.LogNormal(loc, scale), 1))
