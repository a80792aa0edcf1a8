"""Reference diffusion-tensor (DTI) fit: weighted linear least squares in JAX.

log S = log S0 − b gᵀDg is linear in (D_xx, D_xy, D_yy, D_xz, D_yz, D_zz, log S0). The fit is
the two-pass WLLS of Chung et al. (2006), as in dipy's ``TensorModel(fit_method="WLS")``:
an ordinary least-squares pass, then weights equal to the squared OLS-predicted signal.
Signals below ``min_signal`` are raised to it before the log (dipy's default is 1e-4 on the
raw scale). Eigenvalues are clipped at 0 (dipy's ``min_diffusivity=0``).

Internally b is in ms/µm² (b / 1000) so that the unknowns are O(1) in float32; results are
returned in mm²/s. One voxel per call; batch with ``vmap`` or :func:`jaxsbi.dmri.volume.map_voxels`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from jaxsbi.dmri.protocol import Protocol

__all__ = ["TensorFit", "dti_design", "fit_tensor", "fractional_anisotropy"]


class TensorFit(NamedTuple):
    """One voxel's tensor fit.

    Attributes:
        evals: ``(3,)`` eigenvalues, descending, mm²/s (≥ 0).
        evecs: ``(3, 3)`` eigenvectors as columns (``evecs[:, 0]`` is the principal axis).
        s0: ``()`` fitted non-diffusion-weighted signal.
        fa: ``()`` fractional anisotropy in [0, 1].
        md: ``()`` mean diffusivity, mm²/s.
    """

    evals: Array
    evecs: Array
    s0: Array
    fa: Array
    md: Array


def dti_design(protocol: Protocol) -> Array:
    """``(n, 7)`` design of log S on (Dxx, Dxy, Dyy, Dxz, Dyz, Dzz, log S0), b in ms/µm²."""
    b = protocol.bvals / 1000.0
    gx, gy, gz = protocol.bvecs[:, 0], protocol.bvecs[:, 1], protocol.bvecs[:, 2]
    cols = [gx * gx, 2 * gx * gy, gy * gy, 2 * gx * gz, 2 * gy * gz, gz * gz]
    return jnp.stack([-b * c for c in cols] + [jnp.ones_like(b)], axis=1)


def fractional_anisotropy(evals: Array) -> Array:
    """FA of eigenvalues ``(..., 3)``; 0 for an all-zero tensor."""
    l1, l2, l3 = evals[..., 0], evals[..., 1], evals[..., 2]
    num = (l1 - l2) ** 2 + (l2 - l3) ** 2 + (l3 - l1) ** 2
    den = l1**2 + l2**2 + l3**2
    return jnp.where(den > 0, jnp.sqrt(0.5 * num / jnp.where(den > 0, den, 1.0)), 0.0)


def _lstsq(a: Array, y: Array) -> Array:
    """min ‖a c − y‖ for a small ``a (n, k)`` by Householder QR in plain jnp ops.

    No LAPACK custom call: LAPACK kernels running concurrently on several forced host devices
    deadlocked in our tests (jaxlib 0.10.2, 2 cores), and tiny per-voxel solves vmap into
    batched elementwise code anyway.
    """
    n, k = a.shape
    rows = jnp.arange(n)

    def reflect(j, carry):
        a, y = carry
        col = jnp.where(rows >= j, jax.lax.dynamic_index_in_dim(a, j, 1, keepdims=False), 0.0)
        norm = jnp.linalg.norm(col)
        alpha = -jnp.where(col[j] >= 0, 1.0, -1.0) * norm
        v = col - jnp.where(rows == j, alpha, 0.0)
        vv = jnp.sum(v * v)
        scale = jnp.where(vv > 0, 2.0 / jnp.where(vv > 0, vv, 1.0), 0.0)
        return a - scale * jnp.outer(v, v @ a), y - scale * v * (v @ y)

    a, y = jax.lax.fori_loop(0, k, reflect, (a, y))
    r, qty = a[:k], y[:k]

    def back(t, c):
        i = k - 1 - t
        return c.at[i].set((qty[i] - r[i] @ c) / r[i, i])

    return jax.lax.fori_loop(0, k, back, jnp.zeros((k,), a.dtype))


def _solve(x: Array, y: Array, w: Array) -> Array:
    sw = jnp.sqrt(w)
    return _lstsq(sw[:, None] * x, sw * y)


_PAIRS = ((0, 1), (0, 2), (1, 2))


def _eigh3(d: Array, sweeps: int = 8) -> tuple[Array, Array]:
    """Eigen-decomposition of a symmetric 3×3 matrix by cyclic Jacobi rotations (plain jnp
    ops, see :func:`_lstsq`); eigenvalues ascending, eigenvectors as columns."""
    pairs = jnp.asarray(_PAIRS * sweeps, jnp.int32)
    eye = jnp.eye(3, dtype=d.dtype)

    def rotate(carry, pq):
        d, v = carry
        p, q = pq[0], pq[1]
        apq, app, aqq = d[p, q], d[p, p], d[q, q]
        small = jnp.abs(apq) <= 1e-30 * (jnp.abs(app) + jnp.abs(aqq) + 1e-30)
        tau = (aqq - app) / (2.0 * jnp.where(small, 1.0, apq))
        t = jnp.where(tau >= 0, 1.0, -1.0) / (jnp.abs(tau) + jnp.sqrt(1.0 + tau**2))
        t = jnp.where(small, 0.0, t)
        c = 1.0 / jnp.sqrt(1.0 + t**2)
        s = t * c
        rot = eye.at[p, p].set(c).at[q, q].set(c).at[p, q].set(s).at[q, p].set(-s)
        return (rot.T @ d @ rot, v @ rot), None

    (d, v), _ = jax.lax.scan(rotate, (d, eye), pairs)
    evals = jnp.diagonal(d)
    order = jnp.argsort(evals)
    return evals[order], v[:, order]


def fit_tensor(
    protocol: Protocol, signal: Array, *, min_signal: float = 1e-4, weighted: bool = True
) -> TensorFit:
    """Fit a diffusion tensor to one voxel.

    Args:
        protocol: the voxel's protocol (n measurements, at least 7 with ≥ 6 distinct
            directions for a well-posed fit).
        signal: ``(n,)`` signals (any scale; raw or normalised by b0).
        min_signal: floor applied before the log.
        weighted: two-pass WLLS (True) or OLS only.

    Returns:
        :class:`TensorFit`.
    """
    x = dti_design(protocol)
    y = jnp.log(jnp.maximum(signal, min_signal))
    beta = _solve(x, y, jnp.ones_like(y))
    if weighted:
        beta = _solve(x, y, jnp.exp(2.0 * (x @ beta)))
    dxx, dxy, dyy, dxz, dyz, dzz, log_s0 = (beta[i] for i in range(7))
    d = jnp.stack(
        [jnp.stack([dxx, dxy, dxz]), jnp.stack([dxy, dyy, dyz]), jnp.stack([dxz, dyz, dzz])]
    )
    evals, evecs = _eigh3(d)
    evals, evecs = jnp.maximum(evals[::-1], 0.0), evecs[:, ::-1]
    evals = evals * 1e-3  # µm²/ms -> mm²/s
    return TensorFit(
        evals=evals,
        evecs=evecs,
        s0=jnp.exp(log_s0),
        fa=fractional_anisotropy(evals),
        md=jnp.mean(evals),
    )
