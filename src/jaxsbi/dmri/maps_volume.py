"""Per-voxel posterior summaries into the volume: NaN-free maps, RGB direction colours, NIfTI + PNG.

The second half of the map layer (:mod:`jaxsbi.dmri.maps` computes the summaries):
:func:`volume_maps` puts V voxel summaries back at the mask's voxels (C order, as
``data[mask]``); outside the mask every map is 0 and the ``mask`` map says which voxels were
fitted. A voxel whose summary is invalid (a failed fit) is an error by default
(``on_invalid="raise"``); with ``on_invalid="mark"`` it is counted, warned about, 0 in every
map and 1 in the ``failed`` map — never a silent NaN. :func:`write_maps` writes each map as
NIfTI with the input's affine and PNG montages (axial, coronal, sagittal).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from jaxsbi.dmri.compartments import COMPARTMENTS, STICKS
from jaxsbi.dmri.io import save_maps
from jaxsbi.dmri.voxel_summary import VoxelSummary

__all__ = ["volume_maps", "direction_rgb", "angle_between_axes", "save_montage", "write_maps"]


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
    for k, name in enumerate(STICKS):
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
