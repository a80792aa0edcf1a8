"""The contracts shared across jaxsbi, as :class:`typing.Protocol` s: an estimator, a log-density
function and a PRISM model family.

They are structural: nothing subclasses them; a NamedTuple record of functions or a frozen
dataclass satisfies one by having its members. ``isinstance`` against a runtime-checkable
protocol checks only that the members exist, not their signatures; the docstrings state the
shapes. A leaf module (``typing`` and ``jax`` only), so any layer may import it, ``tasks``
included.

Example:
    >>> from jaxsbi.base import ModelFamily
    >>> from jaxsbi.prism.families import linear_gaussian_family
    >>> isinstance(linear_gaussian_family(3), ModelFamily)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from jax import Array

__all__ = ["Estimator", "LogDensityFn", "ModelFamily"]


@runtime_checkable
class Estimator(Protocol):
    """A trainable estimator: a record of pure functions; the caller holds the params.

    :class:`jaxsbi.ratio.RatioEstimator` (AALR) and :class:`jaxsbi.prism.PrismEstimator` satisfy
    it, and :func:`jaxsbi.train.fit` needs nothing else of an estimator than ``loss``.

    Attributes:
        init: ``init(key, ...) -> params``, a params pytree. What follows ``key`` differs, so the
            common contract is only the key first and a pytree back:
            ``RatioEstimator.init(key, theta (n, theta_dim), x (n, *x_shape))`` needs
            simulations (they give the standardisation statistics);
            ``PrismEstimator.init(key, example=None)`` takes its shapes from the family and
            ignores ``example``. A generic caller that has simulations passes them to the first;
            only the second can be initialised from a key alone.
        loss: ``loss(params, key, batch) -> ()`` a float scalar to minimise. ``batch`` is the
            estimator's own batch with a leading axis B: ``(theta (B, theta_dim), x (B,
            *x_shape)[, weights (B,)])`` for the ratio estimator, the dict of
            ``PrismEstimator.simulate_batch(key, B)`` for PRISM. Rows of weight 0 (invalid
            simulations) are left out of the mean.
    """

    init: Callable[..., Any]
    loss: Callable[[Any, Array, Any], Array]


@runtime_checkable
class LogDensityFn(Protocol):
    """blackjax's ``logdensity_fn``: ``logdensity_fn(position) -> ()``, one argument.

    ``position`` is one point, e.g. θ ``(theta_dim,)`` or its unconstrained image; the result
    is a float scalar, the log-density up to an additive constant (−inf outside the support).
    Pure, differentiable, ``jit``/``vmap``-able; batch with ``jax.vmap``. Built for a posterior
    by :func:`jaxsbi.mcmc.posterior_logdensity`.
    """

    def __call__(self, position: Any) -> Array: ...


@runtime_checkable
class ModelFamily(Protocol):
    """A PRISM model family: a prior over structures M at complexity λ, θ given M, a simulator.

    Satisfied by :class:`jaxsbi.prism.families.SymbolicFamily` (the symbolic and linear-Gaussian
    families) and :class:`jaxsbi.dmri.DmriFamily`; :func:`jaxsbi.prism.prism_estimator` reads
    a family only through these members. A structure is a
    :class:`jaxsbi.prism.families.Structure`: ``active (K,)`` int32 in {0, 1} and ``noise ()``
    int32, with leading axes for a batch; λ is a scalar in [0, 1]. Written for one simulation:
    every method takes one structure, θ or observation; batch with ``jax.vmap``.

    Attributes:
        name: e.g. ``"symbolic_k15"``.
        component_names: ``K`` component names; noise_names: the noise models' names.
        param_names: ``theta_dim`` labels of the θ entries.
        param_owner: ``(theta_dim,)`` owner of each θ entry: ``k < K`` component k, ``K + j``
            noise model j.
        num_components: K; num_noise: number of noise models; theta_dim: length of θ.
        n_points: observation tokens per simulation; token_dim: width of one token (the
            measured value last), e.g. 2 = (x / 10, y) for the symbolic families.
        num_models: number of valid structures.
        bit_support: ``bit_support(bits (K,)) -> (K,) bool`` (may bit i be 1 given bits < i)
            for a constrained structure space, or None when every bit may be 1 (PRISM's decoder
            forces unsupported bits to 0).
        bit_prior_logits: ``bit_prior_logits(lam, bits (K,)) -> (K,)`` the exact
            autoregressive prior log-odds of each bit given the earlier ones under p(M | λ), or
            None (PRISM then enumerates ``structure_log_prior``, K ≤ 12).

    Methods: ``sample_structure(key, lam) -> Structure``; ``structure_log_prior(structure,
    lam) -> ()`` (−inf outside the family); ``check_structure(structure) -> None`` raises
    ValueError for a concrete structure outside the family (shape, bits, emptiness, noise index,
    the family's own constraints); ``param_mask(structure) -> (theta_dim,) bool`` (the active
    θ entries); ``sample_theta(key, structure) -> (theta_dim,)`` (inactive entries 0);
    ``theta_log_prior(theta, structure) -> ()``; ``theta_standardization() -> (mean, std)``
    NumPy ``(theta_dim,)`` each; ``simulate(key, structure, theta) -> y``; ``signal(structure,
    theta) -> y`` without noise; ``sample_joint(key, lam) -> (structure, theta, y)``;
    ``tokens(y) -> (n_points, token_dim)``.
    """

    name: str
    component_names: tuple[str, ...]
    noise_names: tuple[str, ...]
    param_names: tuple[str, ...]
    param_owner: Any

    @property
    def num_components(self) -> int: ...

    @property
    def num_noise(self) -> int: ...

    @property
    def theta_dim(self) -> int: ...

    @property
    def n_points(self) -> int: ...

    @property
    def token_dim(self) -> int: ...

    @property
    def num_models(self) -> int: ...

    @property
    def bit_support(self) -> Callable[[Array], Array] | None: ...

    @property
    def bit_prior_logits(self) -> Callable[[Array, Array], Array] | None: ...

    def sample_structure(self, key: Array, lam: Array) -> Any: ...

    def structure_log_prior(self, structure: Any, lam: Array) -> Array: ...

    def check_structure(self, structure: Any) -> None: ...

    def param_mask(self, structure: Any) -> Array: ...

    def sample_theta(self, key: Array, structure: Any) -> Array: ...

    def theta_log_prior(self, theta: Array, structure: Any) -> Array: ...

    def theta_standardization(self) -> tuple[Any, Any]: ...

    def simulate(self, key: Array, structure: Any, theta: Array) -> Array: ...

    def signal(self, structure: Any, theta: Array) -> Array: ...

    def sample_joint(self, key: Array, lam: Array) -> tuple[Any, Array, Array]: ...

    def tokens(self, y: Array) -> Array: ...
