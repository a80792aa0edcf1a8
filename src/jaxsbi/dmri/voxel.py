"""The per-voxel model of the MCMC baseline: one structure on one protocol, in coordinates for NUTS.

**Voxel model.** :func:`voxel_model` fixes a structure M of
:class:`~jaxsbi.dmri.family_record.DmriFamily` and a protocol. Its prior is the family's
p(θ | M) (plus an optional S0 ~ U(s0_lo, s0_hi) for data normalised by a noisy b0); the
likelihood is the product over measurements of the exact Rician (or Gaussian, if M's noise
model says so) density with ν = S0·S(b, g; θ), σ = S0/SNR.

**Unconstrained coordinates** (for NUTS; every map has an exact, normalised prior density):

- box parameters (diffusivities, d⊥/d∥, SNR, S0): x = lo + (hi − lo)·sigmoid(t), density of t
  sigmoid(t)·sigmoid(−t);
- fractions: one log-weight z_c per active compartment, w_c = e^{z_c} ~ Exp(1), f = w / Σw —
  then f ~ Dirichlet(1) exactly (none for a one-compartment model);
- axes: v ∈ R³ ~ N(0, I), μ = v / |v| — uniform on the sphere.

The weights' total and the vectors' lengths are *redundant* directions with proper priors of
their own: they integrate out to 1, so posteriors of f, μ and the evidence are exactly those of
the family's model, with no boundaries, seams or periodic angles for NUTS. Sticks are
exchangeable here (label switching and μ ↔ −μ are left to the sampler); draws are mapped to the
family's θ (sticks sorted by fraction, axes on the upper hemisphere) on output. The evidence is
unaffected: the sorted model's prior is n_sticks!·(unsorted prior) on 1/n_sticks! of the space.

:mod:`jaxsbi.dmri.baseline` samples it per voxel (NUTS) and computes its evidence
(:mod:`jaxsbi.dmri.stepping_stone`).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.dmri.compartments import COMPARTMENTS, Tissue, tissue_signal
from jaxsbi.dmri.family_record import _UM2_PER_MS, DmriFamily
from jaxsbi.dmri.noise import gaussian_log_prob, rician_log_prob
from jaxsbi.dmri.protocol import Protocol
from jaxsbi.prism.families import Structure

__all__ = ["VoxelModel", "voxel_model"]


@dataclasses.dataclass(frozen=True, eq=False)
class VoxelModel:
    """One candidate model for per-voxel inference (build with :func:`voxel_model`).

    Attributes:
        family: the family whose prior p(θ | M) the model uses.
        structure: the candidate structure (concrete).
        protocol: the acquisition protocol of the voxels.
        name: e.g. ``"ball+stick1|rician"``.
        dim: dimension of the unconstrained space.
        blocks: ``(name, start, size)`` of each unconstrained block.
        box: ``name -> (lo, hi)`` of every box block (family units: µm²/ms, SNR, S0).
        fit_s0: whether S0 is a parameter (else S0 = 1).
        min_signal: signals below it are raised to it in the likelihood (the Rician
            density at exactly 0 is 0).
    """

    family: DmriFamily
    structure: Structure
    protocol: Protocol
    name: str
    dim: int
    blocks: tuple[tuple[str, int, int], ...]
    box: dict
    fit_s0: bool
    min_signal: float

    def _block(self, u: Array, name: str) -> Array:
        for b, start, size in self.blocks:
            if b == name:
                return u[start : start + size]
        raise KeyError(name)

    def _has(self, name: str) -> bool:
        return any(b == name for b, _, _ in self.blocks)

    def sample_prior(self, key: Array) -> Array:
        """u ``(dim,)`` from the prior (one normal draw, transformed by inverse CDFs)."""
        z = jax.random.normal(key, (self.dim,))
        parts = []
        for name, start, size in self.blocks:
            zb = z[start : start + size]
            if name.endswith(".v"):
                parts.append(zb)
            elif name == "log_w":  # log of Exp(1): log(−log(1 − Φ(z))) = log(−log Φ(−z))
                parts.append(jnp.log(-jax.scipy.special.log_ndtr(-zb)))
            else:  # logistic: logit Φ(z)
                parts.append(jax.scipy.special.log_ndtr(zb) - jax.scipy.special.log_ndtr(-zb))
        return jnp.concatenate(parts)

    def log_prior(self, u: Array) -> Array:
        """Normalised log prior density of u ``(dim,)``."""
        lp = jnp.zeros(())
        for name, start, size in self.blocks:
            x = u[start : start + size]
            if name == "log_w":
                lp = lp + jnp.sum(x - jnp.exp(x))
            elif name.endswith(".v"):
                lp = lp + jnp.sum(-0.5 * x**2) - 0.5 * size * math.log(2 * math.pi)
            else:
                lp = lp + jnp.sum(jax.nn.log_sigmoid(x) + jax.nn.log_sigmoid(-x))
        return lp

    def _boxed(self, u: Array, name: str) -> Array:
        lo, hi = self.box[name]
        return lo + (hi - lo) * jax.nn.sigmoid(self._block(u, name)[0])

    def unpack(self, u: Array) -> tuple[Tissue, Array, Array]:
        """(:class:`Tissue`, SNR, S0) of u ``(dim,)``; sticks in sampling order."""
        on = np.asarray(self.structure.active) > 0
        pos = np.flatnonzero(on)
        if self._has("log_w"):
            z = self._block(u, "log_w")
            w = jnp.exp(z - jnp.max(z))
            f_act = w / jnp.sum(w)
        else:
            f_act = jnp.ones((1,))
        fractions = jnp.zeros((len(COMPARTMENTS),)).at[pos].set(f_act)
        zero, ex = jnp.zeros(()), jnp.asarray([0.0, 0.0, 1.0])

        def axis(name):
            if not self._has(name):
                return ex
            v = self._block(u, name)
            return v / jnp.maximum(jnp.linalg.norm(v), 1e-30)

        d_par = (
            self._boxed(u, "zeppelin.d_par") * _UM2_PER_MS if self._has("zeppelin.d_par") else zero
        )
        tissue = Tissue(
            fractions=fractions,
            d_ball=self._boxed(u, "ball.d") * _UM2_PER_MS if self._has("ball.d") else zero,
            d_stick=self._boxed(u, "stick.d") * _UM2_PER_MS if self._has("stick.d") else zero,
            stick_dirs=jnp.stack([axis(f"stick{k}.v") for k in (1, 2, 3)]),
            d_par=d_par,
            d_perp=self._boxed(u, "zeppelin.ratio") * d_par
            if self._has("zeppelin.ratio")
            else zero,
            zeppelin_dir=axis("zeppelin.v"),
        )
        snr = self._boxed(u, "snr")
        s0 = self._boxed(u, "s0") if self.fit_s0 else jnp.ones(())
        return tissue, snr, s0

    def log_likelihood(self, u: Array, signal: Array) -> Array:
        """Exact log p(signal | θ) for one voxel's ``signal (n,)``."""
        tissue, snr, s0 = self.unpack(u)
        nu = s0 * tissue_signal(self.protocol, tissue)
        sigma = s0 / snr
        if self.family.noise_names[int(np.asarray(self.structure.noise))] == "rician":
            return jnp.sum(rician_log_prob(jnp.maximum(signal, self.min_signal), nu, sigma))
        return jnp.sum(gaussian_log_prob(signal, nu, sigma))

    def to_theta(self, u: Array) -> tuple[Array, Array]:
        """(θ ``(theta_dim,)`` in the family's layout, S0 ``()``) of u ``(dim,)``."""
        tissue, snr, s0 = self.unpack(u)
        return self.family.theta_from_tissue(self.structure, tissue, snr), s0


def voxel_model(
    family: DmriFamily,
    structure: Structure,
    protocol: Protocol,
    *,
    fit_s0: bool = True,
    s0_range: tuple[float, float] = (0.5, 1.5),
    min_signal: float = 1e-6,
) -> VoxelModel:
    """The per-voxel model of ``structure`` on ``protocol`` (see the module docstring).

    Raises:
        ValueError: a structure outside the family, an inverted S0 range.
    """
    family.check_structure(structure)
    if np.asarray(structure.active).ndim != 1:
        raise ValueError("voxel_model takes one structure (active of shape (6,))")
    if not 0 < s0_range[0] < s0_range[1]:
        raise ValueError(f"s0_range must satisfy 0 < lo < hi; got {s0_range}")
    on = np.asarray(structure.active) > 0
    lo, hi = family.prior_lo, family.prior_hi
    blocks, box = [], {}
    start = 0

    def add(name, size, bounds=None):
        nonlocal start
        blocks.append((name, start, size))
        start += size
        if bounds is not None:
            box[name] = (float(bounds[0]), float(bounds[1]))

    def bounds(param):
        i = family.index(param)
        return lo[i], hi[i]

    if on.sum() > 1:
        add("log_w", int(on.sum()))
    if on[0]:
        add("ball.d", 1, bounds("ball.d"))
    if on[1]:
        add("stick.d", 1, bounds("stick.d"))
    for k in (1, 2, 3):
        if on[k]:
            add(f"stick{k}.v", 3)
    if on[4]:
        add("zeppelin.d_par", 1, bounds("zeppelin.d_par"))
        add("zeppelin.ratio", 1, bounds("zeppelin.ratio"))
        add("zeppelin.v", 3)
    noise = family.noise_names[int(np.asarray(structure.noise))]
    add("snr", 1, bounds(f"{noise}.snr"))
    if fit_s0:
        add("s0", 1, s0_range)
    return VoxelModel(
        family=family,
        structure=Structure(
            np.asarray(structure.active, np.int32), np.asarray(structure.noise, np.int32)
        ),
        protocol=protocol,
        name=family.describe(structure),
        dim=start,
        blocks=tuple(blocks),
        box=box,
        fit_s0=fit_s0,
        min_signal=float(min_signal),
    )
