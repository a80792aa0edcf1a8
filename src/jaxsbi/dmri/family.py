"""The diffusion-MRI model family for PRISM: ball, up to three sticks, zeppelin, dot.

:func:`dmri_family` checks the settings, lays out θ and builds the
:class:`~jaxsbi.dmri.family_record.DmriFamily` record (the duck-typed interface of
:class:`jaxsbi.prism.families.SymbolicFamily`: priors, simulator, tokens).

**Structure space.** K = 6 components ``(ball, stick1, stick2, stick3, zeppelin, dot)``,
sticks nested: **31 compartment models**, times the noise models (Rician, Gaussian):
``num_models = 31 · num_noise`` (62 by default). :meth:`DmriFamily.all_structures` lists them;
the space and its prior p(M | λ) (PRISM's dimension penalty) are described in
:mod:`jaxsbi.dmri.structures`.

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
instead (see :mod:`jaxsbi.dmri.voxel`). d⊥ ≤ d∥ is a box via the ratio. Diffusivities
are in µm²/ms (= 1e-3 mm²/s) so all entries are O(1) in float32.

*Fractions.* The active compartments' volume fractions are Dirichlet(1) on the simplex.
Their θ entries *are* the fractions, except for the **remainder compartment** — the first
active one in component order — whose fraction 1 − Σ(others) is implied and whose entry is
masked out (``param_mask``), so θ has exactly the model's free dimensions. Sticks are
**sorted by fraction** (f₁ ≥ f₂ ≥ f₃) to remove label switching; on that region the
density of the free fractions is (m − 1)! · n_sticks! for m active compartments.

**Simulation** (noise, b0 normalisation, tokens): :mod:`jaxsbi.dmri.family_record`; the token
layout and the choice of gradient encoding: :mod:`jaxsbi.dmri.tokens`.
"""

from __future__ import annotations

import math

import numpy as np

from jaxsbi.dmri.compartments import COMPARTMENTS
from jaxsbi.dmri.family_record import DmriFamily
from jaxsbi.dmri.protocol import B0_THRESHOLD, Protocol
from jaxsbi.dmri.structures import _BALL, _DOT, _K, _S1, _S2, _S3, _ZEP
from jaxsbi.dmri.tokens import GRADIENT_ENCODINGS

__all__ = ["SNR_RANGES", "dmri_family"]

SNR_RANGES: dict[str, tuple[float, float]] = {"rician": (3.0, 80.0), "gaussian": (20.0, 80.0)}


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
