"""The sbibm 1.1.0 benchmark tasks with tractable likelihoods, as pure JAX functions.

Each factory returns a :class:`~jaxsbi.tasks.base.Task` whose prior, simulator and likelihood
follow sbibm 1.1.0's task code exactly (``sbibm/tasks/<name>/task.py``); where sbibm's own
``_likelihood`` is wrong (two_moons) we give the true density instead. Everything is float32.
Simulators take one θ and one key; batch with ``jax.vmap``.

Example:
    >>> import jax
    >>> task = two_moons()
    >>> theta = task.prior.sample(jax.random.key(0), (4,))
    >>> keys = jax.random.split(jax.random.key(1), 4)
    >>> jax.vmap(task.simulate)(keys, theta).shape
    (4, 2)
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as nd
from jax import Array
from jax.scipy.special import logsumexp

from jaxsbi.distributions import Prior, uniform
from jaxsbi.tasks.base import Task

__all__ = [
    "gaussian_linear",
    "gaussian_linear_uniform",
    "two_moons",
    "slcp",
    "gaussian_mixture",
    "bernoulli_glm",
    "bernoulli_glm_raw",
    "bernoulli_glm_raw_log_likelihood",
    "bernoulli_glm_summary_log_likelihood",
    "BERNOULLI_GLM_STIMULUS",
    "BERNOULLI_GLM_DESIGN",
    "BERNOULLI_GLM_PRECISION",
]

_LOG_2PI = math.log(2.0 * math.pi)


def _names(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}_{i + 1}" for i in range(n))


def _normal_logpdf(z: Array, loc, var) -> Array:
    """Elementwise log N(z; loc, var) (no summing)."""
    return -0.5 * (_LOG_2PI + jnp.log(var) + (z - loc) ** 2 / var)


class _RankExplicitMVN(nd.MultivariateNormal):
    """numpyro's MultivariateNormal, with ``sample`` broadcasting loc explicitly.

    numpyro's Normal / MultivariateNormal add loc ``(d,)`` to noise ``(*shape, d)`` by rank
    promotion, so ``prior.sample(key, (n,))`` raises under ``jax.numpy_rank_promotion("raise")``
    (our test setting, and any user's). Same law; log_prob is numpyro's (one θ at a time).
    """

    def sample(self, key, sample_shape=()):
        shape = tuple(sample_shape) + self.batch_shape + self.event_shape
        eps = jax.random.normal(key, shape)
        return jnp.broadcast_to(self.loc, shape) + jnp.einsum("ij,...j->...i", self.scale_tril, eps)


# --------------------------------------------------------------------------------------------
# gaussian_linear / gaussian_linear_uniform
# --------------------------------------------------------------------------------------------

# sbibm documents prior_scale / simulator_scale as standard deviations but inverts 0.1·I as the
# precision matrix, so both 0.1s are VARIANCES (NOTES §2.3).
_GL_DIM = 10
_GL_PRIOR_VAR = 0.1
_GL_NOISE_VAR = 0.1


def _gaussian_linear_simulate(key: Array, theta: Array) -> Array:
    return theta + jnp.sqrt(jnp.float32(_GL_NOISE_VAR)) * jax.random.normal(key, theta.shape)


def _gaussian_linear_log_likelihood(theta: Array, x: Array) -> Array:
    return jnp.sum(_normal_logpdf(x, theta, _GL_NOISE_VAR))


@functools.cache
def gaussian_linear() -> Task:
    """sbibm ``gaussian_linear``: θ ~ N(0, 0.1·I₁₀), x | θ ~ N(θ, 0.1·I₁₀) (variances).

    Posterior: N(x/2, 0.05·I). Shapes: θ ``(10,)``, x ``(10,)``.
    """
    return Task(
        name="gaussian_linear",
        prior=Prior(
            _RankExplicitMVN(jnp.zeros(_GL_DIM), covariance_matrix=_GL_PRIOR_VAR * jnp.eye(_GL_DIM))
        ),
        simulate=_gaussian_linear_simulate,
        x_shape=(_GL_DIM,),
        log_likelihood=_gaussian_linear_log_likelihood,
        theta_names=_names("theta", _GL_DIM),
        x_names=_names("x", _GL_DIM),
    )


@functools.cache
def gaussian_linear_uniform() -> Task:
    """sbibm ``gaussian_linear_uniform``: θ ~ U[−1, 1]¹⁰, x | θ ~ N(θ, 0.1·I₁₀).

    Posterior: N(x, 0.1·I) truncated to the box. Shapes: θ ``(10,)``, x ``(10,)``.
    """
    return Task(
        name="gaussian_linear_uniform",
        prior=uniform(-jnp.ones(_GL_DIM), jnp.ones(_GL_DIM)),
        simulate=_gaussian_linear_simulate,
        x_shape=(_GL_DIM,),
        log_likelihood=_gaussian_linear_log_likelihood,
        theta_names=_names("theta", _GL_DIM),
        x_names=_names("x", _GL_DIM),
    )


# --------------------------------------------------------------------------------------------
# two_moons
# --------------------------------------------------------------------------------------------

_TM_A_HALF_WIDTH = math.pi / 2.0  # a ~ U(−π/2, π/2)
_TM_R_LOC = 0.1
_TM_R_SCALE = 0.01
_TM_OFFSET = 0.25


def two_moons_shift(theta: Array) -> Array:
    """The θ-dependent shift g(θ) = (−|θ₁ + θ₂|/√2, (−θ₁ + θ₂)/√2), so x = p + g(θ).

    Args:
        theta: shape ``(2,)``.

    Returns:
        shape ``(2,)``.
    """
    z0 = (theta[0] + theta[1]) / jnp.sqrt(jnp.float32(2.0))
    z1 = (-theta[0] + theta[1]) / jnp.sqrt(jnp.float32(2.0))
    return jnp.stack([-jnp.abs(z0), z1])


def two_moons_sample_p(key: Array, shape: tuple[int, ...] = ()) -> Array:
    """Draw the θ-free crescent point p = (r cos a + 0.25, r sin a), shape ``(*shape, 2)``."""
    key_a, key_r = jax.random.split(key)
    a = jax.random.uniform(key_a, shape, minval=-_TM_A_HALF_WIDTH, maxval=_TM_A_HALF_WIDTH)
    r = _TM_R_LOC + _TM_R_SCALE * jax.random.normal(key_r, shape)
    return jnp.stack([r * jnp.cos(a) + _TM_OFFSET, r * jnp.sin(a)], axis=-1)


def _two_moons_simulate(key: Array, theta: Array) -> Array:
    return two_moons_sample_p(key) + two_moons_shift(theta)


def _two_moons_log_likelihood(theta: Array, x: Array) -> Array:
    # p = x − g(θ) has the law of (r cos a + 0.25, r sin a). Writing (u, v) = p − (0.25, 0), the
    # map (a, r) ↦ (u, v) = r (cos a, sin a) on (−π/2, π/2) × (R \ {0}) is one-to-one onto the
    # plane minus the line u = 0: u > 0 comes from r > 0 (r = ρ = |(u, v)|), u < 0 from r < 0
    # (r = −ρ; probability ~e⁻⁵⁰ but not zero, so the density there is tiny, not −inf). The
    # Jacobian is |r| = ρ and a has density 1/π, hence p(x | θ) = N(r; 0.1, 0.01²) / (π ρ).
    # (sbibm's `_likelihood` keeps only the radial normal: no 1/ρ and no 1/π.)
    p = x - two_moons_shift(theta)
    u = p[0] - _TM_OFFSET
    v = p[1]
    # ρ → 0 is an integrable 1/ρ singularity of weight e⁻⁵⁰; the floor avoids log 0 and NaN grads.
    rho = jnp.sqrt(jnp.maximum(u**2 + v**2, jnp.float32(1e-30)))
    r = jnp.where(u >= 0.0, rho, -rho)
    return (
        _normal_logpdf(r, _TM_R_LOC, _TM_R_SCALE**2) - jnp.log(jnp.float32(math.pi)) - jnp.log(rho)
    )


@functools.cache
def two_moons() -> Task:
    """sbibm ``two_moons``: θ ~ U[−1, 1]², x = p + g(θ) with the crescent p.

    a ~ U(−π/2, π/2), r ~ N(0.1, 0.01²), p = (r cos a + 0.25, r sin a),
    g(θ) = (−|θ₁ + θ₂|/√2, (−θ₁ + θ₂)/√2). ``log_likelihood`` is the true density of x
    (see ``_two_moons_log_likelihood``); it is finite except on a measure-zero set.
    Shapes: θ ``(2,)``, x ``(2,)``.
    """
    return Task(
        name="two_moons",
        prior=uniform(-jnp.ones(2), jnp.ones(2)),
        simulate=_two_moons_simulate,
        x_shape=(2,),
        log_likelihood=_two_moons_log_likelihood,
        theta_names=_names("theta", 2),
        x_names=_names("x", 2),
    )


# --------------------------------------------------------------------------------------------
# slcp
# --------------------------------------------------------------------------------------------

_SLCP_NUM_DRAWS = 4
_SLCP_EPS = 1e-6  # sbibm adds 1e-6 to the diagonal of Σ "to ensure PSD"


def slcp_mean_cov(theta: Array) -> tuple[Array, Array]:
    """Mean m = (θ₁, θ₂) and covariance Σ (with sbibm's +1e-6·I) of one slcp draw.

    Args:
        theta: shape ``(5,)``.

    Returns:
        m of shape ``(2,)`` and Σ of shape ``(2, 2)``.
    """
    s1 = theta[2] ** 2
    s2 = theta[3] ** 2
    rho = jnp.tanh(theta[4])
    off = rho * s1 * s2
    cov = jnp.stack([jnp.stack([s1**2 + _SLCP_EPS, off]), jnp.stack([off, s2**2 + _SLCP_EPS])])
    return theta[:2], cov


def _slcp_factors(theta: Array):
    # Closed-form 2×2 Cholesky; det written as s1²s2²(1 − ρ²) + … with 1 − ρ² = 1/cosh² to avoid
    # the cancellation of Σ₁₁Σ₂₂ − Σ₁₂² in float32 when |ρ| → 1.
    m, cov = slcp_mean_cov(theta)
    s1 = theta[2] ** 2
    s2 = theta[3] ** 2
    one_minus_rho2 = 1.0 / jnp.cosh(theta[4]) ** 2
    det = (s1 * s2) ** 2 * one_minus_rho2 + _SLCP_EPS * (s1**2 + s2**2) + _SLCP_EPS**2
    return m, cov, det


def _slcp_simulate(key: Array, theta: Array) -> Array:
    m, cov, det = _slcp_factors(theta)
    l11 = jnp.sqrt(cov[0, 0])
    l21 = cov[1, 0] / l11
    l22 = jnp.sqrt(det / cov[0, 0])
    eps = jax.random.normal(key, (_SLCP_NUM_DRAWS, 2))
    x1 = m[0] + l11 * eps[:, 0]
    x2 = m[1] + l21 * eps[:, 0] + l22 * eps[:, 1]
    # sbibm samples shape (4, 2) and flattens row-major: (x1a, x1b, x2a, x2b, ...).
    return jnp.stack([x1, x2], axis=-1).reshape(2 * _SLCP_NUM_DRAWS)


def _slcp_log_likelihood(theta: Array, x: Array) -> Array:
    m, cov, det = _slcp_factors(theta)
    d = x.reshape(_SLCP_NUM_DRAWS, 2) - m[None, :]
    quad = cov[1, 1] * d[:, 0] ** 2 - 2.0 * cov[0, 1] * d[:, 0] * d[:, 1] + cov[0, 0] * d[:, 1] ** 2
    quad = quad / det
    return jnp.sum(-_LOG_2PI - 0.5 * jnp.log(det) - 0.5 * quad)


@functools.cache
def slcp() -> Task:
    """sbibm ``slcp``: θ ~ U[−3, 3]⁵, x = four iid draws of N(m(θ), Σ(θ)), flattened.

    m = (θ₁, θ₂); s₁ = θ₃², s₂ = θ₄², ρ = tanh θ₅; Σ = [[s₁², ρs₁s₂], [ρs₁s₂, s₂²]] + 1e-6·I.
    x is ordered (x1a, x1b, x2a, x2b, x3a, x3b, x4a, x4b). Shapes: θ ``(5,)``, x ``(8,)``.
    """
    return Task(
        name="slcp",
        prior=uniform(jnp.full(5, -3.0), jnp.full(5, 3.0)),
        simulate=_slcp_simulate,
        x_shape=(2 * _SLCP_NUM_DRAWS,),
        log_likelihood=_slcp_log_likelihood,
        theta_names=_names("theta", 5),
        x_names=_names("x", 2 * _SLCP_NUM_DRAWS),
    )


# --------------------------------------------------------------------------------------------
# gaussian_mixture
# --------------------------------------------------------------------------------------------

_GM_SCALES = (1.0, 0.1)  # standard deviations of the two components; weights 0.5 / 0.5
_GM_BOUND = 10.0


def _gaussian_mixture_simulate(key: Array, theta: Array) -> Array:
    key_k, key_e = jax.random.split(key)
    # One component per simulation, shared by both coordinates (sbibm 1.1.0; before 1.0.9 it
    # was one per batch).
    narrow = jax.random.bernoulli(key_k, 0.5)
    scale = jnp.where(narrow, jnp.float32(_GM_SCALES[1]), jnp.float32(_GM_SCALES[0]))
    return theta + scale * jax.random.normal(key_e, theta.shape)


def _gaussian_mixture_log_likelihood(theta: Array, x: Array) -> Array:
    log_comp = jnp.stack([jnp.sum(_normal_logpdf(x, theta, s**2)) for s in _GM_SCALES]) + jnp.log(
        jnp.float32(0.5)
    )
    return logsumexp(log_comp)


@functools.cache
def gaussian_mixture() -> Task:
    """sbibm ``gaussian_mixture``: θ ~ U[−10, 10]², x ~ 0.5·N(θ, I) + 0.5·N(θ, 0.01·I).

    The component is drawn once per simulation and shared by both coordinates.
    Shapes: θ ``(2,)``, x ``(2,)``.
    """
    return Task(
        name="gaussian_mixture",
        prior=uniform(jnp.full(2, -_GM_BOUND), jnp.full(2, _GM_BOUND)),
        simulate=_gaussian_mixture_simulate,
        x_shape=(2,),
        log_likelihood=_gaussian_mixture_log_likelihood,
        theta_names=_names("theta", 2),
        x_names=_names("x", 2),
    )


# --------------------------------------------------------------------------------------------
# bernoulli_glm
# --------------------------------------------------------------------------------------------

_GLM_NUM_BINS = 100
_GLM_FILTER_LEN = 9


def _glm_constants() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Rebuilt with numpy exactly as sbibm's `_setup(regenerate_stimulus=True)` did, so the torch
    # pickles in the wheel are never needed.
    stimulus = np.random.RandomState(42).randn(_GLM_NUM_BINS).astype(np.float32)
    design = np.zeros((_GLM_NUM_BINS, 1 + _GLM_FILTER_LEN), np.float32)
    design[:, 0] = 1.0
    for j in range(_GLM_FILTER_LEN):
        design[j:, 1 + j] = stimulus[: _GLM_NUM_BINS - j]
    m = _GLM_FILTER_LEN
    d = np.eye(m) - np.eye(m, k=-1)
    f = d @ d + np.diag(np.sqrt(np.arange(m) / m))
    precision = np.zeros((m + 1, m + 1))
    precision[0, 0] = 0.5  # bias variance 2
    precision[1:, 1:] = f.T @ f
    return stimulus, design, precision.astype(np.float32)


BERNOULLI_GLM_STIMULUS, BERNOULLI_GLM_DESIGN, BERNOULLI_GLM_PRECISION = _glm_constants()
"""Stimulus I ``(100,)``, design X ``(100, 10)`` and prior precision B⁻¹ ``(10, 10)`` (numpy)."""


def _glm_spikes(key: Array, theta: Array) -> Array:
    logits = jnp.asarray(BERNOULLI_GLM_DESIGN) @ theta
    return jax.random.bernoulli(key, jax.nn.sigmoid(logits)).astype(jnp.float32)


def _glm_simulate_summary(key: Array, theta: Array) -> Array:
    # Xᵀy = (spike count, 9 spike-triggered sums) — the same numbers as sbibm's conv1d summary.
    return jnp.asarray(BERNOULLI_GLM_DESIGN).T @ _glm_spikes(key, theta)


def bernoulli_glm_raw_log_likelihood(theta: Array, y: Array) -> Array:
    """log p(y | θ) = Σ_t y_t log σ(ψ_t) + (1 − y_t) log σ(−ψ_t), ψ = Xθ.

    Args:
        theta: shape ``(10,)``.
        y: raw spike train, shape ``(100,)`` with entries in {0, 1}.

    Returns:
        scalar log-probability (a pmf over {0, 1}¹⁰⁰).
    """
    logits = jnp.asarray(BERNOULLI_GLM_DESIGN) @ theta
    return jnp.sum(y * jax.nn.log_sigmoid(logits) + (1.0 - y) * jax.nn.log_sigmoid(-logits))


def bernoulli_glm_summary_log_likelihood(theta: Array, x: Array) -> Array:
    """θᵀx − Σ_t softplus((Xθ)_t): log p(x | θ) for the summary x = Xᵀy, up to a θ-free term.

    The GLM is an exponential family: p(y | θ) = exp(θᵀXᵀy − Σ_t softplus((Xθ)_t)), so for ANY
    spike train y with Xᵀy = x this function equals ``bernoulli_glm_raw_log_likelihood(θ, y)``
    exactly. The pmf of x is p(x | θ) = N(x)·exp(θᵀx − A(θ)) with N(x) = #{y : Xᵀy = x}, which
    does not depend on θ (and is 1 when x pins down y, as it generically does for this real-valued
    stimulus). Hence this is the exact log-likelihood *in θ* — posteriors, likelihood ratios and
    MCMC on it are exact — but it is not a normalised density over x: it omits log N(x) and
    does not return −inf for an x that no spike train produces (deciding that is a subset-sum
    problem).

    Args:
        theta: shape ``(10,)``.
        x: summary statistics ``(spike count, 9 spike-triggered sums)``, shape ``(10,)``.

    Returns:
        scalar.
    """
    logits = jnp.asarray(BERNOULLI_GLM_DESIGN) @ theta
    return jnp.dot(theta, x) - jnp.sum(jax.nn.softplus(logits))


def _glm_prior() -> Prior:
    precision = jnp.asarray(BERNOULLI_GLM_PRECISION)
    return Prior(_RankExplicitMVN(jnp.zeros(1 + _GLM_FILTER_LEN), precision_matrix=precision))


@functools.cache
def bernoulli_glm() -> Task:
    """sbibm ``bernoulli_glm``: a 100-bin logistic GLM reduced to its sufficient statistics.

    θ ~ N(0, B) with B⁻¹ = blockdiag(0.5, FᵀF) (bias variance 2, smoothness prior on the 9-tap
    filter); y_t ~ Bernoulli(σ((Xθ)_t)); x = Xᵀy. ``log_likelihood`` is
    :func:`bernoulli_glm_summary_log_likelihood` — exact in θ, unnormalised in x (read its
    docstring). Shapes: θ ``(10,)``, x ``(10,)``.
    """
    return Task(
        name="bernoulli_glm",
        prior=_glm_prior(),
        simulate=_glm_simulate_summary,
        x_shape=(1 + _GLM_FILTER_LEN,),
        log_likelihood=bernoulli_glm_summary_log_likelihood,
        theta_names=("bias",) + _names("filter", _GLM_FILTER_LEN),
        x_names=("spike_count",) + _names("sta", _GLM_FILTER_LEN),
    )


@functools.cache
def bernoulli_glm_raw() -> Task:
    """sbibm ``bernoulli_glm_raw``: as :func:`bernoulli_glm` but x is the raw spike train y.

    With the same key, ``bernoulli_glm().simulate(key, θ) == X.T @ bernoulli_glm_raw().simulate(
    key, θ)``. Shapes: θ ``(10,)``, x ``(100,)`` with entries in {0, 1}.
    """
    return Task(
        name="bernoulli_glm_raw",
        prior=_glm_prior(),
        simulate=_glm_spikes,
        x_shape=(_GLM_NUM_BINS,),
        log_likelihood=bernoulli_glm_raw_log_likelihood,
        theta_names=("bias",) + _names("filter", _GLM_FILTER_LEN),
        x_names=_names("y", _GLM_NUM_BINS),
    )
