"""The PRISM network (flax.linen), for one observation; batch with ``jax.vmap``.

Three parts sharing one set of params:

- **encoder**: observation tokens (coordinates c_i, measured value v_i — (x_i, y_i) for the
  symbolic families, (b·g gᵀ, signal) for dMRI) → width-d tokens (``token_embedding``: a linear
  layer, a per-token MLP, or "film": an MLP of c_i scaling and shifting v_i) by a transformer
  without positional encoding (permutation-equivariant; padded points are masked out of every
  attention), then ``lambda_layers`` adaLN-Zero blocks conditioned on a Fourier embedding of
  λ → λ-tokens.
- **structure decoder**: an autoregressive multivariate Bernoulli over the K bits, then a
  categorical over the noise models: a causal transformer over K + 1 positions (position i sees
  bits < i), adaLN-Zero on λ, cross-attention to the λ-tokens. One pass gives every conditional
  logit (teacher forcing), so log q(M | x, λ) is exact.
- **θ decoder**: a denoiser with one token per θ entry, adaLN-Zero on (diffusion time, structure
  embedding), self-attention restricted to active entries ((active ⊗ active) ∨ I), and
  cross-attention to the λ-free encoder tokens. It outputs the v-prediction v̂.

Design choice (answers a review point on the paper): θ ⊥ λ | (M, x) under the model, so the θ
decoder never sees λ — it reads the encoder tokens *before* the λ blocks.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import Array

from jaxsbi.nn.attention import AdaLNZeroBlock, AdaLNZeroOutput, FourierEmbedding

__all__ = ["PrismNet"]


def _pair_mask(row: Array, col: Array) -> Array:
    return row[:, None] & col[None, :]


class PrismNet(nn.Module):
    """See the module docstring. Sizes: K bits, ``num_noise`` noise models, ``theta_dim``."""

    num_components: int
    num_noise: int
    theta_dim: int
    width: int = 64
    num_heads: int = 4
    encoder_layers: int = 2
    lambda_layers: int = 1
    structure_layers: int = 2
    theta_layers: int = 2
    mlp_ratio: int = 2
    token_embedding: str = "film"
    token_hidden: int = 64

    def setup(self):
        w, h, r = self.width, self.num_heads, self.mlp_ratio
        k = self.num_components
        init = nn.initializers.normal(0.02)
        if self.token_embedding == "mlp":
            self.token_in = nn.Sequential([nn.Dense(self.token_hidden), nn.gelu, nn.Dense(w)])
        elif self.token_embedding == "film":
            self.token_coord = nn.Sequential([nn.Dense(self.token_hidden), nn.gelu])
            self.token_scale = nn.Dense(w)
            self.token_shift = nn.Dense(w)
        else:
            self.token_in = nn.Dense(w)
        self.encoder = [AdaLNZeroBlock(h, r) for _ in range(self.encoder_layers)]
        self.lambda_embed = FourierEmbedding(w)
        self.lambda_blocks = [AdaLNZeroBlock(h, r) for _ in range(self.lambda_layers)]
        self.position = self.param("position", init, (k + 1, w))
        self.bit_embed = self.param("bit_embed", init, (2, w))
        self.structure_blocks = [
            AdaLNZeroBlock(h, r, cross_attention=True) for _ in range(self.structure_layers)
        ]
        self.structure_out = AdaLNZeroOutput(max(1, self.num_noise))
        self.time_embed = FourierEmbedding(w)
        self.structure_cond = nn.Dense(w)
        self.theta_in = nn.Dense(w)
        self.param_embed = self.param("param_embed", init, (self.theta_dim, w))
        self.theta_blocks = [
            AdaLNZeroBlock(h, r, cross_attention=True) for _ in range(self.theta_layers)
        ]
        self.theta_out = AdaLNZeroOutput(1)

    def embed_tokens(self, tokens: Array) -> Array:
        """``(n, d)`` tokens → ``(n, width)``; the last column is the measured value.

        ``"film"``: φ(c)·v + ψ(c) for coordinates c = tokens[:, :-1] and value v =
        tokens[:, -1], with φ, ψ one shared MLP of the coordinates — linear in each measured
        value, so a pooled token is already a learned linear projection of the data (the
        sufficient statistics of a linear-Gaussian family).
        """
        if self.token_embedding == "film":
            e = self.token_coord(tokens[:, :-1])
            return self.token_scale(e) * tokens[:, -1:] + self.token_shift(e)
        return self.token_in(tokens)

    def encode(self, tokens: Array, point_mask: Array) -> Array:
        """tokens ``(n, token_dim)`` (value last), point_mask ``(n,)`` bool → λ-free tokens
        ``(n, width)``."""
        mask = _pair_mask(point_mask, point_mask) | jnp.eye(tokens.shape[0], dtype=bool)
        h = self.embed_tokens(tokens)
        c = jnp.zeros((self.width,), h.dtype)  # no condition: adaLN reduces to a learned affine
        for block in self.encoder:
            h = block(h, c, mask)
        return h

    def encode_lambda(self, h: Array, point_mask: Array, lam: Array) -> tuple[Array, Array]:
        """λ-tokens ``(n, width)`` and the λ condition vector ``(width,)``."""
        mask = _pair_mask(point_mask, point_mask) | jnp.eye(h.shape[0], dtype=bool)
        c = self.lambda_embed(lam)
        for block in self.lambda_blocks:
            h = block(h, c, mask)
        return h, c

    def structure_logits(
        self, h_lam: Array, c_lam: Array, point_mask: Array, bits: Array
    ) -> tuple[Array, Array]:
        """Conditional logits given the bits (teacher forcing).

        Args:
            h_lam: ``(n, width)`` λ-tokens; c_lam: ``(width,)``.
            point_mask: ``(n,)`` bool.
            bits: ``(K,)`` int; position i only sees bits[:i].

        Returns:
            ``(K,)`` logits of p(M_i = 1 | M_<i, x, λ) and ``(num_noise,)`` noise logits given
            all K bits.
        """
        k = self.num_components
        prev = jnp.concatenate([jnp.zeros((1,), bits.dtype), bits])  # (K + 1,)
        emb = self.bit_embed[prev]
        emb = jnp.where((jnp.arange(k + 1) > 0)[:, None], emb, 0.0)
        x = self.position + emb
        causal = jnp.tril(jnp.ones((k + 1, k + 1), dtype=bool))
        ctx_mask = jnp.broadcast_to(point_mask[None, :], (k + 1, point_mask.shape[0]))
        for block in self.structure_blocks:
            x = block(x, c_lam, causal, h_lam, ctx_mask)
        out = self.structure_out(x, c_lam)  # (K + 1, max(1, num_noise))
        return out[:k, 0], out[k, : self.num_noise]

    def velocity(
        self,
        h: Array,
        point_mask: Array,
        active: Array,
        noise: Array,
        param_mask: Array,
        z: Array,
        t: Array,
    ) -> Array:
        """v̂ ``(theta_dim,)`` for the noisy standardized θ ``z (theta_dim,)`` at time t.

        Entries outside ``param_mask`` are zeroed on input, cannot be attended to, and are 0 on
        output.
        """
        d = self.theta_dim
        z = jnp.where(param_mask, z, 0.0)
        onehot = jax.nn.one_hot(noise, self.num_noise, dtype=z.dtype)
        struct = jnp.concatenate([active.astype(z.dtype), onehot])
        c = self.time_embed(t) + self.structure_cond(struct)
        x = self.theta_in(z[:, None]) + self.param_embed
        mask = _pair_mask(param_mask, param_mask) | jnp.eye(d, dtype=bool)
        ctx_mask = jnp.broadcast_to(point_mask[None, :], (d, point_mask.shape[0]))
        for block in self.theta_blocks:
            x = block(x, c, mask, h, ctx_mask)
        v = self.theta_out(x, c)[:, 0]
        return jnp.where(param_mask, v, 0.0)

    def __call__(self, tokens, point_mask, lam, active, noise, param_mask, z, t):
        """Touches every part (used by ``init``)."""
        h = self.encode(tokens, point_mask)
        h_lam, c_lam = self.encode_lambda(h, point_mask, lam)
        logits = self.structure_logits(h_lam, c_lam, point_mask, active)
        return logits, self.velocity(h, point_mask, active, noise, param_mask, z, t)
