"""Whole-volume maps from per-voxel posterior output, whatever produced it.

**Input: a posterior-samples interface.** For V fitted voxels and S candidate structures
(rows of ``structures.active``, in the family's component order):

- ``probabilities (V, S)``: p(M_s | x_v), each row on the simplex;
- ``theta (V, n, d)``: draws in the family's θ layout (``family.param_names``; inactive
  entries and the implied remainder fraction are ignored);
- ``model (V, n)``: the structure index of each draw (omit it when S = 1);
- ``weights (V, n)``: optional non-negative draw weights (default uniform).

PRISM's joint draws (M_j, θ_j) ~ q(M, θ | x) fit as they are (uniform weights); the MCMC
baseline's per-model posteriors become one weighted mixture with :func:`mixture_samples`
(draw j of model s gets weight p_s / n_s), so no draw is thrown away.

**Summaries per voxel** (:func:`summarize_voxel`, pure JAX, ``vmap``-able, so it can also run
on the device as ``fit_voxels(..., summary=...)``):

- number of sticks: P(k sticks), k = 0..3, and its mean, from ``probabilities``;
- MAP structure and its probability;
- volume fractions of every compartment (the remainder filled in): posterior mean and sd
  over the weighted draws;
- per stick k, over the draws whose structure has stick k: the **axis mean**, i.e. the
  principal eigenvector e₁ of the mean dyadic tensor T = E[μμᵀ] (sign-invariant: μ and −μ
  give the same μμᵀ), its dispersion 1 − λ₁(T) ∈ [0, 2/3], and the **cone of uncertainty**:
  the ``level`` (95 %) weighted quantile of the angle between μ_j and e₁ (Jones 2003's
  definition, here over posterior draws instead of bootstrap fits).

Sticks are sorted by fraction in the family's θ (no label switching), so stick 1 is the
dominant fibre of every draw.

**Into the volume** (:func:`volume_maps`, :func:`write_maps`: in
:mod:`jaxsbi.dmri.maps_volume`, re-exported here): the summaries are put back at the mask's
voxels as NaN-free maps and written as NIfTI + PNG montages.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.dmri.compartments import COMPARTMENTS, STICKS, orientation_from_cos
from jaxsbi.dmri.dti import _eigh3
from jaxsbi.dmri.maps_volume import (
    angle_between_axes,
    direction_rgb,
    save_montage,
    volume_maps,
    write_maps,
)
from jaxsbi.dmri.voxel_summary import VoxelSummary

__all__ = [
    "required_param_names",
    "summarize_voxel",
    "summarize",
    "mixture_samples",
    # placed into the volume and written: jaxsbi.dmri.maps_volume (re-exported here)
    "volume_maps",
    "direction_rgb",
    "angle_between_axes",
    "save_montage",
    "write_maps",
]

_NUM_COMP = len(COMPARTMENTS)


def required_param_names() -> tuple[str, ...]:
    """θ entries the maps read: every compartment's fraction and the sticks' (u, φ)."""
    names = [f"{c}.f" for c in COMPARTMENTS]
    for s in STICKS:
        names += [f"{s}.u", f"{s}.phi"]
    return tuple(names)


def _param_names(family) -> tuple[str, ...]:
    names = getattr(family, "param_names", family)
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise TypeError(
            "family must be a DmriFamily (or a sequence of θ entry names); got "
            f"{type(family).__name__}"
        )
    names = tuple(names)
    missing = [n for n in required_param_names() if n not in names]
    if missing:
        raise ValueError(
            f"θ entries {missing} are missing from the family's param_names {names}; the maps "
            "need every compartment's fraction and each stick's (u, phi)"
        )
    return names


def _active_table(structures) -> np.ndarray:
    active = np.asarray(getattr(structures, "active", structures))
    if active.ndim == 1:
        active = active[None]
    if active.ndim != 2 or active.shape[1] != _NUM_COMP:
        raise ValueError(
            f"structures must have active bits of shape (S, {_NUM_COMP}) in the order "
            f"{COMPARTMENTS}; got {active.shape}"
        )
    if not np.isin(active, (0, 1)).all() or (active.sum(1) == 0).any():
        raise ValueError("structures.active must hold 0/1 rows with at least one active bit")
    return active.astype(np.int32)


def _weighted_quantile(values: Array, weights: Array, level: float) -> Array:
    """The smallest value v with Σ_{values ≤ v} w ≥ level·Σw (weights ≥ 0, Σw > 0)."""
    order = jnp.argsort(values)
    cum = jnp.cumsum(weights[order])
    k = jnp.searchsorted(cum, level * cum[-1] * (1.0 - 1e-6))
    return values[order][jnp.clip(k, 0, values.shape[0] - 1)]


def summarize_voxel(
    family,
    structures,
    probabilities: Array,
    theta: Array,
    model: Array,
    weights: Array,
    *,
    level: float = 0.95,
) -> VoxelSummary:
    """Summaries of ONE voxel's posterior (pure; ``vmap`` over voxels).

    Args:
        family: a :class:`~jaxsbi.dmri.family_record.DmriFamily` (or its θ names), static.
        structures: ``Structure`` with ``active (S, 6)``, or the ``(S, 6)`` bits (concrete
            ones are validated; a traced array is taken as is).
        probabilities: ``(S,)`` p(M_s | x).
        theta: ``(n, d)`` draws in the family's layout.
        model: ``(n,)`` int structure index of each draw.
        weights: ``(n,)`` non-negative draw weights (any positive total).
        level: cone-of-uncertainty level in (0, 1).

    Returns:
        :class:`VoxelSummary`; all zeros with ``valid = False`` if any input is non-finite or
        the weights do not have a positive total.
    """
    names = _param_names(family)
    bits = getattr(structures, "active", structures)
    if isinstance(bits, jax.core.Tracer):  # traced by summarize's compiled function
        active = bits
    else:
        active = jnp.asarray(_active_table(bits))
    n_structures = active.shape[0]
    if probabilities.shape != (n_structures,):
        raise ValueError(
            f"probabilities must have shape ({n_structures},), got {probabilities.shape}"
        )
    if theta.ndim != 2 or theta.shape[1] != len(names):
        raise ValueError(f"theta must have shape (n, {len(names)}), got {theta.shape}")
    if model.shape != theta.shape[:1] or weights.shape != theta.shape[:1]:
        raise ValueError(
            f"model {model.shape} and weights {weights.shape} must have shape {theta.shape[:1]}"
        )
    col = {n: i for i, n in enumerate(names)}
    valid = (
        jnp.all(jnp.isfinite(theta))
        & jnp.all(jnp.isfinite(probabilities))
        & jnp.all(jnp.isfinite(weights))
        & (jnp.sum(weights) > 0)
    )
    theta = jnp.where(valid, theta, 0.0)
    probabilities = jnp.where(valid, probabilities, 0.0)
    w = jnp.where(valid, weights, 1.0)
    w = w / jnp.sum(w)

    # number of sticks, MAP structure: from the structure probabilities
    counts = jnp.sum(active[:, 1:4], axis=1)  # (S,)
    onehot = (counts[:, None] == jnp.arange(4)[None, :]).astype(probabilities.dtype)
    p_sticks = probabilities @ onehot
    expected = p_sticks @ jnp.arange(4, dtype=p_sticks.dtype)
    map_model = jnp.argmax(probabilities).astype(jnp.int32)

    # fractions of every draw: active entries, the first active one implied
    on = active[model] > 0  # (n, 6)
    frac_cols = jnp.asarray([col[f"{c}.f"] for c in COMPARTMENTS])
    remainder = jnp.argmax(on, axis=1)  # (n,)
    is_rem = jnp.arange(_NUM_COMP)[None, :] == remainder[:, None]
    free = jnp.where(on & ~is_rem, theta[:, frac_cols], 0.0)
    f = jnp.where(is_rem, 1.0 - jnp.sum(free, axis=1, keepdims=True), free)  # (n, 6)
    f_mean = w @ f
    f_var = w @ (f - f_mean[None, :]) ** 2
    f_sd = jnp.sqrt(jnp.maximum(f_var, 0.0))

    # per stick k (vmapped: one copy of the eigen/sort code): axis mean, dispersion, cone
    u_cols = jnp.asarray([col[f"{name}.u"] for name in STICKS])
    phi_cols = jnp.asarray([col[f"{name}.phi"] for name in STICKS])

    def stick_axis(u, phi, present):
        mu = jax.vmap(orientation_from_cos)(u, phi)  # (n, 3)
        wk = jnp.where(present, w, 0.0)
        presence = jnp.sum(wk)
        safe = jnp.where(presence > 0, presence, 1.0)
        t = jnp.einsum("n,ni,nj->ij", wk, mu, mu) / safe
        evals, evecs = _eigh3(t)
        e1 = evecs[:, 2]
        e1 = jnp.where(e1[2] < 0, -e1, e1)
        ang = jnp.degrees(jnp.arccos(jnp.clip(jnp.abs(mu @ e1), 0.0, 1.0)))
        cone = _weighted_quantile(jnp.where(wk > 0, ang, jnp.inf), wk, level)
        has = presence > 0
        return (
            presence,
            jnp.where(has, e1, 0.0),
            jnp.where(has, jnp.clip(1.0 - evals[2], 0.0, 1.0), 0.0),
            jnp.where(has, cone, 0.0),
        )

    presence, direction, dispersion, cone = jax.vmap(stick_axis, in_axes=(1, 1, 1))(
        theta[:, u_cols], theta[:, phi_cols], on[:, 1:4]
    )
    out = VoxelSummary(
        valid=valid,
        num_sticks_probability=p_sticks,
        expected_num_sticks=expected,
        map_model=map_model,
        map_probability=jnp.max(probabilities),
        fraction_mean=f_mean,
        fraction_sd=f_sd,
        stick_presence=presence,
        stick_direction=direction,
        stick_dispersion=dispersion,
        stick_cone=cone,
    )
    return jax.tree.map(lambda a: jnp.where(valid, a, jnp.zeros_like(a)), out)


def _nonfinite_rows(a: np.ndarray) -> np.ndarray:
    return ~np.all(np.isfinite(a.reshape(a.shape[0], -1)), axis=1)


def summarize(
    family,
    structures,
    probabilities,
    theta,
    model=None,
    weights=None,
    *,
    level: float = 0.95,
    on_invalid: Literal["raise", "mark"] = "raise",
    chunk_size: int = 4096,
) -> VoxelSummary:
    """Summaries of V voxels (see the module docstring); inputs checked before ``jit``.

    Args:
        family: a :class:`~jaxsbi.dmri.family_record.DmriFamily` (or its θ names).
        structures: ``Structure`` with ``active (S, 6)`` (or the bits).
        probabilities: ``(V, S)``, rows summing to 1.
        theta: ``(V, n, d)`` draws, d = ``len(family.param_names)``.
        model: ``(V, n)`` int in [0, S); may be None when S = 1.
        weights: ``(V, n)`` non-negative, positive row totals; None: uniform.
        level: cone-of-uncertainty level in (0, 1).
        on_invalid: ``"raise"``: NaN/inf in a voxel's inputs is an error; ``"mark"``: the
            voxel is returned with ``valid = False`` (a failed fit, counted by
            :func:`volume_maps`).
        chunk_size: voxels per compiled call.

    Returns:
        :class:`VoxelSummary` with leading ``(V,)`` NumPy arrays.

    Raises:
        ValueError: shapes that do not agree; probabilities outside [0, 1] or rows not
            summing to 1 (tolerance 1e-3); model indices outside [0, S); negative weights or
            a zero row total; θ names missing from the family; NaN/inf (``on_invalid="raise"``).
    """
    if on_invalid not in ("raise", "mark"):
        raise ValueError(f"on_invalid must be 'raise' or 'mark', got {on_invalid!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    names = _param_names(family)
    active = _active_table(structures)
    n_structures = active.shape[0]
    probs = np.asarray(probabilities, np.float32)
    th = np.asarray(theta, np.float32)
    if th.ndim != 3 or th.shape[2] != len(names):
        raise ValueError(
            f"theta must have shape (V, n, {len(names)}) (the family's θ entries); got {th.shape}"
        )
    num_voxels, n = th.shape[:2]
    if num_voxels == 0 or n == 0:
        raise ValueError(f"theta must hold at least one voxel and one draw; got {th.shape}")
    if probs.shape != (num_voxels, n_structures):
        raise ValueError(
            f"probabilities must have shape (V, S) = ({num_voxels}, {n_structures}); "
            f"got {probs.shape}"
        )
    if model is None:
        if n_structures != 1:
            raise ValueError(f"model (V, n) is required with S = {n_structures} structures")
        mod = np.zeros((num_voxels, n), np.int32)
    else:
        mod = np.asarray(model)
        if mod.shape != (num_voxels, n):
            raise ValueError(f"model must have shape ({num_voxels}, {n}), got {mod.shape}")
        if not np.issubdtype(mod.dtype, np.integer):
            raise TypeError(f"model must hold integer structure indices; got dtype {mod.dtype}")
        if mod.min() < 0 or mod.max() >= n_structures:
            raise ValueError(
                f"model indices must be in [0, {n_structures}); got [{mod.min()}, {mod.max()}]"
            )
        mod = mod.astype(np.int32)
    if weights is None:
        wts = np.full((num_voxels, n), 1.0 / n, np.float32)
    else:
        wts = np.asarray(weights, np.float32)
        if wts.shape != (num_voxels, n):
            raise ValueError(f"weights must have shape ({num_voxels}, {n}), got {wts.shape}")
    bad = _nonfinite_rows(th) | _nonfinite_rows(probs) | _nonfinite_rows(wts)
    if bad.any() and on_invalid == "raise":
        parts = [
            f"{int(_nonfinite_rows(a).sum())} in {label}"
            for label, a in (("theta", th), ("probabilities", probs), ("weights", wts))
            if _nonfinite_rows(a).any()
        ]
        raise ValueError(
            f"{int(bad.sum())} voxel(s) have NaN/inf inputs ({', '.join(parts)}); first is "
            f"voxel {int(np.flatnonzero(bad)[0])}. Pass on_invalid='mark' to map them as failed"
        )
    good = ~bad
    pg = probs[good]
    if (pg < -1e-6).any() or (pg > 1 + 1e-6).any():
        raise ValueError("probabilities must lie in [0, 1]")
    sums = pg.sum(axis=1)
    off = np.abs(sums - 1.0) > 1e-3
    if off.any():
        i = int(np.flatnonzero(good)[np.flatnonzero(off)[0]])
        raise ValueError(
            f"probabilities must sum to 1 over the S structures; {int(off.sum())} voxel(s) do "
            f"not (voxel {i} sums to {float(probs[i].sum()):.6g})"
        )
    wg = wts[good]
    if (wg < 0).any() or (wg.sum(axis=1) <= 0).any():
        raise ValueError("weights must be non-negative with a positive total per voxel")

    # Pad draws (zero weight) and voxels (copies) to powers of two: few distinct shapes, so
    # few compilations across calls (the compiled function is cached per family/structures).
    n_pad = _next_pow2(n) - n
    if n_pad:
        th = np.concatenate([th, np.zeros((num_voxels, n_pad, th.shape[2]), th.dtype)], axis=1)
        mod = np.concatenate([mod, np.zeros((num_voxels, n_pad), mod.dtype)], axis=1)
        wts = np.concatenate([wts, np.zeros((num_voxels, n_pad), wts.dtype)], axis=1)
    fn = functools.partial(_compiled(names, float(level)), jnp.asarray(active))
    chunk = min(chunk_size, max(8, _next_pow2(num_voxels)))
    pieces = []
    for start in range(0, num_voxels, chunk):
        stop = min(start + chunk, num_voxels)
        pad = chunk - (stop - start)

        def take(a, start=start, stop=stop, pad=pad):
            part = a[start:stop]
            return np.concatenate([part, np.repeat(part[:1], pad, axis=0)]) if pad else part

        out = fn(take(probs), take(th), take(mod), take(wts))
        pieces.append(jax.tree.map(lambda a, k=stop - start: np.asarray(a)[:k], out))
    return jax.tree.map(lambda *a: np.concatenate(a), *pieces)


def _next_pow2(k: int) -> int:
    return 1 << max(0, int(k) - 1).bit_length()


@functools.lru_cache(maxsize=32)
def _compiled(names: tuple, level: float):
    # the structures are an argument (not a constant): one compilation per shape
    def run(active, probabilities, theta, model, weights):
        one = functools.partial(summarize_voxel, names, active, level=level)
        return jax.vmap(one)(probabilities, theta, model, weights)

    return jax.jit(run)


def mixture_samples(probabilities, thetas: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-model posterior draws as one weighted mixture over the models.

    Args:
        probabilities: ``(V, S)`` model probabilities.
        thetas: S arrays ``(V, n_s, d)`` (or ``(V, chains, samples, d)``), draws under model s.

    Returns:
        ``theta (V, Σn_s, d)``, ``model (V, Σn_s)`` int32, ``weights (V, Σn_s)`` with draw j of
        model s weighted p_s / n_s (rows sum to 1 where the probabilities do).
    """
    probs = np.asarray(probabilities, np.float32)
    if probs.ndim != 2 or probs.shape[1] != len(thetas):
        raise ValueError(
            f"probabilities must have shape (V, {len(thetas)}) for {len(thetas)} models; "
            f"got {probs.shape}"
        )
    flat = []
    for s, t in enumerate(thetas):
        t = np.asarray(t, np.float32)
        if t.ndim < 3 or t.shape[0] != probs.shape[0]:
            raise ValueError(f"thetas[{s}] must have shape (V, ..., d) with V = {probs.shape[0]}")
        flat.append(t.reshape(t.shape[0], -1, t.shape[-1]))
    if len({t.shape[-1] for t in flat}) != 1:
        raise ValueError("all thetas must have the same θ dimension")
    theta = np.concatenate(flat, axis=1)
    model = np.concatenate([np.full(t.shape[:2], s, np.int32) for s, t in enumerate(flat)], axis=1)
    weights = np.concatenate(
        [
            np.repeat(probs[:, s : s + 1] / t.shape[1], t.shape[1], axis=1)
            for s, t in enumerate(flat)
        ],
        axis=1,
    )
    return theta, model, weights
