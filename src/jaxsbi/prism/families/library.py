"""The symbolic-regression family: K switchable terms of a 30-term basis library and five noise
models (:func:`symbolic_family`).

y(x) = Σ_k M_k a_k g_k(x; b_k) + noise, with amplitudes a_k ~ N(0, 1), shape parameters
b_k ~ U(lo, hi) (a frequency, a decay length, a centre) and uniform priors on the noise
parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.prism.families.family import _NORMAL, _UNIFORM, X_MAX, SymbolicFamily, _grid

__all__ = ["BASIS_LIBRARY", "NOISE_MODELS", "Basis", "symbolic_family"]


class Basis(NamedTuple):
    """A basis term ``g(x; b)``; ``shape_prior`` is ``(lo, hi)`` of U(lo, hi) for b, or None."""

    name: str
    fn: Callable[[Array, Array], Array]
    shape_prior: tuple[float, float] | None = None


def _gauss(x, c, w):
    return jnp.exp(-0.5 * ((x - c) / w) ** 2)


# Every term is O(1) on [0, 10) for every shape parameter in its prior range.
BASIS_LIBRARY: tuple[Basis, ...] = (
    Basis("const", lambda x, b: jnp.ones_like(x)),
    Basis("linear", lambda x, b: x / X_MAX),
    Basis("sin", lambda x, b: jnp.sin(b * x), (0.5, 2.5)),
    Basis("exp_decay", lambda x, b: jnp.exp(-x / b), (0.5, 5.0)),
    Basis("gauss_bump", lambda x, b: _gauss(x, b, 1.0), (2.0, 8.0)),
    Basis("quadratic", lambda x, b: (x / X_MAX) ** 2),
    Basis("cos", lambda x, b: jnp.cos(b * x), (0.5, 2.5)),
    Basis("log", lambda x, b: jnp.log1p(x) / math.log1p(X_MAX)),
    Basis("sqrt", lambda x, b: jnp.sqrt(x / X_MAX)),
    Basis("tanh_step", lambda x, b: jnp.tanh((x - b) / 0.7), (2.0, 8.0)),
    Basis("rational", lambda x, b: 1.0 / (1.0 + (x / b) ** 2), (0.5, 5.0)),
    Basis("cubic", lambda x, b: (x / X_MAX) ** 3),
    Basis("sin_slow", lambda x, b: jnp.sin(b * x), (0.1, 0.5)),
    Basis("cos_fast", lambda x, b: jnp.cos(b * x), (2.5, 5.0)),
    Basis("exp_growth", lambda x, b: jnp.exp((x - X_MAX) / b), (1.0, 5.0)),
    Basis("sin_fast", lambda x, b: jnp.sin(b * x), (2.5, 5.0)),
    Basis("cos_slow", lambda x, b: jnp.cos(b * x), (0.1, 0.5)),
    Basis("damped_sin", lambda x, b: jnp.exp(-x / 5.0) * jnp.sin(b * x), (0.5, 3.0)),
    Basis("sigmoid", lambda x, b: jax.nn.sigmoid(x - b), (2.0, 8.0)),
    Basis("gauss_narrow", lambda x, b: _gauss(x, b, 0.3), (1.0, 9.0)),
    Basis("gauss_wide", lambda x, b: _gauss(x, b, 3.0), (0.0, 10.0)),
    Basis("quartic", lambda x, b: (x / X_MAX) ** 4),
    Basis("inv_sqrt", lambda x, b: 1.0 / jnp.sqrt(1.0 + x)),
    Basis("x_sin", lambda x, b: (x / X_MAX) * jnp.sin(b * x), (0.5, 3.0)),
    Basis("sinc", lambda x, b: jnp.sinc((x - 5.0) / b), (0.5, 2.0)),
    Basis("abs_kink", lambda x, b: jnp.abs(x - b) / X_MAX, (2.0, 8.0)),
    Basis("hinge", lambda x, b: jnp.maximum(x - b, 0.0) / X_MAX, (2.0, 8.0)),
    Basis("smooth_square", lambda x, b: jnp.tanh(3.0 * jnp.sin(b * x)), (0.5, 2.0)),
    Basis("log_ratio", lambda x, b: jnp.log1p(b * x) / jnp.log1p(b * X_MAX), (0.1, 5.0)),
    Basis("chirp", lambda x, b: jnp.sin(b * x**2 / X_MAX), (0.5, 2.0)),
)

# name -> names and U(lo, hi) priors of its parameters
NOISE_MODELS: dict[str, tuple[tuple[str, float, float], ...]] = {
    "gaussian": (("sigma", 0.05, 0.5),),
    "heteroscedastic": (("sigma0", 0.02, 0.2), ("sigma1", 0.1, 0.5)),
    "student_t": (("sigma", 0.05, 0.5), ("nu", 2.0, 10.0)),
    "multiplicative": (("sigma", 0.05, 0.3),),
    "ar1": (("sigma", 0.05, 0.5), ("rho", 0.0, 0.9)),
}


def _ar1(key, sigma, rho, n):
    """Stationary AR(1) noise e_i = ρ e_{i−1} + √(1 − ρ²) σ ξ_i, e_0 = σ ξ_0, as e = σ C ξ."""
    eps = jax.random.normal(key, (n,))
    i = jnp.arange(n)
    lag = i[:, None] - i[None, :]
    power = rho ** jnp.clip(lag, 0, None).astype(jnp.float32)
    coef = jnp.where(i[None, :] == 0, power, jnp.sqrt(1.0 - rho**2) * power)
    coef = jnp.where(lag >= 0, coef, 0.0)
    return sigma * (coef @ eps)


def symbolic_family(
    num_components: int = 5,
    *,
    n_points: int = 32,
    noise_models: tuple[str, ...] = tuple(NOISE_MODELS),
) -> SymbolicFamily:
    """The symbolic-regression family with the first ``num_components`` terms of the library.

    Args:
        num_components: K, 1..30 (sizes used in the benchmarks: 5, 15, 30).
        n_points: grid size on [0, 10).
        noise_models: names from :data:`NOISE_MODELS`, in order.

    Raises:
        ValueError: K outside 1..30, an unknown or repeated noise model, ``n_points < 2``.
    """
    if not 1 <= num_components <= len(BASIS_LIBRARY):
        raise ValueError(f"num_components must be in 1..{len(BASIS_LIBRARY)}, got {num_components}")
    unknown = [n for n in noise_models if n not in NOISE_MODELS]
    if unknown or not noise_models or len(set(noise_models)) != len(noise_models):
        raise ValueError(
            f"noise_models must be distinct names from {list(NOISE_MODELS)}; got {noise_models}"
        )
    grid = _grid(n_points)
    terms = BASIS_LIBRARY[:num_components]
    names, owner, kind, pa, pb = [], [], [], [], []
    amp_idx, shape_idx = [], []
    for k, term in enumerate(terms):
        amp_idx.append(len(names))
        names.append(f"{term.name}.a")
        owner.append(k), kind.append(_NORMAL), pa.append(0.0), pb.append(1.0)
        if term.shape_prior is not None:
            shape_idx.append(len(names))
            names.append(f"{term.name}.b")
            owner.append(k), kind.append(_UNIFORM)
            pa.append(term.shape_prior[0]), pb.append(term.shape_prior[1])
        else:
            shape_idx.append(-1)
    noise_idx = {}
    for j, nm in enumerate(noise_models):
        for pname, lo, hi in NOISE_MODELS[nm]:
            noise_idx[(nm, pname)] = len(names)
            names.append(f"{nm}.{pname}")
            owner.append(num_components + j), kind.append(_UNIFORM), pa.append(lo), pb.append(hi)
    amp_idx_a = np.asarray(amp_idx)
    shape_safe = np.asarray([i if i >= 0 else 0 for i in shape_idx])
    # A term without a shape parameter gets a harmless placeholder b = 1.
    has_shape = np.asarray([i >= 0 for i in shape_idx])
    gx = jnp.asarray(grid)
    fns = tuple(t.fn for t in terms)

    def signal(active, theta):
        b = jnp.where(jnp.asarray(has_shape), theta[shape_safe], 1.0)
        # Inactive terms: a placeholder b in range and a zero amplitude, selected away with
        # `where`, so no inactive θ entry can reach the output (not even as NaN * 0).
        lo = np.asarray([t.shape_prior[0] if t.shape_prior else 1.0 for t in terms], np.float32)
        b = jnp.where(active > 0, b, jnp.asarray(lo))
        g = jnp.stack([fn(gx, b[k]) for k, fn in enumerate(fns)], axis=0)  # (K, n)
        amp = jnp.where(active > 0, theta[amp_idx_a], 0.0)
        return jnp.sum(jnp.where((active > 0)[:, None], amp[:, None] * g, 0.0), axis=0)

    def p(nm, pname, theta):
        return theta[noise_idx[(nm, pname)]]

    def noisy(key, f, noise, theta):
        n = f.shape[0]
        k1, k2 = jax.random.split(key)
        eps = jax.random.normal(k1, (n,))
        outs = []
        for nm in noise_models:
            if nm == "gaussian":
                outs.append(f + p(nm, "sigma", theta) * eps)
            elif nm == "heteroscedastic":
                sd = p(nm, "sigma0", theta) + p(nm, "sigma1", theta) * gx / X_MAX
                outs.append(f + sd * eps)
            elif nm == "student_t":
                nu = jnp.maximum(p(nm, "nu", theta), 2.0)
                outs.append(f + p(nm, "sigma", theta) * jax.random.t(k2, nu, (n,)))
            elif nm == "multiplicative":
                outs.append(
                    f * (1.0 + p(nm, "sigma", theta) * eps) + 0.02 * jax.random.normal(k2, (n,))
                )
            elif nm == "ar1":
                rho = jnp.clip(p(nm, "rho", theta), 0.0, 0.99)
                sigma = jnp.maximum(p(nm, "sigma", theta), 1e-3)
                outs.append(f + _ar1(k1, sigma, rho, n))
        return jnp.stack(outs)[noise]

    def simulate_fn(key, active, noise, theta):
        # Noise parameters of unused noise models are zeroed by `simulate`; clamp them into
        # their ranges so every branch is finite before the selection.
        lo, hi = jnp.asarray(pa, jnp.float32), jnp.asarray(pb, jnp.float32)
        is_noise = jnp.asarray(owner) >= num_components
        theta = jnp.where(is_noise, jnp.clip(theta, lo, hi), theta)
        return noisy(key, signal(active, theta), noise, theta)

    return SymbolicFamily(
        name=f"symbolic_k{num_components}",
        component_names=tuple(t.name for t in terms),
        noise_names=tuple(noise_models),
        grid=grid,
        param_names=tuple(names),
        param_owner=np.asarray(owner, np.int32),
        prior_kind=np.asarray(kind, np.int32),
        prior_a=np.asarray(pa, np.float32),
        prior_b=np.asarray(pb, np.float32),
        simulate_fn=simulate_fn,
        signal_fn=signal,
    )
