"""The :class:`DmriFamily` record: the dMRI family as PRISM calls it.

Same duck-typed interface as :class:`jaxsbi.prism.families.SymbolicFamily` (``num_components``,
``theta_dim``, ``param_mask``, ``sample_structure``, ``structure_log_prior``, ``sample_theta``,
``theta_log_prior``, ``sample_joint``, ``tokens``, ``theta_standardization``, ``simulate``,
``signal``, …), with :class:`~jaxsbi.prism.families.Structure` as the model record. The model
it implements (θ layout, priors, fractions) is described in :mod:`jaxsbi.dmri.family`, which
builds it (:func:`~jaxsbi.dmri.family.dmri_family`); the structure space and its prior are in
:mod:`jaxsbi.dmri.structures`.

**Simulation.** ``simulate(key, M, θ)`` draws a protocol (``random_multishell`` per
simulation, or the family's fixed protocol), the noiseless S/S0 (S0 = 1), noise with
σ = 1/SNR, and — with ``normalize_by_b0`` (default) — divides by the mean of the noisy b0
measurements, exactly as real data are normalised (:func:`jaxsbi.dmri.io.normalize_by_b0`).
The result y is the token array ``(n_meas, token_dim)`` (see
:func:`~jaxsbi.dmri.tokens.make_tokens`): the measurement's coordinates first and the
normalised signal **last** (PRISM's FiLM token embedding reads ``tokens[:, :-1]`` as
coordinates and ``tokens[:, -1]`` as the measured value), so one network serves any protocol;
``tokens(y)`` returns it unchanged. The token layout and the choice of gradient encoding:
:mod:`jaxsbi.dmri.tokens`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.dmri.compartments import (
    COMPARTMENTS,
    Tissue,
    angles,
    orientation_from_cos,
    tissue_signal,
    to_hemisphere,
)
from jaxsbi.dmri.protocol import B0_THRESHOLD, Protocol, multishell_from_normals, random_multishell
from jaxsbi.dmri.structures import (
    _K,
    all_structures,
    check_active,
    nested_support,
    sample_structure,
    structure_index,
    structure_log_prior,
    structure_logits,
    valid_table,
)
from jaxsbi.dmri.tokens import GRADIENT_ENCODINGS, make_tokens
from jaxsbi.prism.families import Structure

__all__ = ["DmriFamily"]

_UM2_PER_MS = 1e-3  # θ diffusivities (µm²/ms) -> mm²/s, the unit of b·d with b in s/mm²


@dataclasses.dataclass(frozen=True, eq=False)
class DmriFamily:
    """The dMRI model family (see :mod:`jaxsbi.dmri.family`). Build with
    :func:`~jaxsbi.dmri.family.dmri_family`.

    Attributes:
        name: e.g. ``"dmri_b3szd_n96"``.
        component_names: the 6 compartment names.
        noise_names: noise-model names.
        param_names: ``theta_dim`` labels.
        param_owner: ``(theta_dim,)`` owner: k < 6 compartment k, 6 + j noise model j.
        is_fraction: ``(theta_dim,)`` bool: volume-fraction entries.
        prior_lo / prior_hi: ``(theta_dim,)`` box bounds (fractions: 0, 1).
        component_dims: ``(6,)`` θ entries owned by each compartment (d_k of the penalty).
        lambda_max / logit_p0: the structure prior's penalty scale and base logit.
        n_meas: measurements (tokens) per simulation.
        protocol: a fixed protocol, or None for a random one per simulation.
        b_max / b0_fraction / num_b0 / shells: settings of the random protocols.
        normalize_by_b0: divide simulated signals by their mean noisy b0.
        gradient_encoding: token layout, ``"outer"`` or ``"vector"`` (:func:`make_tokens`).
        bit_prior_logits: None: no closed-form prior log-odds; PRISM enumerates
            :meth:`structure_log_prior` over the 2^6 − 1 structures.
    """

    bit_prior_logits: ClassVar[None] = None

    name: str
    component_names: tuple[str, ...]
    noise_names: tuple[str, ...]
    param_names: tuple[str, ...]
    param_owner: np.ndarray
    is_fraction: np.ndarray
    prior_lo: np.ndarray
    prior_hi: np.ndarray
    component_dims: np.ndarray
    lambda_max: float
    logit_p0: float
    n_meas: int
    protocol: Protocol | None
    b_max: float
    b0_fraction: float
    num_b0: int
    shells: tuple[float, ...] | None
    normalize_by_b0: bool
    gradient_encoding: str = "outer"
    linear_gaussian = None  # no closed-form evidence (PRISM's evaluation checks this)

    # ---- sizes -------------------------------------------------------------------------------

    @property
    def num_components(self) -> int:
        return len(self.component_names)

    @property
    def num_noise(self) -> int:
        return len(self.noise_names)

    @property
    def theta_dim(self) -> int:
        return len(self.param_names)

    @property
    def n_points(self) -> int:
        """Number of observation tokens (= ``n_meas``)."""
        return self.n_meas

    @property
    def token_dim(self) -> int:
        """Width of one observation token (7 for ``"outer"``, 5 for ``"vector"``)."""
        return GRADIENT_ENCODINGS[self.gradient_encoding]

    @property
    def num_models(self) -> int:
        """31 compartment models × the noise models."""
        return int(valid_table().shape[0]) * self.num_noise

    def index(self, name: str) -> int:
        """Position of the θ entry called ``name`` (e.g. ``"stick1.u"``)."""
        try:
            return self.param_names.index(name)
        except ValueError:
            raise ValueError(f"no θ entry {name!r}; entries: {self.param_names}") from None

    # ---- structures --------------------------------------------------------------------------

    def all_structures(self) -> Structure:
        """Every valid structure: ``active (num_models, 6)``, ``noise (num_models,)``; ordered
        by the code Σ_k M_k 2^k, noise index fastest."""
        return all_structures(self.num_noise)

    def structure_index(self, structure: Structure) -> Array:
        """Position in :meth:`all_structures` order (−1 for an invalid structure)."""
        return structure_index(structure, self.num_noise)

    def structure(self, *components: str, noise: str = "rician") -> Structure:
        """A structure from component names, e.g. ``structure("ball", "stick1", "stick2")``.

        Raises:
            ValueError: unknown names, or a structure outside the family (non-nested sticks).
        """
        unknown = [c for c in components if c not in self.component_names]
        if unknown or noise not in self.noise_names:
            raise ValueError(
                f"unknown component(s) {unknown} or noise {noise!r}; components: "
                f"{self.component_names}, noise models: {self.noise_names}"
            )
        active = np.asarray([int(c in components) for c in self.component_names], np.int32)
        s = Structure(jnp.asarray(active), jnp.asarray(self.noise_names.index(noise), jnp.int32))
        self.check_structure(s)
        return s

    def describe(self, structure: Structure) -> str:
        """A readable name, e.g. ``"ball+stick1+stick2|rician"``."""
        a = np.asarray(structure.active)
        parts = [c for c, on in zip(self.component_names, a, strict=True) if on]
        return "+".join(parts) + "|" + self.noise_names[int(np.asarray(structure.noise))]

    def check_structure(self, structure: Structure) -> None:
        """Refuse (concrete) structures outside the family, before any ``jit``.

        Raises:
            ValueError: wrong shape, non-binary bits, empty, non-nested sticks, bad noise index.
        """
        check_active(structure.active)
        n = np.asarray(structure.noise)
        if n.size and (n.min() < 0 or n.max() >= self.num_noise):
            raise ValueError(f"structure.noise must be in [0, {self.num_noise}); got {n}")

    def bit_support(self, bits: Array) -> Array:
        """``(6,)`` bool: may bit i be 1 given ``bits[:i]``? (PRISM's structure decoder forces
        the others to 0, so it never proposes a structure outside the family): stick2 needs
        stick1 and stick3 needs stick2; "at least one active" is the decoder's forced last bit."""
        return nested_support(bits)

    def _structure_logits(self, lam: Array) -> Array:
        return structure_logits(lam, self.component_dims, self.logit_p0, self.lambda_max)

    def structure_log_prior(self, structure: Structure, lam: Array) -> Array:
        """log p(M | λ) (the uniform noise factor included); −inf outside the family."""
        logits = self._structure_logits(jnp.asarray(lam, jnp.float32))
        return structure_log_prior(logits, structure, self.num_noise)

    def sample_structure(self, key: Array, lam: Array) -> Structure:
        """M ~ p(M | λ) exactly (a categorical over the 31 valid structures) and a uniform
        noise model. ``lam`` is a scalar in [0, 1] (checked by callers outside ``jit``)."""
        logits = self._structure_logits(jnp.asarray(lam, jnp.float32))
        return sample_structure(key, logits, self.num_noise)

    # ---- parameters ----------------------------------------------------------------------------

    def _frac_idx(self) -> np.ndarray:
        return np.asarray([self.index(f"{c}.f") for c in COMPARTMENTS])

    def _snr_idx(self) -> np.ndarray:
        return np.asarray([self.index(f"{n}.snr") for n in self.noise_names])

    def param_mask(self, structure: Structure) -> Array:
        """``(theta_dim,)`` bool: the free θ entries of ``structure`` (active components'
        parameters, minus the remainder fraction, plus the chosen noise model's SNR)."""
        owner = jnp.asarray(self.param_owner)
        active = jnp.asarray(structure.active)
        term_on = active[jnp.clip(owner, 0, _K - 1)] > 0
        noise_on = (owner - _K) == structure.noise
        remainder = jnp.argmax(active > 0)
        is_rem = jnp.asarray(self.is_fraction) & (owner == remainder)
        return jnp.where(owner < _K, term_on & ~is_rem, noise_on)

    def fractions(self, structure: Structure, theta: Array) -> Array:
        """``(6,)`` volume fractions of all compartments (remainder filled in, absent 0)."""
        on = jnp.asarray(structure.active) > 0
        remainder = jnp.argmax(on)
        free = jnp.where(on & (jnp.arange(_K) != remainder), theta[self._frac_idx()], 0.0)
        return jnp.where(jnp.arange(_K) == remainder, 1.0 - jnp.sum(free), free)

    def tissue(self, structure: Structure, theta: Array) -> Tissue:
        """The physical parameters (diffusivities in mm²/s, unit axes) of ``(M, θ)``."""
        theta = jnp.where(self.param_mask(structure), theta, 0.0)
        p = {n: theta[i] for i, n in enumerate(self.param_names)}
        dirs = jnp.stack(
            [orientation_from_cos(p[f"{s}.u"], p[f"{s}.phi"]) for s in COMPARTMENTS[1:4]]
        )
        d_par = p["zeppelin.d_par"] * _UM2_PER_MS
        return Tissue(
            fractions=self.fractions(structure, theta),
            d_ball=p["ball.d"] * _UM2_PER_MS,
            d_stick=p["stick.d"] * _UM2_PER_MS,
            stick_dirs=dirs,
            d_par=d_par,
            d_perp=p["zeppelin.ratio"] * d_par,
            zeppelin_dir=orientation_from_cos(p["zeppelin.u"], p["zeppelin.phi"]),
        )

    def theta_from_tissue(self, structure: Structure, tissue: Tissue, snr: Array) -> Array:
        """θ ``(theta_dim,)`` of a :class:`Tissue`: sticks sorted by fraction (with their
        axes), axes mapped to the upper hemisphere, inactive entries 0. Inverse of
        :meth:`tissue` on the family's support."""
        f = tissue.fractions
        on = jnp.asarray(structure.active) > 0
        sticks_on = on[1:4]
        order = jnp.argsort(-jnp.where(sticks_on, f[1:4], -1.0))
        f = f.at[1:4].set(f[1:4][order])
        dirs = tissue.stick_dirs[order]
        vals = {f"{c}.f": f[i] for i, c in enumerate(COMPARTMENTS)}
        vals["ball.d"] = tissue.d_ball / _UM2_PER_MS
        vals["stick.d"] = tissue.d_stick / _UM2_PER_MS
        for j, s in enumerate(COMPARTMENTS[1:4]):
            vals[f"{s}.u"], vals[f"{s}.phi"] = _hemisphere_coords(dirs[j])
        vals["zeppelin.d_par"] = tissue.d_par / _UM2_PER_MS
        vals["zeppelin.ratio"] = tissue.d_perp / jnp.where(tissue.d_par > 0, tissue.d_par, 1.0)
        vals["zeppelin.u"], vals["zeppelin.phi"] = _hemisphere_coords(tissue.zeppelin_dir)
        for n in self.noise_names:
            vals[f"{n}.snr"] = snr
        theta = jnp.stack([jnp.asarray(vals[n], jnp.float32) for n in self.param_names])
        return jnp.where(self.param_mask(structure), theta, 0.0)

    def sample_theta(self, key: Array, structure: Structure) -> Array:
        """θ ~ p(θ | M): ``(theta_dim,)``, sticks sorted by fraction, inactive entries 0."""
        u = jax.random.uniform(key, (_K + self.theta_dim,))
        on = jnp.asarray(structure.active) > 0
        w = jnp.where(on, -jnp.log1p(-u[:_K]), 0.0)  # Exp(1) by inversion
        f = w / jnp.sum(w)
        sticks = jnp.sort(jnp.where(on[1:4], f[1:4], -1.0))[::-1]
        f = f.at[1:4].set(jnp.where(on[1:4], sticks, 0.0))
        lo, hi = jnp.asarray(self.prior_lo), jnp.asarray(self.prior_hi)
        box = lo + (hi - lo) * u[_K:]
        owner = jnp.asarray(self.param_owner)
        theta = jnp.where(jnp.asarray(self.is_fraction), f[jnp.clip(owner, 0, _K - 1)], box)
        return jnp.where(self.param_mask(structure), theta, 0.0)

    def theta_log_prior(self, theta: Array, structure: Structure) -> Array:
        """log p(θ | M) over the free entries: boxes, and (m − 1)!·n_sticks! on the sorted
        simplex region of the fractions; −inf outside the support."""
        mask = self.param_mask(structure)
        lo, hi = jnp.asarray(self.prior_lo), jnp.asarray(self.prior_hi)
        is_frac = jnp.asarray(self.is_fraction)
        inside = (theta >= lo) & (theta <= hi)
        box = jnp.where(inside, -jnp.log(hi - lo), -jnp.inf)
        lp_box = jnp.sum(jnp.where(mask & ~is_frac, box, 0.0))
        on = jnp.asarray(structure.active) > 0
        f = self.fractions(structure, theta)
        nonneg = jnp.all(jnp.where(on, f >= 0.0, True))
        s = f[1:4]
        sorted_ok = jnp.all(jnp.where(on[2:4], s[:2] >= s[1:], True))
        m = jnp.sum(on)
        n_sticks = jnp.sum(on[1:4])
        lp_frac = jax.scipy.special.gammaln(m.astype(jnp.float32)) + jax.scipy.special.gammaln(
            n_sticks.astype(jnp.float32) + 1.0
        )
        return jnp.where(nonneg & sorted_ok, lp_box + lp_frac, -jnp.inf)

    def theta_standardization(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd of each entry's box, ``(theta_dim,)`` each (fractions: U(0, 1))."""
        mean = 0.5 * (self.prior_lo + self.prior_hi)
        std = (self.prior_hi - self.prior_lo) / math.sqrt(12.0)
        return mean.astype(np.float32), std.astype(np.float32)

    # ---- simulator -----------------------------------------------------------------------------

    def draw_protocol(self, key: Array) -> Protocol:
        """The protocol of one simulation: the fixed one, or a random multi-shell table."""
        if self.protocol is not None:
            return self.protocol
        return random_multishell(
            key,
            self.n_meas,
            b_max=self.b_max,
            b0_fraction=self.b0_fraction,
            num_b0=self.num_b0,
            shells=self.shells,
        )

    def signal(self, structure: Structure, theta: Array, protocol: Protocol | None = None) -> Array:
        """Noiseless S / S0 ``(n_meas,)`` on ``protocol`` (default: the family's fixed one)."""
        protocol = self.protocol if protocol is None else protocol
        if protocol is None:
            raise ValueError(
                "this family draws a random protocol per simulation; pass protocol= to signal()"
            )
        return tissue_signal(protocol, self.tissue(structure, theta))

    def simulate_on(
        self, key: Array, structure: Structure, theta: Array, protocol: Protocol
    ) -> Array:
        """Noisy, normalised signals ``(n,)`` on a given protocol (see the module docstring)."""
        e = jax.random.normal(key, (protocol.num_measurements, 2))
        return self._noisy(structure, theta, protocol, e)

    def _noisy(self, structure: Structure, theta: Array, protocol: Protocol, e: Array) -> Array:
        """Signals with noise from standard normals ``e (n, 2)``, normalised by the b0 mean."""
        nu = tissue_signal(protocol, self.tissue(structure, theta))
        snr = theta[jnp.asarray(self._snr_idx())[structure.noise]]
        sigma = 1.0 / snr
        e = e.T
        noisy = []
        for name in self.noise_names:
            if name == "rician":
                noisy.append(jnp.sqrt((nu + sigma * e[0]) ** 2 + (sigma * e[1]) ** 2))
            else:
                noisy.append(nu + sigma * e[0])
        s = jnp.stack(noisy)[structure.noise]
        if not self.normalize_by_b0:
            return s
        b0 = protocol.bvals <= B0_THRESHOLD
        mean_b0 = jnp.sum(jnp.where(b0, s, 0.0)) / jnp.maximum(jnp.sum(b0), 1)
        # A non-positive mean b0 (Gaussian noise at very low SNR) gives NaN: an invalid
        # simulation that PRISM's data source drops, not a silently rescaled one.
        return jnp.where(mean_b0 > 0, s / jnp.where(mean_b0 > 0, mean_b0, 1.0), jnp.nan)

    def simulate(self, key: Array, structure: Structure, theta: Array) -> Array:
        """y ~ p(y | M, θ): tokens ``(n_meas, token_dim)`` (:func:`make_tokens`, signal last)
        on a random (or the fixed) protocol. Inactive θ entries are never used."""
        # One normal draw for protocol and noise together (see sample_structure).
        z = jax.random.normal(key, (self.n_meas, 7))
        if self.protocol is None:
            protocol = multishell_from_normals(
                z[:, :5],
                b_max=self.b_max,
                b0_fraction=self.b0_fraction,
                num_b0=self.num_b0,
                shells=self.shells,
            )
        else:
            protocol = self.protocol
        signal = self._noisy(structure, theta, protocol, z[:, 5:])
        return make_tokens(signal, protocol, self.gradient_encoding)

    def sample_joint(self, key: Array, lam: Array) -> tuple[Structure, Array, Array]:
        """(M, θ, y) from the joint prior-predictive at complexity λ."""
        k_m, k_t, k_y = jax.random.split(key, 3)
        structure = self.sample_structure(k_m, lam)
        theta = self.sample_theta(k_t, structure)
        return structure, theta, self.simulate(k_y, structure, theta)

    def tokens(self, y: Array) -> Array:
        """Observation tokens ``(n_meas, token_dim)``: y already is the token array."""
        if jnp.shape(y) != (self.n_meas, self.token_dim):
            raise ValueError(
                f"y must be tokens of shape ({self.n_meas}, {self.token_dim}) "
                f"({self.gradient_encoding!r} gradient encoding, signal last); got {jnp.shape(y)}"
            )
        return y

    def observe(self, signal: Array, protocol: Protocol | None = None) -> Array:
        """Tokens of one voxel's normalised ``signal (n_meas,)`` on ``protocol`` (default: the
        family's fixed one), in this family's encoding (:func:`make_tokens`)."""
        protocol = self.protocol if protocol is None else protocol
        if protocol is None:
            raise ValueError("this family has no fixed protocol; pass protocol=")
        if jnp.shape(signal) != (protocol.num_measurements,):
            raise ValueError(
                f"signal must have shape ({protocol.num_measurements},) for this protocol; got "
                f"{jnp.shape(signal)}"
            )
        return make_tokens(signal, protocol, self.gradient_encoding)


def _hemisphere_coords(mu: Array) -> tuple[Array, Array]:
    """(u = cos θ, φ) of the axis ±μ on the upper hemisphere (inverse of orientation_from_cos)."""
    return to_hemisphere(mu)[..., 2], angles(mu)[1]
