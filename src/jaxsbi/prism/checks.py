"""PRISM's input checks: one observation and one structure against the model family, at the
public boundary (before ``jit``).

PRISM reads a family only through the :class:`jaxsbi.base.ModelFamily` protocol and calls its
members directly (``token_dim``, ``check_structure``, ``bit_support``, ``bit_prior_logits``,
…). The inference functions of :func:`jaxsbi.prism.prism_estimator` take
ONE observation — ``tokens (n_points, token_dim)`` from ``family.tokens`` (the measured value
is always the last column) and an optional ``point_mask (n_points,)`` — and one structure at a
time; traced values (inside a caller's ``jit``) cannot be checked and pass through.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.base import ModelFamily
from jaxsbi.prism.families import Structure

__all__ = ["check_structure", "check_tokens", "full_mask"]


def check_tokens(family: ModelFamily, tokens, point_mask) -> None:
    """Refuse tokens that are not ``(n_points, token_dim)`` and finite, or a bad point mask.

    Raises:
        ValueError: a wrong shape, NaN/inf tokens, a point mask of the wrong dtype/shape or
            selecting no point.
    """
    if isinstance(tokens, jax.core.Tracer):
        return
    shape = np.shape(tokens)
    width = int(family.token_dim)
    if len(shape) != 2 or shape[1] != width:
        raise ValueError(
            f"tokens must have shape (n_points, {width}) for family {family.name!r} "
            f"(token_dim = {width}, measured value last); got {shape}"
        )
    if not np.all(np.isfinite(np.asarray(tokens))):
        raise ValueError("tokens contain NaN or inf")
    if point_mask is not None and not isinstance(point_mask, jax.core.Tracer):
        pm = np.asarray(point_mask)
        if pm.shape != (shape[0],) or pm.dtype != np.bool_:
            raise ValueError(
                f"point_mask must be a bool array of shape ({shape[0]},); got {pm.dtype} {pm.shape}"
            )
        if not pm.any():
            raise ValueError("point_mask selects no point")


def check_structure(family: ModelFamily, structure: Structure) -> None:
    """Refuse a concrete structure outside ``family`` (``family.check_structure``).

    Raises:
        ValueError: a wrong shape, non-binary bits, no active component, a bad noise index, or
            whatever else the family's own constraints refuse.
    """
    if isinstance(structure.active, jax.core.Tracer):
        return
    family.check_structure(structure)


def full_mask(n_points: int, point_mask) -> Array:
    """``point_mask``, or every point when it is None: ``(n_points,)`` bool."""
    return jnp.ones((n_points,), bool) if point_mask is None else point_mask
