"""The variational objective: the ELBO of a mean-field Gaussian q, and pruning by q.

Graves (2011): E_q[ln p(D|w)] − KL(q‖p(w|h)) with q = N(μ, diag σ²), reparameterised with
fixed base noise, closed-form KL (:func:`gaussian_kl_diag`); :func:`prune_mask` drops the
weights whose zero value is nearly as probable as their mean under q.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from jaxsbi.hpo.likelihood import Dataset, Model, nll_per_example, prior_precision

__all__ = [
    "gaussian_kl_diag",
    "elbo",
    "prune_mask",
]


def gaussian_kl_diag(mu: Array, sigma: Array, precision: Array) -> Array:
    """KL(N(μ, diag σ²) ‖ N(0, diag 1/a)) = ½Σ[aσ² + aμ² − 1 − ln(aσ²)]; all ``(P,)`` -> ``()``."""
    s2a = precision * sigma**2
    return 0.5 * jnp.sum(s2a + precision * mu**2 - 1.0 - jnp.log(s2a))


def _split_q(q: Array) -> tuple[Array, Array]:
    p = q.shape[0] // 2
    return q[:p], jax.nn.softplus(q[p:])


def elbo(model: Model, q: Array, h: Array, data: Dataset, eps: Array) -> Array:
    """The evidence lower bound (Graves 2011) with q = N(μ, diag σ²), σ = softplus(ρ).

    Args:
        model: the model.
        q: variational parameters [μ; ρ], shape ``(2P,)``.
        h: log prior precisions, shape ``(H,)``.
        data: the training data.
        eps: fixed standard-normal base noise, shape ``(S, P)`` (S reparameterised samples).

    Returns:
        (1/S)Σ_s ln p(D | μ + σ ⊙ ε_s) − KL(q ‖ p(w|h)), shape ``()``.
    """
    mu, sigma = _split_q(q)
    expected = jnp.mean(
        jax.vmap(lambda e: -jnp.sum(nll_per_example(model, mu + sigma * e, data)))(eps)
    )
    return expected - gaussian_kl_diag(mu, sigma, prior_precision(model, h))


def prune_mask(mu: Array, sigma: Array, threshold: float = 0.95) -> Array:
    """Parameters kept after pruning by the relative density q(0)/q(μ) = exp(−μ²/2σ²).

    A parameter whose zero value is nearly as probable as its mean under q (relative density
    ≥ ``threshold``) is pruned (set to 0).

    Returns:
        Boolean mask of kept parameters, shape ``(P,)``.
    """
    return jnp.exp(-(mu**2) / (2.0 * sigma**2)) < threshold
