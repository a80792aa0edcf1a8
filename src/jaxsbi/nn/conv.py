"""Convolutional embedding of images (flax.linen), e.g. for :func:`jaxsbi.ratio.aalr`.

``ConvEmbedding`` maps an image of shape ``(*batch, H, W)`` (or ``(*batch, H, W, C)`` with
``channels_last=True``) to a feature vector ``(*batch, out)``: an optional lossless
space-to-depth step (``patch`` × ``patch`` pixel blocks become ``patch²·C`` channels), then
``len(features)`` blocks of ``convs_per_block`` 3×3 convolutions with an activation, each block
followed by 2×2 average pooling, then a dense head on the flattened feature map. Leading batch
axes are free, so the same module embeds one observation (AALR's ``log_ratio``) and a minibatch
(its ``loss``).

``patch = 2`` loses no information (it is a reshape) and runs the first, most expensive
convolutions on a quarter of the positions: on XLA:CPU the gradient of a full-resolution first
layer dominates the cost (the trunk's gradient was about 6× slower for 32×32 images with
features (16, 32, 64) at patch 1 than at patch 2).

The trunk (:meth:`ConvEmbedding.trunk`) is translation-equivariant: a shift of the input by a
multiple of the total downsampling factor ``patch · 2**len(features)`` shifts the feature map
by the shift divided by that factor — exactly with ``padding="CIRCULAR"`` and circular shifts,
and away from the borders with the default zero padding (``"SAME"``). The dense head sees
absolute positions, which a lens centred on the optical axis needs (the Einstein radius is a
distance from it).

Example:
    >>> import jax, jax.numpy as jnp
    >>> emb = ConvEmbedding(features=(8, 16), out=32)
    >>> params = emb.init(jax.random.key(0), jnp.zeros((32, 32)))
    >>> emb.apply(params, jnp.zeros((5, 32, 32))).shape
    (5, 32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import flax.linen as nn
import jax.numpy as jnp
from jax import Array

from jaxsbi.nn.mlp import activation

__all__ = ["ConvEmbedding"]


def _avg_pool_2x2(h: Array) -> Array:
    # A reshape and a mean: the same as nn.avg_pool(h, (2, 2), strides=(2, 2)) for even sides,
    # with a much cheaper gradient on XLA:CPU than reduce_window's.
    *batch, height, width, c = h.shape
    return jnp.mean(h.reshape(*batch, height // 2, 2, width // 2, 2, c), axis=(-4, -2))


def _space_to_depth(h: Array, p: int) -> Array:
    # (*batch, H, W, C) -> (*batch, H/p, W/p, p·p·C): pixel (p·i + a, p·j + b, c) goes to
    # position (i, j), channel (a·p + b)·C + c.
    *batch, height, width, c = h.shape
    nb = len(batch)
    h = h.reshape(*batch, height // p, p, width // p, p, c)
    perm = (*range(nb), nb, nb + 2, nb + 1, nb + 3, nb + 4)
    return h.transpose(perm).reshape(*batch, height // p, width // p, p * p * c)


class ConvEmbedding(nn.Module):
    """CNN embedding ``(*batch, H, W[, C]) -> (*batch, out)``.

    Attributes:
        features: channels of each conv block (one 2×2 average pool per block). H and W must
            be divisible by ``patch · 2**len(features)``.
        out: size of the output feature vector.
        dense: widths of the hidden dense layers of the head.
        convs_per_block: 3×3 convolutions per block.
        kernel_size: convolution kernel side.
        act: activation name (see :func:`jaxsbi.nn.activation`).
        padding: "SAME" (zeros) or "CIRCULAR" (periodic; exact translation equivariance).
        standardize: "none" (use the input as is — AALR already standardises x pixel by pixel
            with training statistics) or "image" (subtract each image's mean and divide by its
            standard deviation, per channel: invariant to the source's brightness and offset).
        channels_last: the input has a trailing channel axis; otherwise one channel is added.
        patch: space-to-depth block side applied before the convolutions (1: none).
    """

    features: Sequence[int] = (16, 32, 64)
    out: int = 64
    dense: Sequence[int] = (128,)
    convs_per_block: int = 1
    kernel_size: int = 3
    act: str = "silu"
    padding: Literal["SAME", "CIRCULAR"] = "SAME"
    standardize: Literal["none", "image"] = "none"
    channels_last: bool = False
    patch: int = 1

    def _checked(self, x: Array) -> Array:
        spatial = 3 if self.channels_last else 2
        if x.ndim < spatial:
            dims = "H, W, C" if self.channels_last else "H, W"
            raise ValueError(
                f"ConvEmbedding needs images of shape (*batch, {dims}); got shape {x.shape}"
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"ConvEmbedding needs a floating-point image, got dtype {x.dtype}")
        h, w = (x.shape[-3], x.shape[-2]) if self.channels_last else x.shape[-2:]
        if not isinstance(self.patch, int) or self.patch < 1:
            raise ValueError(f"patch must be a positive integer, got {self.patch!r}")
        factor = self.patch * 2 ** len(self.features)
        if h % factor or w % factor:
            raise ValueError(
                f"image side ({h}, {w}) must be divisible by patch · 2**len(features) = {factor}"
            )
        if self.padding not in ("SAME", "CIRCULAR"):
            raise ValueError(f"padding must be 'SAME' or 'CIRCULAR', got {self.padding!r}")
        if self.standardize not in ("none", "image"):
            raise ValueError(f"standardize must be 'none' or 'image', got {self.standardize!r}")
        return x if self.channels_last else x[..., None]

    def setup(self):
        k = (self.kernel_size, self.kernel_size)
        self.convs = [
            nn.Conv(width, k, padding=self.padding)
            for width in self.features
            for _ in range(self.convs_per_block)
        ]
        self.hidden = [nn.Dense(width) for width in self.dense]
        self.head = nn.Dense(self.out)

    def trunk(self, x: Array) -> Array:
        """Feature map ``(*batch, H / (patch·2**k), W / (patch·2**k), features[-1])``."""
        h = self._checked(x)
        if self.standardize == "image":
            mean = jnp.mean(h, axis=(-3, -2), keepdims=True)
            std = jnp.std(h, axis=(-3, -2), keepdims=True)
            h = (h - mean) / (std + 1e-6)
        if self.patch > 1:
            h = _space_to_depth(h, self.patch)
        f = activation(self.act)
        for i in range(len(self.features)):
            for j in range(self.convs_per_block):
                h = f(self.convs[i * self.convs_per_block + j](h))
            h = _avg_pool_2x2(h)
        return h

    def __call__(self, x: Array) -> Array:
        h = self.trunk(x)
        h = h.reshape(*h.shape[:-3], -1)
        f = activation(self.act)
        for layer in self.hidden:
            h = f(layer(h))
        return self.head(h)
