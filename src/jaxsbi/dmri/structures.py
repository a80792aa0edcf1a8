"""The structure space of the dMRI family: which compartments a voxel model holds.

**Structure space.** K = 6 components ``(ball, stick1, stick2, stick3, zeppelin, dot)``;
sticks are nested (stick k+1 only with stick k), so a structure is (ball ∈ {0,1}, number of
sticks ∈ {0..3}, zeppelin ∈ {0,1}, dot ∈ {0,1}), not all absent: 2·4·2·2 − 1 = **31
compartment models** (:func:`valid_table`), times the noise models (Rician, Gaussian):
``num_models = 31 · num_noise`` (62 by default).

**Structure prior (PRISM's dimension penalty).** Component k owns d_k θ entries (its
fraction included): ball 2, stick1 4, stick2 3, stick3 3, zeppelin 5, dot 1. With a
per-component inclusion logit ``logit p_k(λ) = logit p0 − (1 − λ)·λ_max·d_k``,

    p(M | λ) ∝ Π_{k ∈ M} exp(logit p_k(λ)) = exp(|M|·logit p0 − (1 − λ)·λ_max·Σ_{k∈M} d_k),

normalised over the 31 valid structures (Bernoulli(p_k) bits conditioned on validity give
exactly this), times a uniform 1/num_noise. λ = 1: uniform over structures (with p0 = 0.5);
λ = 0: each extra parameter costs a factor e^{−λ_max}. Σ d_k counts every fraction, one
more than the free dimension; the +1 is common to all structures and cancels
(:func:`structure_logits`).

:class:`~jaxsbi.dmri.family_record.DmriFamily` exposes these as its structure methods.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.dmri.compartments import COMPARTMENTS
from jaxsbi.prism.families import Structure

__all__ = [
    "all_structures",
    "check_active",
    "nested_support",
    "sample_structure",
    "structure_index",
    "structure_log_prior",
    "structure_logits",
    "table_index",
    "valid_table",
]

_K = len(COMPARTMENTS)
_BALL, _S1, _S2, _S3, _ZEP, _DOT = range(_K)


def valid_table() -> np.ndarray:
    """``(31, 6)`` valid structures, sorted by the code Σ_k M_k 2^k."""
    rows = []
    for ball, n_sticks, zep, dot in itertools.product((0, 1), range(4), (0, 1), (0, 1)):
        sticks = [1 if i < n_sticks else 0 for i in range(3)]
        row = [ball, *sticks, zep, dot]
        if any(row):
            rows.append(row)
    table = np.asarray(rows, np.int32)
    codes = table @ (2 ** np.arange(_K))
    return table[np.argsort(codes)]


def table_index(active: Array) -> Array:
    """Row of ``active (..., 6)`` in :func:`valid_table` (−1 outside the family)."""
    table = valid_table()
    lookup = np.full(2**_K, -1, np.int32)
    lookup[table @ (2 ** np.arange(_K))] = np.arange(table.shape[0])
    code = jnp.asarray(active, jnp.int32) @ (2 ** jnp.arange(_K, dtype=jnp.int32))
    return jnp.asarray(lookup)[code]


def check_active(active: np.ndarray) -> None:
    """Refuse concrete compartment bits ``(..., 6)`` outside the structure space.

    Raises:
        ValueError: wrong shape, non-binary bits, empty, non-nested sticks.
    """
    a = np.asarray(active)
    if a.shape[-1:] != (_K,):
        raise ValueError(f"structure.active must end in ({_K},); got shape {a.shape}")
    if not np.isin(a, (0, 1)).all():
        raise ValueError("structure.active must hold 0/1 values")
    a2 = a.reshape(-1, _K)
    if (a2.sum(-1) == 0).any():
        raise ValueError("a structure needs at least one active compartment")
    if ((a2[:, _S2] > a2[:, _S1]) | (a2[:, _S3] > a2[:, _S2])).any():
        raise ValueError("sticks are nested: stick2 needs stick1 and stick3 needs stick2")


def nested_support(bits: Array) -> Array:
    """``(6,)`` bool: may bit i be 1 given ``bits[:i]``? stick2 needs stick1 and stick3 needs
    stick2; every other bit is free."""
    bits = jnp.asarray(bits)
    ok = jnp.ones((_K,), bool)
    return ok.at[_S2].set(bits[_S1] > 0).at[_S3].set(bits[_S2] > 0)


def structure_logits(
    lam: Array, component_dims: np.ndarray, logit_p0: float, lambda_max: float
) -> Array:
    """Unnormalised log p(M | λ) ``(31,)`` over :func:`valid_table`'s rows (see the module
    docstring): ``|M|·logit p0 − (1 − λ)·λ_max·Σ_{k∈M} d_k``."""
    table = jnp.asarray(valid_table(), jnp.float32)
    dims = table @ jnp.asarray(component_dims, jnp.float32)
    size = jnp.sum(table, axis=1)
    return size * logit_p0 - (1.0 - lam) * lambda_max * dims


def all_structures(num_noise: int) -> Structure:
    """Every valid structure: ``active (31·num_noise, 6)``, ``noise (31·num_noise,)``; ordered
    by the code Σ_k M_k 2^k, noise index fastest."""
    table = valid_table()
    return Structure(
        jnp.asarray(np.repeat(table, num_noise, axis=0)),
        jnp.asarray(np.tile(np.arange(num_noise, dtype=np.int32), table.shape[0])),
    )


def structure_index(structure: Structure, num_noise: int) -> Array:
    """Position in :func:`all_structures` order (−1 for an invalid structure)."""
    idx = table_index(structure.active)
    return jnp.where(idx >= 0, idx * num_noise + structure.noise, -1)


def structure_log_prior(logits: Array, structure: Structure, num_noise: int) -> Array:
    """log p(M | λ) from :func:`structure_logits`, the uniform noise factor included; −inf
    outside the family."""
    log_p = jax.nn.log_softmax(logits)
    idx = table_index(structure.active)
    lp = log_p[jnp.clip(idx, 0, None)] - math.log(num_noise)
    ok = (idx >= 0) & (structure.noise >= 0) & (structure.noise < num_noise)
    return jnp.where(ok, lp, -jnp.inf)


def sample_structure(key: Array, logits: Array, num_noise: int) -> Structure:
    """M ~ p(M | λ) exactly (a categorical over the 31 valid structures, from
    :func:`structure_logits`) and a uniform noise model."""
    # One uniform pair (inverse CDFs), not one random primitive per choice: each threefry
    # call adds seconds of XLA compile time to simulators built on this.
    u = jax.random.uniform(key, (2,))
    p = jax.nn.softmax(logits)
    i = jnp.minimum(jnp.sum(jnp.cumsum(p) < u[0]), p.shape[0] - 1)
    active = jnp.asarray(valid_table())[i]
    noise = jnp.minimum(jnp.floor(u[1] * num_noise), num_noise - 1)
    return Structure(active, noise.astype(jnp.int32))
