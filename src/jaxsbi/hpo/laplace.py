"""The Laplace approximation of the log evidence ln p(D|h) of a hyperparameter-objective model.

ln p(D|h) ≈ ln p(D|ŵ) + ln p(ŵ|h) + (P/2) ln 2π − ½ ln|H|, H = −∇²ln p(D, w|h) at the mode ŵ.
``hessian="exact"`` (autodiff, P ≲ 3000), ``"ggn"`` (generalised Gauss–Newton ΣJᵀΛJ + A:
positive definite by construction) or ``"diag"`` (the diagonal of the GGN, O(P) memory, for
large models). The model is :class:`~jaxsbi.hpo.likelihood.Model`.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.hpo.likelihood import (
    _LOG_2PI,
    Dataset,
    Model,
    _neg_log_joint,
    nll_per_example,
    prior_precision,
)

__all__ = [
    "HessianKind",
    "hessian_nll",
    "LaplaceEvidence",
    "laplace_log_evidence",
]

HessianKind = Literal["exact", "ggn", "diag"]


def _output_hessian(model: Model, f: Array) -> Array:
    """Λ = ∇²_f (−ln p(y|f)): β (Gaussian) or diag(p) − ppᵀ (softmax)."""
    if model.likelihood == "gaussian":
        return jnp.full((1, 1), model.noise_precision, f.dtype)
    p = jax.nn.softmax(f)
    return jnp.diag(p) - p[:, None] * p[None, :]


def hessian_nll(
    model: Model, w: Array, data: Dataset, kind: HessianKind = "ggn", chunk: int = 256
) -> Array:
    """The Hessian of Σ_n −ln p(y_n|x_n, w): ``(P, P)``, or its GGN diagonal ``(P,)``.

    ``"exact"`` differentiates twice; ``"ggn"`` = Σ J_nᵀΛ_nJ_n (positive semidefinite);
    ``"diag"`` = diag(Σ J_nᵀΛ_nJ_n), accumulated over chunks of ``chunk`` examples.
    """
    if kind == "exact":
        return jax.hessian(lambda ww: jnp.sum(nll_per_example(model, ww, data)))(w)

    def per_example(x):
        jac = jax.jacrev(lambda ww: jnp.atleast_1d(model.apply(ww, x)))(w)  # (C, P)
        lam = _output_hessian(model, jnp.atleast_1d(model.apply(w, x)))
        if kind == "ggn":
            return jac.T @ lam @ jac
        return jnp.sum(jac * (lam @ jac), axis=0)

    n = data.x.shape[0]
    c = min(chunk, n)
    num = -(-n // c)
    pad = num * c - n
    xs = jnp.concatenate([data.x, jnp.zeros((pad,) + data.x.shape[1:], data.x.dtype)])
    keep = jnp.concatenate([jnp.ones((n,), w.dtype), jnp.zeros((pad,), w.dtype)])
    xs = xs.reshape((num, c) + data.x.shape[1:])
    keep = keep.reshape(num, c)

    def body(acc, inp):
        xb, kb = inp
        hb = jax.vmap(per_example)(xb)
        kb = kb.reshape((c,) + (1,) * (hb.ndim - 1))
        return acc + jnp.sum(kb * hb, axis=0), None

    shape = (w.shape[0],) * (2 if kind == "ggn" else 1)
    acc, _ = jax.lax.scan(body, jnp.zeros(shape, w.dtype), (xs, keep))
    return acc


class LaplaceEvidence(NamedTuple):
    """Laplace approximation at w.

    Attributes:
        log_evidence: ln p(D|h) ≈ ln p(D, ŵ|h) + (P/2) ln 2π − ½ ln|H|; NaN if H is not
            positive definite.
        log_det: ln|H|, shape ``()``.
        min_eigenvalue: the smallest eigenvalue of H (``exact``/``ggn``: by eigvalsh only when
            the Cholesky factorisation fails, else the smallest pivot²-free lower bound is not
            computed and the field is +inf; ``diag``: the smallest diagonal entry).
    """

    log_evidence: Array
    log_det: Array
    min_eigenvalue: Array


def _laplace(model: Model, w: Array, h: Array, data: Dataset, hessian: HessianKind):
    a = prior_precision(model, h)
    log_joint = -_neg_log_joint(model, w, h, data)
    p = w.shape[0]
    h_nll = hessian_nll(model, w, data, hessian)
    if hessian == "diag":
        d = h_nll + a
        log_det = jnp.sum(jnp.log(d))  # NaN where an entry is not positive
        min_eig = jnp.min(d)
    else:
        mat = h_nll + jnp.diag(a)
        mat = 0.5 * (mat + mat.T)
        chol = jnp.linalg.cholesky(mat)
        log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))  # NaN if not positive definite
        min_eig = jax.lax.cond(
            jnp.all(jnp.isfinite(chol)),
            lambda m: jnp.asarray(jnp.inf, m.dtype),
            lambda m: jnp.linalg.eigvalsh(m)[0],
            mat,
        )
    return LaplaceEvidence(log_joint + 0.5 * p * _LOG_2PI - 0.5 * log_det, log_det, min_eig)


def laplace_log_evidence(
    model: Model, w, h, data: Dataset, hessian: HessianKind = "ggn", *, check: bool = True
) -> LaplaceEvidence:
    """The Laplace approximation of ln p(D|h) at the mode w.

    Args:
        model: the model.
        w: the mode (MAP) of the posterior, shape ``(P,)``.
        h: log prior precisions, shape ``(H,)``.
        data: the training data.
        hessian: ``"exact"``, ``"ggn"`` or ``"diag"`` (see the module docstring).
        check: raise when H is not positive definite (eager calls only).

    Returns:
        :class:`LaplaceEvidence`. Exact for the linear-Gaussian model with any ``hessian``
        except ``"diag"`` (which drops the off-diagonal curvature).

    Raises:
        ValueError: H not positive definite at w (w is no mode; with ``"exact"`` try ``"ggn"``).
    """
    if hessian not in ("exact", "ggn", "diag"):
        raise ValueError(f"hessian must be 'exact', 'ggn' or 'diag'; got {hessian!r}")
    w = jnp.asarray(w)
    h = jnp.asarray(h, w.dtype)
    if w.shape != (len(model.groups),) or h.shape != (model.num_hyper,):
        raise ValueError(
            f"w must have shape ({len(model.groups)},) and h ({model.num_hyper},); got "
            f"{w.shape} and {h.shape}"
        )
    out = jax.jit(lambda ww, hh: _laplace(model, ww, hh, data, hessian))(w, h)
    if (
        check
        and not isinstance(out.log_det, jax.core.Tracer)
        and not np.isfinite(float(out.log_evidence))
    ):
        raise ValueError(
            f"the Hessian of the negative log joint is not positive definite at w (smallest "
            f"eigenvalue {float(out.min_eigenvalue):.4g}): w is not a mode of the posterior, so "
            "the Laplace approximation does not exist there. Fit w to convergence first, or use "
            "hessian='ggn' (positive definite by construction)"
        )
    return out
