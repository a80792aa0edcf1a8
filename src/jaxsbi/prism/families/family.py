"""The :class:`SymbolicFamily` record: a prior over structures M ∈ {0,1}^K (plus a categorical noise
model) at complexity λ, a prior over θ of the active components, and a simulator on a fixed grid
of x in [0, 10) — shared by :func:`~jaxsbi.prism.families.symbolic_family` and
:func:`~jaxsbi.prism.families.linear_gaussian_family`, which build it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.prism.families.structures import Structure

if TYPE_CHECKING:
    from jaxsbi.prism.families.linear_gaussian import LinearGaussianForm

__all__ = ["SymbolicFamily", "X_MAX"]

X_MAX = 10.0

_NORMAL, _UNIFORM = 0, 1


@dataclasses.dataclass(frozen=True, eq=False)
class SymbolicFamily:
    """A family of simulators indexed by a structure (see the module docstring); it satisfies
    the :class:`jaxsbi.base.ModelFamily` protocol (``token_dim``, ``check_structure``,
    ``bit_support``, ``bit_prior_logits`` included).

    Attributes:
        name: e.g. ``"symbolic_k15"``.
        component_names: ``K`` basis-term names.
        noise_names: noise-model names (at least one).
        grid: ``(n_points,)`` x values in [0, 10).
        param_names: ``theta_dim`` labels, e.g. ``"sin.a"``, ``"sin.b"``, ``"ar1.rho"``.
        param_owner: ``(theta_dim,)`` owner of each θ entry: ``k < K`` for basis term k,
            ``K + j`` for noise model j.
        prior_kind / prior_a / prior_b: ``(theta_dim,)`` priors: kind 0 = N(a, b²),
            kind 1 = U(a, b).
        simulate_fn: ``simulate_fn(key, active, noise, theta) -> y`` for one structure.
        signal_fn: ``signal_fn(active, theta) -> f`` the noiseless curve ``(n_points,)``.
        linear_gaussian: closed-form description for the analytic family, else None.
    """

    name: str
    component_names: tuple[str, ...]
    noise_names: tuple[str, ...]
    grid: np.ndarray
    param_names: tuple[str, ...]
    param_owner: np.ndarray
    prior_kind: np.ndarray
    prior_a: np.ndarray
    prior_b: np.ndarray
    simulate_fn: Callable
    signal_fn: Callable
    linear_gaussian: LinearGaussianForm | None = None

    @property
    def num_components(self) -> int:
        return len(self.component_names)

    @property
    def num_noise(self) -> int:
        return len(self.noise_names)

    @property
    def theta_dim(self) -> int:
        return len(self.param_names)

    @property
    def n_points(self) -> int:
        return int(self.grid.shape[0])

    @property
    def token_dim(self) -> int:
        """Width of one observation token: 2, (x / 10, y) (see :meth:`tokens`)."""
        return 2

    @property
    def num_models(self) -> int:
        """(2^K − 1) × number of noise models."""
        return (2**self.num_components - 1) * self.num_noise

    @property
    def bit_support(self) -> None:
        """None: every bit may be 1 whatever the earlier bits (any non-empty M is in the family;
        a constrained family gives ``bit_support(bits) -> (K,) bool`` here instead)."""
        return None

    def check_structure(self, structure: Structure) -> None:
        """Refuse a concrete structure outside the family, before any ``jit``.

        Raises:
            ValueError: ``active`` not ending in ``(K,)`` or not 0/1, no active term, a noise
                index outside ``[0, num_noise)``.
        """
        a = np.asarray(structure.active)
        if a.shape[-1:] != (self.num_components,):
            raise ValueError(
                f"structure.active must end in ({self.num_components},); got {a.shape}"
            )
        if not np.isin(a, (0, 1)).all():
            raise ValueError("structure.active must hold 0/1 values")
        if (a.sum(-1) == 0).any():
            raise ValueError("a structure needs at least one active component")
        n = np.asarray(structure.noise)
        if n.size and (n.min() < 0 or n.max() >= self.num_noise):
            raise ValueError(f"structure.noise must be in [0, {self.num_noise}); got {n}")

    # ---- priors ------------------------------------------------------------------------------

    def sample_structure(self, key: Array, lam: Array) -> Structure:
        """M ~ p(M | λ): Bernoulli(λ) bits given at least one active, uniform noise model.

        Exact: ``|M|`` is drawn from Binomial(K, λ) truncated to ≥ 1, then a uniformly random
        subset of that size is switched on. ``lam`` is a scalar in [0, 1] (checked by callers
        outside ``jit``; see :func:`check_lambda`).
        """
        k = self.num_components
        k_m, k_perm, k_noise = jax.random.split(key, 3)
        m = jnp.arange(1, k + 1)
        log_binom = jnp.asarray(
            [
                math.lgamma(k + 1) - math.lgamma(i + 1) - math.lgamma(k - i + 1)
                for i in range(1, k + 1)
            ],
            jnp.float32,
        )
        lam_c = jnp.clip(lam, 1e-6, 1.0 - 1e-6)
        logits = log_binom + m * jnp.log(lam_c) + (k - m) * jnp.log1p(-lam_c)
        size = jax.random.categorical(k_m, logits) + 1
        order = jax.random.permutation(k_perm, k)
        active = (jnp.argsort(order) < size).astype(jnp.int32)
        noise = jax.random.randint(k_noise, (), 0, self.num_noise, jnp.int32)
        return Structure(active, noise)

    def structure_log_prior(self, structure: Structure, lam: Array) -> Array:
        """log p(M | λ) (including the uniform noise-model factor); −inf for the empty M."""
        k = self.num_components
        lam_c = jnp.clip(lam, 1e-6, 1.0 - 1e-6)
        m = jnp.sum(structure.active)
        log_norm = jnp.log1p(-jnp.exp(k * jnp.log1p(-lam_c)))  # P(at least one active)
        lp = m * jnp.log(lam_c) + (k - m) * jnp.log1p(-lam_c) - log_norm - math.log(self.num_noise)
        return jnp.where(m > 0, lp, -jnp.inf)

    def bit_prior_logits(self, lam: Array, bits: Array) -> Array:
        """``(K,)`` exact autoregressive prior log-odds: log p(M_i = 1 | M_<i = bits_<i, λ) −
        log p(M_i = 0 | …) under p(M | λ).

        After an active bit the remaining bits are independent Bernoulli(λ): logit(λ). While all
        earlier bits are off, the at-least-one-active truncation raises the odds to
        λ / ((1 − λ)(1 − (1 − λ)^(r − 1))) with r = K − i bits left, +inf for the last bit.
        PRISM's structure decoder adds these to its logits (``NetworkConfig.prior_skip``), so an
        untrained decoder is exactly the prior.
        """
        k = self.num_components
        lam_c = jnp.clip(jnp.asarray(lam, jnp.float32), 1e-6, 1.0 - 1e-6)
        base = jnp.log(lam_c) - jnp.log1p(-lam_c)
        rest = jnp.arange(k - 1, -1, -1, dtype=jnp.float32)  # r − 1 = bits after i
        trunc = -jnp.log1p(-jnp.exp(rest * jnp.log1p(-lam_c)))  # +inf at the last bit
        none_before = (jnp.cumsum(bits) - bits) == 0
        return jnp.where(none_before, base + trunc, base)

    def param_mask(self, structure: Structure) -> Array:
        """``(theta_dim,)`` bool: which θ entries belong to active components."""
        owner = jnp.asarray(self.param_owner)
        k = self.num_components
        term_on = structure.active[jnp.clip(owner, 0, k - 1)] > 0
        noise_on = (owner - k) == structure.noise
        return jnp.where(owner < k, term_on, noise_on)

    def sample_theta(self, key: Array, structure: Structure) -> Array:
        """θ ~ p(θ | M): ``(theta_dim,)``, inactive entries set to 0."""
        kind = jnp.asarray(self.prior_kind)
        a, b = jnp.asarray(self.prior_a), jnp.asarray(self.prior_b)
        k_n, k_u = jax.random.split(key)
        normal = a + b * jax.random.normal(k_n, a.shape)
        uniform = a + (b - a) * jax.random.uniform(k_u, a.shape)
        theta = jnp.where(kind == _NORMAL, normal, uniform)
        return jnp.where(self.param_mask(structure), theta, 0.0)

    def theta_log_prior(self, theta: Array, structure: Structure) -> Array:
        """log p(θ | M) over the active entries (inactive entries are ignored)."""
        kind = jnp.asarray(self.prior_kind)
        a, b = jnp.asarray(self.prior_a), jnp.asarray(self.prior_b)
        normal = -0.5 * ((theta - a) / b) ** 2 - jnp.log(b) - 0.5 * math.log(2 * math.pi)
        inside = (theta >= a) & (theta <= b)
        uniform = jnp.where(inside, -jnp.log(jnp.abs(b - a)), -jnp.inf)
        lp = jnp.where(kind == _NORMAL, normal, uniform)
        return jnp.sum(jnp.where(self.param_mask(structure), lp, 0.0))

    def theta_standardization(self) -> tuple[np.ndarray, np.ndarray]:
        """Prior mean and standard deviation per θ entry, ``(theta_dim,)`` each."""
        mean = np.where(
            self.prior_kind == _NORMAL, self.prior_a, 0.5 * (self.prior_a + self.prior_b)
        )
        std = np.where(
            self.prior_kind == _NORMAL, self.prior_b, (self.prior_b - self.prior_a) / math.sqrt(12)
        )
        return mean.astype(np.float32), std.astype(np.float32)

    # ---- simulator ---------------------------------------------------------------------------

    def simulate(self, key: Array, structure: Structure, theta: Array) -> Array:
        """y ~ p(y | M, θ) on :attr:`grid`: ``(n_points,)``. Inactive θ entries are never used."""
        theta = jnp.where(self.param_mask(structure), theta, 0.0)
        return self.simulate_fn(key, structure.active, structure.noise, theta)

    def signal(self, structure: Structure, theta: Array) -> Array:
        """The noiseless curve Σ_k M_k a_k g_k(x; b_k) on :attr:`grid`: ``(n_points,)``."""
        theta = jnp.where(self.param_mask(structure), theta, 0.0)
        return self.signal_fn(structure.active, theta)

    def sample_joint(self, key: Array, lam: Array) -> tuple[Structure, Array, Array]:
        """(M, θ, y) from the joint prior-predictive at complexity λ."""
        k_m, k_t, k_y = jax.random.split(key, 3)
        structure = self.sample_structure(k_m, lam)
        theta = self.sample_theta(k_t, structure)
        return structure, theta, self.simulate(k_y, structure, theta)

    def tokens(self, y: Array) -> Array:
        """Observation tokens ``(n_points, 2)``: (x / 10, y) pairs for the encoder."""
        grid = jnp.asarray(self.grid, y.dtype) / X_MAX
        return jnp.stack([grid, y], axis=-1)


def _grid(n_points: int) -> np.ndarray:
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2, got {n_points}")
    return (np.arange(n_points) * (X_MAX / n_points)).astype(np.float32)
