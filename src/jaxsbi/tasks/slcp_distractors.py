"""sbibm ``slcp_distractors``: slcp's 8 values hidden among 92 heavy-tailed distractors.

sbibm 1.1.0 (``sbibm/tasks/slcp/task.py``, ``_generate_noise_dist_parameters``) built the
distractor law once with numpy's *legacy global* RandomState and pickled it with torch. We rebuild
it here, at import time, with the same recipe and never touch the pickles:

1. ``np.random.seed(42)``;
2. 20 locations ``15 * normal(size=92)`` (one vector per component, in order);
3. 20 scale factors ``3 * (tril(normal(size=(92, 92))) + diag(exp(normal(size=92))))``;
4. ``permutation(100)``.

The distractors are an equal-weight mixture of 20 multivariate Student-t laws (df = 2) in 92-D with
those locations and scale factors L_k (Σ_k = L_k L_kᵀ). Output entry ``j`` is
``concat(slcp8, noise92)[perm[j]]``, so slcp's 8 values sit at output positions
``[22, 33, 23, 67, 42, 21, 16, 90]`` (slcp dims 0..7).

Numerical caveats (checked, see ``tests/tasks/test_slcp_distractors.py``):

* ``tril(normal) + diag(exp(normal))`` has 342 negative diagonal entries in total. Sampling does not
  care (Σ = L Lᵀ either way) and the density uses ``log|L_ii|``. (torch's
  ``MultivariateStudentT.log_prob`` takes ``log L_ii`` and is NaN for this mixture.)
* Random lower-triangular 92×92 factors are badly conditioned: cond(L_k) is 6e15 to 1e19. The
  distractors lie within ~1e-17 relative of lower-dimensional subspaces, so the full 92-D density
  at any float32 (or float64) point is dominated by rounding of that point and cannot be computed
  meaningfully at machine precision. Because L is lower triangular, the marginal of the first m
  coordinates is the same mixture with ``loc[:, :m]`` and ``L[:, :m, :m]``; it is accurate for
  m ≲ 8-12 (worst cond over components 4e4 at m = 8). :func:`distractor_log_prob` takes
  ``num_leading`` for that reason; goodness-of-fit checks use the leading block.
* The distractor term of the likelihood does not depend on θ: posteriors, likelihood ratios and
  MCMC on :func:`slcp_distractors` ``.log_likelihood`` are exactly slcp's.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.linalg import solve_triangular
from jax.scipy.special import gammaln, logsumexp

from jaxsbi.distributions import uniform
from jaxsbi.tasks import sbibm
from jaxsbi.tasks.base import Task

__all__ = [
    "DISTRACTOR_DF",
    "DISTRACTOR_LOC",
    "DISTRACTOR_SCALE_TRIL",
    "PERMUTATION",
    "REAL_POSITIONS",
    "NOISE_POSITIONS",
    "distractor_constants",
    "distractor_log_prob",
    "sample_distractors",
    "slcp_distractors",
]

_NOISE_DIM = 92
_NUM_COMPONENTS = 20
_SLCP_DIM = 8
_X_DIM = _SLCP_DIM + _NOISE_DIM
DISTRACTOR_DF = 2.0


def distractor_constants(seed: int = 42) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rebuild sbibm's distractor mixture and permutation with the legacy RandomState recipe.

    Args:
        seed: sbibm used 42; other seeds are for negative controls in tests.

    Returns:
        ``loc`` ``(20, 92)`` float64, ``scale_tril`` ``(20, 92, 92)`` float64 and ``perm``
        ``(100,)`` int64, exactly as sbibm 1.1.0 drew them (same draw order).
    """
    # A private RandomState seeded like np.random.seed(seed) yields the same stream as the
    # legacy global one, without touching the caller's global numpy state.
    rng = np.random.RandomState(seed)
    loc = np.array([15 * rng.normal(size=_NOISE_DIM) for _ in range(_NUM_COMPONENTS)])
    factors = [
        np.tril(rng.normal(size=(_NOISE_DIM, _NOISE_DIM)))
        + np.diag(np.exp(rng.normal(size=_NOISE_DIM)))
        for _ in range(_NUM_COMPONENTS)
    ]
    scale_tril = 3 * np.array(factors)
    perm = rng.permutation(_X_DIM)
    return loc, scale_tril, perm


_LOC64, _SCALE_TRIL64, _PERM = distractor_constants(42)
DISTRACTOR_LOC: np.ndarray = _LOC64.astype(np.float32)
"""Component locations ``(20, 92)`` (float32)."""
DISTRACTOR_SCALE_TRIL: np.ndarray = _SCALE_TRIL64.astype(np.float32)
"""Component scale factors L_k ``(20, 92, 92)``, lower triangular, Σ_k = L_k L_kᵀ (float32)."""
PERMUTATION: np.ndarray = _PERM.astype(np.int32)
"""``x[j] = concat(slcp8, noise92)[PERMUTATION[j]]``, shape ``(100,)``."""
_INVERSE = np.argsort(_PERM)
REAL_POSITIONS: np.ndarray = _INVERSE[:_SLCP_DIM].astype(np.int32)
"""Output positions of slcp's 8 values: ``[22, 33, 23, 67, 42, 21, 16, 90]``."""
NOISE_POSITIONS: np.ndarray = _INVERSE[_SLCP_DIM:].astype(np.int32)
"""Output positions of the 92 distractor coordinates, in the mixture's coordinate order."""


def sample_distractors(key: Array) -> tuple[Array, Array]:
    """Draw one 92-D distractor vector and the mixture component it came from.

    A multivariate t draw is ``loc_k + L_k t · sqrt(df / χ²_df)`` with t ~ N(0, I₉₂).

    Args:
        key: a PRNG key.

    Returns:
        ``(noise, component)``: noise of shape ``(92,)`` (float32), component an int32 scalar.
    """
    k_comp, k_norm, k_chi2 = jax.random.split(key, 3)
    comp = jax.random.randint(k_comp, (), 0, _NUM_COMPONENTS)
    t = jax.random.normal(k_norm, (_NOISE_DIM,))
    chi2 = 2.0 * jax.random.gamma(k_chi2, DISTRACTOR_DF / 2.0)
    w = jnp.sqrt(DISTRACTOR_DF / chi2)
    loc = jnp.asarray(DISTRACTOR_LOC)[comp]
    scale_tril = jnp.asarray(DISTRACTOR_SCALE_TRIL)[comp]
    return loc + (scale_tril @ t) * w, comp


def _log1p_sq_norm_over(z: Array, df: float) -> Array:
    """log(1 + |z|²/df) without overflowing |z|² in float32 (|z| can reach ~1e22 here)."""
    a = jnp.max(jnp.abs(z))
    safe_a = jnp.where(a > 1.0, a, 1.0)
    scaled = jnp.sum((z / safe_a) ** 2) / df
    big = 2.0 * jnp.log(safe_a) + jnp.log(scaled + 1.0 / safe_a**2)
    small = jnp.log1p(jnp.sum(z**2) / df)
    return jnp.where(a > 1.0, big, small)


def _student_t_mixture_log_prob(noise: Array, loc: Array, scale_tril: Array, df: float) -> Array:
    """log Σ_k (1/K) t_df(noise; loc_k, L_k L_kᵀ) for noise ``(m,)``, loc ``(K, m)``,
    scale_tril ``(K, m, m)``."""
    m = noise.shape[0]

    def one(loc_k, l_k):
        z = solve_triangular(l_k, noise - loc_k, lower=True)
        log_det = jnp.sum(jnp.log(jnp.abs(jnp.diagonal(l_k))))
        return (
            gammaln(0.5 * (df + m))
            - gammaln(0.5 * df)
            - 0.5 * m * math.log(df * math.pi)
            - log_det
            - 0.5 * (df + m) * _log1p_sq_norm_over(z, df)
        )

    log_comp = jax.vmap(one)(loc, scale_tril)
    return logsumexp(log_comp) - math.log(loc.shape[0])


def distractor_log_prob(noise: Array, num_leading: int | None = None) -> Array:
    """Log density of the distractor mixture, or of its marginal on the leading coordinates.

    Args:
        noise: the 92 distractor values in the mixture's coordinate order (``x[NOISE_POSITIONS]``),
            shape ``(92,)``; or just the leading ``num_leading`` of them.
        num_leading: evaluate the exact marginal density of coordinates ``0..num_leading-1``
            (the scale factors are lower triangular, so the marginal is the same mixture with the
            leading blocks). None = all 92 — whose value is dominated by rounding (module
            docstring); use ≲ 8 for goodness-of-fit.

    Returns:
        scalar log density (float32).
    """
    m = _NOISE_DIM if num_leading is None else int(num_leading)
    if not 1 <= m <= _NOISE_DIM:
        raise ValueError(f"num_leading must be in 1..{_NOISE_DIM}, got {num_leading!r}")
    if noise.shape not in ((m,), (_NOISE_DIM,)):
        raise ValueError(f"noise must have shape ({m},) or ({_NOISE_DIM},), got {noise.shape}")
    loc = jnp.asarray(DISTRACTOR_LOC[:, :m])
    scale_tril = jnp.asarray(DISTRACTOR_SCALE_TRIL[:, :m, :m])
    return _student_t_mixture_log_prob(noise[:m], loc, scale_tril, DISTRACTOR_DF)


def _check(name: str, value: Array, dim: int) -> None:
    # Shapes are static: this runs at trace time, before compiled code could broadcast.
    if jnp.shape(value) != (dim,):
        raise ValueError(
            f"{name} must have shape ({dim},) (one value; vmap for batches), got {jnp.shape(value)}"
        )


def _simulate(key: Array, theta: Array) -> Array:
    _check("theta", theta, 5)
    # The slcp part uses the caller's key unchanged, so x[REAL_POSITIONS] equals
    # slcp().simulate(key, theta) exactly; the distractors use an independent stream.
    real = sbibm._slcp_simulate(key, theta)
    noise, _ = sample_distractors(jax.random.fold_in(key, 1))
    return jnp.concatenate([real, noise])[jnp.asarray(PERMUTATION)]


def _log_likelihood(theta: Array, x: Array) -> Array:
    _check("theta", theta, 5)
    _check("x", x, _X_DIM)
    real = x[jnp.asarray(REAL_POSITIONS)]
    noise = x[jnp.asarray(NOISE_POSITIONS)]
    return sbibm._slcp_log_likelihood(theta, real) + distractor_log_prob(noise)


@functools.cache
def slcp_distractors() -> Task:
    """sbibm ``slcp_distractors``: slcp (θ ~ U[−3, 3]⁵) plus 92 θ-independent distractors, permuted.

    ``x[REAL_POSITIONS]`` is an slcp draw (identical to ``slcp().simulate`` with the same key);
    ``x[NOISE_POSITIONS]`` is one draw of the 20-component Student-t (df 2) mixture.
    ``log_likelihood`` = slcp's log-likelihood of the real entries + :func:`distractor_log_prob`
    of the distractors; the second term is θ-free (exact posteriors) but its value is
    rounding-dominated (module docstring). Shapes: θ ``(5,)``, x ``(100,)``.
    """
    return Task(
        name="slcp_distractors",
        prior=uniform(jnp.full(5, -3.0), jnp.full(5, 3.0)),
        simulate=_simulate,
        x_shape=(_X_DIM,),
        log_likelihood=_log_likelihood,
        theta_names=tuple(f"theta_{i + 1}" for i in range(5)),
        x_names=tuple(f"x_{i + 1}" for i in range(_X_DIM)),
    )
