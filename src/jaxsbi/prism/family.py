"""How PRISM reads a model family: the checks of one observation and one structure against the
family at the public boundary (before ``jit``), and the family's optional members.

The inference functions of :func:`jaxsbi.prism.prism_estimator` take ONE observation —
``tokens (n_points, token_dim)`` from ``family.tokens`` (the measured value is always the last
column) and an optional ``point_mask (n_points,)`` — and one structure at a time; traced values
(inside a caller's ``jit``) cannot be checked and pass through.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.tasks.symbolic import Structure

__all__ = [
    "bit_prior_logits",
    "bit_support",
    "check_structure",
    "check_tokens",
    "full_mask",
    "token_dim",
]


def token_dim(family) -> int:
    """Token width of ``family`` (its ``token_dim``; 2 = (x / 10, y) if it has none)."""
    return int(getattr(family, "token_dim", 2))


def bit_prior_logits(family) -> Callable | None:
    """The family's ``bit_prior_logits(lam, bits) -> (K,)``, or None if it has none."""
    return getattr(family, "bit_prior_logits", None)


def bit_support(family) -> Callable | None:
    """The family's ``bit_support(bits) -> (K,) bool``, or None if it has none."""
    return getattr(family, "bit_support", None)


def check_tokens(family, tokens, point_mask) -> None:
    """Refuse tokens that are not ``(n_points, token_dim)`` and finite, or a bad point mask.

    Raises:
        ValueError: a wrong shape, NaN/inf tokens, a point mask of the wrong dtype/shape or
            selecting no point.
    """
    if isinstance(tokens, jax.core.Tracer):
        return
    shape = np.shape(tokens)
    width = token_dim(family)
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


def check_structure(family, structure: Structure) -> None:
    """Refuse a concrete structure outside ``family``.

    Raises:
        ValueError: a wrong shape, non-binary bits, no active component, a bad noise index, or
            whatever else the family's own ``check_structure`` refuses.
    """
    if isinstance(structure.active, jax.core.Tracer):
        return
    if hasattr(family, "check_structure"):
        family.check_structure(structure)
    a = np.asarray(structure.active)
    if a.shape[-1:] != (family.num_components,):
        raise ValueError(f"structure.active must end in ({family.num_components},); got {a.shape}")
    if not np.isin(a, (0, 1)).all():
        raise ValueError("structure.active must hold 0/1 values")
    if (a.sum(-1) == 0).any():
        raise ValueError("a structure needs at least one active component")
    n = np.asarray(structure.noise)
    if n.size and (n.min() < 0 or n.max() >= family.num_noise):
        raise ValueError(f"structure.noise must be in [0, {family.num_noise}); got {n}")


def full_mask(n_points: int, point_mask) -> Array:
    """``point_mask``, or every point when it is None: ``(n_points,)`` bool."""
    return jnp.ones((n_points,), bool) if point_mask is None else point_mask
