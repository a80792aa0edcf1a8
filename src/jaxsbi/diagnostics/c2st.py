"""Classifier two-sample test (C2ST), as sbibm computes it, in JAX and in scikit-learn.

sbibm's definition (``sbibm/metrics/c2st.py`` plus its results pipeline):

1. take the first ``N`` rows of the reference and of the candidate samples;
2. z-score both with the mean and unbiased (``ddof=1``) standard deviation of the *reference*;
3. label reference rows 0 and candidate rows 1;
4. train scikit-learn's ``MLPClassifier(activation="relu", hidden_layer_sizes=(10 d, 10 d),
   solver="adam", max_iter=10000)`` in a shuffled 5-fold ``KFold``;
5. C2ST = mean held-out accuracy (0.5: indistinguishable, 1.0: perfectly separable).

:func:`c2st_sklearn` is that computation verbatim. :func:`c2st` re-implements the same
classifier and training rule in JAX (Glorot-uniform init as scikit-learn draws it, Adam with
lr 1e-3, batches of ``min(200, n_train)`` reshuffled every epoch, the L2 penalty
``0.5 alpha ||W||^2 / batch_size`` on weights only, and scikit-learn's stopping rule: stop once
the epoch's training loss has failed to improve on the best by ``tol`` for more than
``n_iter_no_change`` consecutive epochs). All folds train at once under ``vmap`` inside one
compiled call; epochs run in a ``lax.while_loop`` and minibatches in a ``lax.scan``. The random
streams differ from scikit-learn's, so the two agree statistically, not bit for bit (the tests
hold them within 0.03 of each other).
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array

__all__ = ["c2st", "c2st_sklearn"]


# --------------------------------------------------------------------------- validation


def _as_samples(name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_samples, dim); got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} needs at least 2 rows and 1 column; got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} non-finite values (NaN or inf)")
    return arr.astype(np.float32)


def _prepare(reference, samples, num_samples: int | None, num_folds: int, z_score: bool):
    """Validates, truncates to the first ``N`` rows of each and checks z-scoring is possible."""
    x = _as_samples("reference", reference)
    y = _as_samples("samples", samples)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"reference and samples must have the same dim; got {x.shape[1]} and {y.shape[1]}"
        )
    n_max = min(x.shape[0], y.shape[0])
    n = n_max if num_samples is None else int(num_samples)
    if not 1 <= n <= n_max:
        raise ValueError(
            f"num_samples={num_samples} must be in [1, {n_max}] (the smaller of "
            f"{x.shape[0]} reference and {y.shape[0]} candidate rows)"
        )
    if not isinstance(num_folds, int) or num_folds < 2 or num_folds > 2 * n:
        raise ValueError(f"num_folds must be an int in [2, {2 * n}]; got {num_folds!r}")
    x, y = x[:n], y[:n]
    if z_score:
        std = x.std(axis=0, ddof=1)
        if np.any(std == 0):
            dims = np.flatnonzero(std == 0).tolist()
            raise ValueError(f"reference has zero variance in dims {dims}; cannot z-score")
    return x, y


# --------------------------------------------------------------------------- JAX classifier


def _glorot_mlp(key: Array, sizes: tuple[int, ...]) -> tuple[tuple[Array, Array], ...]:
    """scikit-learn's MLP init: weights and biases ~ U(+-sqrt(6 / (fan_in + fan_out)))."""
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        key, k_w, k_b = jax.random.split(key, 3)
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        w = jax.random.uniform(k_w, (fan_in, fan_out), minval=-bound, maxval=bound)
        b = jax.random.uniform(k_b, (fan_out,), minval=-bound, maxval=bound)
        layers.append((w, b))
    return tuple(layers)


def _logit(params, x: Array) -> Array:
    """Classifier logit for one input ``x`` of shape ``(dim,)``; returns a scalar."""
    h = x
    for w, b in params[:-1]:
        h = jax.nn.relu(h @ w + b)
    w, b = params[-1]
    return (h @ w + b)[0]


def _batch_loss(params, x: Array, y: Array, weight: Array, alpha: Array) -> Array:
    """scikit-learn's batch loss: mean log loss + 0.5 alpha ||W||^2 / batch_size.

    Args:
        x: ``(batch, dim)`` inputs; y: ``(batch,)`` 0/1 labels; weight: ``(batch,)`` 1 for real
        rows, 0 for padding (the batch size is the number of real rows).
    """
    z = jax.vmap(_logit, in_axes=(None, 0))(params, x)
    nll = y * jax.nn.softplus(-z) + (1.0 - y) * jax.nn.softplus(z)
    count = jnp.maximum(jnp.sum(weight), 1.0)
    l2 = sum(jnp.sum(jnp.square(w)) for w, _ in params)
    return (jnp.sum(weight * nll) + 0.5 * alpha * l2) / count


class _FitState(NamedTuple):
    params: tuple
    opt_state: optax.OptState
    epoch: Array
    best_loss: Array
    no_improvement: Array


def _fold_layout(n: int, num_folds: int, batch_size: int):
    """Static (numpy) positions of each fold's train and test rows in a permuted dataset.

    Mirrors ``KFold``: the first ``n % num_folds`` folds hold one extra test row. Train rows are
    padded (weight 0) to ``num_batches * batch_size`` and test rows to the largest fold size so
    that all folds share one shape and can be ``vmap``-ped.
    """
    sizes = np.full(num_folds, n // num_folds)
    sizes[: n % num_folds] += 1
    stops = np.cumsum(sizes)
    n_train_max = n - int(sizes.min())
    batch = min(batch_size, n_train_max)
    train_len = -(-n_train_max // batch) * batch
    test_len = int(sizes.max())
    train_pos = np.zeros((num_folds, train_len), np.int32)
    train_w = np.zeros((num_folds, train_len), np.float32)
    test_pos = np.zeros((num_folds, test_len), np.int32)
    test_w = np.zeros((num_folds, test_len), np.float32)
    for k, (stop, size) in enumerate(zip(stops, sizes, strict=True)):
        test = np.arange(stop - size, stop)
        train = np.concatenate([np.arange(0, stop - size), np.arange(stop, n)])
        train_pos[k, : train.size], train_w[k, : train.size] = train, 1.0
        test_pos[k, : test.size], test_w[k, : test.size] = test, 1.0
    return batch, train_pos, train_w, test_pos, test_w


def _fit_one_fold(
    key, data, labels, train_idx, train_w, hyper, *, sizes, batch, max_epochs, n_iter_no_change
):
    """Trains one classifier on ``data[train_idx]`` until scikit-learn's stopping rule fires."""
    learning_rate, alpha, tol = hyper
    k_init, k_shuffle = jax.random.split(key)
    optimizer = optax.adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8)
    params = _glorot_mlp(k_init, sizes)
    n_train = jnp.sum(train_w)
    grad_fn = jax.value_and_grad(_batch_loss)

    def minibatch(carry, batch_rows):
        params, opt_state = carry
        idx, w = batch_rows
        loss, grads = grad_fn(params, data[idx], labels[idx], w, alpha)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        # An all-padding batch (possible only for the shorter folds) must not step Adam.
        keep = jnp.sum(w) > 0
        params, opt_state = jax.tree.map(
            lambda new, old: jnp.where(keep, new, old),
            (new_params, new_opt_state),
            (params, opt_state),
        )
        return (params, opt_state), loss * jnp.sum(w)

    def epoch(state: _FitState) -> _FitState:
        # Reshuffle the real rows; padding sorts to the end, as scikit-learn's short last batch.
        u = jax.random.uniform(jax.random.fold_in(k_shuffle, state.epoch), train_w.shape)
        order = jnp.argsort(u + 2.0 * (1.0 - train_w))
        rows = (train_idx[order].reshape(-1, batch), train_w[order].reshape(-1, batch))
        (params, opt_state), weighted = jax.lax.scan(
            minibatch, (state.params, state.opt_state), rows
        )
        loss = jnp.sum(weighted) / n_train
        worse = loss > state.best_loss - tol
        return _FitState(
            params=params,
            opt_state=opt_state,
            epoch=state.epoch + 1,
            best_loss=jnp.minimum(loss, state.best_loss),
            no_improvement=jnp.where(worse, state.no_improvement + 1, 0),
        )

    def keep_going(state: _FitState) -> Array:
        return (state.epoch < max_epochs) & (state.no_improvement <= n_iter_no_change)

    init = _FitState(
        params=params,
        opt_state=optimizer.init(params),
        epoch=jnp.zeros((), jnp.int32),
        best_loss=jnp.array(jnp.inf, jnp.float32),
        no_improvement=jnp.zeros((), jnp.int32),
    )
    final = jax.lax.while_loop(keep_going, epoch, init)
    return final.params, final.epoch


@partial(
    jax.jit,
    static_argnames=("num_folds", "z_score", "batch_size", "max_epochs", "n_iter_no_change"),
)
def _c2st_folds(key, x, y, hyper, *, num_folds, z_score, batch_size, max_epochs, n_iter_no_change):
    """Held-out accuracy and number of epochs of each fold; ``x``, ``y``: ``(N, dim)``.

    Returns:
        ``(accuracy, epochs)``, each of shape ``(num_folds,)``.
    """
    if z_score:
        mean = jnp.mean(x, axis=0)
        std = jnp.std(x, axis=0, ddof=1)
        x = (x - mean[None, :]) / std[None, :]
        y = (y - mean[None, :]) / std[None, :]
    data = jnp.concatenate([x, y])
    labels = jnp.concatenate([jnp.zeros(x.shape[0]), jnp.ones(y.shape[0])])
    n, dim = data.shape
    batch, train_pos, train_w, test_pos, test_w = _fold_layout(n, num_folds, batch_size)

    k_split, k_fit = jax.random.split(key)
    perm = jax.random.permutation(k_split, n)
    fit = partial(
        _fit_one_fold,
        sizes=(dim, 10 * dim, 10 * dim, 1),
        batch=batch,
        max_epochs=max_epochs,
        n_iter_no_change=n_iter_no_change,
    )
    fold_keys = jax.random.split(k_fit, num_folds)
    params, epochs = jax.vmap(fit, in_axes=(0, None, None, 0, 0, None))(
        fold_keys, data, labels, perm[train_pos], jnp.asarray(train_w), hyper
    )

    def accuracy(params, idx, w):
        z = jax.vmap(_logit, in_axes=(None, 0))(params, data[idx])
        correct = (z > 0).astype(jnp.float32) == labels[idx]
        return jnp.sum(w * correct) / jnp.sum(w)

    acc = jax.vmap(accuracy)(params, perm[test_pos], jnp.asarray(test_w))
    return acc, epochs


def c2st(
    reference,
    samples,
    *,
    seed: int = 1,
    num_folds: int = 5,
    z_score: bool = True,
    num_samples: int | None = None,
    max_epochs: int = 10_000,
    learning_rate: float = 1e-3,
    alpha: float = 1e-4,
    batch_size: int = 200,
    tol: float = 1e-4,
    n_iter_no_change: int = 10,
) -> float:
    """Classifier two-sample test accuracy with sbibm's classifier, trained in JAX.

    The defaults reproduce sbibm's ``c2st`` (see the module docstring); every fold trains in
    parallel in one compiled call, which is compiled once per (shapes, static options) and
    reused by later calls.

    Args:
        reference: ``(n_ref, dim)`` reference samples (they set the z-scoring).
        samples: ``(n_samples, dim)`` samples to compare with the reference.
        seed: seeds the fold split, the initialisation and the per-epoch shuffles.
        num_folds: number of shuffled cross-validation folds.
        z_score: z-score both sets with the reference's mean and ``ddof=1`` std.
        num_samples: use the first ``num_samples`` rows of each set; by default
            ``min(n_ref, n_samples)``.
        max_epochs: cap on epochs per fold (scikit-learn's ``max_iter``); it is rarely reached
            because training stops as in scikit-learn, but it also bounds the run time.
        learning_rate: Adam step size.
        alpha: L2 penalty on the weights (scikit-learn's ``alpha``).
        batch_size: minibatch size, capped at the training-set size.
        tol: minimum improvement of the epoch's training loss that resets the patience counter.
        n_iter_no_change: patience, in epochs.

    Cost: every fold runs until the slowest fold stops (often several hundred epochs when the
    sets overlap). On a busy 2-core CPU, 10,000 vs 10,000 samples took ~3 s in 2-D and ~165 s
    in 10-D (about twice as fast as scikit-learn with one BLAS thread per fold); the compiled
    loop is meant for an accelerator, where the per-step cost is small.

    Returns:
        Mean held-out accuracy over the folds, as a Python float (rounded through float32, as
        sbibm reports it): about 0.5 when the sets are indistinguishable, 1.0 when separable.

    Raises:
        ValueError: inputs that are not finite 2-D arrays of equal ``dim``, a constant reference
            dimension (with ``z_score``), or an invalid ``num_samples`` / ``num_folds``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(size=(500, 2)), rng.normal(size=(500, 2)) + 3.0
        >>> c2st(a, b) > 0.95
        True
    """
    x, y = _prepare(reference, samples, num_samples, num_folds, z_score)
    hyper = tuple(jnp.asarray(v, jnp.float32) for v in (learning_rate, alpha, tol))
    acc, _ = _c2st_folds(
        jax.random.key(seed),
        jnp.asarray(x),
        jnp.asarray(y),
        hyper,
        num_folds=num_folds,
        z_score=z_score,
        batch_size=int(batch_size),
        max_epochs=int(max_epochs),
        n_iter_no_change=int(n_iter_no_change),
    )
    return float(np.float32(np.mean(np.asarray(acc))))


def c2st_sklearn(
    reference,
    samples,
    *,
    seed: int = 1,
    num_folds: int = 5,
    z_score: bool = True,
    num_samples: int | None = None,
    n_jobs: int | None = None,
) -> float:
    """sbibm's C2ST, verbatim, with scikit-learn (the reference for :func:`c2st`).

    Args:
        reference: ``(n_ref, dim)`` reference samples (they set the z-scoring).
        samples: ``(n_samples, dim)`` samples to compare with the reference.
        seed: ``random_state`` of both the ``MLPClassifier`` and the ``KFold``.
        num_folds: number of shuffled cross-validation folds.
        z_score: z-score both sets with the reference's mean and ``ddof=1`` std.
        num_samples: use the first ``num_samples`` rows of each set; by default
            ``min(n_ref, n_samples)``.
        n_jobs: folds fitted in parallel by ``cross_val_score`` (same result, less wall time;
            ``None`` fits them in series).

    Returns:
        Mean held-out accuracy over the folds, cast to float32 as sbibm does.

    Raises:
        ImportError: scikit-learn is not installed.
        ValueError: as :func:`c2st`.
    """
    try:
        from sklearn.model_selection import KFold, cross_val_score
        from sklearn.neural_network import MLPClassifier
        from threadpoolctl import threadpool_limits
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "c2st_sklearn needs scikit-learn: pip install scikit-learn "
            "(or pip install 'jaxsbi[test]')"
        ) from err

    x, y = _prepare(reference, samples, num_samples, num_folds, z_score)
    if z_score:
        mean, std = x.mean(axis=0), x.std(axis=0, ddof=1)
        x, y = (x - mean) / std, (y - mean) / std
    dim = x.shape[1]
    clf = MLPClassifier(
        activation="relu",
        hidden_layer_sizes=(10 * dim, 10 * dim),
        max_iter=10000,
        solver="adam",
        random_state=seed,
    )
    data = np.concatenate((x, y))
    target = np.concatenate((np.zeros((x.shape[0],)), np.ones((y.shape[0],))))
    shuffle = KFold(n_splits=num_folds, shuffle=True, random_state=seed)
    # One BLAS thread per fit: the matrices are small, and a multi-threaded BLAS was up to 20x
    # slower on a busy 2-core machine. The result does not depend on it.
    with threadpool_limits(limits=1, user_api="blas"):
        scores = cross_val_score(clf, data, target, cv=shuffle, scoring="accuracy", n_jobs=n_jobs)
    return float(np.asarray(np.mean(scores)).astype(np.float32))
