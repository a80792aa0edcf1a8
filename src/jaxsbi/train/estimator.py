"""Train an estimator on a task's simulations: split + init + fit in one call.

:func:`train_estimator` joins what a training run needs — a train/validation split of a fixed
budget (or fresh simulations every step, :func:`online_sampler`), the estimator's ``init`` and
:func:`jaxsbi.train.fit` — for any estimator with ``init(key, theta, x)`` and
``loss(params, key, batch)`` (the AALR ratio estimator, :func:`jaxsbi.ratio.build_estimator`).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxsbi.train.data import SimulationData, array_source, online_source, split
from jaxsbi.train.fit import TrainConfig, fit

__all__ = ["online_sampler", "train_estimator"]


def online_sampler(task):
    """``sample(key, n) -> (theta, x, weight)`` drawing fresh simulations of ``task``: the data
    source of online training (:func:`jaxsbi.train.online_source`); rows whose x is NaN/inf get
    weight 0 (left out of the loss)."""

    def sample(key, n):
        k_theta, k_sim = jax.random.split(key)
        theta = task.prior.sample(k_theta, (n,))
        x = jax.vmap(task.simulate)(jax.random.split(k_sim, n), theta)
        ok = jnp.all(jnp.isfinite(x.reshape(n, -1)), axis=1)
        return theta, x, ok.astype(theta.dtype)

    return sample


def train_estimator(
    key,
    task,
    estimator,
    train_config: TrainConfig,
    *,
    data: SimulationData | None = None,
    online: bool = False,
    checkpoint_dir: Path | None = None,
    progress: bool = True,
):
    """Train ``estimator`` on simulations of ``task``.

    With ``data`` (a fixed budget from :func:`jaxsbi.train.simulate`), the data are split into
    training and validation sets; with ``online=True``, every step draws fresh simulations (rows
    whose x is NaN/inf get weight 0 in the loss) and a fixed validation set is simulated once.

    Args:
        key: PRNG key (split into the train/validation split, init, training and, online, the
            validation simulations).
        task: a :class:`~jaxsbi.tasks.Task` (its prior and simulator; only used online).
        estimator: e.g. from :func:`jaxsbi.ratio.build_estimator`; ``estimator.init(key, theta (n,
            theta_dim), x (n, *x_shape))`` and ``estimator.loss(params, key, batch)``.
        train_config: :class:`~jaxsbi.train.TrainConfig`.
        data: a fixed budget, :class:`~jaxsbi.train.SimulationData` with ``theta (n,
            theta_dim)`` and ``x (n, *x_shape)``; required unless ``online``.
        online: draw fresh simulations every step instead.
        checkpoint_dir: orbax checkpoints there; a later call with the same arguments resumes.
        progress: a progress bar (throttled when stderr is not a terminal).

    Returns:
        ``(params, history, num_invalid)``: the params pytree with the lowest validation loss;
        the :class:`~jaxsbi.train.History` of the run; and the number of simulations left out
        because their x held NaN/inf: with ``data``, ``data.num_invalid`` (the rows
        :func:`~jaxsbi.train.simulate` already dropped); online, the invalid rows of the
        validation set simulated here (they are excluded from the validation loss and from the
        standardisation statistics).

    Raises:
        ValueError: neither ``data`` nor ``online``; online, fewer than 2 finite validation
            simulations.
    """
    k_split, k_init, k_fit, k_val = jax.random.split(key, 4)
    if online:
        sampler = online_sampler(task)
        n_val = max(1000, train_config.batch_size * 4)
        validation = sampler(k_val, n_val)
        valid = np.asarray(validation[2]) > 0
        num_invalid = int((~valid).sum())
        if valid.sum() < 2:
            raise ValueError(f"only {int(valid.sum())} of {n_val} simulations were finite")
        # Standardisation statistics from the valid rows only.
        params = estimator.init(k_init, validation[0][valid], validation[1][valid])
        source = online_source(
            sampler, validation, train_config.batch_size, train_config.steps_per_epoch
        )
    else:
        if data is None:
            raise ValueError("train_estimator needs data (a fixed budget) or online=True")
        train, validation = split(k_split, (data.theta, data.x), train_config.validation_fraction)
        params = estimator.init(k_init, *train)
        source = array_source(train, validation, train_config.batch_size)
        num_invalid = data.num_invalid
    params, history = fit(
        k_fit,
        estimator.loss,
        params,
        source,
        train_config,
        checkpoint_dir=checkpoint_dir,
        progress=progress,
        description="train AALR",
    )
    return params, history, num_invalid
