"""AALR: a classifier d(θ, x) = σ(f(θ, x)) whose logit f is the log likelihood-to-evidence ratio.

Hermans, Begy & Louppe (ICML 2020). The classifier is trained to tell dependent pairs
(θ, x) ~ p(θ, x) (label 1) from independent pairs (θ', x) ~ p(θ)p(x) (label 0), the latter made
by permuting θ within the batch. At the Bayes-optimal classifier, d = p(θ,x)/(p(θ,x) + p(θ)p(x)),
so the logit is exactly log r(θ, x) = log p(x|θ) − log p(x). We use the logit itself as log r
(never log σ(f) − log(1 − σ(f)), which loses precision where d saturates) and compute the
binary cross-entropy from logits.

Params are a plain dict ``{"net": ..., "stats": Standardizer}``. ``stats`` holds the training
set's location/scale for θ and x, folded into the estimator so that log_ratio takes raw values;
the trainer never updates it (see :func:`jaxsbi.train.fit`). With ``ensemble_size = K`` the net
params carry a leading axis K and the members are combined as log mean_k exp(f_k) (logsumexp).

``balance = λ > 0`` trains a *balanced* NRE (BNRE; Delaunoy et al., NeurIPS 2022): the loss adds
λ (E_{p(θ,x)}[d] + E_{p(θ)p(x)}[d] − 1)², the balancing condition that every Bayes-optimal
classifier satisfies. It costs nothing at the optimum and, for an imperfect classifier, biases it
towards conservative (wider, never overconfident) posteriors; the paper uses λ = 100.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import Array

from jaxsbi.nn import MLP

__all__ = ["RatioEstimator", "Standardizer", "aalr", "bce_loss"]


class Standardizer(NamedTuple):
    """Per-dimension location and scale of θ and x (training split statistics)."""

    theta_loc: Array
    theta_scale: Array
    x_loc: Array
    x_scale: Array


class RatioEstimator(NamedTuple):
    """A record of pure functions.

    Attributes:
        init: ``init(key, theta (n, theta_dim), x (n, *x_shape)) -> params``; the data give the
            standardisation statistics.
        loss: ``loss(params, key, (theta (B, d), x (B, *x_shape)[, weights (B,)])) -> scalar``.
        log_ratio: ``log_ratio(params, theta (d,), x x_shape) -> scalar`` log r(θ, x).
        logits: ``logits(params, theta, x) -> (K,)`` per ensemble member.
    """

    init: Callable[..., Any]
    loss: Callable[..., Array]
    log_ratio: Callable[..., Array]
    logits: Callable[..., Array]
    theta_dim: int
    x_shape: tuple[int, ...]


class _Classifier(nn.Module):
    hidden: Sequence[int]
    act: str
    layer_norm: bool
    embedding: nn.Module | None

    def setup(self):
        self.mlp = MLP(self.hidden, 1, self.act, self.layer_norm)

    def embed(self, zx: Array, batch_ndim: int) -> Array:
        e = zx if self.embedding is None else self.embedding(zx)
        return e.reshape(*e.shape[:batch_ndim], -1)

    def head(self, zt: Array, ex: Array) -> Array:
        return self.mlp(jnp.concatenate([zt, ex], axis=-1))[..., 0]

    def __call__(self, zt: Array, zx: Array) -> Array:
        return self.head(zt, self.embed(zx, zt.ndim - 1))


def bce_loss(logits_joint: Array, logits_marginal: Array) -> Array:
    """Binary cross-entropy from logits: label 1 for joint pairs, 0 for marginal pairs."""
    return jnp.mean(jax.nn.softplus(-logits_joint)) + jnp.mean(jax.nn.softplus(logits_marginal))


def _scale(x: Array, axis=0) -> tuple[Array, Array]:
    loc = jnp.mean(x, axis=axis)
    scale = jnp.std(x, axis=axis)
    # Constant inputs (e.g. a dead pixel) carry no information: leave them unscaled.
    return loc, jnp.where(scale > 1e-8 * (1.0 + jnp.abs(loc)), scale, 1.0)


def aalr(
    theta_dim: int,
    x_shape: Sequence[int],
    *,
    hidden: Sequence[int] = (128, 128, 128),
    activation: str = "silu",
    layer_norm: bool = False,
    embedding: nn.Module | None = None,
    ensemble_size: int = 1,
    num_contrastive: int = 1,
    balance: float = 0.0,
) -> RatioEstimator:
    """Build an AALR estimator.

    Args:
        theta_dim: dimension of θ.
        x_shape: shape of one observation.
        hidden: widths of the classifier's hidden layers (residual MLP).
        activation: hidden activation.
        layer_norm: LayerNorm in the hidden layers.
        embedding: optional flax module applied to the standardised x (e.g. a CNN for
            images); its output is flattened and concatenated with the standardised θ.
        ensemble_size: number of independently initialised classifiers, combined in log space.
        num_contrastive: marginal pairs per joint pair: θ rolled within the batch by this many
            distinct shifts (more marginal pairs per step, at the cost of more classifier
            evaluations).
        balance: λ ≥ 0 of balanced NRE's penalty λ (E_joint[d] + E_marginal[d] − 1)² per
            member, with d = σ(f) (0: plain NRE). Use it where calibration matters more than
            sharpness: observations in the tails of the prior predictive, small budgets.

    Returns:
        A :class:`RatioEstimator`.
    """
    x_shape = tuple(int(s) for s in x_shape)
    if ensemble_size < 1 or num_contrastive < 1:
        raise ValueError(
            f"ensemble_size and num_contrastive must be >= 1, got {ensemble_size}, "
            f"{num_contrastive}"
        )
    if not (math.isfinite(balance) and balance >= 0.0):
        raise ValueError(f"balance must be a finite number >= 0, got {balance!r}")
    balance = float(balance)
    module = _Classifier(tuple(hidden), activation, layer_norm, embedding)
    log_k = math.log(ensemble_size)

    def init(key: Array, theta: Array, x: Array) -> dict:
        theta = jnp.asarray(theta, jnp.float32)
        x = jnp.asarray(x, jnp.float32)
        if theta.ndim != 2 or theta.shape[1] != theta_dim:
            raise ValueError(f"theta must have shape (n, {theta_dim}), got {theta.shape}")
        if x.shape[1:] != x_shape or x.shape[0] != theta.shape[0]:
            raise ValueError(f"x must have shape ({theta.shape[0]}, *{x_shape}), got {x.shape}")
        tl, ts = _scale(theta)
        xl, xs = _scale(x)
        stats = Standardizer(tl, ts, xl, xs)
        keys = jax.random.split(key, ensemble_size)
        net = jax.vmap(lambda k: module.init(k, theta[:2], x[:2]))(keys)
        return {"net": net, "stats": stats}

    def _standardise(stats: Standardizer, theta: Array, x: Array):
        # Works for one (θ, x) and for a batch: statistics broadcast over leading axes.
        def z(v, loc, scale):
            return (v - jnp.broadcast_to(loc, v.shape)) / jnp.broadcast_to(scale, v.shape)

        return z(theta, stats.theta_loc, stats.theta_scale), z(x, stats.x_loc, stats.x_scale)

    def logits(params: dict, theta: Array, x: Array) -> Array:
        zt, zx = _standardise(params["stats"], theta, x)
        return jax.vmap(lambda p: module.apply(p, zt, zx))(params["net"])

    def log_ratio(params: dict, theta: Array, x: Array) -> Array:
        f = logits(params, theta, x)
        return jax.nn.logsumexp(f, axis=0) - log_k

    def loss(params: dict, key: Array, batch: tuple) -> Array:
        # batch = (theta, x) or (theta, x, weights); weight 0 masks a row out of the loss (used
        # for invalid online simulations, whose x is also zeroed so NaN cannot leak in).
        theta, x = batch[0], batch[1]
        n = theta.shape[0]
        if n < 2:
            raise ValueError(f"AALR's loss needs at least 2 rows per batch, got {n}")
        w = batch[2] if len(batch) > 2 else jnp.ones((n,), theta.dtype)
        if len(batch) > 2:
            x = jnp.where(w.reshape((n,) + (1,) * (x.ndim - 1)) > 0, x, 0.0)
        zt, zx = _standardise(params["stats"], theta, x)
        wsum = jnp.maximum(jnp.sum(w), 1.0)

        def member(p, k):
            ex = module.apply(p, zx, 1, method=_Classifier.embed)
            f_joint = module.apply(p, zt, ex, method=_Classifier.head)
            # Marginal pairs (θ_{(i+s) mod n}, x_i): θ rolled by distinct random shifts
            # s in 1..n-1 (one uniform offset, the others spread evenly from it). The batch is
            # already a random subset in random order, so each row is paired with a random
            # other row; unlike a random permutation, a roll has no fixed points (no joint pair
            # is ever labelled marginal) and costs no sort.
            spread = max((n - 1) // num_contrastive, 1)
            s0 = jax.random.randint(k, (), 0, n - 1)
            shifts = 1 + (s0 + spread * jnp.arange(num_contrastive)) % (n - 1)
            idx = (jnp.arange(n)[None, :] + shifts[:, None]) % n
            f_marg = jax.vmap(lambda ix: module.apply(p, zt[ix], ex, method=_Classifier.head))(
                idx
            )
            joint = jnp.sum(w * jax.nn.softplus(-f_joint)) / wsum
            marg = jnp.sum(w[None, :] * jax.nn.softplus(f_marg)) / (wsum * num_contrastive)
            if balance == 0.0:
                return joint + marg
            d_joint = jnp.sum(w * jax.nn.sigmoid(f_joint)) / wsum
            d_marg = jnp.sum(w[None, :] * jax.nn.sigmoid(f_marg)) / (wsum * num_contrastive)
            return joint + marg + balance * (d_joint + d_marg - 1.0) ** 2

        keys = jax.random.split(key, ensemble_size)
        return jnp.sum(jax.vmap(member)(params["net"], keys))

    return RatioEstimator(init, loss, log_ratio, logits, theta_dim, x_shape)
