"""Residual multilayer perceptron (flax.linen)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
from jax import Array

_ACTIVATIONS = {
    "relu": jax.nn.relu,
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "silu": jax.nn.silu,
    "gelu": jax.nn.gelu,
    "tanh": jax.nn.tanh,
}


def activation(name: str):
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(_ACTIVATIONS)}") from None


class MLP(nn.Module):
    """``features[-1]`` outputs from an input vector, with residual hidden blocks.

    Hidden layers of equal width are joined by skip connections (h + act(W h)), which keeps
    deeper classifiers trainable without normalisation layers.

    Attributes:
        hidden: widths of the hidden layers.
        out: number of outputs.
        act: activation name (see :func:`activation`).
        layer_norm: LayerNorm before each hidden activation.
    """

    hidden: Sequence[int]
    out: int
    act: str = "silu"
    layer_norm: bool = False

    @nn.compact
    def __call__(self, z: Array) -> Array:
        f = activation(self.act)
        h = z
        for i, width in enumerate(self.hidden):
            y = nn.Dense(width, name=f"dense_{i}")(h)
            if self.layer_norm:
                y = nn.LayerNorm(name=f"norm_{i}")(y)
            y = f(y)
            h = h + y if (i > 0 and h.shape[-1] == width) else y
        return nn.Dense(self.out, name="head")(h)
