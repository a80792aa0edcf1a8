"""Transformer pieces with adaLN-Zero conditioning (flax.linen), for one unbatched example.

- :func:`attention` — multi-head scaled dot-product attention with a boolean mask.
- :class:`MultiHeadAttention` — projections around it (self- or cross-attention).
- :class:`AdaLNZeroBlock` — DiT block (Peebles & Xie 2023): a conditioning vector c is mapped
  by SiLU → Dense (zero-initialised) to shift/scale/gate vectors; LayerNorm without affine;
  h = x + α1 ⊙ SelfAttn(LN(x)(1 + γ1) + β1); optional gated cross-attention;
  out = h + α2 ⊙ MLP(LN(h)(1 + γ2) + β2). Every gate starts at 0, so a block is the identity
  at initialisation.
- :class:`AdaLNZeroOutput` — final adaLN and a zero-initialised output projection.
- :class:`FourierEmbedding` — random-Fourier-free sinusoidal features of a scalar in [0, 1]
  (diffusion time, complexity λ) followed by an MLP.

Shapes: tokens ``(n, d)``, masks ``(n_q, n_k)`` bool (True = may attend), c ``(d_c,)``.
Batch with ``jax.vmap``. No positional encoding anywhere: a block is permutation-equivariant
over its tokens (given a permuted mask).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import Array

__all__ = [
    "attention",
    "MultiHeadAttention",
    "AdaLNZeroBlock",
    "AdaLNZeroOutput",
    "FourierEmbedding",
]


def attention(q: Array, k: Array, v: Array, mask: Array | None = None) -> Array:
    """Scaled dot-product attention.

    Args:
        q: ``(n_q, heads, d_h)``; k, v: ``(n_k, heads, d_h)``.
        mask: ``(n_q, n_k)`` bool, True where query i may attend to key j. Every query needs at
            least one allowed key (a fully masked row would be a 0/0).

    Returns:
        ``(n_q, heads, d_h)``.
    """
    logits = jnp.einsum("qhd,khd->hqk", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        logits = jnp.where(mask[None, :, :], logits, jnp.finfo(logits.dtype).min)
    weights = jax.nn.softmax(logits, axis=-1)
    return jnp.einsum("hqk,khd->qhd", weights, v)


class MultiHeadAttention(nn.Module):
    """Multi-head attention of queries ``x (n_q, d)`` over ``context (n_k, d_ctx)``."""

    num_heads: int
    out_features: int

    @nn.compact
    def __call__(self, x: Array, context: Array, mask: Array | None = None) -> Array:
        d = self.out_features
        if d % self.num_heads:
            raise ValueError(f"width {d} is not divisible by num_heads={self.num_heads}")
        dh = d // self.num_heads
        q = nn.Dense(d, name="query")(x).reshape(x.shape[0], self.num_heads, dh)
        k = nn.Dense(d, name="key")(context).reshape(context.shape[0], self.num_heads, dh)
        v = nn.Dense(d, name="value")(context).reshape(context.shape[0], self.num_heads, dh)
        out = attention(q, k, v, mask).reshape(x.shape[0], d)
        return nn.Dense(d, name="out")(out)


def _norm(x: Array) -> Array:
    return nn.LayerNorm(use_bias=False, use_scale=False)(x)


def _modulate(x: Array, shift: Array, scale: Array) -> Array:
    return x * (1.0 + scale[None, :]) + shift[None, :]


class AdaLNZeroBlock(nn.Module):
    """One transformer block with adaLN-Zero conditioning on ``c``.

    Attributes:
        num_heads: attention heads.
        mlp_ratio: hidden width of the MLP relative to the token width.
        cross_attention: add a gated cross-attention sub-layer over a context.
    """

    num_heads: int
    mlp_ratio: int = 2
    cross_attention: bool = False

    @nn.compact
    def __call__(
        self,
        x: Array,
        c: Array,
        mask: Array | None = None,
        context: Array | None = None,
        context_mask: Array | None = None,
    ) -> Array:
        """x ``(n, d)``, c ``(d_c,)``, mask ``(n, n)``, context ``(m, d_ctx)``,
        context_mask ``(n, m)``; returns ``(n, d)``."""
        d = x.shape[-1]
        parts = 9 if self.cross_attention else 6
        mod = nn.Dense(parts * d, kernel_init=nn.initializers.zeros, name="adaln")(nn.silu(c))
        mod = jnp.split(mod, parts)
        g1, b1, a1 = mod[0], mod[1], mod[2]
        h = _modulate(_norm(x), b1, g1)
        x = x + a1[None, :] * MultiHeadAttention(self.num_heads, d, name="self_attn")(h, h, mask)
        if self.cross_attention:
            gc, bc, ac = mod[6], mod[7], mod[8]
            h = _modulate(_norm(x), bc, gc)
            attn = MultiHeadAttention(self.num_heads, d, name="cross_attn")
            x = x + ac[None, :] * attn(h, context, context_mask)
        g2, b2, a2 = mod[3], mod[4], mod[5]
        h = _modulate(_norm(x), b2, g2)
        h = nn.Dense(self.mlp_ratio * d, name="mlp_in")(h)
        h = nn.Dense(d, name="mlp_out")(nn.gelu(h))
        return x + a2[None, :] * h


class AdaLNZeroOutput(nn.Module):
    """Final adaLN (shift, scale from c) and a zero-initialised projection to ``features``."""

    features: int

    @nn.compact
    def __call__(self, x: Array, c: Array) -> Array:
        d = x.shape[-1]
        shift, scale = jnp.split(
            nn.Dense(2 * d, kernel_init=nn.initializers.zeros, name="adaln")(nn.silu(c)), 2
        )
        h = _modulate(_norm(x), shift, scale)
        return nn.Dense(self.features, kernel_init=nn.initializers.zeros, name="proj")(h)


class FourierEmbedding(nn.Module):
    """Sinusoidal features of a scalar s (frequencies 2^0 … 2^(n−1) · π) → MLP → ``(features,)``."""

    features: int
    num_frequencies: int = 8

    @nn.compact
    def __call__(self, s: Array) -> Array:
        freqs = jnp.pi * 2.0 ** jnp.arange(self.num_frequencies, dtype=jnp.float32)
        angles = jnp.asarray(s, jnp.float32) * freqs
        h = jnp.concatenate([jnp.sin(angles), jnp.cos(angles), jnp.reshape(s, (1,))])
        h = nn.silu(nn.Dense(self.features, name="dense_0")(h))
        return nn.Dense(self.features, name="dense_1")(h)
