"""The structure space of a model family: the :class:`Structure` record (which components are on,
which noise model), the complexity check on λ, and the enumeration of every structure.

Used by every PRISM family (the symbolic ones here and :mod:`jaxsbi.dmri`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = ["Structure", "all_structures", "check_lambda", "structure_index"]


class Structure(NamedTuple):
    """One model of a family (a pytree; batch with leading axes).

    Attributes:
        active: ``(K,)`` int32 in {0, 1}: which basis terms are on.
        noise: ``()`` int32: index of the noise model.
    """

    active: Array
    noise: Array


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
