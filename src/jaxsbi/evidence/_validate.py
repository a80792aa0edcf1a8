"""Input checks at the public boundary, before anything is traced.

Shapes are static and always checked. Values (NaN, sign of a precision) can only be checked on
concrete arrays: under ``jit``/``vmap`` of a public function the checks on values are skipped,
because a tracer has no value yet. The explicitly batched helpers check the whole batch first.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array


def concrete(x) -> np.ndarray | None:
    """The value of ``x`` as a NumPy array, or None when ``x`` is a tracer."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def float_dtype(*xs) -> jnp.dtype:
    """The floating dtype the computation runs in: that of the inputs, or JAX's default float."""
    dtype = jnp.result_type(*xs)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    return dtype


def check_finite(name: str, x) -> None:
    if isinstance(x, jax.core.Tracer):
        return
    # On-device reduction first: copying a 10⁶ × 100 design to the host just to check it is slow.
    # A concrete array closed over by a jitted function is still checkable: evaluate the
    # reduction eagerly instead of staging it into the trace.
    with jax.ensure_compile_time_eval():
        if bool(jnp.all(jnp.isfinite(jnp.asarray(x)))):
            return
    value = np.asarray(x)
    bad = ~np.isfinite(value)
    where = np.argwhere(bad)[:5].tolist()
    kind = "NaN" if np.isnan(value).any() else "inf"
    raise ValueError(
        f"{name} contains {int(bad.sum())} non-finite value(s) ({kind}) at index(es) "
        f"{where}{' ...' if bad.sum() > 5 else ''}; drop or impute those rows before fitting"
    )


def check_precision(name: str, x, *, allow_batch: bool = False) -> Array:
    """A precision (inverse variance) must be positive and finite; returns it as an array."""
    x = jnp.asarray(x)
    if x.ndim != 0 and not (allow_batch and x.ndim == 1):
        expected = "a scalar or a (num_models,) vector" if allow_batch else "a scalar"
        raise ValueError(f"{name} must be {expected} precision; got shape {x.shape}")
    value = concrete(x)
    if value is not None and not (np.all(np.isfinite(value)) and np.all(value > 0)):
        raise ValueError(
            f"{name} must be a positive, finite precision (inverse variance); got {value}"
            + (
                ". alpha = 0 is an improper flat prior: the posterior is then not defined for a "
                "rank-deficient design; use a small positive alpha (alpha -> 0 gives the "
                "minimum-norm least-squares solution)"
                if name == "alpha" and np.any(value == 0)
                else ""
            )
        )
    return x


def check_design(phi, t) -> None:
    """``phi`` of shape (N, M) and ``t`` of shape (N,), N > 0, all finite."""
    phi_shape, t_shape = jnp.shape(phi), jnp.shape(t)
    if len(phi_shape) != 2:
        raise ValueError(f"phi must be a design matrix of shape (N, M); got shape {phi_shape}")
    if len(t_shape) != 1:
        raise ValueError(f"t must be a target vector of shape (N,); got shape {t_shape}")
    if phi_shape[0] != t_shape[0]:
        raise ValueError(
            f"phi has {phi_shape[0]} rows but t has {t_shape[0]} targets; they must match"
        )
    if t_shape[0] == 0:
        raise ValueError(
            "N = 0: no data points. The posterior is then the prior and the evidence is 1 "
            "(log evidence 0); use the prior directly instead of fitting"
        )
    if phi_shape[1] == 0:
        raise ValueError("phi has M = 0 basis functions; a model needs at least one")
    check_finite("t", t)
    check_finite("phi", phi)
