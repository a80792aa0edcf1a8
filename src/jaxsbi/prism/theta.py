"""PRISM's θ decoder: the masked v-prediction diffusion q(θ | M, x) over the active θ entries.

θ is standardized by its prior mean/sd (``family.theta_standardization``) before diffusion;
inactive entries are masked out of the denoiser, the loss and the density, and returned as 0.
The decoder reads the λ-free encoder tokens, never λ (θ ⊥ λ | (M, x) under the model; see
:mod:`jaxsbi.prism.network`). Training: the v-prediction MSE averaged over the active entries
and ``time_samples`` stratified diffusion times. Sampling: DDIM or ancestral; log-density: the
probability-flow ODE, in the family's units (the standardization's Jacobian included).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsbi.base import ModelFamily
from jaxsbi.diffusion import (
    T_MAX,
    T_MIN,
    ancestral_sample,
    ddim_sample,
    probability_flow_log_prob,
    v_loss,
    v_target,
)
from jaxsbi.prism import checks
from jaxsbi.prism.network import PrismNet

__all__ = ["ThetaDecoder", "theta_decoder"]


class ThetaDecoder(NamedTuple):
    """The θ decoder's functions (the public ones check their inputs, then ``jit``).

    Attributes:
        loss: ``(params, key, h, point_mask, structure, theta) -> ()`` the v-prediction MSE from
            the encoder tokens ``h`` (the training loss; no checks).
        sample: ``(params, key, tokens, structure, num_samples, num_steps=32, method="ddim",
            point_mask=None) -> (num_samples, theta_dim)``; inactive entries 0.
        log_prob: ``(params, tokens, structure, theta, num_steps=32, point_mask=None) -> ()``
            by the probability-flow ODE (θ in the family's units).
        draw: ``(params, key, h, point_mask, structure, num_steps) -> (theta_dim,)`` one DDIM
            draw from the encoder tokens ``h`` (no checks; for the joint sampler).
    """

    loss: Callable
    sample: Callable
    log_prob: Callable
    draw: Callable


def theta_decoder(family: ModelFamily, net: PrismNet, time_samples: int) -> ThetaDecoder:
    """The θ decoder of ``net`` for ``family`` (see the module docstring)."""
    d, n_pts = family.theta_dim, family.n_points
    mean_np, std_np = family.theta_standardization()

    def standardize(theta):
        """(…, theta_dim) θ -> prior-standardized units."""
        mean, std = jnp.asarray(mean_np), jnp.asarray(std_np)
        return (theta - jnp.broadcast_to(mean, theta.shape)) / jnp.broadcast_to(std, theta.shape)

    def unstandardize(u):
        mean, std = jnp.asarray(mean_np), jnp.asarray(std_np)
        return u * jnp.broadcast_to(std, u.shape) + jnp.broadcast_to(mean, u.shape)

    def velocity_fn(params, h, pm, structure):
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

    def loss(params, key, h, pm, structure, theta):
        v_fn, pmask = velocity_fn(params, h, pm, structure)
        x0 = jnp.where(pmask, standardize(theta), 0.0)
        k_t, k_e = jax.random.split(key)
        u = (jax.random.uniform(k_t) + jnp.arange(time_samples)) / time_samples
        ts = T_MIN + (T_MAX - T_MIN) * u
        eps = jax.random.normal(k_e, (time_samples, d))

        def one_time(t, e):
            z, v = v_target(x0, e, t)
            return v_loss(v_fn(z, t), v, pmask)

        return jnp.mean(jax.vmap(one_time)(ts, eps))

    def draw(params, key, h, pm, structure, num_steps, method="ddim"):
        v_fn, pmask = velocity_fn(params, h, pm, structure)
        sampler = ddim_sample if method == "ddim" else ancestral_sample
        u = sampler(v_fn, key, pmask, num_steps)
        return jnp.where(pmask, unstandardize(u), 0.0)

    @functools.partial(jax.jit, static_argnums=(4, 5, 6))
    def _sample(params, key, tokens, structure, num_samples, num_steps, method, pm):
        h = net.apply(params, tokens, pm, method=PrismNet.encode)
        return jax.vmap(lambda kk: draw(params, kk, h, pm, structure, num_steps, method))(
            jax.random.split(key, num_samples)
        )

    def sample(
        params, key, tokens, structure, num_samples, num_steps=32, method="ddim", point_mask=None
    ):
        checks.check_tokens(family, tokens, point_mask)
        checks.check_structure(family, structure)
        if method not in ("ddim", "ancestral"):
            raise ValueError(f"method must be 'ddim' or 'ancestral', got {method!r}")
        return _sample(
            params,
            key,
            tokens,
            structure,
            int(num_samples),
            int(num_steps),
            method,
            checks.full_mask(n_pts, point_mask),
        )

    @functools.partial(jax.jit, static_argnums=(4,))
    def _log_prob(params, tokens, structure, theta, num_steps, pm):
        h = net.apply(params, tokens, pm, method=PrismNet.encode)
        v_fn, pmask = velocity_fn(params, h, pm, structure)
        u = jnp.where(pmask, standardize(theta), 0.0)
        lp = probability_flow_log_prob(v_fn, u, pmask, num_steps)
        return lp - jnp.sum(jnp.where(pmask, jnp.log(jnp.asarray(std_np)), 0.0))

    def log_prob(params, tokens, structure, theta, num_steps=32, point_mask=None):
        checks.check_tokens(family, tokens, point_mask)
        checks.check_structure(family, structure)
        if np.shape(theta) != (d,):
            raise ValueError(f"theta must have shape ({d},), got {np.shape(theta)}")
        return _log_prob(
            params, tokens, structure, theta, int(num_steps), checks.full_mask(n_pts, point_mask)
        )

    return ThetaDecoder(loss, sample, log_prob, draw)
