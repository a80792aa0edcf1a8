"""Model families for PRISM: symbolic regression with K switchable basis terms.

A *model family* is a prior over binary structures M ∈ {0,1}^K (plus a categorical noise
model), a prior over the parameters θ of the active components, and a simulator
``simulate(key, structure, theta) -> y`` on a fixed grid of x in [0, 10) in which inactive
components have no effect (their θ entries are never read into the output).

y(x) = Σ_k M_k a_k g_k(x; b_k) + noise,

- ``p(M_k = 1 | λ) = λ`` independently, conditioned on at least one active term
  (exactly: ``|M|`` from a binomial truncated at 0, then a uniform subset of that size);
- a uniform categorical over the noise models;
- amplitudes ``a_k ~ N(0, 1)``; a term with a shape parameter ``b_k`` (a frequency, a decay
  length, a centre) has ``b_k ~ U(lo, hi)``; noise parameters have uniform priors.

Two families:

- :func:`symbolic_family` (K = 5, 15 or 30 of the 30-term library below; K = 15 gives
  (2^15 − 1) × 5 ≈ 1.6·10⁵ models, K = 30 gives ≈ 5.4·10⁹) with five noise models:
  homoscedastic Gaussian, heteroscedastic Gaussian, Student-t, multiplicative, AR(1).
- :func:`linear_gaussian_family` (K ≤ 8): fixed basis shapes, linear amplitudes, Gaussian noise
  of known scale, so each structure's marginal likelihood is Gaussian and the exact model
  posterior is available by enumeration (:func:`exact_model_posterior`), as is the exact
  parameter posterior (:func:`exact_theta_posterior`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = [
    "Structure",
    "Basis",
    "ModelFamily",
    "BASIS_LIBRARY",
    "NOISE_MODELS",
    "symbolic_family",
    "linear_gaussian_family",
    "all_structures",
    "check_lambda",
    "exact_model_posterior",
    "exact_theta_posterior",
    "structure_index",
]

X_MAX = 10.0


class Structure(NamedTuple):
    """One model of a family (a pytree; batch with leading axes).

    Attributes:
        active: ``(K,)`` int32 in {0, 1}: which basis terms are on.
        noise: ``()`` int32: index of the noise model.
    """

    active: Array
    noise: Array


class Basis(NamedTuple):
    """A basis term ``g(x; b)``; ``shape_prior`` is ``(lo, hi)`` of U(lo, hi) for b, or None."""

    name: str
    fn: Callable[[Array, Array], Array]
    shape_prior: tuple[float, float] | None = None


def _gauss(x, c, w):
    return jnp.exp(-0.5 * ((x - c) / w) ** 2)


# Every term is O(1) on [0, 10) for every shape parameter in its prior range.
BASIS_LIBRARY: tuple[Basis, ...] = (
    Basis("const", lambda x, b: jnp.ones_like(x)),
    Basis("linear", lambda x, b: x / X_MAX),
    Basis("sin", lambda x, b: jnp.sin(b * x), (0.5, 2.5)),
    Basis("exp_decay", lambda x, b: jnp.exp(-x / b), (0.5, 5.0)),
    Basis("gauss_bump", lambda x, b: _gauss(x, b, 1.0), (2.0, 8.0)),
    Basis("quadratic", lambda x, b: (x / X_MAX) ** 2),
    Basis("cos", lambda x, b: jnp.cos(b * x), (0.5, 2.5)),
    Basis("log", lambda x, b: jnp.log1p(x) / math.log1p(X_MAX)),
    Basis("sqrt", lambda x, b: jnp.sqrt(x / X_MAX)),
    Basis("tanh_step", lambda x, b: jnp.tanh((x - b) / 0.7), (2.0, 8.0)),
    Basis("rational", lambda x, b: 1.0 / (1.0 + (x / b) ** 2), (0.5, 5.0)),
    Basis("cubic", lambda x, b: (x / X_MAX) ** 3),
    Basis("sin_slow", lambda x, b: jnp.sin(b * x), (0.1, 0.5)),
    Basis("cos_fast", lambda x, b: jnp.cos(b * x), (2.5, 5.0)),
    Basis("exp_growth", lambda x, b: jnp.exp((x - X_MAX) / b), (1.0, 5.0)),
    Basis("sin_fast", lambda x, b: jnp.sin(b * x), (2.5, 5.0)),
    Basis("cos_slow", lambda x, b: jnp.cos(b * x), (0.1, 0.5)),
    Basis("damped_sin", lambda x, b: jnp.exp(-x / 5.0) * jnp.sin(b * x), (0.5, 3.0)),
    Basis("sigmoid", lambda x, b: jax.nn.sigmoid(x - b), (2.0, 8.0)),
    Basis("gauss_narrow", lambda x, b: _gauss(x, b, 0.3), (1.0, 9.0)),
    Basis("gauss_wide", lambda x, b: _gauss(x, b, 3.0), (0.0, 10.0)),
    Basis("quartic", lambda x, b: (x / X_MAX) ** 4),
    Basis("inv_sqrt", lambda x, b: 1.0 / jnp.sqrt(1.0 + x)),
    Basis("x_sin", lambda x, b: (x / X_MAX) * jnp.sin(b * x), (0.5, 3.0)),
    Basis("sinc", lambda x, b: jnp.sinc((x - 5.0) / b), (0.5, 2.0)),
    Basis("abs_kink", lambda x, b: jnp.abs(x - b) / X_MAX, (2.0, 8.0)),
    Basis("hinge", lambda x, b: jnp.maximum(x - b, 0.0) / X_MAX, (2.0, 8.0)),
    Basis("smooth_square", lambda x, b: jnp.tanh(3.0 * jnp.sin(b * x)), (0.5, 2.0)),
    Basis("log_ratio", lambda x, b: jnp.log1p(b * x) / jnp.log1p(b * X_MAX), (0.1, 5.0)),
    Basis("chirp", lambda x, b: jnp.sin(b * x**2 / X_MAX), (0.5, 2.0)),
)

# name -> names and U(lo, hi) priors of its parameters
NOISE_MODELS: dict[str, tuple[tuple[str, float, float], ...]] = {
    "gaussian": (("sigma", 0.05, 0.5),),
    "heteroscedastic": (("sigma0", 0.02, 0.2), ("sigma1", 0.1, 0.5)),
    "student_t": (("sigma", 0.05, 0.5), ("nu", 2.0, 10.0)),
    "multiplicative": (("sigma", 0.05, 0.3),),
    "ar1": (("sigma", 0.05, 0.5), ("rho", 0.0, 0.9)),
}

_NORMAL, _UNIFORM = 0, 1


@dataclasses.dataclass(frozen=True)
class _LinearGaussian:
    design: np.ndarray  # (n_points, K)
    amplitude_scale: float
    noise_scale: float


@dataclasses.dataclass(frozen=True, eq=False)
class ModelFamily:
    """A family of simulators indexed by a structure (see the module docstring).

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
    linear_gaussian: _LinearGaussian | None = None

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


# ---- construction ------------------------------------------------------------------------------


def _grid(n_points: int) -> np.ndarray:
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2, got {n_points}")
    return (np.arange(n_points) * (X_MAX / n_points)).astype(np.float32)


def _ar1(key, sigma, rho, n):
    """Stationary AR(1) noise e_i = ρ e_{i−1} + √(1 − ρ²) σ ξ_i, e_0 = σ ξ_0, as e = σ C ξ."""
    eps = jax.random.normal(key, (n,))
    i = jnp.arange(n)
    lag = i[:, None] - i[None, :]
    power = rho ** jnp.clip(lag, 0, None).astype(jnp.float32)
    coef = jnp.where(i[None, :] == 0, power, jnp.sqrt(1.0 - rho**2) * power)
    coef = jnp.where(lag >= 0, coef, 0.0)
    return sigma * (coef @ eps)


def symbolic_family(
    num_components: int = 5,
    *,
    n_points: int = 32,
    noise_models: tuple[str, ...] = tuple(NOISE_MODELS),
) -> ModelFamily:
    """The symbolic-regression family with the first ``num_components`` terms of the library.

    Args:
        num_components: K, 1..30 (sizes used in the benchmarks: 5, 15, 30).
        n_points: grid size on [0, 10).
        noise_models: names from :data:`NOISE_MODELS`, in order.

    Raises:
        ValueError: K outside 1..30, an unknown or repeated noise model, ``n_points < 2``.
    """
    if not 1 <= num_components <= len(BASIS_LIBRARY):
        raise ValueError(f"num_components must be in 1..{len(BASIS_LIBRARY)}, got {num_components}")
    unknown = [n for n in noise_models if n not in NOISE_MODELS]
    if unknown or not noise_models or len(set(noise_models)) != len(noise_models):
        raise ValueError(
            f"noise_models must be distinct names from {list(NOISE_MODELS)}; got {noise_models}"
        )
    grid = _grid(n_points)
    terms = BASIS_LIBRARY[:num_components]
    names, owner, kind, pa, pb = [], [], [], [], []
    amp_idx, shape_idx = [], []
    for k, term in enumerate(terms):
        amp_idx.append(len(names))
        names.append(f"{term.name}.a")
        owner.append(k), kind.append(_NORMAL), pa.append(0.0), pb.append(1.0)
        if term.shape_prior is not None:
            shape_idx.append(len(names))
            names.append(f"{term.name}.b")
            owner.append(k), kind.append(_UNIFORM)
            pa.append(term.shape_prior[0]), pb.append(term.shape_prior[1])
        else:
            shape_idx.append(-1)
    noise_idx = {}
    for j, nm in enumerate(noise_models):
        for pname, lo, hi in NOISE_MODELS[nm]:
            noise_idx[(nm, pname)] = len(names)
            names.append(f"{nm}.{pname}")
            owner.append(num_components + j), kind.append(_UNIFORM), pa.append(lo), pb.append(hi)
    amp_idx_a = np.asarray(amp_idx)
    shape_safe = np.asarray([i if i >= 0 else 0 for i in shape_idx])
    # A term without a shape parameter gets a harmless placeholder b = 1.
    has_shape = np.asarray([i >= 0 for i in shape_idx])
    gx = jnp.asarray(grid)
    fns = tuple(t.fn for t in terms)

    def signal(active, theta):
        b = jnp.where(jnp.asarray(has_shape), theta[shape_safe], 1.0)
        # Inactive terms: a placeholder b in range and a zero amplitude, selected away with
        # `where`, so no inactive θ entry can reach the output (not even as NaN * 0).
        lo = np.asarray([t.shape_prior[0] if t.shape_prior else 1.0 for t in terms], np.float32)
        b = jnp.where(active > 0, b, jnp.asarray(lo))
        g = jnp.stack([fn(gx, b[k]) for k, fn in enumerate(fns)], axis=0)  # (K, n)
        amp = jnp.where(active > 0, theta[amp_idx_a], 0.0)
        return jnp.sum(jnp.where((active > 0)[:, None], amp[:, None] * g, 0.0), axis=0)

    def p(nm, pname, theta):
        return theta[noise_idx[(nm, pname)]]

    def noisy(key, f, noise, theta):
        n = f.shape[0]
        k1, k2 = jax.random.split(key)
        eps = jax.random.normal(k1, (n,))
        outs = []
        for nm in noise_models:
            if nm == "gaussian":
                outs.append(f + p(nm, "sigma", theta) * eps)
            elif nm == "heteroscedastic":
                sd = p(nm, "sigma0", theta) + p(nm, "sigma1", theta) * gx / X_MAX
                outs.append(f + sd * eps)
            elif nm == "student_t":
                nu = jnp.maximum(p(nm, "nu", theta), 2.0)
                outs.append(f + p(nm, "sigma", theta) * jax.random.t(k2, nu, (n,)))
            elif nm == "multiplicative":
                outs.append(
                    f * (1.0 + p(nm, "sigma", theta) * eps) + 0.02 * jax.random.normal(k2, (n,))
                )
            elif nm == "ar1":
                rho = jnp.clip(p(nm, "rho", theta), 0.0, 0.99)
                sigma = jnp.maximum(p(nm, "sigma", theta), 1e-3)
                outs.append(f + _ar1(k1, sigma, rho, n))
        return jnp.stack(outs)[noise]

    def simulate_fn(key, active, noise, theta):
        # Noise parameters of unused noise models are zeroed by `simulate`; clamp them into
        # their ranges so every branch is finite before the selection.
        lo, hi = jnp.asarray(pa, jnp.float32), jnp.asarray(pb, jnp.float32)
        is_noise = jnp.asarray(owner) >= num_components
        theta = jnp.where(is_noise, jnp.clip(theta, lo, hi), theta)
        return noisy(key, signal(active, theta), noise, theta)

    return ModelFamily(
        name=f"symbolic_k{num_components}",
        component_names=tuple(t.name for t in terms),
        noise_names=tuple(noise_models),
        grid=grid,
        param_names=tuple(names),
        param_owner=np.asarray(owner, np.int32),
        prior_kind=np.asarray(kind, np.int32),
        prior_a=np.asarray(pa, np.float32),
        prior_b=np.asarray(pb, np.float32),
        simulate_fn=simulate_fn,
        signal_fn=signal,
    )


# Fixed-shape terms of the analytic family (shapes of the library with b fixed).
_LINEAR_GAUSSIAN_TERMS: tuple[tuple[str, Callable[[np.ndarray], np.ndarray]], ...] = (
    ("const", lambda x: np.ones_like(x)),
    ("linear", lambda x: x / X_MAX),
    ("sin", lambda x: np.sin(1.3 * x)),
    ("exp_decay", lambda x: np.exp(-x / 1.5)),
    ("gauss_bump", lambda x: np.exp(-0.5 * (x - 6.0) ** 2)),
    ("cos", lambda x: np.cos(0.6 * x)),
    ("tanh_step", lambda x: np.tanh((x - 3.0) / 0.7)),
    ("quadratic", lambda x: (x / X_MAX) ** 2),
)


def linear_gaussian_family(
    num_components: int = 5,
    *,
    n_points: int = 32,
    amplitude_scale: float = 1.0,
    noise_scale: float = 0.1,
) -> ModelFamily:
    """The analytic family: y = Σ_k M_k a_k g_k(x) + N(0, noise_scale²), a_k ~ N(0, s²).

    The basis shapes are fixed, so p(y | M) = N(0, s² Φ_M Φ_Mᵀ + σ² I) in closed form and
    the model posterior is exact by enumeration (:func:`exact_model_posterior`). One noise model
    ("gaussian", no parameters); θ = the K amplitudes.

    Raises:
        ValueError: K outside 1..8, or non-positive scales.
    """
    if not 1 <= num_components <= len(_LINEAR_GAUSSIAN_TERMS):
        raise ValueError(
            f"num_components must be in 1..{len(_LINEAR_GAUSSIAN_TERMS)} for the analytic "
            f"family, got {num_components}"
        )
    if not (amplitude_scale > 0 and noise_scale > 0):
        raise ValueError(
            f"amplitude_scale and noise_scale must be > 0; got {amplitude_scale}, {noise_scale}"
        )
    grid = _grid(n_points)
    terms = _LINEAR_GAUSSIAN_TERMS[:num_components]
    design = np.stack([fn(grid.astype(np.float64)) for _, fn in terms], axis=1)
    phi = jnp.asarray(design, jnp.float32)

    def signal(active, theta):
        return phi @ jnp.where(active > 0, theta, 0.0)

    def simulate_fn(key, active, noise, theta):
        return signal(active, theta) + noise_scale * jax.random.normal(key, (phi.shape[0],))

    k = num_components
    return ModelFamily(
        name=f"linear_gaussian_k{k}",
        component_names=tuple(n for n, _ in terms),
        noise_names=("gaussian",),
        grid=grid,
        param_names=tuple(f"{n}.a" for n, _ in terms),
        param_owner=np.arange(k, dtype=np.int32),
        prior_kind=np.full(k, _NORMAL, np.int32),
        prior_a=np.zeros(k, np.float32),
        prior_b=np.full(k, amplitude_scale, np.float32),
        simulate_fn=simulate_fn,
        signal_fn=signal,
        linear_gaussian=_LinearGaussian(design, float(amplitude_scale), float(noise_scale)),
    )


# ---- exact enumeration ---------------------------------------------------------------------------


def check_lambda(lam) -> None:
    """Refuse a complexity λ outside the training range [0, 1] (or NaN), before any ``jit``.

    Traced values (inside a caller's ``jit``) cannot be checked and pass through.

    Raises:
        ValueError: a λ value outside [0, 1] or not finite.
    """
    if isinstance(lam, jax.core.Tracer):
        return
    arr = np.asarray(lam, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"λ (complexity) must be finite; got {lam!r}")
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError(
            f"λ (complexity) must lie in the training range [0, 1]; got {lam!r}. The network "
            "was trained with λ ~ U[0, 1] and does not extrapolate."
        )


def all_structures(num_components: int, num_noise: int = 1) -> Structure:
    """Every structure with at least one active term, in a fixed order.

    Returns:
        Structure with ``active (num_models, K)`` and ``noise (num_models,)``;
        ``num_models = (2^K − 1) · num_noise``. Bits are in binary order of the integer
        ``Σ_k M_k 2^k`` (1, 2, …, 2^K − 1), noise index fastest.
    """
    if num_components > 20:
        raise ValueError(f"enumerating 2^{num_components} structures is not supported (K > 20)")
    codes = np.arange(1, 2**num_components)
    bits = ((codes[:, None] >> np.arange(num_components)[None, :]) & 1).astype(np.int32)
    active = np.repeat(bits, num_noise, axis=0)
    noise = np.tile(np.arange(num_noise, dtype=np.int32), len(codes))
    return Structure(jnp.asarray(active), jnp.asarray(noise))


def structure_index(structure: Structure, num_noise: int = 1) -> Array:
    """Position of a structure in :func:`all_structures` order (any leading axes)."""
    k = structure.active.shape[-1]
    code = jnp.asarray(structure.active, jnp.int32) @ (2 ** jnp.arange(k, dtype=jnp.int32))
    return (code - 1) * num_noise + structure.noise


def _linear_gaussian_terms(family: ModelFamily, y: Array, active: Array):
    lg = family.linear_gaussian
    phi = jnp.asarray(lg.design, y.dtype)
    s2, sig2 = lg.amplitude_scale**2, lg.noise_scale**2
    on = active.astype(y.dtype)
    k = phi.shape[1]
    # Inactive columns: weight at its prior, an identity row/column, contributes nothing.
    a = (on[:, None] * on[None, :]) * (phi.T @ phi) / sig2 + jnp.diag(on / s2 + (1.0 - on))
    b = on * (phi.T @ y) / sig2
    chol = jnp.linalg.cholesky(a)
    mean = jax.scipy.linalg.cho_solve((chol, True), b)
    n = y.shape[0]
    logdet_a = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    log_ml = (
        -0.5 * n * jnp.log(2 * jnp.pi * sig2)
        - 0.5 * jnp.sum(on) * jnp.log(s2)
        - 0.5 * logdet_a
        - 0.5 * y @ y / sig2
        + 0.5 * b @ mean
    )
    cov = jax.scipy.linalg.cho_solve((chol, True), jnp.eye(k, dtype=y.dtype))
    return log_ml, mean, cov


def exact_model_posterior(family: ModelFamily, y: Array, lam) -> Array:
    """p(M | y, λ) for every structure of the analytic family, by enumeration.

    Computed in float64 when x64 is enabled, float32 otherwise (Cholesky of a K×K matrix).

    Args:
        family: a :func:`linear_gaussian_family`.
        y: ``(n_points,)`` observation.
        lam: scalar complexity in [0, 1].

    Returns:
        ``(2^K − 1,)`` probabilities in :func:`all_structures` order.

    Raises:
        ValueError: a family without a closed form, a wrong ``y`` shape, λ out of range.
    """
    if family.linear_gaussian is None:
        raise ValueError(f"{family.name} has no closed-form marginal likelihood")
    check_lambda(lam)
    if jnp.shape(y) != (family.n_points,):
        raise ValueError(f"y must have shape ({family.n_points},), got {jnp.shape(y)}")
    return _exact_model_posterior(family, jnp.asarray(y), jnp.asarray(lam, jnp.asarray(y).dtype))


@functools.partial(jax.jit, static_argnums=0)
def _exact_model_posterior(family, y, lam):
    structures = all_structures(family.num_components)
    log_ml = jax.vmap(lambda a: _linear_gaussian_terms(family, y, a)[0])(structures.active)
    log_prior = jax.vmap(family.structure_log_prior, (0, None))(structures, lam)
    return jax.nn.softmax(log_ml + log_prior.astype(log_ml.dtype))


def exact_theta_posterior(family: ModelFamily, y: Array, active: Array) -> tuple[Array, Array]:
    """Gaussian p(θ | M, y) of the analytic family: mean ``(K,)`` and covariance ``(K, K)``.

    Inactive entries have mean 0 and an identity block (they are not part of the model).
    """
    if family.linear_gaussian is None:
        raise ValueError(f"{family.name} has no closed-form parameter posterior")
    return _exact_theta_posterior(family, jnp.asarray(y), jnp.asarray(active))


@functools.partial(jax.jit, static_argnums=0)
def _exact_theta_posterior(family, y, active):
    _, mean, cov = _linear_gaussian_terms(family, y, active)
    return mean, cov
