"""Simulation data: a fixed budget of (θ, x) pairs, or fresh pairs simulated every step."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = ["SimulationData", "DataSource", "simulate", "split", "array_source", "online_source"]


class SimulationData(NamedTuple):
    """Valid simulations and the count of those excluded for NaN/inf outputs.

    Attributes:
        theta: ``(n_valid, theta_dim)`` parameters drawn from the prior.
        x: ``(n_valid, *x_shape)`` their simulations, all finite.
        num_invalid: simulations dropped because x (or θ) held NaN/inf.
    """

    theta: Array  # (n_valid, theta_dim)
    x: Array  # (n_valid, *x_shape)
    num_invalid: int


def _simulate_chunk(simulate_fn, prior, key, n):
    k_theta, k_sim = jax.random.split(key)
    theta = prior.sample(k_theta, (n,))
    x = jax.vmap(simulate_fn)(jax.random.split(k_sim, n), theta)
    return theta, x


_simulate_chunk_jit = jax.jit(_simulate_chunk, static_argnums=(0, 1, 3))


def simulate(
    key: Array, task, num_simulations: int, *, chunk_size: int = 100_000
) -> SimulationData:
    """Draw θ ~ prior and x ~ simulate(θ) for a fixed budget, excluding non-finite outputs.

    Simulations whose x contains NaN or inf are excluded from the returned data, counted in
    ``num_invalid`` and reported with a warning: they are never trained on silently.

    Args:
        key: PRNG key (chunk i uses ``fold_in(key, i)``).
        task: anything with ``prior`` (a :class:`~jaxsbi.distributions.Prior`) and
            ``simulate(key, theta (theta_dim,)) -> x (*x_shape)`` (one θ; it is ``vmap``ped),
            e.g. a :class:`~jaxsbi.tasks.Task`.
        num_simulations: the budget n, >= 2.
        chunk_size: simulations per compiled call (bounds memory).

    Returns:
        :class:`SimulationData` with ``theta (n_valid, theta_dim)``, ``x (n_valid, *x_shape)``
        and ``num_invalid = n - n_valid``.
    """
    if num_simulations < 2:
        raise ValueError(f"num_simulations must be >= 2, got {num_simulations}")
    thetas, xs = [], []
    for i, start in enumerate(range(0, num_simulations, chunk_size)):
        n = min(chunk_size, num_simulations - start)
        t, x = _simulate_chunk_jit(task.simulate, task.prior, jax.random.fold_in(key, i), n)
        thetas.append(np.asarray(t))
        xs.append(np.asarray(x))
    theta = np.concatenate(thetas)
    x = np.concatenate(xs)
    ok = np.all(np.isfinite(x.reshape(len(x), -1)), axis=1) & np.all(np.isfinite(theta), axis=1)
    num_invalid = int((~ok).sum())
    if num_invalid:
        warnings.warn(
            f"{num_invalid} of {num_simulations} simulations returned NaN/inf and were excluded "
            "from training",
            stacklevel=2,
        )
    return SimulationData(jnp.asarray(theta[ok]), jnp.asarray(x[ok]), num_invalid)


def split(key: Array, data: tuple, validation_fraction: float) -> tuple[tuple, tuple]:
    """Random train/validation split of a tuple of arrays with a shared leading axis."""
    n = data[0].shape[0]
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    n_val = max(1, int(round(validation_fraction * n)))
    if n - n_val < 2:
        raise ValueError(
            f"too few simulations ({n}) for a validation split of {validation_fraction}"
        )
    perm = jax.random.permutation(key, n)
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    return tuple(a[train_idx] for a in data), tuple(a[val_idx] for a in data)


class DataSource(NamedTuple):
    """Where training batches come from; pure functions so epochs can be scanned.

    Attributes:
        data: array pytree handed to ``prepare``/``batch`` as an argument (not a compiled-in
            constant), or None for online sources.
        validation: a fixed validation batch (pytree of arrays).
        num_batches: batches per epoch.
        batch_size: rows per batch.
        prepare: ``prepare(epoch_key, data) -> plan`` once per epoch (e.g. a permutation).
        batch: ``batch(plan, data, i) -> batch`` the i-th batch of the epoch.
        num_train: rows in the training set (informational; for online sources, rows per epoch).
    """

    data: Any
    validation: Any
    num_batches: int
    batch_size: int
    prepare: Callable
    batch: Callable
    num_train: int


def _array_prepare(key, data):
    return jax.random.permutation(key, data[0].shape[0])


def _array_batch(batch_size, perm, data, i):
    idx = jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)
    return tuple(a[idx] for a in data)


_ARRAY_BATCH = {}


def array_source(train: tuple, validation: tuple, batch_size: int) -> DataSource:
    """Minibatches of a fixed training set, reshuffled every epoch.

    Each epoch uses ``n // batch_size`` full batches of a fresh permutation, so every row is
    used across epochs; a last partial batch is left to the next epoch's shuffle rather than
    compiled as a second shape.
    """
    n = train[0].shape[0]
    batch_size = min(batch_size, n)
    # One function object per batch size, so jit caches hit across calls.
    fn = _ARRAY_BATCH.setdefault(
        batch_size, lambda perm, data, i: _array_batch(batch_size, perm, data, i)
    )
    return DataSource(train, validation, n // batch_size, batch_size, _array_prepare, fn, n)


def online_source(
    sample_fn: Callable[[Array, int], Any], validation: Any, batch_size: int, steps_per_epoch: int
) -> DataSource:
    """Fresh simulations at every step: ``sample_fn(key, batch_size) -> batch``.

    An "epoch" is ``steps_per_epoch`` steps, after which the fixed validation set is scored.
    Non-finite simulations must be handled by ``sample_fn``: the AALR pipeline returns a weight
    per row (0 for NaN/inf x), and the estimator's loss leaves those rows out.
    """

    def prepare(key, data):
        return key

    def batch(key, data, i):
        return sample_fn(jax.random.fold_in(key, i), batch_size)

    return DataSource(
        None, validation, steps_per_epoch, batch_size, prepare, batch, steps_per_epoch * batch_size
    )
