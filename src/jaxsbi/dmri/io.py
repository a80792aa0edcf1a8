"""Real data: NIfTI read/write (nibabel), dipy's bundled samples, masks, b0 normalisation,
and maps out as NIfTI plus PNG slices.

Validation policy (:func:`prepare_dwi`): a volume whose last axis does not match the
protocol, a mask of the wrong shape or an empty mask is an error. Inside the mask, voxels
with NaN/inf or negative signals, or a mean b0 ≤ 0 (which cannot be normalised), are an
error by default (``on_invalid="raise"``, the message counts them and names the first);
with ``on_invalid="mask"`` they are removed from the mask and counted in the returned
:class:`PreparedDWI`. Either way no NaN reaches a map silently.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from jaxsbi.dmri.protocol import (
    B0_THRESHOLD,
    Protocol,
    dipy_data_path,
    load_dipy_protocol,
    load_fsl,
)

__all__ = [
    "DIPY_SAMPLES",
    "PreparedDWI",
    "load_nifti",
    "save_nifti",
    "load_dwi",
    "load_dipy_sample",
    "check_dwi",
    "otsu_threshold",
    "b0_mask_otsu",
    "normalize_by_b0",
    "prepare_dwi",
    "save_map_png",
    "save_maps",
]

DIPY_SAMPLES = {
    "small_64D": "small_64D.nii",
    "small_25": "small_25.nii.gz",
    "small_101D": "small_101D.nii.gz",
}
_NIBABEL_HINT = "nibabel is required for NIfTI: pip install nibabel (a jaxsbi dependency)"


def _nib():
    try:
        import nibabel
    except ModuleNotFoundError:
        raise ImportError(_NIBABEL_HINT) from None
    return nibabel


def load_nifti(path, *, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Read a NIfTI image: ``(data, affine (4, 4))``; data scaled by the header's
    slope/intercept and cast to ``dtype`` (None: as nibabel's array proxy gives it — the
    stored dtype when the header sets no scaling)."""
    img = _nib().load(str(path))
    if dtype is None:
        data = np.asarray(img.dataobj)
    else:
        data = np.asarray(
            img.get_fdata(dtype=np.float64 if dtype == np.float64 else np.float32), dtype
        )
    return data, np.asarray(img.affine, np.float64)


def save_nifti(path, data, affine, *, dtype=None) -> Path:
    """Write ``data`` with ``affine (4, 4)`` as NIfTI-1 (``.nii`` or ``.nii.gz``).

    Raises:
        ValueError: an affine that is not a finite 4×4 matrix.
    """
    affine = np.asarray(affine, np.float64)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise ValueError(f"affine must be a finite (4, 4) matrix; got shape {affine.shape}")
    arr = np.asarray(data)
    if dtype is not None:
        arr = arr.astype(dtype)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    elif arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    elif arr.dtype == np.int64:
        if arr.size and (arr.min() < np.iinfo(np.int32).min or arr.max() > np.iinfo(np.int32).max):
            raise ValueError("int64 map values do not fit NIfTI's int32; pass dtype=")
        arr = arr.astype(np.int32)
    nib = _nib()
    img = nib.Nifti1Image(arr, affine)
    img.header.set_data_dtype(arr.dtype)
    path = Path(path)
    nib.save(img, str(path))
    return path


def load_dwi(
    nifti_path, bval_path, bvec_path, **protocol_kwargs
) -> tuple[np.ndarray, np.ndarray, Protocol]:
    """A DWI volume and its FSL gradient files: ``(data (X, Y, Z, n) float32, affine,
    protocol)``; the shapes are checked against each other."""
    data, affine = load_nifti(nifti_path)
    protocol = load_fsl(bval_path, bvec_path, **protocol_kwargs)
    check_dwi(data, protocol)
    return data, affine, protocol


def load_dipy_sample(
    name: str = "small_64D", **protocol_kwargs
) -> tuple[np.ndarray, np.ndarray, Protocol]:
    """A real DWI sample bundled in dipy's wheel: ``(data, affine, protocol)``.

    ``small_64D``: in-vivo ROI 10×10×10×65 (1 b0 + 64 directions at b ≈ 1000, 2 mm; its NaN
    first gradient row is replaced by zeros). ``small_25``: 10×8×2×26 (b = 2000).
    ``small_101D``: 6×10×10×102 DSI q-space.

    Raises:
        ImportError: dipy is not installed (``pip install "jaxsbi[dmri]"``).
    """
    if name not in DIPY_SAMPLES:
        raise ValueError(f"unknown dipy sample {name!r}; known: {', '.join(DIPY_SAMPLES)}")
    protocol_kwargs.setdefault("warn", False)
    data, affine = load_nifti(dipy_data_path(DIPY_SAMPLES[name]))
    protocol = load_dipy_protocol(name, **protocol_kwargs)
    check_dwi(data, protocol)
    return data, affine, protocol


def check_dwi(data, protocol: Protocol, mask=None) -> None:
    """Shapes only: ``data (*spatial, n)`` with n = the protocol's measurements, and a mask
    of shape ``spatial`` that selects at least one voxel.

    Raises:
        ValueError: the first mismatch found.
    """
    shape = np.shape(data)
    n = protocol.num_measurements
    if len(shape) < 2:
        raise ValueError(f"DWI data must have shape (*spatial, n); got {shape}")
    if shape[-1] != n:
        raise ValueError(
            f"DWI data have {shape[-1]} volumes (shape {shape}) but the protocol has {n} "
            "b-values/b-vectors"
        )
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != shape[:-1]:
            raise ValueError(
                f"mask shape {m.shape} does not match the data's spatial shape {shape[:-1]}"
            )
        if not m.astype(bool).any():
            raise ValueError("the mask selects no voxel")


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D sample (maximises the between-class variance)."""
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0 or v.min() == v.max():
        raise ValueError("otsu_threshold needs at least two distinct finite values")
    hist, edges = np.histogram(v, bins=bins)
    centers = 0.5 * (edges[1:] + edges[:-1])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centers) - np.cumsum(hist * centers)) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(centers[np.argmax(between[:-1])])


def b0_mask_otsu(data, protocol: Protocol) -> np.ndarray:
    """A simple foreground mask: mean b0 above its Otsu threshold (``(*spatial,)`` bool)."""
    check_dwi(data, protocol)
    b0 = np.asarray(protocol.bvals) <= B0_THRESHOLD
    if not b0.any():
        raise ValueError("the protocol has no b0 measurement (b <= 50 s/mm²)")
    mean_b0 = np.asarray(data, np.float64)[..., b0].mean(-1)
    return mean_b0 > otsu_threshold(mean_b0)


def normalize_by_b0(data, protocol: Protocol, mask=None) -> np.ndarray:
    """S / mean(S at b0) per voxel, float32 ``(*spatial, n)``; voxels outside ``mask`` and
    voxels with mean b0 ≤ 0 are 0 (use :func:`prepare_dwi` to refuse or count the latter)."""
    check_dwi(data, protocol, mask)
    b0 = np.asarray(protocol.bvals) <= B0_THRESHOLD
    if not b0.any():
        raise ValueError("the protocol has no b0 measurement (b <= 50 s/mm²)")
    x = np.asarray(data)
    mean_b0 = x[..., b0].astype(np.float64).mean(-1)
    with np.errstate(invalid="ignore"):
        ok = mean_b0 > 0
    if mask is not None:
        ok &= np.asarray(mask).astype(bool)
    out = np.zeros(x.shape, np.float32)
    out[ok] = (x[ok].astype(np.float64) / mean_b0[ok][:, None]).astype(np.float32)
    return out


@dataclasses.dataclass(frozen=True)
class PreparedDWI:
    """Normalised data ready for per-voxel inference.

    Attributes:
        signals: ``(*spatial, n)`` float32, S / mean b0 inside ``mask``, 0 outside.
        mask: ``(*spatial,)`` bool, the voxels to fit.
        num_dropped: voxels of the input mask left out (``on_invalid="mask"``), by reason.
    """

    signals: np.ndarray
    mask: np.ndarray
    num_dropped: dict[str, int]


def prepare_dwi(
    data,
    protocol: Protocol,
    mask=None,
    *,
    on_invalid: Literal["raise", "mask"] = "raise",
) -> PreparedDWI:
    """Validate a DWI volume, mask it and normalise by its mean b0.

    ``mask=None`` selects every voxel with finite signals and a positive mean b0 (scanner
    background is 0); for whole-brain data pass a brain mask (e.g. :func:`b0_mask_otsu`, or
    dipy's ``median_otsu``).

    Raises:
        ValueError: shape mismatches; an empty mask (before or after dropping invalid voxels);
            with ``on_invalid="raise"``, masked voxels with NaN/inf, negative signals or a
            mean b0 ≤ 0.
    """
    if on_invalid not in ("raise", "mask"):
        raise ValueError(f"on_invalid must be 'raise' or 'mask', got {on_invalid!r}")
    check_dwi(data, protocol, mask)
    x = np.asarray(data)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"DWI data must be numeric; got dtype {x.dtype}")
    b0 = np.asarray(protocol.bvals) <= B0_THRESHOLD
    if not b0.any():
        raise ValueError("the protocol has no b0 measurement (b <= 50 s/mm²); cannot normalise")
    finite = np.all(np.isfinite(x), axis=-1)
    with np.errstate(invalid="ignore"):
        b0_ok = x[..., b0].astype(np.float64).mean(-1) > 0
        negative = np.any(x < 0, axis=-1)
    m = (finite & b0_ok) if mask is None else np.asarray(mask).astype(bool)
    reasons = {
        "non-finite": ~finite,
        "negative": negative,
        "mean b0 <= 0": ~b0_ok & finite,
    }
    counts = {k: int(np.sum(v & m)) for k, v in reasons.items()}
    bad = np.zeros(m.shape, bool)
    for v in reasons.values():
        bad |= v
    bad &= m
    if bad.any():
        if on_invalid == "raise":
            first = np.argwhere(bad)[0].tolist()
            detail = ", ".join(f"{c} {k}" for k, c in counts.items() if c)
            raise ValueError(
                f"{int(bad.sum())} masked voxel(s) are invalid ({detail}); first at voxel "
                f"{first}. Fix the data or pass on_invalid='mask' to leave them out"
            )
        warnings.warn(
            f"left {int(bad.sum())} invalid voxel(s) out of the mask: {counts}", stacklevel=2
        )
        m = m & ~bad
    if not m.any():
        raise ValueError("the mask selects no (valid) voxel")
    return PreparedDWI(normalize_by_b0(x, protocol, m), m, {k: c for k, c in counts.items() if c})


def save_map_png(
    path,
    volume,
    *,
    axis: int = 2,
    num_slices: int = 4,
    title: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "gray",
) -> Path:
    """PNG of evenly spaced slices of a 3-D map ``(X, Y, Z)`` or an RGB map ``(X, Y, Z, 3)``
    (e.g. |principal direction| × FA, values in [0, 1])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = np.asarray(volume)
    if v.ndim not in (3, 4) or (v.ndim == 4 and v.shape[-1] != 3):
        raise ValueError(f"volume must be (X, Y, Z) or (X, Y, Z, 3); got {v.shape}")
    size = v.shape[axis]
    picks = np.unique(np.linspace(0, size - 1, min(num_slices, size)).round().astype(int))
    fig, axes = plt.subplots(1, len(picks), figsize=(2.4 * len(picks), 2.6), squeeze=False)
    for ax, k in zip(axes[0], picks, strict=True):
        sl = np.take(v, k, axis=axis)
        if v.ndim == 4:
            ax.imshow(np.clip(np.swapaxes(sl, 0, 1), 0, 1), origin="lower")
        else:
            im = ax.imshow(sl.T, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(f"slice {k}", fontsize=8)
        ax.axis("off")
    if v.ndim == 3:
        fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=9)
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_maps(out_dir, maps: dict[str, np.ndarray], affine, *, png: bool = True) -> list[Path]:
    """Write each map as ``<name>.nii.gz`` (and ``<name>.png`` slices for 3-D / RGB maps).

    Raises:
        ValueError: maps of different spatial shapes, or a map containing NaN/inf (fill
            the outside of the mask with a number).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shapes = {k: np.shape(v)[:3] for k, v in maps.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"maps have different spatial shapes: {shapes}")
    written = []
    for name, v in maps.items():
        arr = np.asarray(v)
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            raise ValueError(
                f"map {name!r} contains {int((~np.isfinite(arr)).sum())} NaN/inf value(s)"
            )
        written.append(save_nifti(out / f"{name}.nii.gz", arr, affine))
        if png and (arr.ndim == 3 or (arr.ndim == 4 and arr.shape[-1] == 3)):
            written.append(save_map_png(out / f"{name}.png", arr, title=name))
    return written
