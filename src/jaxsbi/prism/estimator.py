"""The PRISM estimator: q(M | x, λ) · q(θ | M, x) for a model family, as pure functions.

``est = prism_estimator(family, NetworkConfig())`` returns a :class:`PrismEstimator` record:
``est.init(key, example=None) -> params`` and ``est.loss(params, key, batch) -> scalar`` (the
trainer's interface, see :func:`jaxsbi.train.fit`), ``est.simulate_batch(key, n) -> batch``
(online simulations with λ ~ U[0, 1]) and the inference functions below. Every inference
function takes ONE observation — ``tokens (n_points, token_dim)`` from ``family.tokens``
(the token width is ``family.token_dim``, e.g. 2 = (x / 10, y) for the symbolic families, 7 for
dMRI; the measured value is always the last column) and an optional ``point_mask
(n_points,)`` for a variable number of points — and is jit-compiled; λ outside [0, 1] is
refused with a ValueError before compilation (:func:`jaxsbi.prism.families.check_lambda`).

Loss per simulation: −log q(M | x, λ) + ``theta_loss_weight`` · (v-prediction MSE averaged
over the active θ entries and ``time_samples`` stratified diffusion times); θ is standardized
by its prior mean/sd before diffusion.

This module assembles the two decoders, which share the encoder of one
:class:`~jaxsbi.prism.network.PrismNet`: the structure decoder
(:mod:`jaxsbi.prism.structure`: the autoregressive Bernoulli over the structure bits, the
complexity prior p(M | λ) as a skip, a family's ``bit_support``) and the θ decoder
(:mod:`jaxsbi.prism.theta`: the v-prediction diffusion). Concrete structures are refused by
``family.check_structure``. A family is anything satisfying :class:`jaxsbi.base.ModelFamily`
(the boundary checks: :mod:`jaxsbi.prism.checks`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsbi.base import ModelFamily
from jaxsbi.prism import checks
from jaxsbi.prism.families import Structure, check_lambda
from jaxsbi.prism.network import PrismNet
from jaxsbi.prism.structure import structure_decoder
from jaxsbi.prism.theta import theta_decoder

__all__ = ["NetworkConfig", "PrismEstimator", "param_count", "prism_estimator"]


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Network sizes and loss settings.

    Attributes:
        width: token width; num_heads: attention heads (must divide width).
        encoder_layers / lambda_layers / structure_layers / theta_layers: block counts.
        mlp_ratio: MLP hidden width / width.
        time_samples: diffusion times per simulation in the θ loss (the encoder is shared).
        theta_loss_weight: weight of the v-prediction loss against the structure NLL.
        min_points_fraction: < 1 trains on random subsets of the points (keeping at least this
            fraction), so the network serves a variable number of points; 1 uses all points.
        prior_skip: add the exact prior log-odds of each bit given the earlier bits under
            p(M | λ) (``family.bit_prior_logits``, else by enumeration) to the decoder's logits, so
            the network learns the correction that the data make to p(M | λ) (the adaLN-Zero
            output starts at zero, i.e. at the prior, and the main effect of λ needs no
            learning; an untrained decoder is exactly p(M | λ)).
        token_embedding: how each observation token is embedded: ``"linear"`` (one dense
            layer), ``"mlp"`` (a per-token MLP) or ``"film"`` (an MLP of the coordinates x_i
            that scales and shifts the measured value y_i: linear in y_i, so pooling gives
            learned projections such as Σ_i g(x_i) y_i, on which the model posterior of a
            linear-Gaussian family depends).
        token_hidden: hidden width of the token MLP (``"mlp"`` and ``"film"``).
    """

    width: int = 64
    num_heads: int = 4
    encoder_layers: int = 2
    lambda_layers: int = 1
    structure_layers: int = 2
    theta_layers: int = 2
    mlp_ratio: int = 2
    time_samples: int = 4
    theta_loss_weight: float = 1.0
    min_points_fraction: float = 1.0
    token_embedding: Literal["linear", "mlp", "film"] = "film"
    token_hidden: int = 64
    prior_skip: bool = True

    def __post_init__(self):
        if self.width % self.num_heads:
            raise ValueError(f"width={self.width} must be divisible by num_heads={self.num_heads}")
        for name in (
            "width",
            "num_heads",
            "encoder_layers",
            "structure_layers",
            "theta_layers",
            "mlp_ratio",
            "time_samples",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.token_hidden < 1:
            raise ValueError(f"token_hidden must be >= 1, got {self.token_hidden}")
        if self.token_embedding not in ("linear", "mlp", "film"):
            raise ValueError(
                f"token_embedding must be 'linear', 'mlp' or 'film', got {self.token_embedding!r}"
            )
        if self.lambda_layers < 0:
            raise ValueError(f"lambda_layers must be >= 0, got {self.lambda_layers}")
        if not 0.0 < self.min_points_fraction <= 1.0:
            raise ValueError(
                f"min_points_fraction must be in (0, 1], got {self.min_points_fraction}"
            )
        if self.theta_loss_weight < 0:
            raise ValueError(f"theta_loss_weight must be >= 0, got {self.theta_loss_weight}")


class PrismEstimator(NamedTuple):
    """A record of pure functions (see the module docstring for the conventions).

    Attributes:
        family: the model family (a :class:`jaxsbi.base.ModelFamily`).
        config: the :class:`NetworkConfig`.
        init: ``init(key, example=None) -> params``.
        loss: ``loss(params, key, batch) -> scalar``; ``batch`` is a dict from
            ``simulate_batch``.
        simulate_batch: ``simulate_batch(key, n) -> batch`` with λ ~ U[0, 1].
        structure_log_prob: ``(params, tokens, lam, structure, point_mask=None) -> ()``.
        structure_probs: ``(params, tokens, lam, point_mask=None) -> (num_models,)`` over
            :func:`all_structures` (small K only).
        sample_structures: ``(params, key, tokens, lam, num_samples, point_mask=None) ->
            Structure`` with leading axis ``num_samples``.
        top_k: ``(params, tokens, lam, k, point_mask=None) -> (Structure (k, …), log_probs (k,))``
            by beam search with beam width k (exact log-probabilities, sorted descending).
        sample_theta: ``(params, key, tokens, structure, num_samples, num_steps=32,
            method="ddim", point_mask=None) -> (num_samples, theta_dim)``; inactive entries 0.
        theta_log_prob: ``(params, tokens, structure, theta, num_steps=32, point_mask=None) ->
            ()`` by the probability-flow ODE (θ in the family's units).
        sample_joint: ``(params, key, tokens, lam, num_samples, num_steps=32, point_mask=None)
            -> (Structure, theta)``.
        apply: ``apply(params, *args, method=...)`` of the underlying flax module.
    """

    family: ModelFamily
    config: NetworkConfig
    init: Callable
    loss: Callable
    simulate_batch: Callable
    structure_log_prob: Callable
    structure_probs: Callable
    sample_structures: Callable
    top_k: Callable
    sample_theta: Callable
    theta_log_prob: Callable
    sample_joint: Callable
    apply: Callable


def prism_estimator(family: ModelFamily, config: NetworkConfig = NetworkConfig()) -> PrismEstimator:
    """Build the PRISM estimator for ``family`` (see the module docstring)."""
    k, d = family.num_components, family.theta_dim
    net = PrismNet(
        k,
        family.num_noise,
        d,
        config.width,
        config.num_heads,
        config.encoder_layers,
        config.lambda_layers,
        config.structure_layers,
        config.theta_layers,
        config.mlp_ratio,
        config.token_embedding,
        config.token_hidden,
    )
    n_pts = family.n_points
    m_min = max(1, math.ceil(config.min_points_fraction * n_pts))
    width = family.token_dim
    structure = structure_decoder(family, net, config.prior_skip)
    theta = theta_decoder(family, net, config.time_samples)

    def init(key, example=None):
        del example  # shapes come from the family
        tokens = jnp.zeros((n_pts, width))
        pm = jnp.ones((n_pts,), bool)
        active = jnp.ones((k,), jnp.int32)
        return net.init(
            key,
            tokens,
            pm,
            jnp.float32(0.5),
            active,
            jnp.int32(0),
            jnp.ones((d,), bool),
            jnp.zeros((d,)),
            jnp.float32(0.5),
        )

    def simulate_one(key, _):
        k_lam, k_joint, k_pm = jax.random.split(key, 3)
        lam = jax.random.uniform(k_lam)
        structure, theta, y = family.sample_joint(k_joint, lam)
        if m_min < n_pts:
            k_n, k_p = jax.random.split(k_pm)
            keep = jax.random.randint(k_n, (), m_min, n_pts + 1)
            rank = jnp.argsort(jax.random.permutation(k_p, n_pts))
            pm = rank < keep
        else:
            pm = jnp.ones((n_pts,), bool)
        ok = jnp.all(jnp.isfinite(y))
        y = jnp.where(ok, y, 0.0)
        return {
            "tokens": family.tokens(y),
            "point_mask": pm,
            "lam": lam,
            "active": structure.active,
            "noise": structure.noise,
            "theta": theta,
            "weight": ok.astype(jnp.float32),
        }

    def simulate_batch(key, n):
        """n simulations with λ ~ U[0, 1] (a dict of arrays with leading axis n)."""
        return jax.vmap(simulate_one)(jax.random.split(key, n), jnp.arange(n))

    def example_loss(params, key, ex):
        pm = ex["point_mask"]
        h = net.apply(params, ex["tokens"], pm, method=PrismNet.encode)
        nll = structure.nll(params, h, pm, ex["lam"], ex["active"], ex["noise"])
        s = Structure(ex["active"], ex["noise"])
        return nll, theta.loss(params, key, h, pm, s, ex["theta"])

    def loss(params, key, batch):
        n = batch["lam"].shape[0]
        nll, tl = jax.vmap(example_loss, (None, 0, 0))(params, jax.random.split(key, n), batch)
        w = batch["weight"]
        total = nll + config.theta_loss_weight * tl
        return jnp.sum(w * total) / jnp.maximum(jnp.sum(w), 1.0)

    @functools.partial(jax.jit, static_argnums=(4, 5))
    def _sample_joint(params, key, tokens, lam, num_samples, num_steps, pm):
        k_m, k_t = jax.random.split(key)
        structures = structure.sample_unchecked(params, k_m, tokens, lam, num_samples, pm)
        h = net.apply(params, tokens, pm, method=PrismNet.encode)

        def one(kk, active, noise):
            return theta.draw(params, kk, h, pm, Structure(active, noise), num_steps)

        thetas = jax.vmap(one)(
            jax.random.split(k_t, num_samples), structures.active, structures.noise
        )
        return structures, thetas

    def sample_joint(params, key, tokens, lam, num_samples, num_steps=32, point_mask=None):
        check_lambda(lam)
        checks.check_tokens(family, tokens, point_mask)
        return _sample_joint(
            params,
            key,
            tokens,
            lam,
            int(num_samples),
            int(num_steps),
            checks.full_mask(n_pts, point_mask),
        )

    return PrismEstimator(
        family,
        config,
        init,
        loss,
        simulate_batch,
        structure.log_prob,
        structure.probs,
        structure.sample,
        structure.top_k,
        theta.sample,
        theta.log_prob,
        sample_joint,
        net.apply,
    )


def param_count(params: Any) -> int:
    """Number of scalars in a params pytree."""
    return int(sum(np.size(x) for x in jax.tree.leaves(params)))
