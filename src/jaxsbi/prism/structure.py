"""PRISM's structure decoder: the autoregressive Bernoulli q(M | x, λ) over the K structure bits
(then a categorical over the noise models), with the complexity prior p(M | λ) as a skip.

Bit i's logit is the network's output for position i (which sees bits < i) plus, with
``NetworkConfig.prior_skip``, the exact prior log-odds of bit i given the earlier bits under
p(M | λ) — the family's ``bit_prior_logits``, else by enumeration — so an untrained decoder is
exactly the prior. The last bit is forced to 1 when all before are 0 (at least one active
term). Where ``family.bit_support`` is a function ``(bits) -> (K,) bool`` rather than None
(e.g. dMRI's nested sticks), every unsupported bit is forced to 0 (logit −1e4), so no structure
outside the family is ever sampled, top-k'd or given more than ~e^{−1e4} probability, trained
or not.

Log-probabilities are exact (one teacher-forced pass); sampling is ancestral, top-k is a beam
search.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from jaxsbi.base import ModelFamily
from jaxsbi.prism import checks
from jaxsbi.prism.families import Structure, all_structures, check_lambda
from jaxsbi.prism.network import PrismNet

__all__ = ["StructureDecoder", "bernoulli_log_prob", "structure_decoder"]


def bernoulli_log_prob(logits: Array, noise_logits: Array, active: Array, noise: Array) -> Array:
    """log q(M) from the conditional logits ``(K,)`` and ``(num_noise,)``; the last bit is forced
    to 1 if all before are 0."""
    k = logits.shape[0]
    before = jnp.cumsum(active) - active
    forced = (jnp.arange(k) == k - 1) & (before == 0)
    logits = jnp.where(forced, jnp.inf, logits)
    lp_bits = jnp.where(active > 0, jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits))
    lp_noise = jax.nn.log_softmax(noise_logits)[noise]
    return jnp.sum(lp_bits) + lp_noise


def _prior_logits_fn(family: ModelFamily) -> Callable:
    """``(lam, bits) -> (K,)`` prior log-odds of each bit given the earlier ones under p(M | λ).

    The family's own ``bit_prior_logits`` when it has one; otherwise by enumerating every
    structure's ``structure_log_prior`` (noise models marginalised), for K ≤ 12.
    """
    closed_form = family.bit_prior_logits
    if closed_form is not None:
        return closed_form
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


class StructureDecoder(NamedTuple):
    """The structure decoder's functions (the public ones check their inputs, then ``jit``).

    Attributes:
        nll: ``(params, h, point_mask, lam, active, noise) -> ()`` −log q(M | x, λ) from the
            λ-free encoder tokens ``h`` (the training loss; no checks).
        log_prob: ``(params, tokens, lam, structure, point_mask=None) -> ()``.
        probs: ``(params, tokens, lam, point_mask=None) -> (num_models,)`` over
            :func:`all_structures` (K ≤ 16).
        sample: ``(params, key, tokens, lam, num_samples, point_mask=None) -> Structure`` with
            leading axis ``num_samples``.
        top_k: ``(params, tokens, lam, k, point_mask=None) -> (Structure (k, …), log_probs (k,))``
            by beam search with beam width k (exact log-probabilities, sorted descending).
        sample_unchecked: ``(params, key, tokens, lam, num_samples, point_mask (n_points,)) ->
            Structure``: ``sample`` without the checks, for callers that made them.
    """

    nll: Callable
    log_prob: Callable
    probs: Callable
    sample: Callable
    top_k: Callable
    sample_unchecked: Callable


def structure_decoder(family: ModelFamily, net: PrismNet, prior_skip: bool) -> StructureDecoder:
    """The structure decoder of ``net`` for ``family`` (see the module docstring)."""
    k, nn_, n_pts = family.num_components, family.num_noise, family.n_points
    prior_logits = _prior_logits_fn(family) if prior_skip else None
    bit_support = family.bit_support

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

    def lam_context(params, h, pm, lam):
        h_lam, c_lam = net.apply(params, h, pm, lam, method=PrismNet.encode_lambda)
        return h_lam, c_lam, lam

    def tokens_context(params, tokens, lam, pm):
        lam = jnp.asarray(lam, jnp.float32)
        h = net.apply(params, tokens, pm, method=PrismNet.encode)
        return lam_context(params, h, pm, lam)

    def logits_of(params, ctx, pm, bits):
        h_lam, c_lam, lam = ctx
        lg, nlg = net.apply(params, h_lam, c_lam, pm, bits, method=PrismNet.structure_logits)
        return supported(lg + prior_logit(lam, bits), bits), nlg

    def nll(params, h, pm, lam, active, noise):
        lg, nlg = logits_of(params, lam_context(params, h, pm, lam), pm, active)
        return -bernoulli_log_prob(lg, nlg, active, noise)

    @jax.jit
    def _log_prob(params, tokens, lam, active, noise, pm):
        ctx = tokens_context(params, tokens, lam, pm)
        lg, nlg = logits_of(params, ctx, pm, active)
        return bernoulli_log_prob(lg, nlg, active, noise)

    def log_prob(params, tokens, lam, structure, point_mask=None):
        check_lambda(lam)
        checks.check_tokens(family, tokens, point_mask)
        checks.check_structure(family, structure)
        mask = checks.full_mask(n_pts, point_mask)
        return _log_prob(params, tokens, lam, structure.active, structure.noise, mask)

    @jax.jit
    def _probs(params, tokens, lam, pm):
        ctx = tokens_context(params, tokens, lam, pm)
        structures = all_structures(k, nn_)

        def lp(active, noise):
            lg, nlg = logits_of(params, ctx, pm, active)
            return bernoulli_log_prob(lg, nlg, active, noise)

        return jnp.exp(jax.vmap(lp)(structures.active, structures.noise))

    def probs(params, tokens, lam, point_mask=None):
        check_lambda(lam)
        checks.check_tokens(family, tokens, point_mask)
        if k > 16:
            raise ValueError(f"structure_probs enumerates 2^K structures; K = {k} is too large")
        return _probs(params, tokens, lam, checks.full_mask(n_pts, point_mask))

    def forced_logit(lg, bits, i):
        # The last bit is forced on when all earlier bits are off (at least one active term).
        forced = (i == k - 1) & (jnp.sum(bits) == 0)
        return jnp.where(forced, jnp.inf, lg[i])

    @functools.partial(jax.jit, static_argnums=(4,))
    def sample_unchecked(params, key, tokens, lam, num_samples, pm):
        ctx = tokens_context(params, tokens, lam, pm)

        def one(key):
            def body(i, carry):
                bits, key = carry
                key, sub = jax.random.split(key)
                lg, _ = logits_of(params, ctx, pm, bits)
                on = jax.random.bernoulli(sub, jax.nn.sigmoid(forced_logit(lg, bits, i)))
                return bits.at[i].set(on.astype(jnp.int32)), key

            bits, key = jax.lax.fori_loop(0, k, body, (jnp.zeros((k,), jnp.int32), key))
            _, nlg = logits_of(params, ctx, pm, bits)
            noise = jax.random.categorical(key, nlg).astype(jnp.int32)
            return Structure(bits, noise)

        return jax.vmap(one)(jax.random.split(key, num_samples))

    def sample(params, key, tokens, lam, num_samples, point_mask=None):
        check_lambda(lam)
        checks.check_tokens(family, tokens, point_mask)
        return sample_unchecked(
            params, key, tokens, lam, int(num_samples), checks.full_mask(n_pts, point_mask)
        )

    @functools.partial(jax.jit, static_argnums=(3,))
    def _top_k(params, tokens, lam, beam, pm):
        ctx = tokens_context(params, tokens, lam, pm)
        bits = jnp.zeros((beam, k), jnp.int32)
        # Start with one live beam; the others are -inf so they never survive.
        score = jnp.full((beam,), -jnp.inf).at[0].set(0.0)
        for i in range(k):
            lg = jax.vmap(lambda b: logits_of(params, ctx, pm, b)[0])(bits)
            li = jax.vmap(lambda l_, b, i=i: forced_logit(l_, b, i))(lg, bits)
            cand_score = jnp.concatenate(
                [score + jax.nn.log_sigmoid(-li), score + jax.nn.log_sigmoid(li)]
            )
            cand_bits = jnp.concatenate([bits, bits.at[:, i].set(1)])
            score, idx = jax.lax.top_k(cand_score, beam)
            bits = cand_bits[idx]
        nlg = jax.vmap(lambda b: logits_of(params, ctx, pm, b)[1])(bits)
        cand = score[:, None] + jax.nn.log_softmax(nlg, axis=-1)  # (beam, num_noise)
        score, idx = jax.lax.top_k(cand.reshape(-1), beam)
        return Structure(bits[idx // nn_], (idx % nn_).astype(jnp.int32)), score

    def top_k(params, tokens, lam, k_best, point_mask=None):
        check_lambda(lam)
        checks.check_tokens(family, tokens, point_mask)
        if k_best < 1:
            raise ValueError(f"k must be >= 1, got {k_best}")
        return _top_k(params, tokens, lam, int(k_best), checks.full_mask(n_pts, point_mask))

    return StructureDecoder(nll, log_prob, probs, sample, top_k, sample_unchecked)
