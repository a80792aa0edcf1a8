"""Acquisition protocols as data: b-values and unit gradient directions.

A :class:`Protocol` is a pytree ``(bvals (n,), bvecs (n, 3))`` with b in s/mm² (the scanner's
unit; 1000 s/mm² = 1 ms/µm²). Build one with :func:`make_protocol`, which validates the table,
from FSL-style text files (:func:`load_fsl`), from the tables bundled in dipy's wheel
(:func:`load_dipy_protocol`), or synthetically: :func:`random_multishell` (jit-able, one per
simulation), :func:`uk_biobank_like`, :func:`hcp_like`.

Measurements with b ≤ ``B0_THRESHOLD`` (50 s/mm², dipy's default) count as b0: their gradient
rows may be anything finite (zero rows are common) and NaN rows there are replaced by zeros
(dipy's ``small_64D.bvec`` starts with ``nan nan nan``). Every other row must be a unit vector
within 1e-3.
"""

from __future__ import annotations

import functools
import math
import warnings
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = [
    "B0_THRESHOLD",
    "DIPY_TABLES",
    "Protocol",
    "make_protocol",
    "load_fsl",
    "load_dipy_protocol",
    "dipy_data_path",
    "random_multishell",
    "multishell_from_normals",
    "uk_biobank_like",
    "hcp_like",
    "fibonacci_hemisphere",
    "repulsion_axes",
]

B0_THRESHOLD = 50.0
_UNIT_TOL = 1e-3
_DIPY_HINT = 'dipy is not installed; install the optional extra: pip install "jaxsbi[dmri]"'

# name -> ("fsl", bval file, bvec file) or ("scaled", table file): rows b·g, b = |row|.
DIPY_TABLES: dict[str, tuple[str, ...]] = {
    "small_64D": ("fsl", "small_64D.bval", "small_64D.bvec"),
    "small_25": ("fsl", "small_25.bval", "small_25.bvec"),
    "small_101D": ("fsl", "small_101D.bval", "small_101D.bvec"),
    "55dir_grad": ("fsl", "55dir_grad.bval", "55dir_grad.bvec"),
    "gtab_3shell": ("scaled", "gtab_3shell.txt"),
    "gtab_isbi2013_2shell": ("scaled", "gtab_isbi2013_2shell.txt"),
}


class Protocol(NamedTuple):
    """An acquisition protocol (a pytree; batch with leading axes).

    Attributes:
        bvals: ``(n,)`` b-values in s/mm².
        bvecs: ``(n, 3)`` gradient directions (unit rows; zero rows allowed at b0).
    """

    bvals: Array
    bvecs: Array

    @property
    def num_measurements(self) -> int:
        return int(self.bvals.shape[-1])

    def b0_mask(self, threshold: float = B0_THRESHOLD) -> Array:
        """``(n,)`` bool: measurements with b ≤ ``threshold``."""
        return self.bvals <= threshold


def make_protocol(
    bvals,
    bvecs,
    *,
    b0_threshold: float = B0_THRESHOLD,
    normalize: bool = False,
    warn: bool = True,
) -> Protocol:
    """Validate a gradient table and return it as a float32 :class:`Protocol`.

    Args:
        bvals: ``(n,)`` b-values in s/mm², finite and ≥ 0.
        bvecs: ``(n, 3)`` directions. A ``(3, n)`` array (the FSL file layout) is refused
            with a hint to transpose it (use :func:`load_fsl` for files).
        b0_threshold: b-values at or below it are b0 measurements.
        normalize: rescale non-unit rows (b > threshold) to unit length instead of refusing
            them; zero rows at b > threshold are still refused.
        warn: emit a warning that counts NaN rows replaced by zeros at b0.

    Raises:
        ValueError: shapes that do not match, NaN/inf or negative b-values, NaN gradient rows
            at b > threshold, non-unit directions (beyond 1e-3) at b > threshold.
    """
    b = np.asarray(bvals, dtype=np.float64)
    g = np.array(bvecs, dtype=np.float64)
    if b.ndim != 1 or b.size == 0:
        raise ValueError(f"bvals must have shape (n,) with n >= 1; got shape {b.shape}")
    n = b.shape[0]
    if g.shape != (n, 3):
        hint = " (it looks transposed: pass bvecs.T)" if g.shape == (3, n) else ""
        raise ValueError(
            f"bvecs must have shape (n, 3) = ({n}, 3) to match bvals; got {g.shape}{hint}"
        )
    if not np.all(np.isfinite(b)):
        raise ValueError(f"bvals contain NaN/inf at index(es) {np.flatnonzero(~np.isfinite(b))}")
    if np.any(b < 0):
        raise ValueError(f"bvals must be >= 0; negative at index(es) {np.flatnonzero(b < 0)}")
    is_b0 = b <= b0_threshold
    bad_rows = ~np.all(np.isfinite(g), axis=1)
    if np.any(bad_rows & ~is_b0):
        idx = np.flatnonzero(bad_rows & ~is_b0)
        raise ValueError(f"bvecs contain NaN/inf at diffusion-weighted row(s) {idx} (b > 0)")
    num_replaced = int(np.sum(bad_rows))
    if num_replaced:
        g[bad_rows] = 0.0
        if warn:
            warnings.warn(
                f"replaced {num_replaced} NaN gradient row(s) at b0 by zeros", stacklevel=2
            )
    norms = np.linalg.norm(g, axis=1)
    dw = ~is_b0
    if normalize:
        if np.any(dw & (norms == 0)):
            idx = np.flatnonzero(dw & (norms == 0))
            raise ValueError(f"zero gradient direction at diffusion-weighted row(s) {idx}")
        g[dw] = g[dw] / norms[dw, None]
    else:
        off = dw & (np.abs(norms - 1.0) > _UNIT_TOL)
        if np.any(off):
            idx = np.flatnonzero(off)
            raise ValueError(
                f"bvecs must be unit vectors (within {_UNIT_TOL}) where b > {b0_threshold}; "
                f"row(s) {idx[:10]} have norm(s) {np.round(norms[idx[:10]], 4)} "
                "(pass normalize=True to rescale them)"
            )
    return Protocol(jnp.asarray(b, jnp.float32), jnp.asarray(g, jnp.float32))


def _read_bvec(path: Path) -> np.ndarray:
    g = np.loadtxt(path, dtype=np.float64, ndmin=2)
    if g.shape[0] == 3 and g.shape[1] != 3:
        g = g.T
    return g


def load_fsl(bval_path, bvec_path, **kwargs) -> Protocol:
    """Read an FSL ``.bval`` / ``.bvec`` pair (either orientation of the bvec table).

    Keyword arguments go to :func:`make_protocol`.
    """
    b = np.loadtxt(bval_path, dtype=np.float64, ndmin=1).ravel()
    g = _read_bvec(Path(bvec_path))
    if g.shape == (3, 3) and b.shape[0] == 3:
        # Ambiguous 3x3 table: FSL files are (3, n).
        g = g.T
    return make_protocol(b, g, **kwargs)


def dipy_data_path(name: str) -> Path:
    """Path of a file in dipy's bundled data folder (``dipy/data/files``).

    Raises:
        ImportError: dipy is not installed (the message names the ``dmri`` extra).
        FileNotFoundError: no such file in the installed dipy.
    """
    try:
        root = resources.files("dipy") / "data" / "files"
    except ModuleNotFoundError:
        raise ImportError(_DIPY_HINT) from None
    path = Path(str(root / name))
    if not path.is_file():
        raise FileNotFoundError(f"{name!r} is not among dipy's bundled data files ({root})")
    return path


def load_dipy_protocol(name: str, **kwargs) -> Protocol:
    """A gradient table bundled in dipy's wheel, by name (see :data:`DIPY_TABLES`).

    ``small_64D`` has a NaN first gradient row (its b0), replaced by zeros (with a warning
    unless ``warn=False``). Scaled tables (``gtab_*.txt``, rows b·g) are split into
    b = |row| and g = row / b.
    """
    if name not in DIPY_TABLES:
        raise ValueError(f"unknown dipy table {name!r}; known: {', '.join(DIPY_TABLES)}")
    kind, *files = DIPY_TABLES[name]
    if kind == "fsl":
        return load_fsl(dipy_data_path(files[0]), dipy_data_path(files[1]), **kwargs)
    rows = np.loadtxt(dipy_data_path(files[0]), delimiter=",", dtype=np.float64)
    b = np.linalg.norm(rows, axis=1)
    g = np.divide(rows, b[:, None], out=np.zeros_like(rows), where=b[:, None] > 0)
    return make_protocol(b, g, **kwargs)


def random_multishell(
    key: Array,
    n: int,
    *,
    b_max: float = 4000.0,
    b0_fraction: float = 0.01,
    num_b0: int = 1,
    shells: tuple[float, ...] | None = None,
) -> Protocol:
    """A random protocol of ``n`` measurements (pure; jit/vmap-able).

    The first ``num_b0`` measurements are b0 (so every protocol can be normalised by its
    mean b0); each other one is b0 with probability ``b0_fraction``, else its b-value is
    U[0, b_max] (``shells=None``) or drawn uniformly from ``shells``. Directions are uniform
    on the sphere; b0 rows are zero.

    Returns:
        :class:`Protocol` with ``bvals (n,)``, ``bvecs (n, 3)``.
    """
    if not 0 < num_b0 <= n:
        raise ValueError(f"num_b0 must be in 1..n={n}, got {num_b0}")
    if not 0.0 <= b0_fraction < 1.0:
        raise ValueError(f"b0_fraction must be in [0, 1), got {b0_fraction}")
    if not b_max > 0:
        raise ValueError(f"b_max must be > 0, got {b_max}")
    if shells is not None and (len(shells) == 0 or min(shells) <= 0):
        raise ValueError(f"shells must be a non-empty tuple of positive b-values, got {shells}")
    z = jax.random.normal(key, (n, 5))
    return multishell_from_normals(
        z, b_max=b_max, b0_fraction=b0_fraction, num_b0=num_b0, shells=shells
    )


def multishell_from_normals(
    z: Array,
    *,
    b_max: float = 4000.0,
    b0_fraction: float = 0.01,
    num_b0: int = 1,
    shells: tuple[float, ...] | None = None,
) -> Protocol:
    """:func:`random_multishell` from standard normals ``z (n, 5)`` (one random draw, which
    keeps compiled simulators small): columns 0–1 give b and the b0 coin through Φ(z),
    columns 2–4 the direction."""
    n = z.shape[0]
    u_b, u_0 = jax.scipy.special.ndtr(z[:, 0]), jax.scipy.special.ndtr(z[:, 1])
    if shells is None:
        b = b_max * u_b
    else:
        pick = jnp.minimum(jnp.floor(u_b * len(shells)).astype(jnp.int32), len(shells) - 1)
        b = jnp.asarray(shells, jnp.float32)[pick]
    is_b0 = (jnp.arange(n) < num_b0) | (u_0 < b0_fraction)
    v = z[:, 2:5]
    g = v / jnp.linalg.norm(v, axis=-1, keepdims=True)
    return Protocol(jnp.where(is_b0, 0.0, b), jnp.where(is_b0[:, None], 0.0, g))


def fibonacci_hemisphere(n: int) -> np.ndarray:
    """``(n, 3)`` near-uniform unit directions on the upper hemisphere (z > 0)."""
    i = np.arange(n) + 0.5
    z = 1.0 - i / n
    r = np.sqrt(1.0 - z**2)
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def repulsion_axes(n: int, *, num_iter: int = 300, twist: float = 0.0) -> np.ndarray:
    """``(n, 3)`` well-spread axes (±g identified) on the upper hemisphere, deterministic.

    Electrostatic repulsion between the 2n points ±g (energy Σ 1/|g_i ∓ g_j|), started from
    a Fibonacci set rotated by ``twist`` radians about z, by projected gradient steps.
    """
    g = fibonacci_hemisphere(n)
    c, s = math.cos(twist), math.sin(twist)
    g = g @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T
    off = ~np.eye(n, dtype=bool)
    step = 0.2 / n
    for _ in range(num_iter):
        # |g_i ∓ g_j|² = 2 ∓ 2 g_i·g_j; force on i: Σ_j (g_i − g_j)/|·|³ + (g_i + g_j)/|·|³
        dots = g @ g.T
        inv_minus = np.where(off, np.maximum(2.0 - 2.0 * dots, 1e-12) ** -1.5, 0.0)
        inv_plus = np.maximum(2.0 + 2.0 * dots, 1e-12) ** -1.5
        force = g * (inv_minus + inv_plus).sum(1, keepdims=True) - (inv_minus - inv_plus) @ g
        force -= np.sum(force * g, axis=1, keepdims=True) * g  # tangent part
        g = g + step * force / max(np.abs(force).max(), 1e-12)
        g /= np.linalg.norm(g, axis=1, keepdims=True)
    return np.where(g[:, 2:3] < 0, -g, g)


def _shelled(num_b0: int, shells: tuple[float, ...], per_shell: int) -> Protocol:
    # One repulsion set per shell, each started from a differently twisted spiral.
    k = len(shells)
    b = [np.zeros(num_b0)] + [np.full(per_shell, s) for s in shells]
    g = [np.zeros((num_b0, 3))] + [
        repulsion_axes(per_shell, twist=2 * math.pi * j / (3 * k)) for j in range(k)
    ]
    return make_protocol(np.concatenate(b), np.concatenate(g))


@functools.cache
def uk_biobank_like() -> Protocol:
    """UK-Biobank-like: 5 b0 + 50 directions at b = 1000 + 50 at b = 2000 (105 volumes)."""
    return _shelled(5, (1000.0, 2000.0), 50)


@functools.cache
def hcp_like() -> Protocol:
    """HCP-like: 18 b0 + 90 directions at each of b = 1000, 2000, 3000 (288 volumes)."""
    return _shelled(18, (1000.0, 2000.0, 3000.0), 90)
