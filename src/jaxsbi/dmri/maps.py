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

**Into the volume** (:func:`volume_maps`): the summaries are put back at the mask's voxels
(C order, as ``data[mask]``); outside the mask every map is 0 and the ``mask`` map says
which voxels were fitted. A voxel whose input is non-finite (a failed fit) is an error by
default (``on_invalid="raise"``); with ``on_invalid="mark"`` it is counted, warned about,
0 in every map and 1 in the ``failed`` map — never a silent NaN. :func:`write_maps` writes
each map as NIfTI with the input's affine and PNG montages (axial, coronal, sagittal).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.dmri.compartments import COMPARTMENTS, orientation_from_cos
from jaxsbi.dmri.dti import _eigh3
from jaxsbi.dmri.io import save_maps

__all__ = [
    "VoxelSummary",
    "required_param_names",
    "summarize_voxel",
    "summarize",
    "mixture_samples",
    "volume_maps",
    "direction_rgb",
    "angle_between_axes",
    "save_montage",
    "write_maps",
]

_STICKS = ("stick1", "stick2", "stick3")
_NUM_COMP = len(COMPARTMENTS)


class VoxelSummary(NamedTuple):
    """Posterior summaries of one voxel (leading ``(V,)`` when batched).

    Attributes:
        valid: ``()`` bool: every input of the voxel was finite (False: a failed fit; all
            other fields are 0).
        num_sticks_probability: ``(4,)`` P(k sticks | x), k = 0..3.
        expected_num_sticks: ``()``.
        map_model: ``()`` int32 index of the most probable structure.
        map_probability: ``()`` its probability.
        fraction_mean: ``(6,)`` posterior-mean volume fractions (``COMPARTMENTS`` order).
        fraction_sd: ``(6,)`` their posterior sd.
        stick_presence: ``(3,)`` weight of the draws whose structure has stick k.
        stick_direction: ``(3, 3)`` axis mean of stick k (rows; unit, z ≥ 0; 0 if absent).
        stick_dispersion: ``(3,)`` 1 − λ₁ of E[μμᵀ] (0: all draws on one axis).
        stick_cone: ``(3,)`` cone of uncertainty at ``level``, degrees.
    """

    valid: Array
    num_sticks_probability: Array
    expected_num_sticks: Array
    map_model: Array
    map_probability: Array
    fraction_mean: Array
    fraction_sd: Array
    stick_presence: Array
    stick_direction: Array
    stick_dispersion: Array
    stick_cone: Array


def required_param_names() -> tuple[str, ...]:
    """θ entries the maps read: every compartment's fraction and the sticks' (u, φ)."""
    names = [f"{c}.f" for c in COMPARTMENTS]
    for s in _STICKS:
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
        family: a :class:`~jaxsbi.dmri.family.DmriFamily` (or its θ names), static.
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
    u_cols = jnp.asarray([col[f"{name}.u"] for name in _STICKS])
    phi_cols = jnp.asarray([col[f"{name}.phi"] for name in _STICKS])

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
        family: a :class:`~jaxsbi.dmri.family.DmriFamily` (or its θ names).
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


def _check_mask(mask, num_voxels: int) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 3:
        raise ValueError(f"mask must be a 3-D volume (X, Y, Z); got shape {m.shape}")
    if m.dtype != np.bool_:
        if not np.isin(m, (0, 1)).all():
            raise ValueError("mask must be boolean (or 0/1)")
        m = m.astype(bool)
    if not m.any():
        raise ValueError("the mask selects no voxel")
    if int(m.sum()) != num_voxels:
        raise ValueError(
            f"the mask selects {int(m.sum())} voxels but the summaries hold {num_voxels}; "
            "pass the mask the voxels were fitted with (data[mask] order)"
        )
    return m


def direction_rgb(direction, brightness) -> np.ndarray:
    """DTI colour convention: RGB = |μ| · brightness (x red, y green, z blue), in [0, 1].

    Args:
        direction: ``(..., 3)`` unit axes (0 where there is none).
        brightness: ``(...)`` scalar in [0, 1] (e.g. FA, or a stick fraction).
    """
    d = np.abs(np.asarray(direction, np.float32))
    b = np.clip(np.asarray(brightness, np.float32), 0.0, 1.0)
    return np.clip(d * b[..., None], 0.0, 1.0)


def volume_maps(
    summary: VoxelSummary,
    mask,
    *,
    probabilities=None,
) -> dict[str, np.ndarray]:
    """Put V voxel summaries back into the volume: a dict of NaN-free maps.

    Maps (``(X, Y, Z)`` unless noted): ``mask`` (fitted, uint8), ``failed`` (uint8),
    ``expected_num_sticks``, ``prob_sticks_k`` (k = 0..3; counts with probability 0 in every
    voxel are left out),
    ``map_model`` (int32 index into the structures), ``map_probability``,
    ``f_<compartment>`` and ``f_<compartment>_sd`` (compartments some structure has),
    ``stick<k>_dir`` ``(X, Y, Z, 3)``, ``stick<k>_rgb`` ``(X, Y, Z, 3)`` (|μ| × the stick's
    mean fraction / its maximum over the volume), ``stick<k>_presence``, ``stick<k>_cone``
    (degrees), ``stick<k>_dispersion``; and with ``probabilities (V, S)``:
    ``model_probabilities`` ``(X, Y, Z, S)``.

    Failed voxels (``summary.valid`` False) are 0 in every map and counted with a warning.

    Raises:
        ValueError: a mask that is not 3-D, is empty, or selects a number of voxels other
            than V.
    """
    num_voxels = int(np.shape(summary.valid)[0])
    m = _check_mask(mask, num_voxels)
    valid = np.asarray(summary.valid, bool)
    failed = ~valid
    if failed.any():
        where = np.argwhere(m)[np.flatnonzero(failed)[0]].tolist()
        warnings.warn(
            f"{int(failed.sum())} of {num_voxels} voxel(s) failed (non-finite posterior output; "
            f"first at voxel {where}); they are 0 in every map and 1 in the 'failed' map",
            stacklevel=2,
        )

    def place(values, dtype=np.float32):
        v = np.asarray(values)
        v = np.where(valid.reshape(-1, *([1] * (v.ndim - 1))), v, 0)
        out = np.zeros((*m.shape, *v.shape[1:]), dtype)
        out[m] = v.astype(dtype)
        return out

    maps: dict[str, np.ndarray] = {
        "mask": place(valid, np.uint8),
        "failed": np.zeros(m.shape, np.uint8),
    }
    maps["failed"][m] = failed.astype(np.uint8)
    maps["expected_num_sticks"] = place(summary.expected_num_sticks)
    p_sticks = np.asarray(summary.num_sticks_probability)
    for k in range(4):
        if np.any(p_sticks[:, k] > 0):  # counts no structure has are left out
            maps[f"prob_sticks_{k}"] = place(p_sticks[:, k])
    maps["map_model"] = place(summary.map_model, np.int32)
    maps["map_probability"] = place(summary.map_probability)
    if probabilities is not None:
        probs = np.asarray(probabilities, np.float32)
        if probs.ndim != 2 or probs.shape[0] != num_voxels:
            raise ValueError(f"probabilities must have shape ({num_voxels}, S), got {probs.shape}")
        maps["model_probabilities"] = place(np.nan_to_num(probs, nan=0.0, posinf=0.0, neginf=0.0))
    f_mean, f_sd = np.asarray(summary.fraction_mean), np.asarray(summary.fraction_sd)
    presence = np.asarray(summary.stick_presence)
    for c, name in enumerate(COMPARTMENTS):
        if np.any(f_mean[:, c] != 0) or np.any(f_sd[:, c] != 0):
            maps[f"f_{name}"] = place(f_mean[:, c])
            maps[f"f_{name}_sd"] = place(f_sd[:, c])
    direction = np.asarray(summary.stick_direction)
    for k, name in enumerate(_STICKS):
        if not np.any(presence[:, k] > 0):
            continue
        f = f_mean[:, 1 + k]
        top = float(f[valid].max()) if valid.any() else 0.0
        maps[f"{name}_dir"] = place(direction[:, k])
        maps[f"{name}_rgb"] = place(direction_rgb(direction[:, k], f / top if top > 0 else f))
        maps[f"{name}_presence"] = place(presence[:, k])
        maps[f"{name}_cone"] = place(np.asarray(summary.stick_cone)[:, k])
        maps[f"{name}_dispersion"] = place(np.asarray(summary.stick_dispersion)[:, k])
    return maps


def _display_range(name: str, v: np.ndarray) -> tuple[float | None, float | None, str]:
    if name.startswith(("f_", "prob_", "map_probability")) or name.endswith("presence"):
        return 0.0, 1.0 if not name.endswith("_sd") else None, "viridis"
    if name == "expected_num_sticks":
        return 0.0, 3.0, "viridis"
    if name == "map_model":
        return 0.0, max(float(v.max()), 1.0), "tab10"
    if name.endswith("cone"):
        return 0.0, None, "magma"
    return None, None, "gray"


def save_montage(
    path,
    volume,
    *,
    num_slices: int = 4,
    title: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "gray",
    dpi: int = 80,
) -> Path:
    """PNG montage of a 3-D map ``(X, Y, Z)`` or an RGB map ``(X, Y, Z, 3)`` in [0, 1]:
    three rows (axial = z slices, coronal = y slices, sagittal = x slices), ``num_slices``
    evenly spaced slices each, voxel axes as stored (first axis left→right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = np.asarray(volume)
    if v.ndim not in (3, 4) or (v.ndim == 4 and v.shape[-1] != 3):
        raise ValueError(f"volume must be (X, Y, Z) or (X, Y, Z, 3); got {v.shape}")
    if np.issubdtype(v.dtype, np.floating) and not np.all(np.isfinite(v)):
        raise ValueError("volume contains NaN/inf values")
    rows = (("axial", 2), ("coronal", 1), ("sagittal", 0))
    cols = max(1, min(num_slices, max(v.shape[:3])))
    fig, axes = plt.subplots(3, cols, figsize=(1.6 * cols + 0.9, 4.9), squeeze=False)
    lo = float(v.min()) if vmin is None else vmin
    hi = float(v.max()) if vmax is None else vmax
    if hi <= lo:
        hi = lo + 1.0
    im = None
    for r, (label, axis) in enumerate(rows):
        size = v.shape[axis]
        picks = np.unique(np.linspace(0, size - 1, min(cols, size)).round().astype(int))
        for c in range(cols):
            ax = axes[r, c]
            ax.axis("off")
            if c >= len(picks):
                continue
            sl = np.take(v, picks[c], axis=axis)  # the two remaining axes, in order
            if v.ndim == 4:
                ax.imshow(np.clip(np.swapaxes(sl, 0, 1), 0, 1), origin="lower")
            else:
                im = ax.imshow(sl.T, origin="lower", cmap=cmap, vmin=lo, vmax=hi)
            ax.set_title(f"{label} {picks[c]}", fontsize=7)
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6)
    if title:
        fig.suptitle(title, fontsize=9)
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def write_maps(out_dir, maps: dict[str, np.ndarray], affine, *, png: bool = True) -> list[Path]:
    """Write each map as ``<name>.nii.gz`` with ``affine (4, 4)`` and, for 3-D and RGB
    maps (not the signed ``*_dir`` axes), a ``<name>.png`` montage (axial / coronal /
    sagittal).

    Raises:
        ValueError: maps of different spatial shapes, NaN in a map, a bad affine.
    """
    out = Path(out_dir)
    written = save_maps(out, maps, affine, png=False)  # validates shapes, NaN/inf, affine
    for name, v in maps.items():
        arr = np.asarray(v)
        # signed axes (``*_dir``) are shown through their |μ| colour maps (``*_rgb``)
        displayable = arr.ndim == 3 or (arr.ndim == 4 and arr.shape[-1] == 3)
        if png and displayable and not name.endswith("_dir"):
            vmin, vmax, cmap = _display_range(name, arr)
            written.append(
                save_montage(out / f"{name}.png", arr, title=name, vmin=vmin, vmax=vmax, cmap=cmap)
            )
    return written


def angle_between_axes(a, b) -> np.ndarray:
    """Angle in degrees between axes ``a (..., 3)`` and ``b (..., 3)`` (sign-invariant)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    cos = np.abs(np.sum(a * b, -1)) / np.maximum(na * nb, 1e-30)
    return np.degrees(np.arccos(np.clip(cos, 0.0, 1.0)))
