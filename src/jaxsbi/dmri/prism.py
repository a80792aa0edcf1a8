"""PRISM on the dMRI family: sub-family model probabilities, fibre axes, whole-volume inference.

Helpers between a trained :func:`jaxsbi.prism.prism_estimator` on a
:class:`~jaxsbi.dmri.family_record.DmriFamily` and the MCMC baseline (:mod:`jaxsbi.dmri.baseline`):

- :func:`subfamily_probabilities` — q(M | x, λ) conditioned on a small set of structures
  (renormalised over them), the quantity that evidence-based probabilities of those models
  estimate;
- :func:`axis_tensor_features` / :func:`dominant_axis` / :func:`angular_error_deg` — seam-free,
  sign-invariant views of the orientations (μ ≡ −μ) for C2ST and angular errors;
- :func:`shelled_protocol` — a deterministic multi-shell protocol (evaluation voxels);
- :func:`prism_voxels` — amortised joint samples (M, θ) for every voxel of a volume, streamed
  and sharded by :func:`~jaxsbi.dmri.volume.map_voxels`;
- :func:`prism_map_samples` — the same, in the posterior-samples interface of
  :mod:`jaxsbi.dmri.maps` (exact model probabilities over the family's structures, draws
  and their model index), ready for :func:`~jaxsbi.dmri.maps.summarize`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import logsumexp

from jaxsbi.dmri.compartments import STICKS
from jaxsbi.dmri.family_record import DmriFamily
from jaxsbi.dmri.protocol import Protocol, make_protocol, repulsion_axes
from jaxsbi.dmri.volume import map_voxels
from jaxsbi.prism.families import Structure, check_lambda

__all__ = [
    "subfamily_probabilities",
    "stack_structures",
    "axis_tensor_features",
    "axis_tensor_feature_names",
    "dominant_axis",
    "angular_error_deg",
    "prism_voxels",
    "prism_map_samples",
    "PrismMapSamples",
    "shelled_protocol",
]


def stack_structures(structures: Sequence[Structure]) -> Structure:
    """One :class:`Structure` with a leading axis ``(S,)`` from a list of single ones."""
    if not structures:
        raise ValueError("need at least one structure")
    return Structure(
        jnp.stack([jnp.asarray(s.active, jnp.int32) for s in structures]),
        jnp.stack([jnp.asarray(s.noise, jnp.int32) for s in structures]),
    )


def subfamily_probabilities(est, params, tokens, lam, structures: Structure) -> Array:
    """q(M | x, λ, M ∈ S): PRISM's model posterior renormalised over a set S of structures.

    Args:
        est: a PRISM estimator on a dMRI family.
        params: its params.
        tokens: ``(n_meas, token_dim)`` one voxel's tokens (``family.observe``).
        lam: λ in [0, 1].
        structures: :class:`Structure` with leading axis ``(S,)`` (see :func:`stack_structures`).

    Returns:
        ``(S,)`` probabilities summing to 1.
    """
    check_lambda(lam)
    family = est.family
    if not isinstance(structures.active, jax.core.Tracer):
        family.check_structure(structures)
        if np.ndim(structures.active) != 2:
            raise ValueError(
                f"structures.active must be (S, {family.num_components}); got "
                f"{np.shape(structures.active)}"
            )
    lp = jax.vmap(lambda a, n: est.structure_log_prob(params, tokens, lam, Structure(a, n)))(
        structures.active, structures.noise
    )
    return jnp.exp(lp - logsumexp(lp))


def axis_tensor_features(family: DmriFamily, theta: Array, structure: Structure) -> Array:
    """θ draws ``(..., theta_dim)`` → seam-free features for two-sample tests.

    Every active non-orientation entry is kept; each active stick's (u, φ) pair is replaced by
    the 6 unique entries of μμᵀ (even in μ, continuous across φ = 0 ≡ 2π and the equator),
    off-diagonals × √2. The zeppelin axis likewise. Column names:
    :func:`axis_tensor_feature_names`.

    Returns:
        ``(..., num_features)`` (a NumPy array; the structure must be concrete).
    """
    theta = np.asarray(theta)
    scalars, axes = _feature_layout(family, structure)
    feats = [theta[..., j] for j in scalars]
    r2 = np.sqrt(2.0)
    for comp in axes:
        mu = _axis(theta[..., family.index(f"{comp}.u")], theta[..., family.index(f"{comp}.phi")])
        x, y, z = mu[..., 0], mu[..., 1], mu[..., 2]
        feats += [x * x, y * y, z * z, r2 * x * y, r2 * x * z, r2 * y * z]
    return np.stack(feats, axis=-1)


def axis_tensor_feature_names(family: DmriFamily, structure: Structure) -> list[str]:
    """Names of :func:`axis_tensor_features`' columns: θ entry names, then
    ``<axis>.mumuT_<xx|yy|zz|xy|xz|yz>`` per active axis."""
    scalars, axes = _feature_layout(family, structure)
    names = [family.param_names[j] for j in scalars]
    for comp in axes:
        names += [f"{comp}.mumuT_{e}" for e in ("xx", "yy", "zz", "xy", "xz", "yz")]
    return names


def _feature_layout(family: DmriFamily, structure: Structure) -> tuple[list[int], list[str]]:
    """Active non-orientation θ indices, and the active axes (sticks, then zeppelin)."""
    mask = np.asarray(family.param_mask(structure))
    scalars = [
        j
        for j, name in enumerate(family.param_names)
        if mask[j] and not name.endswith((".u", ".phi"))
    ]
    axes = [c for c in (*STICKS, "zeppelin") if mask[family.index(f"{c}.u")]]
    return scalars, axes


def _axis(u, phi):
    s = np.sqrt(np.clip(1.0 - u**2, 0.0, None))
    return np.stack([s * np.cos(phi), s * np.sin(phi), u], axis=-1)


def dominant_axis(family: DmriFamily, theta: Array, stick: str = "stick1") -> np.ndarray:
    """Posterior-mean axis of a stick over draws ``theta (..., theta_dim)``: the principal
    eigenvector of E[μμᵀ] (sign-free, so μ ≡ −μ and the φ seam do not matter). ``(3,)``."""
    t = np.asarray(theta).reshape(-1, np.shape(theta)[-1])
    mu = _axis(t[:, family.index(f"{stick}.u")], t[:, family.index(f"{stick}.phi")])
    return np.linalg.eigh(mu.T @ mu / len(mu))[1][:, -1]


def angular_error_deg(a, b) -> float:
    """Angle between two axes in degrees, in [0, 90] (μ ≡ −μ)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    c = abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(c, 0.0, 1.0))))


def prism_voxels(
    est,
    params,
    key: Array,
    signals,
    protocol: Protocol,
    *,
    lam: float,
    num_samples: int,
    num_steps: int = 16,
    mask=None,
    summary=None,
    chunk_size: int = 1024,
    devices=None,
):
    """Amortised PRISM inference for every voxel: joint samples (M, θ) ~ q(M | x, λ) q(θ | M, x).

    Args:
        est, params: a trained PRISM estimator on a dMRI family and its params.
        key: PRNG key; voxel i uses ``fold_in(key, i)``.
        signals: ``(*spatial, n)`` b0-normalised signals on ``protocol``.
        protocol: the acquisition protocol (n measurements).
        lam: λ in [0, 1].
        num_samples: joint draws per voxel; num_steps: DDIM steps of the θ sampler.
        mask: ``(*spatial,)`` bool or None.
        summary: optional ``summary((structures, theta)) -> pytree`` run on the device per
            voxel, so that only summaries come back.
        chunk_size: voxels per compiled call.

    Returns:
        ``(Structure, theta)`` with leading ``(*spatial, num_samples)`` axes (or ``summary``'s
        output with leading ``spatial`` axes).

    Raises:
        ValueError: λ outside [0, 1]; signals not matching the protocol; a protocol other
            than the one a fixed-protocol family was trained on; NaN/inf in the mask.
    """
    check_lambda(lam)
    family = est.family
    n = protocol.num_measurements
    if np.shape(signals)[-1:] != (n,) or n != family.n_meas:
        raise ValueError(
            f"signals must have shape (*spatial, {family.n_meas}) (the family's n_meas) on a "
            f"protocol of as many measurements; got {np.shape(signals)} and {n} measurements"
        )
    fixed = family.protocol
    if fixed is not None and not (
        np.allclose(fixed.bvals, protocol.bvals) and np.allclose(fixed.bvecs, protocol.bvecs)
    ):
        raise ValueError(
            "this network was trained on one fixed protocol ([family.dmri] protocol) and the "
            "data's bvals/bvecs differ from it; map only data acquired with that protocol "
            "(or train on random protocols)"
        )
    post = (lambda r: r) if summary is None else summary

    def fn(k, s):
        tokens = family.observe(s, protocol)
        return post(est.sample_joint(params, k, tokens, lam, num_samples, num_steps))

    return map_voxels(fn, signals, mask, chunk_size=chunk_size, key=key, devices=devices)


class PrismMapSamples(NamedTuple):
    """PRISM's posterior for V masked voxels in the maps' interface (:mod:`jaxsbi.dmri.maps`).

    Attributes:
        structures: the S candidate structures (``family.all_structures()``), ``active (S, 6)``.
        probabilities: ``(V, S)`` q(M_s | x_v, λ), enumerated (not counted from draws).
        theta: ``(V, n, d)`` θ draws, draw j from q(θ | M_j, x) with M_j ~ q(M | x, λ).
        model: ``(V, n)`` int, the index of M_j in ``structures``.
        mask: ``(*spatial,)`` bool, the voxels in C order.
    """

    structures: Structure
    probabilities: np.ndarray
    theta: np.ndarray
    model: np.ndarray
    mask: np.ndarray


def prism_map_samples(
    est,
    params,
    key: Array,
    signals,
    protocol: Protocol,
    *,
    lam: float,
    num_samples: int,
    num_steps: int = 16,
    mask=None,
    chunk_size: int = 1024,
    devices=None,
) -> PrismMapSamples:
    """:func:`prism_voxels` plus the enumerated model posterior, in the maps' interface.

    Per voxel (two compiled, sharded passes over the mask — the draws, then the
    probabilities): q(M | x, λ) over the family's S valid structures (exact, renormalised
    over them), ``num_samples`` joint draws (M_j, θ_j) and each draw's structure index.
    Feed the result to
    ``maps.summarize(family, r.structures, r.probabilities, r.theta, r.model)`` and then
    ``maps.volume_maps(summary, r.mask, probabilities=r.probabilities)``.

    Args and Raises: as :func:`prism_voxels`.
    """
    family = est.family
    structures = family.all_structures()

    def summary(draws):
        drawn, theta = draws
        idx = family.structure_index(drawn)
        return theta, jnp.maximum(idx, 0).astype(jnp.int32), idx >= 0

    draws = prism_voxels(
        est,
        params,
        key,
        signals,
        protocol,
        lam=lam,
        num_samples=num_samples,
        num_steps=num_steps,
        mask=mask,
        summary=summary,
        chunk_size=chunk_size,
        devices=devices,
    )
    m = np.ones(np.shape(signals)[:-1], bool) if mask is None else np.asarray(mask, bool)
    theta, model, known = (np.asarray(a)[m] for a in draws)
    if not known.all():  # the sampler only emits valid structures; say so if it ever did not
        raise RuntimeError(
            f"{int((~known).sum())} PRISM draws have a structure outside the family's table"
        )
    probs = map_voxels(
        lambda s: subfamily_probabilities(
            est, params, family.observe(s, protocol), lam, structures
        ),
        signals,
        m,
        chunk_size=chunk_size,
        devices=devices,
    )
    return PrismMapSamples(structures, np.asarray(probs)[m], theta, model, m)


def shelled_protocol(num_b0: int, shells: Sequence[float], per_shell: int) -> Protocol:
    """``num_b0`` b0 + ``per_shell`` well-spread directions (electrostatic repulsion, one
    differently twisted set per shell) on each shell of ``shells`` (s/mm²)."""
    if num_b0 < 1 or per_shell < 1 or not shells or min(shells) <= 0:
        raise ValueError(
            f"need num_b0 >= 1, per_shell >= 1 and positive shells; got {num_b0}, {per_shell}, "
            f"{tuple(shells)}"
        )
    k = len(shells)
    b = [np.zeros(num_b0)] + [np.full(per_shell, float(s)) for s in shells]
    g = [np.zeros((num_b0, 3))] + [
        repulsion_axes(per_shell, twist=2 * np.pi * j / (3 * k)) for j in range(k)
    ]
    return make_protocol(np.concatenate(b), np.concatenate(g))
