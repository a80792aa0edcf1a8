"""The training loop shared by every estimator.

``fit`` runs ``epochs_per_call`` epochs per compiled call: each epoch is a ``lax.scan`` over
minibatches, followed by the validation loss, best-params tracking and early stopping, all on
device. Between calls the host updates the progress bar and writes an orbax checkpoint; a
killed run restarted with the same arguments resumes from the last checkpoint and ends with
exactly the params an uninterrupted run gives (every epoch's randomness is
``fold_in(key, epoch)``).

The optimiser is AdamW with the config's schedule and clipping unless ``fit(optimizer=...)``
passes any ``optax.GradientTransformation``. Parameters that must not train are named by
``fit(frozen=...)``, a pytree of booleans (a prefix of the params) or a function of the params
returning one; by default a top-level ``"stats"`` entry of a params dict (the standardisation
statistics of :func:`jaxsbi.ratio.aalr`) is frozen. Either way updates with a non-finite
gradient are skipped and counted.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

from jaxsbi.train import checkpoints
from jaxsbi.train.data import DataSource

logger = logging.getLogger(__name__)
LOG_EVERY_S = 60.0  # progress lines when the bar is off
# A progress bar on a stream that is not a terminal (a log file, CI) cannot redraw in place, so
# every refresh becomes a line: there it refreshes at most this often (plus the final line).
NON_TTY_REFRESH_S = 10.0

__all__ = ["TrainConfig", "History", "fit"]

_now = time.perf_counter  # the training clock (a seam for tests of the time budget)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Attributes:
        learning_rate: peak Adam(W) learning rate.
        batch_size: rows per minibatch.
        max_epochs: upper bound on epochs.
        patience: stop after this many epochs without a validation improvement.
        min_delta: improvement smaller than this does not count.
        validation_fraction: share of a fixed budget held out for validation.
        epochs_per_call: epochs per compiled call (progress/checkpoint granularity).
        clip_norm: global gradient-norm clipping (0 disables).
        weight_decay: AdamW decoupled weight decay.
        schedule: "constant" or "cosine" decay over ``max_epochs``.
        steps_per_epoch: online training only: steps between validations.
        checkpoint_every: epochs between checkpoints (rounded up to whole calls).
        validation_repeats: the validation loss is averaged over this many fixed keys.
        time_budget_s: stop after the compiled call in which the training wall time (summed over
            resumed runs) reaches this many seconds; 0 disables. A budget makes the stopping
            epoch depend on the machine, so results are reproducible only given the epochs run
            (``History.epochs_run``); pair it with ``max_epochs`` sized for the budget so the
            cosine schedule still decays.
    """

    learning_rate: float = 1e-3
    batch_size: int = 256
    max_epochs: int = 500
    patience: int = 30
    min_delta: float = 0.0
    validation_fraction: float = 0.1
    epochs_per_call: int = 10
    clip_norm: float = 5.0
    weight_decay: float = 0.0
    schedule: Literal["constant", "cosine"] = "cosine"
    steps_per_epoch: int = 100
    checkpoint_every: int = 50
    validation_repeats: int = 4
    time_budget_s: float = 0.0

    def __post_init__(self):
        for name in (
            "batch_size",
            "max_epochs",
            "epochs_per_call",
            "steps_per_epoch",
            "validation_repeats",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {self.patience}")
        if not (self.time_budget_s >= 0 and math.isfinite(self.time_budget_s)):
            raise ValueError(f"time_budget_s must be finite and >= 0, got {self.time_budget_s}")


class History(NamedTuple):
    """What happened during training (host numpy values)."""

    train_loss: np.ndarray  # (epochs_run,)
    val_loss: np.ndarray  # (epochs_run,)
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    nonfinite_steps: int
    wall_time: float
    resumed_from_epoch: int
    stop_reason: str = ""  # "patience", "max_epochs" or "time_budget"


class _State(NamedTuple):
    params: Any
    opt_state: Any
    best_params: Any
    best_val: Array
    bad_epochs: Array
    epoch: Array
    stopped: Array
    train_losses: Array  # (max_epochs,) NaN where not run
    val_losses: Array
    best_epoch: Array
    nonfinite: Array


def _labels(params, frozen):
    """``"frozen"`` / ``"train"`` labels for optax.multi_transform, or None (all train)."""
    if frozen is None:
        if isinstance(params, dict) and "stats" in params:
            return {k: ("frozen" if k == "stats" else "train") for k in params}
        return None
    mask = frozen(params) if callable(frozen) else frozen
    try:
        labels = jax.tree.map(lambda f: "frozen" if bool(f) else "train", mask)
        jax.tree.map(lambda _lab, _p: None, labels, params, is_leaf=lambda v: isinstance(v, str))
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"frozen must be a pytree of booleans with the structure of params (or a prefix "
            f"of it), or a function of params returning one: {err}"
        ) from None
    return labels


def _optimizer(
    config: TrainConfig, num_batches: int, labels, optimizer=None
) -> optax.GradientTransformation:
    if optimizer is None:
        total = config.max_epochs * num_batches
        if config.schedule == "cosine":
            lr = optax.cosine_decay_schedule(config.learning_rate, total, alpha=0.05)
        else:
            lr = config.learning_rate
        parts = []
        if config.clip_norm > 0:
            parts.append(optax.clip_by_global_norm(config.clip_norm))
        parts.append(optax.adamw(lr, weight_decay=config.weight_decay))
        optimizer = optax.chain(*parts)
    if labels is not None:
        optimizer = optax.multi_transform(
            {"train": optimizer, "frozen": optax.set_to_zero()}, labels
        )
    # Skip (and count) updates whose gradient is not finite instead of poisoning params.
    return optax.apply_if_finite(optimizer, max_consecutive_errors=1_000_000)


def _build_chunk(loss_fn, prepare, batch_fn, config: TrainConfig, num_batches: int, optimizer):
    """Compile ``epochs_per_call`` epochs of training into one function."""

    def step(carry, inputs):
        params, opt_state = carry
        plan, data, i, k = inputs
        batch = batch_fn(plan, data, i)
        loss, grads = jax.value_and_grad(loss_fn)(params, k, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, opt_state), loss

    def one_epoch(state: _State, data, validation, key):
        ek = jax.random.fold_in(key, state.epoch)
        k_plan, k_steps, k_val = jax.random.split(ek, 3)
        plan = prepare(k_plan, data)
        keys = jax.random.split(k_steps, num_batches)

        def body(carry, xs):
            i, k = xs
            return step(carry, (plan, data, i, k))

        (params, opt_state), losses = jax.lax.scan(
            body, (state.params, state.opt_state), (jnp.arange(num_batches), keys)
        )
        # Validation with fixed keys, averaged over a few draws of the loss's own randomness
        # (e.g. AALR's permutations), so early stopping follows the model, not the noise.
        val_keys = jax.random.split(jax.random.key(0), config.validation_repeats)
        val = jnp.mean(jax.vmap(lambda k: loss_fn(params, k, validation))(val_keys))
        val = jnp.where(jnp.isfinite(val), val, jnp.inf)
        improved = val < state.best_val - config.min_delta
        best_params = jax.tree.map(
            lambda new, old: jnp.where(improved, new, old), params, state.best_params
        )
        bad = jnp.where(improved, 0, state.bad_epochs + 1)
        epoch = state.epoch + 1
        stopped = (bad >= config.patience) | (epoch >= config.max_epochs)
        nonfinite = opt_state.total_notfinite if hasattr(opt_state, "total_notfinite") else 0
        return _State(
            params,
            opt_state,
            best_params,
            jnp.where(improved, val, state.best_val),
            bad,
            epoch,
            stopped,
            state.train_losses.at[state.epoch].set(jnp.mean(losses)),
            state.val_losses.at[state.epoch].set(val),
            jnp.where(improved, state.epoch, state.best_epoch),
            jnp.asarray(nonfinite, jnp.int32),
        )

    def chunk(state: _State, data, validation, key):
        def body(s, _):
            return jax.lax.cond(
                s.stopped, lambda s: s, lambda s: one_epoch(s, data, validation, key), s
            ), None

        state, _ = jax.lax.scan(body, state, None, length=config.epochs_per_call)
        return state

    return jax.jit(chunk)


# One compiled loop per (loss, data source, config, params layout): a second fit with new data
# of the same shapes compiles nothing.
_CHUNKS: dict = {}


def _get_chunk(loss_fn, source: DataSource, config: TrainConfig, params, optimizer, frozen):
    labels = _labels(params, frozen)
    layout = (
        None if labels is None else (jax.tree.structure(labels), tuple(jax.tree.leaves(labels)))
    )
    config = dataclasses.replace(config, time_budget_s=0.0)  # host-side only: same compiled loop
    key = (loss_fn, source.prepare, source.batch, config, source.num_batches, layout, optimizer)
    if key not in _CHUNKS:
        opt = _optimizer(config, source.num_batches, labels, optimizer)
        _CHUNKS[key] = (
            opt,
            _build_chunk(loss_fn, source.prepare, source.batch, config, source.num_batches, opt),
        )
    return _CHUNKS[key]


def _init_state(params, optimizer, config: TrainConfig) -> _State:
    nan = jnp.full((config.max_epochs,), jnp.nan, jnp.float32)
    return _State(
        params,
        optimizer.init(params),
        params,
        jnp.asarray(jnp.inf, jnp.float32),
        jnp.asarray(0, jnp.int32),
        jnp.asarray(0, jnp.int32),
        jnp.asarray(False),
        nan,
        nan,
        jnp.asarray(0, jnp.int32),
        jnp.asarray(0, jnp.int32),
    )


def fit(
    key: Array,
    loss_fn,
    params,
    source: DataSource,
    config: TrainConfig = TrainConfig(),
    *,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
    description: str = "train",
    optimizer: optax.GradientTransformation | None = None,
    frozen=None,
) -> tuple[Any, History]:
    """Minimise ``loss_fn(params, key, batch)`` over batches from ``source``.

    Args:
        key: PRNG key; all randomness of epoch e comes from ``fold_in(key, e)``.
        loss_fn: ``loss_fn(params, key, batch) -> scalar``. Keep the same function object
            across calls to reuse the compiled training loop.
        params: initial params pytree.
        source: a :class:`DataSource` (fixed arrays or online simulation).
        config: :class:`TrainConfig`.
        checkpoint_dir: if given, orbax checkpoints are written there every
            ``config.checkpoint_every`` epochs and a later call resumes from the latest one.
        progress: show a tqdm progress bar on stderr (when stderr is not a terminal, at
            most one line every :data:`NON_TTY_REFRESH_S` seconds, and the last). Without it
            (logs, batch jobs) an INFO line on the ``jaxsbi.train.fit`` logger every
            :data:`LOG_EVERY_S` seconds and at the end says the epoch, losses and elapsed time
            (``jaxsbi run`` shows jaxsbi's INFO).
        optimizer: any ``optax.GradientTransformation`` to use instead of the config's AdamW
            (then ``learning_rate``, ``schedule``, ``clip_norm`` and ``weight_decay`` are
            unused). Keep the same object across calls to reuse the compiled loop.
        frozen: parameters the optimiser must leave unchanged: a pytree of booleans with the
            structure of ``params`` or a prefix of it (``{"net": False, "stats": True}``), or a
            function ``params -> such a pytree``. None: a top-level ``"stats"`` entry is frozen.

    Returns:
        ``(best_params, history)``: the params with the lowest validation loss.
    """
    optimizer, chunk = _get_chunk(loss_fn, source, config, params, optimizer, frozen)
    state = _init_state(params, optimizer, config)
    manager = None
    resumed = 0
    elapsed_before = 0.0  # training seconds of earlier (killed) runs, for the time budget
    if checkpoint_dir is not None:
        manager, state = checkpoints.restore(Path(checkpoint_dir), state, config)
        resumed = int(state.epoch)
        elapsed_before = checkpoints.elapsed(Path(checkpoint_dir), resumed)
    bar = _progress_bar(config.max_epochs, description, resumed) if progress else None
    t0 = _now()
    last_ckpt = resumed
    last_log = t0
    out_of_time = config.time_budget_s > 0 and elapsed_before >= config.time_budget_s
    try:
        while not bool(state.stopped) and not out_of_time:
            before = int(state.epoch)
            state = chunk(state, source.data, source.validation, key)
            epoch = int(state.epoch)
            if bar is not None:
                bar.update(epoch - before)
                # No forced redraw: tqdm redraws at its own pace (mininterval), and the final
                # state is drawn by bar.close().
                bar.set_postfix(
                    train=f"{float(state.train_losses[epoch - 1]):.4f}",
                    val=f"{float(state.val_losses[epoch - 1]):.4f}",
                    best=f"{float(state.best_val):.4f}",
                    refresh=False,
                )
            now = _now()
            spent = elapsed_before + now - t0
            out_of_time = config.time_budget_s > 0 and spent >= config.time_budget_s
            done = bool(state.stopped) or out_of_time
            if bar is None and (done or now - last_log >= LOG_EVERY_S):
                last_log = now
                logger.info(
                    "%s: epoch %d/%d, train %.4f, val %.4f, best %.4f (epoch %d), %.0f s",
                    description,
                    epoch,
                    config.max_epochs,
                    float(state.train_losses[epoch - 1]),
                    float(state.val_losses[epoch - 1]),
                    float(state.best_val),
                    int(state.best_epoch),
                    spent,
                )
            if manager is not None and (
                epoch - last_ckpt >= config.checkpoint_every or bool(state.stopped) or out_of_time
            ):
                # The record (time spent, digest) first: a kill between the two leaves a record
                # without a checkpoint, which is ignored, never a checkpoint without a record.
                checkpoints.save_record(Path(checkpoint_dir), manager, state, spent)
                _save(manager, state)
                last_ckpt = epoch
    finally:
        if bar is not None:
            bar.close()
        if manager is not None:
            manager.wait_until_finished()
            manager.close()
    wall = _now() - t0
    n = int(state.epoch)
    if bool(state.stopped):
        reason = "max_epochs" if n >= config.max_epochs else "patience"
    else:
        reason = "time_budget" if out_of_time else ""
    history = History(
        np.asarray(state.train_losses[:n]),
        np.asarray(state.val_losses[:n]),
        int(state.best_epoch),
        float(state.best_val),
        n,
        n < config.max_epochs,
        int(state.nonfinite),
        wall,
        resumed,
        reason,
    )
    if out_of_time and progress:
        print(
            f"{description}: stopped by the time budget ({config.time_budget_s:.0f} s) after "
            f"{n} of {config.max_epochs} epochs"
        )
    if not math.isfinite(history.best_val_loss):
        raise FloatingPointError(
            "training never produced a finite validation loss; check the simulations and the "
            "learning rate"
        )
    return state.best_params, history


def _progress_bar(total: int, description: str, initial: int):
    """A tqdm bar on stderr; on a stream that is not a terminal, one line per
    :data:`NON_TTY_REFRESH_S` seconds at most (and the final line on close)."""
    from tqdm.auto import tqdm

    stream = sys.stderr
    isatty = getattr(stream, "isatty", None)
    # tqdm.auto picks a notebook widget in Jupyter, which redraws in place whatever the stream.
    notebook = any(cls.__name__ == "tqdm_notebook" for cls in tqdm.__mro__)
    throttle = not notebook and not (callable(isatty) and isatty())
    return tqdm(
        total=total,
        desc=description,
        unit="epoch",
        initial=initial,
        dynamic_ncols=True,
        leave=True,
        file=stream,
        mininterval=NON_TTY_REFRESH_S if throttle else 0.1,
    )


def _save(manager, state: _State) -> None:
    import orbax.checkpoint as ocp

    tree = checkpoints.as_tree(state)
    manager.save(int(state.epoch), args=ocp.args.StandardSave(tree), force=True)
