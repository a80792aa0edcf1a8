"""MCMC baseline: per-voxel NUTS on the exact Rician likelihood, and model evidences.

Pure one-voxel functions (:func:`sample_voxel`: NUTS posterior; :func:`evidence_voxel`:
stepping-stone evidence and the β = 1 posterior) on a :class:`~jaxsbi.dmri.voxel.VoxelModel`
(the voxel model and its unconstrained coordinates: :mod:`jaxsbi.dmri.voxel`; the evidence
estimator: :mod:`jaxsbi.dmri.stepping_stone`), and the volume drivers that vmap, chunk and
shard them over voxels (:func:`fit_voxels`) and compare candidate models
(:func:`compare_voxel_models`, :func:`model_probabilities`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.dmri.stepping_stone import _DEFAULT_SAMPLER, EvidenceConfig, power_posterior_evidence
from jaxsbi.dmri.volume import map_voxels
from jaxsbi.dmri.voxel import VoxelModel
from jaxsbi.mcmc import SamplerConfig, sample_batched

__all__ = [
    "VoxelPosterior",
    "VoxelEvidence",
    "sample_voxel",
    "evidence_voxel",
    "fit_voxels",
    "compare_voxel_models",
    "model_probabilities",
]

_DEFAULT_EVIDENCE = EvidenceConfig()


class VoxelPosterior(NamedTuple):
    """Posterior draws of one voxel (leading voxel axes when batched).

    Attributes:
        theta: ``(num_chains, num_samples, theta_dim)`` in the family's layout.
        s0: ``(num_chains, num_samples)``.
        acceptance_rate: ``()``; num_divergent: ``()``.
    """

    theta: Array
    s0: Array
    acceptance_rate: Array
    num_divergent: Array


class VoxelEvidence(NamedTuple):
    """Evidence and posterior of one voxel under one model.

    Attributes:
        log_evidence: ``()`` stepping-stone log p(signal | M).
        log_evidence_ti: ``()`` thermodynamic-integration estimate.
        theta / s0: posterior draws (β = 1), as in :class:`VoxelPosterior`.
        acceptance_rate / num_divergent: ``(T,)`` per rung.
    """

    log_evidence: Array
    log_evidence_ti: Array
    theta: Array
    s0: Array
    acceptance_rate: Array
    num_divergent: Array


def _to_theta_draws(model: VoxelModel, u: Array) -> tuple[Array, Array]:
    return jax.vmap(jax.vmap(model.to_theta))(u)


def sample_voxel(
    key: Array,
    model: VoxelModel,
    signal: Array,
    config: SamplerConfig = _DEFAULT_SAMPLER,
    *,
    num_init_draws: int = 1000,
) -> VoxelPosterior:
    """NUTS posterior of one voxel's ``signal (n,)`` (pure; vmap over voxels).

    Chains start at prior draws resampled ∝ likelihood (without replacement).
    """
    k_p, k_i, k_m = jax.random.split(key, 3)
    u0 = jax.vmap(model.sample_prior)(jax.random.split(k_p, num_init_draws))
    ll0 = jax.vmap(lambda u: model.log_likelihood(u, signal))(u0)
    ll0 = jnp.where(jnp.isnan(ll0), -jnp.inf, ll0)
    _, pick = jax.lax.top_k(ll0 + jax.random.gumbel(k_i, ll0.shape), config.num_chains)

    def logdensity(u, x):
        return model.log_prior(u) + model.log_likelihood(u, x)

    pos, info = sample_batched(k_m, logdensity, signal[None], u0[pick][None], config)
    theta, s0 = _to_theta_draws(model, pos[0])
    return VoxelPosterior(theta, s0, info.acceptance_rate[0], info.num_divergent[0])


def evidence_voxel(
    key: Array, model: VoxelModel, signal: Array, config: EvidenceConfig = _DEFAULT_EVIDENCE
) -> VoxelEvidence:
    """Stepping-stone evidence (and the β = 1 posterior) of one voxel (pure; vmap-able)."""
    est = power_posterior_evidence(
        key, model.log_prior, model.log_likelihood, model.sample_prior, signal, config
    )
    theta, s0 = _to_theta_draws(model, est.posterior)
    return VoxelEvidence(
        est.log_evidence,
        est.log_evidence_ti,
        theta,
        s0,
        est.info.acceptance_rate,
        est.info.num_divergent,
    )


def _check_signals(model: VoxelModel, signals, mask) -> np.ndarray:
    x = np.asarray(signals)
    n = model.protocol.num_measurements
    if x.ndim < 2 or x.shape[-1] != n:
        raise ValueError(
            f"signals must have shape (*spatial, {n}) for this protocol; got {x.shape}"
        )
    inside = (
        x if mask is None else x[np.asarray(mask, bool)] if np.shape(mask) == x.shape[:-1] else x
    )
    if not np.all(np.isfinite(inside)):
        raise ValueError(
            f"signals contain {int(np.sum(~np.isfinite(inside)))} NaN/inf value(s) in the mask"
        )
    if model.family.noise_names[int(model.structure.noise)] == "rician" and np.any(inside < 0):
        raise ValueError(
            f"signals contain {int(np.sum(inside < 0))} negative value(s) in the mask; Rician "
            "magnitudes are >= 0"
        )
    return x


def fit_voxels(
    key: Array,
    model: VoxelModel,
    signals,
    mask=None,
    *,
    evidence: EvidenceConfig | None = None,
    sampler: SamplerConfig = _DEFAULT_SAMPLER,
    summary=None,
    chunk_size: int = 256,
    devices=None,
):
    """Per-voxel NUTS (``evidence=None``) or evidence + posterior for many voxels.

    Voxels are vmapped, chunked and sharded over ``devices`` by
    :func:`~jaxsbi.dmri.volume.map_voxels`; voxel i uses ``fold_in(key, i)``.

    Args:
        signals: ``(*spatial, n)`` normalised signals (a volume, or ``(num_voxels, n)``).
        mask: ``(*spatial,)`` bool or None (all voxels).
        summary: optional ``summary(result) -> pytree`` applied to each voxel's
            :class:`VoxelPosterior` / :class:`VoxelEvidence` on the device (e.g. posterior
            means), so that only summaries come back: all draws of a whole brain do not fit
            in host memory (10⁵ voxels × 4 chains × 200 draws × 20 entries = 6.4 GB).

    Returns:
        :class:`VoxelPosterior` or :class:`VoxelEvidence` (or ``summary``'s output) with
        leading ``spatial`` axes (0 outside the mask).

    Raises:
        ValueError: signals not matching the protocol, NaN/inf or negative (Rician) values in
            them, an empty mask.
    """
    x = _check_signals(model, signals, mask)
    post = (lambda r: r) if summary is None else summary
    if evidence is None:

        def fn(k, s):
            return post(sample_voxel(k, model, s, sampler))

    else:

        def fn(k, s):
            return post(evidence_voxel(k, model, s, evidence))

    return map_voxels(fn, x, mask, chunk_size=chunk_size, key=key, devices=devices)


def model_probabilities(log_evidence: Array, log_prior: Array | None = None) -> Array:
    """p(M | data) ∝ p(data | M) p(M) over the last axis of ``log_evidence (..., num_models)``
    (``log_prior (num_models,)``; default uniform)."""
    le = jnp.asarray(log_evidence)
    if log_prior is not None:
        lp = jnp.asarray(log_prior, le.dtype)
        if lp.shape != le.shape[-1:]:
            raise ValueError(f"log_prior must have shape {le.shape[-1:]}, got {lp.shape}")
        le = le + jnp.broadcast_to(lp, le.shape)
    return jax.nn.softmax(le, axis=-1)


class VoxelModelComparison(NamedTuple):
    """Evidences of several models for many voxels.

    Attributes:
        names: model names.
        log_evidence / log_evidence_ti: ``(*spatial, num_models)``.
        probabilities: ``(*spatial, num_models)`` from the stepping-stone evidences.
        fits: one :class:`VoxelEvidence` per model.
    """

    names: tuple[str, ...]
    log_evidence: np.ndarray
    log_evidence_ti: np.ndarray
    probabilities: np.ndarray
    fits: tuple


def compare_voxel_models(
    key: Array,
    models: Sequence[VoxelModel],
    signals,
    mask=None,
    *,
    config: EvidenceConfig = _DEFAULT_EVIDENCE,
    log_prior=None,
    chunk_size: int = 256,
    devices=None,
) -> VoxelModelComparison:
    """Evidence of each candidate model for every voxel, and the model probabilities.

    Model j uses ``fold_in(key, j)``. ``log_prior (num_models,)`` defaults to uniform (for
    PRISM's λ-prior pass ``family.structure_log_prior`` of each structure).
    """
    if not models:
        raise ValueError("compare_voxel_models needs at least one model")
    fits = tuple(
        fit_voxels(
            jax.random.fold_in(key, j),
            m,
            signals,
            mask,
            evidence=config,
            chunk_size=chunk_size,
            devices=devices,
        )
        for j, m in enumerate(models)
    )
    le = np.stack([f.log_evidence for f in fits], axis=-1)
    le_ti = np.stack([f.log_evidence_ti for f in fits], axis=-1)
    probs = np.asarray(model_probabilities(le, log_prior))
    if mask is not None:
        probs = np.where(np.asarray(mask, bool)[..., None], probs, 0.0)
    return VoxelModelComparison(tuple(m.name for m in models), le, le_ti, probs, fits)
