"""Deterministic streamline tractography through an orientation field (NumPy).

Coordinates are **voxel coordinates** with voxel centres at integers (voxel (i, j, k) spans
[i − ½, i + ½) × …); :func:`to_world` applies the NIfTI affine. The field is an axis per voxel
``directions (X, Y, Z, 3)`` (e.g. the posterior-mean dominant fibre of
:func:`jaxsbi.dmri.maps.volume_maps`), defined up to sign.

One step from position p with previous direction r (step h voxels):

- **direction lookup** ``dir(p, r)``: nearest voxel's axis, or the trilinear blend of the 8
  surrounding voxels' axes (voxels outside the volume or the tracking mask get weight 0),
  each corner axis flipped to agree with r before blending, then normalised;
- **integrator**: Euler, p' = p + h·dir(p, r); or RK2 (midpoint), d₁ = dir(p, r),
  d₂ = dir(p + ½h·d₁, d₁), p' = p + h·d₂;
- **stopping** (the new point is not kept): p' outside the volume or the mask (nearest
  voxel), the confidence map below ``min_confidence`` at p' (nearest voxel), the turn between
  successive steps above ``max_angle``, no direction (a zero blend), or ``max_steps``.

Each seed is tracked both ways from the seed's own axis and the halves are joined. All
streamlines advance together as NumPy arrays (one vectorised step per iteration), in
batches of seeds, so a whole-brain seeding stays in bounded memory. JAX would add nothing
here: the work is gathers and a variable number of steps per streamline, on the host, after
inference.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

__all__ = [
    "STOP_REASONS",
    "TrackingConfig",
    "Tracts",
    "seeds_from_mask",
    "track",
    "to_world",
    "streamline_lengths",
    "plot_tracts",
]

# Stop codes, per streamline end.
STOP_REASONS = ("max_steps", "left_mask", "low_confidence", "curvature", "no_direction")
_MAX_STEPS, _LEFT, _LOW, _CURV, _NODIR = range(5)
_RUNNING = -1


@dataclasses.dataclass(frozen=True)
class TrackingConfig:
    """Tracking settings.

    Attributes:
        step_size: step length in voxels (> 0).
        max_angle: largest turn between successive steps, degrees, in (0, 180].
        min_confidence: stop where the confidence map (if given) is below it.
        max_steps: steps per direction from the seed.
        integrator: ``"euler"`` or ``"rk2"`` (midpoint).
        interpolation: ``"nearest"`` or ``"trilinear"``.
        bidirectional: track both ways from each seed.
        min_length: drop streamlines shorter than this (voxels).
        batch_size: seeds advanced together (memory ∝ batch_size × max_steps).
    """

    step_size: float = 0.5
    max_angle: float = 45.0
    min_confidence: float = 0.0
    max_steps: int = 500
    integrator: Literal["euler", "rk2"] = "rk2"
    interpolation: Literal["nearest", "trilinear"] = "trilinear"
    bidirectional: bool = True
    min_length: float = 0.0
    batch_size: int = 5000

    def __post_init__(self):
        if not self.step_size > 0:
            raise ValueError(f"step_size must be > 0 voxels, got {self.step_size}")
        if not 0 < self.max_angle <= 180:
            raise ValueError(f"max_angle must be in (0, 180] degrees, got {self.max_angle}")
        if self.max_steps < 1 or self.batch_size < 1:
            raise ValueError("max_steps and batch_size must be >= 1")
        if self.integrator not in ("euler", "rk2"):
            raise ValueError(f"integrator must be 'euler' or 'rk2', got {self.integrator!r}")
        if self.interpolation not in ("nearest", "trilinear"):
            raise ValueError(
                f"interpolation must be 'nearest' or 'trilinear', got {self.interpolation!r}"
            )
        if self.min_length < 0:
            raise ValueError(f"min_length must be >= 0, got {self.min_length}")


class Tracts(NamedTuple):
    """Streamlines in voxel coordinates.

    Attributes:
        streamlines: list of ``(L_i, 3)`` float arrays (from one end through the seed to the
            other).
        seeds: ``(N, 3)`` seed of each streamline.
        stop: ``(N, 2)`` int stop code of the backward and forward ends (index into
            :data:`STOP_REASONS`; −1 for the backward end when tracking one way).
    """

    streamlines: list
    seeds: np.ndarray
    stop: np.ndarray

    def stop_counts(self) -> dict[str, int]:
        """How many streamline ends stopped for each reason."""
        codes = self.stop[self.stop >= 0]
        return {r: int(np.sum(codes == i)) for i, r in enumerate(STOP_REASONS)}


def seeds_from_mask(mask, *, per_axis: int = 1) -> np.ndarray:
    """Seeds on a regular sub-voxel grid in every mask voxel: ``(num_voxels·per_axis³, 3)``
    voxel coordinates (``per_axis = 1``: the voxel centres), C order."""
    m = np.asarray(mask)
    if m.ndim != 3:
        raise ValueError(f"mask must be 3-D, got shape {m.shape}")
    if per_axis < 1:
        raise ValueError(f"per_axis must be >= 1, got {per_axis}")
    m = m.astype(bool)
    if not m.any():
        raise ValueError("the seed mask selects no voxel")
    offs = (np.arange(per_axis) + 0.5) / per_axis - 0.5
    grid = np.stack(np.meshgrid(offs, offs, offs, indexing="ij"), -1).reshape(-1, 3)
    centres = np.argwhere(m).astype(np.float64)
    return (centres[:, None, :] + grid[None]).reshape(-1, 3)


def _check_field(directions, mask, confidence):
    d = np.asarray(directions, np.float64)
    if d.ndim != 4 or d.shape[-1] != 3:
        raise ValueError(f"directions must have shape (X, Y, Z, 3), got {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("directions contain NaN/inf values")
    shape = d.shape[:3]
    norm = np.linalg.norm(d, axis=-1)
    m = norm > 1e-6 if mask is None else np.asarray(mask)
    if m.shape != shape:
        raise ValueError(f"mask shape {m.shape} does not match the field's {shape}")
    m = m.astype(bool)
    if not m.any():
        raise ValueError("the tracking mask selects no voxel")
    unit = np.where(norm[..., None] > 1e-6, d / np.maximum(norm, 1e-30)[..., None], 0.0)
    unit = np.where(m[..., None], unit, 0.0)
    if confidence is None:
        c = None
    else:
        c = np.asarray(confidence, np.float64)
        if c.shape != shape:
            raise ValueError(f"confidence shape {c.shape} does not match the field's {shape}")
        if not np.all(np.isfinite(c)):
            raise ValueError("confidence contains NaN/inf values")
    return unit, m, c


def _nearest(p: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    idx = np.floor(p + 0.5).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < np.asarray(shape)), axis=-1)
    return np.clip(idx, 0, np.asarray(shape) - 1), inside


def _in_mask(mask: np.ndarray, p: np.ndarray) -> np.ndarray:
    idx, inside = _nearest(p, mask.shape)
    return inside & mask[idx[:, 0], idx[:, 1], idx[:, 2]]


def _align(v: np.ndarray, ref: np.ndarray) -> np.ndarray:
    s = np.sign(np.sum(v * ref, -1, keepdims=True))
    return v * np.where(s == 0, 1.0, s)


def _direction(field, p, ref, interpolation):
    """Unit direction at p ``(M, 3)`` agreeing in sign with ref; zero where there is none."""
    shape = field.shape[:3]
    if interpolation == "nearest":
        idx, inside = _nearest(p, shape)
        v = field[idx[:, 0], idx[:, 1], idx[:, 2]] * inside[:, None]
        return _align(v, ref)
    base = np.floor(p).astype(np.int64)
    frac = p - base
    acc = np.zeros_like(p)
    for corner in np.ndindex(2, 2, 2):
        c = np.asarray(corner)
        idx = base + c
        inside = np.all((idx >= 0) & (idx < np.asarray(shape)), axis=-1)
        idx = np.clip(idx, 0, np.asarray(shape) - 1)
        w = np.prod(np.where(c == 1, frac, 1.0 - frac), axis=-1) * inside
        v = field[idx[:, 0], idx[:, 1], idx[:, 2]]
        acc += w[:, None] * _align(v, ref)
    norm = np.linalg.norm(acc, axis=-1, keepdims=True)
    return np.where(norm > 1e-6, acc / np.maximum(norm, 1e-30), 0.0)


def _half(field, mask, confidence, seeds, d0, config: TrackingConfig):
    """Track from ``seeds (M, 3)`` along ``d0 (M, 3)``: list of (L_i, 3) and stop codes."""
    num = seeds.shape[0]
    shape = field.shape[:3]
    h = config.step_size
    cos_max = np.cos(np.radians(config.max_angle))
    pos, prev = seeds.copy(), d0.copy()
    stop = np.full(num, _RUNNING, np.int64)
    stop[np.linalg.norm(d0, axis=-1) < 0.5] = _NODIR
    steps = [seeds.copy()]
    count = np.ones(num, np.int64)
    for _ in range(config.max_steps):
        run = np.flatnonzero(stop == _RUNNING)
        if run.size == 0:
            break
        p, r = pos[run], prev[run]
        d1 = _direction(field, p, r, config.interpolation)
        nodir = np.linalg.norm(d1, axis=-1) < 0.5
        mid_in = np.ones(run.size, bool)
        if config.integrator == "rk2":
            mid = p + 0.5 * h * d1
            mid_in = _in_mask(mask, mid)
            d = _direction(field, mid, d1, config.interpolation)
            # a midpoint outside the mask is leaving it, not a hole in the field
            nodir |= mid_in & (np.linalg.norm(d, axis=-1) < 0.5)
            d = np.where((mid_in & ~nodir)[:, None], d, 0.0)
        else:
            d = d1
        curv = ~nodir & mid_in & (np.sum(d * r, -1) < cos_max)
        new = p + h * d
        idx, _ = _nearest(new, shape)
        in_mask = mid_in & _in_mask(mask, new)
        low = np.zeros(run.size, bool)
        if confidence is not None:
            low = confidence[idx[:, 0], idx[:, 1], idx[:, 2]] < config.min_confidence
        code = np.full(run.size, _RUNNING)
        code[low & in_mask] = _LOW
        code[~in_mask] = _LEFT
        code[curv] = _CURV
        code[nodir] = _NODIR
        stop[run] = code
        ok = code == _RUNNING
        moved = run[ok]
        pos[moved], prev[moved] = new[ok], d[ok]
        record = np.full((num, 3), np.nan)
        record[moved] = new[ok]
        steps.append(record)
        count[moved] += 1
    stop[stop == _RUNNING] = _MAX_STEPS
    track = np.stack(steps, axis=1)  # (M, steps, 3); NaN after a streamline stopped
    return [track[i, : count[i]] for i in range(num)], stop


def track(
    directions,
    seeds,
    *,
    mask=None,
    confidence=None,
    config: TrackingConfig = TrackingConfig(),
) -> Tracts:
    """Deterministic tracking through an axis field (see the module docstring).

    Args:
        directions: ``(X, Y, Z, 3)`` axes (any sign; zero vectors: no fibre).
        seeds: ``(N, 3)`` voxel coordinates.
        mask: ``(X, Y, Z)`` bool tracking mask (default: voxels with a non-zero axis).
        confidence: optional ``(X, Y, Z)`` map (e.g. the stick's fraction or the posterior
            probability of a fibre) compared with ``config.min_confidence``.
        config: :class:`TrackingConfig`.

    Returns:
        :class:`Tracts` (streamlines shorter than ``config.min_length`` voxels removed, with
        their seeds and stop codes).

    Raises:
        ValueError: fields and masks of different shapes, NaN/inf fields, an empty mask,
            seeds not of shape (N, 3) or not finite.
    """
    field, m, conf = _check_field(directions, mask, confidence)
    s = np.asarray(seeds, np.float64)
    if s.ndim != 2 or s.shape[1] != 3 or s.shape[0] == 0:
        raise ValueError(f"seeds must have shape (N, 3) with N >= 1, got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("seeds contain NaN/inf values")
    lines, stops = [], []
    for start in range(0, s.shape[0], config.batch_size):
        batch = s[start : start + config.batch_size]
        idx, inside = _nearest(batch, field.shape[:3])
        d0 = (
            field[idx[:, 0], idx[:, 1], idx[:, 2]]
            * (inside & m[idx[:, 0], idx[:, 1], idx[:, 2]])[:, None]
        )
        if config.interpolation == "trilinear":
            d0 = _direction(field, batch, d0, "trilinear")
        fwd, stop_f = _half(field, m, conf, batch, d0, config)
        if config.bidirectional:
            bwd, stop_b = _half(field, m, conf, batch, -d0, config)
            lines += [np.concatenate([b[::-1], f[1:]]) for b, f in zip(bwd, fwd, strict=True)]
        else:
            stop_b = np.full_like(stop_f, _RUNNING)
            lines += fwd
        stops.append(np.stack([stop_b, stop_f], axis=1))
    stop = np.concatenate(stops)
    keep = np.asarray([_length(line) >= config.min_length for line in lines], bool)
    return Tracts([ln for ln, k in zip(lines, keep, strict=True) if k], s[keep], stop[keep])


def _length(points: np.ndarray) -> float:
    return float(np.sum(np.linalg.norm(np.diff(points, axis=0), axis=-1)))


def to_world(points, affine) -> np.ndarray:
    """Voxel coordinates ``(..., 3)`` to world (scanner, mm) coordinates by ``affine (4, 4)``."""
    a = np.asarray(affine, np.float64)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise ValueError(f"affine must be a finite (4, 4) matrix, got shape {a.shape}")
    p = np.asarray(points, np.float64)
    if p.shape[-1:] != (3,):
        raise ValueError(f"points must have shape (..., 3), got {p.shape}")
    return p @ a[:3, :3].T + a[:3, 3]


def streamline_lengths(streamlines, affine=None) -> np.ndarray:
    """Length of each streamline: voxels, or mm with an ``affine``."""
    return np.asarray(
        [_length(s if affine is None else to_world(s, affine)) for s in streamlines], np.float64
    )


def plot_tracts(
    path,
    tracts: Tracts | list,
    background,
    *,
    title: str | None = None,
    slices: tuple[int, int, int] | None = None,
    slab: float | None = None,
    max_lines: int = 5000,
    dpi: int = 90,
) -> Path:
    """PNG of streamlines projected on the three planes (axial x–y, coronal x–z, sagittal
    y–z) over slices ``(x, y, z)`` (default the middle ones) of ``background (X, Y, Z)``
    (e.g. an FA map), each segment coloured by its direction (|dx|, |dy|, |dz|) as in DTI
    colour maps. With ``slab``, each view shows only the segments within ``slab`` voxels of
    its slice (a thick-slice view; the default projects everything)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    lines = tracts.streamlines if isinstance(tracts, Tracts) else list(tracts)
    bg = np.asarray(background, np.float64)
    if bg.ndim != 3 or not np.all(np.isfinite(bg)):
        raise ValueError(f"background must be a finite (X, Y, Z) map, got shape {bg.shape}")
    lines = [s for s in lines if len(s) > 1][:max_lines]
    picks = tuple(n // 2 for n in bg.shape) if slices is None else tuple(int(k) for k in slices)
    if len(picks) != 3 or any(not 0 <= k < n for k, n in zip(picks, bg.shape, strict=True)):
        raise ValueError(f"slices must be 3 indices inside {bg.shape}, got {slices}")
    views = (("axial", 2, (0, 1)), ("coronal", 1, (0, 2)), ("sagittal", 0, (1, 2)))
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    for ax, (label, axis, (a, b)) in zip(axes, views, strict=True):
        sl = np.take(bg, picks[axis], axis=axis)
        ax.imshow(
            sl.T,
            origin="lower",
            cmap="gray",
            alpha=0.8,
            extent=(-0.5, bg.shape[a] - 0.5, -0.5, bg.shape[b] - 0.5),
        )
        segs = np.zeros((0, 2, 3))
        if lines:
            segs = np.concatenate([np.stack([s[:-1], s[1:]], axis=1) for s in lines])
        if slab is not None:
            near = np.all(np.abs(segs[:, :, axis] - picks[axis]) <= slab, axis=1)
            segs = segs[near]
        if len(segs):
            d = np.abs(segs[:, 1] - segs[:, 0])
            colour = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
            ax.add_collection(LineCollection(segs[:, :, [a, b]], colors=colour, linewidths=0.6))
        ax.set_xlim(-0.5, bg.shape[a] - 0.5)
        ax.set_ylim(-0.5, bg.shape[b] - 0.5)
        what = "projection" if slab is None else f"slab ±{slab:g}"
        ax.set_title(f"{label} {what} (slice {picks[axis]})", fontsize=8)
        ax.set_xlabel("xyz"[a], fontsize=8)
        ax.set_ylabel("xyz"[b], fontsize=8)
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
