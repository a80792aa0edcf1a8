"""The PRISM estimator: q(M | x, λ) · q(θ | M, x) for a model family, as pure functions.

``est = prism_estimator(family, NetworkConfig())`` returns a :class:`PrismEstimator` record:
``est.init(key, example=None) -> params`` and ``est.loss(params, key, batch) -> scalar`` (the
trainer's interface, see :func:`jaxsbi.train.fit`), ``est.simulate_batch(key, n) -> batch``
(online simulations with λ ~ U[0, 1]) and the inference functions below. Every inference
function takes ONE observation — ``tokens (n_points, token_dim)`` from ``family.tokens``
(the token width is ``family.token_dim``, e.g. 2 = (x / 10, y) for the symbolic families, 7 for
dMRI; the measured value is always the last column) and an optional ``point_mask
(n_points,)`` for a variable number of points — and is jit-compiled; λ outside [0, 1] is
refused with a ValueError before compilation (:func:`jaxsbi.tasks.symbolic.check_lambda`).

Loss per simulation: −log q(M | x, λ) + ``theta_loss_weight`` · (v-prediction MSE averaged
over the active θ entries and ``time_samples`` stratified diffusion times); θ is standardized
by its prior mean/sd before diffusion.

Families with constrained structure spaces (e.g. dMRI's nested sticks) expose
``family.bit_support(bits) -> (K,) bool`` (may bit i be 1 given the earlier bits); the decoder
then forces every unsupported bit to 0 (logit −1e4), so no structure outside the family is
ever sampled, top-k'd or given more than ~e^{−1e4} probability, trained or not. Concrete
structures are refused by ``family.check_structure`` where the family has one.
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
from jax import Array

from jaxsbi.diffusion import (
    T_MAX,
    T_MIN,
    ancestral_sample,
    ddim_sample,
    probability_flow_log_prob,
    v_loss,
    v_target,
)
from jaxsbi.prism.network import PrismNet
from jaxsbi.tasks.symbolic import ModelFamily, Structure, all_structures, check_lambda

__all__ = ["NetworkConfig", "PrismEstimator", "prism_estimator", "token_dim"]


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
        family: the model family.
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


def token_dim(family) -> int:
    """Token width of ``family`` (its ``token_dim``; 2 = (x / 10, y) if it has none)."""
    return int(getattr(family, "token_dim", 2))


def _check_obs(family: ModelFamily, tokens, point_mask):
    if isinstance(tokens, jax.core.Tracer):
        return
    shape = np.shape(tokens)
    width = token_dim(family)
    if len(shape) != 2 or shape[1] != width:
        raise ValueError(
            f"tokens must have shape (n_points, {width}) for family {family.name!r} "
            f"(token_dim = {width}, measured value last); got {shape}"
        )
    if not np.all(np.isfinite(np.asarray(tokens))):
        raise ValueError("tokens contain NaN or inf")
    if point_mask is not None and not isinstance(point_mask, jax.core.Tracer):
        pm = np.asarray(point_mask)
        if pm.shape != (shape[0],) or pm.dtype != np.bool_:
            raise ValueError(
                f"point_mask must be a bool array of shape ({shape[0]},); got {pm.dtype} {pm.shape}"
            )
        if not pm.any():
            raise ValueError("point_mask selects no point")


def _check_structure(family: ModelFamily, structure: Structure):
    if isinstance(structure.active, jax.core.Tracer):
        return
    if hasattr(family, "check_structure"):
        family.check_structure(structure)
    a = np.asarray(structure.active)
    if a.shape[-1:] != (family.num_components,):
        raise ValueError(f"structure.active must end in ({family.num_components},); got {a.shape}")
    if not np.isin(a, (0, 1)).all():
        raise ValueError("structure.active must hold 0/1 values")
    if (a.sum(-1) == 0).any():
        raise ValueError("a structure needs at least one active component")
    n = np.asarray(structure.noise)
    if n.size and (n.min() < 0 or n.max() >= family.num_noise):
        raise ValueError(f"structure.noise must be in [0, {family.num_noise}); got {n}")


def _bernoulli_log_prob(logits: Array, noise_logits: Array, active: Array, noise: Array) -> Array:
    """log q(M) from the conditional logits; the last bit is forced to 1 if all before are 0."""
    k = logits.shape[0]
    before = jnp.cumsum(active) - active
    forced = (jnp.arange(k) == k - 1) & (before == 0)
    logits = jnp.where(forced, jnp.inf, logits)
    lp_bits = jnp.where(active > 0, jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits))
    lp_noise = jax.nn.log_softmax(noise_logits)[noise]
    return jnp.sum(lp_bits) + lp_noise


def _prior_logits_fn(family) -> Callable:
    """``(lam, bits) -> (K,)`` prior log-odds of each bit given the earlier ones under p(M | λ).

    The family's own ``bit_prior_logits`` when it has one; otherwise by enumerating every
    structure's ``structure_log_prior`` (noise models marginalised), for K ≤ 12.
    """
    if hasattr(family, "bit_prior_logits"):
        return family.bit_prior_logits
    k, nn_ = family.num_components, family.num_noise
    if k > 12:
        raise ValueError(
            f"prior_skip needs family.bit_prior_logits for K = {k} > 12 (enumeration is too large)"
        )
    structures = all_structures(k, nn_)
    active = structures.active  # (S, K)

    def logits(lam, bits):
        lp = jax.vmap(lambda a, n: family.structure_log_prior(Structure(a, n), lam))(
            structures.active, structures.noise
        )
        # prefix_ok[s, i]: structure s agrees with bits on positions < i.
        agree = (active == bits[None, :]).astype(jnp.int32)
        prefix_ok = (jnp.cumsum(agree, axis=1) - agree) == jnp.arange(k)[None, :]
        on = jnp.where(prefix_ok & (active == 1), lp[:, None], -jnp.inf)
        off = jnp.where(prefix_ok & (active == 0), lp[:, None], -jnp.inf)
        return jax.nn.logsumexp(on, axis=0) - jax.nn.logsumexp(off, axis=0)

    return logits


def prism_estimator(family: ModelFamily, config: NetworkConfig = NetworkConfig()) -> PrismEstimator:
    """Build the PRISM estimator for ``family`` (see the module docstring)."""
    k, nn_, d = family.num_components, family.num_noise, family.theta_dim
    net = PrismNet(
        k,
        nn_,
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
    mean_np, std_np = family.theta_standardization()
    n_pts = family.n_points
    m_min = max(1, math.ceil(config.min_points_fraction * n_pts))

    def standardize(theta):
        """(…, theta_dim) θ -> prior-standardized units."""
        mean, std = jnp.asarray(mean_np), jnp.asarray(std_np)
        return (theta - jnp.broadcast_to(mean, theta.shape)) / jnp.broadcast_to(std, theta.shape)

    def unstandardize(u):
        mean, std = jnp.asarray(mean_np), jnp.asarray(std_np)
        return u * jnp.broadcast_to(std, u.shape) + jnp.broadcast_to(mean, u.shape)

    prior_logits = _prior_logits_fn(family) if config.prior_skip else None
    bit_support = getattr(family, "bit_support", None)
    width = token_dim(family)

    def prior_logit(lam, bits):
        """``(K,)`` exact autoregressive prior log-odds of the bits when ``prior_skip``, else 0."""
        if prior_logits is None:
            return jnp.zeros((k,), jnp.float32)
        # Keep the skip finite: the forced last bit is handled by the decoder, an impossible bit
        # keeps a log-probability below −30, and the (already excluded) continuations of an
        # impossible prefix get 0.
        return jnp.clip(jnp.nan_to_num(prior_logits(lam, bits), nan=0.0), -30.0, 30.0)

    def supported(logits, bits):
        """Force the bits the family does not allow (given the earlier ones) to 0."""
        if bit_support is None:
            return logits
        return jnp.where(bit_support(bits), logits, -1e4)

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
        h_lam, c_lam = net.apply(params, h, pm, ex["lam"], method=PrismNet.encode_lambda)
        logits, noise_logits = net.apply(
            params, h_lam, c_lam, pm, ex["active"], method=PrismNet.structure_logits
        )
        logits = supported(logits + prior_logit(ex["lam"], ex["active"]), ex["active"])
        nll = -_bernoulli_log_prob(logits, noise_logits, ex["active"], ex["noise"])
        structure = Structure(ex["active"], ex["noise"])
        pmask = family.param_mask(structure)
        x0 = jnp.where(pmask, standardize(ex["theta"]), 0.0)
        k_t, k_e = jax.random.split(key)
        nt = config.time_samples
        u = (jax.random.uniform(k_t) + jnp.arange(nt)) / nt
        ts = T_MIN + (T_MAX - T_MIN) * u
        eps = jax.random.normal(k_e, (nt, d))

        def one_time(t, e):
            z, v = v_target(x0, e, t)
            v_hat = net.apply(
                params, h, pm, ex["active"], ex["noise"], pmask, z, t, method=PrismNet.velocity
            )
            return v_loss(v_hat, v, pmask)

        theta_loss = jnp.mean(jax.vmap(one_time)(ts, eps))
        return nll, theta_loss

    def loss(params, key, batch):
        n = batch["lam"].shape[0]
        nll, tl = jax.vmap(example_loss, (None, 0, 0))(params, jax.random.split(key, n), batch)
        w = batch["weight"]
        total = nll + config.theta_loss_weight * tl
        return jnp.sum(w * total) / jnp.maximum(jnp.sum(w), 1.0)

    # ---- inference (one observation) ------------------------------------------------------

    def _pm(point_mask):
        return jnp.ones((n_pts,), bool) if point_mask is None else point_mask

    def _lam_context(params, tokens, lam, pm):
        lam = jnp.asarray(lam, jnp.float32)
        h = net.apply(params, tokens, pm, method=PrismNet.encode)
        h_lam, c_lam = net.apply(params, h, pm, lam, method=PrismNet.encode_lambda)
        return h_lam, c_lam, lam

    def _logits(params, ctx, pm, bits):
        h_lam, c_lam, lam = ctx
        lg, nlg = net.apply(params, h_lam, c_lam, pm, bits, method=PrismNet.structure_logits)
        return supported(lg + prior_logit(lam, bits), bits), nlg

    @jax.jit
    def _structure_log_prob(params, tokens, lam, active, noise, pm):
        ctx = _lam_context(params, tokens, lam, pm)
        lg, nlg = _logits(params, ctx, pm, active)
        return _bernoulli_log_prob(lg, nlg, active, noise)

    def structure_log_prob(params, tokens, lam, structure, point_mask=None):
        check_lambda(lam)
        _check_obs(family, tokens, point_mask)
        _check_structure(family, structure)
        return _structure_log_prob(
            params, tokens, lam, structure.active, structure.noise, _pm(point_mask)
        )

    @jax.jit
    def _structure_probs(params, tokens, lam, pm):
        ctx = _lam_context(params, tokens, lam, pm)
        structures = all_structures(k, nn_)

        def lp(active, noise):
            lg, nlg = _logits(params, ctx, pm, active)
            return _bernoulli_log_prob(lg, nlg, active, noise)

        return jnp.exp(jax.vmap(lp)(structures.active, structures.noise))

    def structure_probs(params, tokens, lam, point_mask=None):
        check_lambda(lam)
        _check_obs(family, tokens, point_mask)
        if k > 16:
            raise ValueError(f"structure_probs enumerates 2^K structures; K = {k} is too large")
        return _structure_probs(params, tokens, lam, _pm(point_mask))

    def _forced_logit(lg, bits, i):
        # The last bit is forced on when all earlier bits are off (at least one active term).
        forced = (i == k - 1) & (jnp.sum(bits) == 0)
        return jnp.where(forced, jnp.inf, lg[i])

    @functools.partial(jax.jit, static_argnums=(4,))
    def _sample_structures(params, key, tokens, lam, num_samples, pm):
        ctx = _lam_context(params, tokens, lam, pm)

        def one(key):
            def body(i, carry):
                bits, key = carry
                key, sub = jax.random.split(key)
                lg, _ = _logits(params, ctx, pm, bits)
                on = jax.random.bernoulli(sub, jax.nn.sigmoid(_forced_logit(lg, bits, i)))
                return bits.at[i].set(on.astype(jnp.int32)), key

            bits, key = jax.lax.fori_loop(0, k, body, (jnp.zeros((k,), jnp.int32), key))
            _, nlg = _logits(params, ctx, pm, bits)
            noise = jax.random.categorical(key, nlg).astype(jnp.int32)
            return Structure(bits, noise)

        return jax.vmap(one)(jax.random.split(key, num_samples))

    def sample_structures(params, key, tokens, lam, num_samples, point_mask=None):
        check_lambda(lam)
        _check_obs(family, tokens, point_mask)
        return _sample_structures(params, key, tokens, lam, int(num_samples), _pm(point_mask))

    @functools.partial(jax.jit, static_argnums=(3,))
    def _top_k(params, tokens, lam, beam, pm):
        ctx = _lam_context(params, tokens, lam, pm)
        bits = jnp.zeros((beam, k), jnp.int32)
        # Start with one live beam; the others are -inf so they never survive.
        score = jnp.full((beam,), -jnp.inf).at[0].set(0.0)
        for i in range(k):
            lg = jax.vmap(lambda b: _logits(params, ctx, pm, b)[0])(bits)
            li = jax.vmap(lambda l_, b, i=i: _forced_logit(l_, b, i))(lg, bits)
            cand_score = jnp.concatenate(
                [score + jax.nn.log_sigmoid(-li), score + jax.nn.log_sigmoid(li)]
            )
            cand_bits = jnp.concatenate([bits, bits.at[:, i].set(1)])
            score, idx = jax.lax.top_k(cand_score, beam)
            bits = cand_bits[idx]
        nlg = jax.vmap(lambda b: _logits(params, ctx, pm, b)[1])(bits)
        cand = score[:, None] + jax.nn.log_softmax(nlg, axis=-1)  # (beam, num_noise)
        score, idx = jax.lax.top_k(cand.reshape(-1), beam)
        return Structure(bits[idx // nn_], (idx % nn_).astype(jnp.int32)), score

    def top_k(params, tokens, lam, k_best, point_mask=None):
        check_lambda(lam)
        _check_obs(family, tokens, point_mask)
        if k_best < 1:
            raise ValueError(f"k must be >= 1, got {k_best}")
        return _top_k(params, tokens, lam, int(k_best), _pm(point_mask))

    def _v_fn(params, h, pm, structure):
        pmask = family.param_mask(structure)

        def v_fn(z, t):
            return net.apply(
                params,
                h,
                pm,
                structure.active,
                structure.noise,
                pmask,
                z,
                t,
                method=PrismNet.velocity,
            )

        return v_fn, pmask

    @functools.partial(jax.jit, static_argnums=(4, 5, 6))
    def _sample_theta(params, key, tokens, structure, num_samples, num_steps, method, pm):
        h = net.apply(params, tokens, pm, method=PrismNet.encode)
        v_fn, pmask = _v_fn(params, h, pm, structure)
        sampler = ddim_sample if method == "ddim" else ancestral_sample
        u = jax.vmap(lambda kk: sampler(v_fn, kk, pmask, num_steps))(
            jax.random.split(key, num_samples)
        )
        return jnp.where(pmask[None, :], unstandardize(u), 0.0)

    def sample_theta(
        params, key, tokens, structure, num_samples, num_steps=32, method="ddim", point_mask=None
    ):
        _check_obs(family, tokens, point_mask)
        _check_structure(family, structure)
        if method not in ("ddim", "ancestral"):
            raise ValueError(f"method must be 'ddim' or 'ancestral', got {method!r}")
        return _sample_theta(
            params,
            key,
            tokens,
            structure,
            int(num_samples),
            int(num_steps),
            method,
            _pm(point_mask),
        )

    @functools.partial(jax.jit, static_argnums=(4,))
    def _theta_log_prob(params, tokens, structure, theta, num_steps, pm):
        h = net.apply(params, tokens, pm, method=PrismNet.encode)
        v_fn, pmask = _v_fn(params, h, pm, structure)
        u = jnp.where(pmask, standardize(theta), 0.0)
        lp = probability_flow_log_prob(v_fn, u, pmask, num_steps)
        return lp - jnp.sum(jnp.where(pmask, jnp.log(jnp.asarray(std_np)), 0.0))

    def theta_log_prob(params, tokens, structure, theta, num_steps=32, point_mask=None):
        _check_obs(family, tokens, point_mask)
        _check_structure(family, structure)
        if np.shape(theta) != (d,):
            raise ValueError(f"theta must have shape ({d},), got {np.shape(theta)}")
        return _theta_log_prob(params, tokens, structure, theta, int(num_steps), _pm(point_mask))

    @functools.partial(jax.jit, static_argnums=(4, 5))
    def _sample_joint(params, key, tokens, lam, num_samples, num_steps, pm):
        k_m, k_t = jax.random.split(key)
        structures = _sample_structures(params, k_m, tokens, lam, num_samples, pm)
        h = net.apply(params, tokens, pm, method=PrismNet.encode)

        def one(kk, active, noise):
            s = Structure(active, noise)
            v_fn, pmask = _v_fn(params, h, pm, s)
            u = ddim_sample(v_fn, kk, pmask, num_steps)
            return jnp.where(pmask, unstandardize(u), 0.0)

        thetas = jax.vmap(one)(
            jax.random.split(k_t, num_samples), structures.active, structures.noise
        )
        return structures, thetas

    def sample_joint(params, key, tokens, lam, num_samples, num_steps=32, point_mask=None):
        check_lambda(lam)
        _check_obs(family, tokens, point_mask)
        return _sample_joint(
            params, key, tokens, lam, int(num_samples), int(num_steps), _pm(point_mask)
        )

    return PrismEstimator(
        family,
        config,
        init,
        loss,
        simulate_batch,
        structure_log_prob,
        structure_probs,
        sample_structures,
        top_k,
        sample_theta,
        theta_log_prob,
        sample_joint,
        net.apply,
    )


def param_count(params: Any) -> int:
    """Number of scalars in a params pytree."""
    return int(sum(np.size(x) for x in jax.tree.leaves(params)))
