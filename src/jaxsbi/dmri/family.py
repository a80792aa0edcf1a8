"""The diffusion-MRI model family for PRISM: ball, up to three sticks, zeppelin, dot.

Same duck-typed interface as :class:`jaxsbi.tasks.symbolic.ModelFamily` (``num_components``,
``theta_dim``, ``param_mask``, ``sample_structure``, ``structure_log_prior``, ``sample_theta``,
``theta_log_prior``, ``sample_joint``, ``tokens``, ``theta_standardization``, ``simulate``,
``signal``, …), with :class:`~jaxsbi.tasks.symbolic.Structure` as the model record.

**Structure space.** K = 6 components ``(ball, stick1, stick2, stick3, zeppelin, dot)``;
sticks are nested (stick k+1 only with stick k), so a structure is (ball ∈ {0,1}, number of
sticks ∈ {0..3}, zeppelin ∈ {0,1}, dot ∈ {0,1}), not all absent: 2·4·2·2 − 1 = **31
compartment models**, times the noise models (Rician, Gaussian): ``num_models = 31 ·
num_noise`` (62 by default). :meth:`DmriFamily.all_structures` lists them.

**Parameters θ** (all in physical, box-bounded coordinates, one fixed slot per parameter):

| component | entries (units) | prior |
|---|---|---|
| ball | ``ball.f``, ``ball.d`` (µm²/ms) | Dirichlet(1) fractions; d ~ U(d_lo, d_hi) |
| stick1 | ``stick1.f``, ``stick.d`` (shared), ``stick1.u``, ``.phi`` | u ~ U(0, 1), φ ~ U(0, 2π) |
| stick2, stick3 | ``stickK.f``, ``stickK.u``, ``stickK.phi`` | as stick1 |
| zeppelin | ``.f``, ``.d_par``, ``.ratio`` = d⊥/d∥, ``.u``, ``.phi`` | U(lo, hi); U(0, 1) |
| dot | ``dot.f`` | — |
| noise j | ``<noise>.snr`` = S0/σ | U(lo, hi): Rician (3, 80), Gaussian (20, 80) |

*Why these coordinates.* Orientations are axes (μ ≡ −μ: the signal is even in μ), so they
live on the upper hemisphere, written as (u = cos θ, φ): the box prior u ~ U(0, 1),
φ ~ U(0, 2π) is *exactly* uniform on the hemisphere (Archimedes' equal-area map), every
entry has a box prior (so prior standardisation and the PRISM θ-density are simple), and
the signal is smooth in (u, φ). The price is the seam at φ = 0 ≡ 2π and at the equator
(u = 0, where μ and −μ meet). The MCMC baseline samples in a seam-free unconstrained space
instead (see :mod:`jaxsbi.dmri.baseline`). d⊥ ≤ d∥ is a box via the ratio. Diffusivities
are in µm²/ms (= 1e-3 mm²/s) so all entries are O(1) in float32.

*Fractions.* The active compartments' volume fractions are Dirichlet(1) on the simplex.
Their θ entries *are* the fractions, except for the **remainder compartment** — the first
active one in component order — whose fraction 1 − Σ(others) is implied and whose entry is
masked out (``param_mask``), so θ has exactly the model's free dimensions. Sticks are
**sorted by fraction** (f₁ ≥ f₂ ≥ f₃) to remove label switching; on that region the
density of the free fractions is (m − 1)! · n_sticks! for m active compartments.

**Structure prior (PRISM's dimension penalty).** Component k owns d_k θ entries (its
fraction included): ball 2, stick1 4, stick2 3, stick3 3, zeppelin 5, dot 1. With a
per-component inclusion logit ``logit p_k(λ) = logit p0 − (1 − λ)·λ_max·d_k``,

    p(M | λ) ∝ Π_{k ∈ M} exp(logit p_k(λ)) = exp(|M|·logit p0 − (1 − λ)·λ_max·Σ_{k∈M} d_k),

normalised over the 31 valid structures (Bernoulli(p_k) bits conditioned on validity give
exactly this), times a uniform 1/num_noise. λ = 1: uniform over structures (with p0 = 0.5);
λ = 0: each extra parameter costs a factor e^{−λ_max}. Σ d_k counts every fraction, one
more than the free dimension; the +1 is common to all structures and cancels.

**Simulation.** ``simulate(key, M, θ)`` draws a protocol (``random_multishell`` per
simulation, or the family's fixed protocol), the noiseless S/S0 (S0 = 1), noise with
σ = 1/SNR, and — with ``normalize_by_b0`` (default) — divides by the mean of the noisy b0
measurements, exactly as real data are normalised (:func:`jaxsbi.dmri.io.normalize_by_b0`).
The result y is the token array ``(n_meas, token_dim)`` (see :func:`make_tokens`): the
measurement's coordinates first and the normalised signal **last** (PRISM's FiLM token
embedding reads ``tokens[:, :-1]`` as coordinates and ``tokens[:, -1]`` as the measured value),
so one network serves any protocol; ``tokens(y)`` returns it unchanged.
The token layout and the choice of gradient encoding: :mod:`jaxsbi.dmri.tokens`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

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
from jaxsbi.dmri.protocol import (
    B0_THRESHOLD,
    Protocol,
    multishell_from_normals,
    random_multishell,
)
from jaxsbi.dmri.tokens import GRADIENT_ENCODINGS, TOKEN_DIM, make_tokens
from jaxsbi.tasks.symbolic import Structure

__all__ = [
    "DmriFamily",
    "dmri_family",
    "make_tokens",
    "GRADIENT_ENCODINGS",
    "SNR_RANGES",
    "TOKEN_DIM",
]

SNR_RANGES: dict[str, tuple[float, float]] = {"rician": (3.0, 80.0), "gaussian": (20.0, 80.0)}
_K = len(COMPARTMENTS)
_BALL, _S1, _S2, _S3, _ZEP, _DOT = range(_K)
_UM2_PER_MS = 1e-3  # θ diffusivities (µm²/ms) -> mm²/s, the unit of b·d with b in s/mm²


def _valid_table() -> np.ndarray:
    """``(31, 6)`` valid structures, sorted by the code Σ_k M_k 2^k."""
    rows = []
    for ball, n_sticks, zep, dot in itertools.product((0, 1), range(4), (0, 1), (0, 1)):
        sticks = [1 if i < n_sticks else 0 for i in range(3)]
        row = [ball, *sticks, zep, dot]
        if any(row):
            rows.append(row)
    table = np.asarray(rows, np.int32)
    codes = table @ (2 ** np.arange(_K))
    return table[np.argsort(codes)]


def _table_index(active: Array) -> Array:
    """Row of ``active (..., 6)`` in :func:`_valid_table` (−1 outside the family)."""
    table = _valid_table()
    lookup = np.full(2**_K, -1, np.int32)
    lookup[table @ (2 ** np.arange(_K))] = np.arange(table.shape[0])
    code = jnp.asarray(active, jnp.int32) @ (2 ** jnp.arange(_K, dtype=jnp.int32))
    return jnp.asarray(lookup)[code]


@dataclasses.dataclass(frozen=True, eq=False)
class DmriFamily:
    """The dMRI model family (see the module docstring). Build with :func:`dmri_family`.

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
    """

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
        return int(_valid_table().shape[0]) * self.num_noise

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
        table = _valid_table()
        nn = self.num_noise
        return Structure(
            jnp.asarray(np.repeat(table, nn, axis=0)),
            jnp.asarray(np.tile(np.arange(nn, dtype=np.int32), table.shape[0])),
        )

    def structure_index(self, structure: Structure) -> Array:
        """Position in :meth:`all_structures` order (−1 for an invalid structure)."""
        idx = _table_index(structure.active)
        return jnp.where(idx >= 0, idx * self.num_noise + structure.noise, -1)

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
        a = np.asarray(structure.active)
        if a.shape[-1:] != (_K,):
            raise ValueError(f"structure.active must end in ({_K},); got shape {a.shape}")
        if not np.isin(a, (0, 1)).all():
            raise ValueError("structure.active must hold 0/1 values")
        a2 = a.reshape(-1, _K)
        if (a2.sum(-1) == 0).any():
            raise ValueError("a structure needs at least one active compartment")
        if ((a2[:, _S2] > a2[:, _S1]) | (a2[:, _S3] > a2[:, _S2])).any():
            raise ValueError("sticks are nested: stick2 needs stick1 and stick3 needs stick2")
        n = np.asarray(structure.noise)
        if n.size and (n.min() < 0 or n.max() >= self.num_noise):
            raise ValueError(f"structure.noise must be in [0, {self.num_noise}); got {n}")

    def bit_support(self, bits: Array) -> Array:
        """``(6,)`` bool: may bit i be 1 given ``bits[:i]``? (PRISM's structure decoder forces
        the others to 0, so it never proposes a structure outside the family): stick2 needs
        stick1 and stick3 needs stick2; "at least one active" is the decoder's forced last bit."""
        bits = jnp.asarray(bits)
        ok = jnp.ones((_K,), bool)
        return ok.at[_S2].set(bits[_S1] > 0).at[_S3].set(bits[_S2] > 0)

    def _structure_logits(self, lam: Array) -> Array:
        table = jnp.asarray(_valid_table(), jnp.float32)
        dims = table @ jnp.asarray(self.component_dims, jnp.float32)
        size = jnp.sum(table, axis=1)
        return size * self.logit_p0 - (1.0 - lam) * self.lambda_max * dims

    def structure_log_prior(self, structure: Structure, lam: Array) -> Array:
        """log p(M | λ) (the uniform noise factor included); −inf outside the family."""
        log_p = jax.nn.log_softmax(self._structure_logits(jnp.asarray(lam, jnp.float32)))
        idx = _table_index(structure.active)
        lp = log_p[jnp.clip(idx, 0, None)] - math.log(self.num_noise)
        ok = (idx >= 0) & (structure.noise >= 0) & (structure.noise < self.num_noise)
        return jnp.where(ok, lp, -jnp.inf)

    def sample_structure(self, key: Array, lam: Array) -> Structure:
        """M ~ p(M | λ) exactly (a categorical over the 31 valid structures) and a uniform
        noise model. ``lam`` is a scalar in [0, 1] (checked by callers outside ``jit``)."""
        # One uniform pair (inverse CDFs), not one random primitive per choice: each threefry
        # call adds seconds of XLA compile time to simulators built on this.
        u = jax.random.uniform(key, (2,))
        p = jax.nn.softmax(self._structure_logits(jnp.asarray(lam, jnp.float32)))
        i = jnp.minimum(jnp.sum(jnp.cumsum(p) < u[0]), p.shape[0] - 1)
        active = jnp.asarray(_valid_table())[i]
        noise = jnp.minimum(jnp.floor(u[1] * self.num_noise), self.num_noise - 1)
        return Structure(active, noise.astype(jnp.int32))

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


def dmri_family(
    *,
    n_meas: int | None = None,
    protocol: Protocol | None = None,
    noise_models: tuple[str, ...] = ("rician", "gaussian"),
    diffusivity: tuple[float, float] = (0.1, 3.5),
    snr_ranges: dict[str, tuple[float, float]] | None = None,
    lambda_max: float = 4.0,
    p0: float = 0.5,
    b_max: float = 4000.0,
    b0_fraction: float = 0.01,
    num_b0: int = 1,
    shells: tuple[float, ...] | None = None,
    normalize_by_b0: bool = True,
    gradient_encoding: str = "outer",
) -> DmriFamily:
    """Build the dMRI family (see the module docstring).

    Args:
        n_meas: measurements per simulation (default 96; must match ``protocol`` if given).
        protocol: a fixed protocol; None draws a random one per simulation.
        noise_models: distinct names from ``("rician", "gaussian")``.
        diffusivity: (lo, hi) of every diffusivity prior, µm²/ms.
        snr_ranges: SNR prior per noise model (default :data:`SNR_RANGES`).
        lambda_max, p0: the structure prior (logit p_k = logit p0 − (1 − λ) λ_max d_k).
        b_max, b0_fraction, num_b0, shells: random protocols (:func:`random_multishell`).
        normalize_by_b0: divide simulated signals by their mean noisy b0.
        gradient_encoding: token layout, ``"outer"`` (sign-invariant B-matrix, width 7) or
            ``"vector"`` (b, g; width 5); see :func:`make_tokens`.

    Raises:
        ValueError: unknown/repeated noise models, inverted or non-positive ranges,
            ``n_meas`` not matching ``protocol``, a fixed protocol without b0 measurement
            when normalising, p0 outside (0, 1), negative λ_max, an unknown gradient
            encoding.
    """
    if gradient_encoding not in GRADIENT_ENCODINGS:
        raise ValueError(
            f"gradient_encoding must be one of {tuple(GRADIENT_ENCODINGS)}, got "
            f"{gradient_encoding!r}"
        )
    ranges = dict(SNR_RANGES, **(snr_ranges or {}))
    if (
        not noise_models
        or len(set(noise_models)) != len(noise_models)
        or any(n not in SNR_RANGES for n in noise_models)
    ):
        raise ValueError(
            f"noise_models must be distinct names from {tuple(SNR_RANGES)}; got {noise_models}"
        )
    d_lo, d_hi = diffusivity
    if not 0 <= d_lo < d_hi:
        raise ValueError(f"diffusivity range must satisfy 0 <= lo < hi; got {diffusivity}")
    for n in noise_models:
        lo, hi = ranges[n]
        if not 0 < lo < hi:
            raise ValueError(f"SNR range of {n!r} must satisfy 0 < lo < hi; got {ranges[n]}")
    if not 0 < p0 < 1:
        raise ValueError(f"p0 must be in (0, 1), got {p0}")
    if lambda_max < 0:
        raise ValueError(f"lambda_max must be >= 0, got {lambda_max}")
    if protocol is not None:
        if n_meas is not None and n_meas != protocol.num_measurements:
            raise ValueError(
                f"n_meas={n_meas} does not match the protocol's {protocol.num_measurements} "
                "measurements"
            )
        n_meas = protocol.num_measurements
        if normalize_by_b0 and not bool(np.any(np.asarray(protocol.bvals) <= B0_THRESHOLD)):
            raise ValueError("normalize_by_b0 needs a protocol with at least one b0 measurement")
    else:
        n_meas = 96 if n_meas is None else n_meas
        if not 0 < num_b0 <= n_meas:
            raise ValueError(f"num_b0 must be in 1..n_meas={n_meas}, got {num_b0}")
        if not 0.0 <= b0_fraction < 1.0 or not b_max > 0:
            raise ValueError(f"need 0 <= b0_fraction < 1 and b_max > 0; got {b0_fraction}, {b_max}")
        if shells is not None and (len(shells) == 0 or min(shells) <= 0):
            raise ValueError(f"shells must be a non-empty tuple of positive b-values, got {shells}")
    two_pi = 2 * math.pi
    spec = [  # (name, owner, is_fraction, lo, hi)
        ("ball.f", _BALL, True, 0.0, 1.0),
        ("ball.d", _BALL, False, d_lo, d_hi),
        ("stick1.f", _S1, True, 0.0, 1.0),
        ("stick.d", _S1, False, d_lo, d_hi),
        ("stick1.u", _S1, False, 0.0, 1.0),
        ("stick1.phi", _S1, False, 0.0, two_pi),
    ]
    for owner, s in ((_S2, "stick2"), (_S3, "stick3")):
        spec += [
            (f"{s}.f", owner, True, 0.0, 1.0),
            (f"{s}.u", owner, False, 0.0, 1.0),
            (f"{s}.phi", owner, False, 0.0, two_pi),
        ]
    spec += [
        ("zeppelin.f", _ZEP, True, 0.0, 1.0),
        ("zeppelin.d_par", _ZEP, False, d_lo, d_hi),
        ("zeppelin.ratio", _ZEP, False, 0.0, 1.0),
        ("zeppelin.u", _ZEP, False, 0.0, 1.0),
        ("zeppelin.phi", _ZEP, False, 0.0, two_pi),
        ("dot.f", _DOT, True, 0.0, 1.0),
    ]
    for j, n in enumerate(noise_models):
        spec.append((f"{n}.snr", _K + j, False, *ranges[n]))
    owner = np.asarray([s[1] for s in spec], np.int32)
    dims = np.asarray([int(np.sum(owner == k)) for k in range(_K)], np.int32)
    kind = "" if protocol is None else "_fixed"
    return DmriFamily(
        name=f"dmri_b3szd_n{n_meas}{kind}",
        component_names=COMPARTMENTS,
        noise_names=tuple(noise_models),
        param_names=tuple(s[0] for s in spec),
        param_owner=owner,
        is_fraction=np.asarray([s[2] for s in spec]),
        prior_lo=np.asarray([s[3] for s in spec], np.float32),
        prior_hi=np.asarray([s[4] for s in spec], np.float32),
        component_dims=dims,
        lambda_max=float(lambda_max),
        logit_p0=float(math.log(p0 / (1 - p0))),
        n_meas=int(n_meas),
        protocol=protocol,
        b_max=float(b_max),
        b0_fraction=float(b0_fraction),
        num_b0=int(num_b0),
        shells=None if shells is None else tuple(float(s) for s in shells),
        normalize_by_b0=bool(normalize_by_b0),
        gradient_encoding=gradient_encoding,
    )
