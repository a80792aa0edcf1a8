"""e⁺e⁻ → μ⁺μ⁻ near the Z pole: inferring the weak mixing angle from the muon angular distribution.

The AALR paper's "Weinberg" problem (after Heinrich & Cranmer's active-sciencing demo, whose code
uses a tanh toy for the asymmetry). Here the asymmetry is the real tree-level electroweak one.

Physics (Born level, massless fermions, unpolarised beams, γ and Z s-channel exchange). With
√s = 2E (E the beam energy), the Z mass M_Z = 91.1876 GeV and width Γ_Z = 2.4952 GeV (PDG), the
couplings of e and μ g_V = −1/2 + 2 sin²θ_W, g_A = −1/2, and

    χ(s) = κ s / (s − M_Z² + i M_Z Γ_Z),   κ = 1 / (4 sin²θ_W cos²θ_W)

(κ = √2 G_F M_Z² / (4πα) at tree level), the angle θ between the μ⁻ and the e⁻ beam has

    dσ/dcosθ ∝ A (1 + cos²θ) + B cosθ,
    A = 1 + 2 g_V² Re χ + (g_V² + g_A²)² |χ|²,
    B = 4 g_A² Re χ + 8 g_V² g_A² |χ|²,

so the normalised density is f(c) = 3/8 (1 + c² + b c) with b = B/A, and the forward–backward
asymmetry is A_FB = 3B / (8A). This is the textbook result (e.g. Halzen & Martin, "Quarks and
Leptons", 1984, ch. 13; the LEP line-shape Born formula); ``tests/physics/test_weinberg.py``
re-derives it from the four helicity amplitudes 1 + g_i^e g_j^μ χ' and checks two published
limits: on the pole (Re χ = 0, |χ| ≫ 1) A_FB → (3/4) 𝒜_e 𝒜_μ with 𝒜 = 2 g_V g_A / (g_V² + g_A²)
(0.0163 at sin²θ = 0.2315, the LEP pole asymmetry's SM value), and far below it
A_FB ≈ (3/2) g_A² Re χ ≈ −3 G_F s / (16 √2 π α) · M_Z² / (M_Z² − s) (the PETRA-era result).
Radiative corrections (initial-state radiation, running couplings) are ignored.

θ = (sin²θ_W,) with prior U(0.1, 0.4); the beam energy is a fixed design choice of the task
(default E = 45 GeV, just below the pole, where A_FB is most sensitive). x is either a histogram
of cosθ for ``num_events`` events in ``num_bins`` equal bins over [−1, 1] (default 1000 events,
20 bins; likelihood multinomial) or the raw cosθ values (likelihood Π f(c_i)). The likelihood
depends on θ only through A_FB(θ), which is not monotone in sin²θ_W near the pole (g_V² is
symmetric about 1/4): posteriors can be broad or bimodal around 0.25.
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import gammaln

from jaxsbi.distributions import uniform
from jaxsbi.tasks.base import Task

__all__ = [
    "MZ",
    "GAMMA_Z",
    "WEINBERG_TRUE_THETA",
    "weinberg",
    "weinberg_coefficients",
    "forward_backward_asymmetry",
    "cos_theta_log_density",
    "cos_theta_cdf",
    "sample_cos_theta",
    "cos_theta_histogram",
]

MZ = 91.1876  # GeV
GAMMA_Z = 2.4952  # GeV
WEINBERG_TRUE_THETA = (0.2312,)
PRIOR_LOW, PRIOR_HIGH = 0.1, 0.4


def weinberg_coefficients(sin2_theta_w: Array, beam_energy: Array) -> tuple[Array, Array]:
    """(A, B) of dσ/dcosθ ∝ A(1 + cos²θ) + B cosθ; scalar inputs, scalar outputs."""
    s2 = jnp.asarray(sin2_theta_w, jnp.float32)
    s = (2.0 * jnp.asarray(beam_energy, jnp.float32)) ** 2
    kappa = 1.0 / (4.0 * s2 * (1.0 - s2))
    denom = (s - MZ**2) ** 2 + (MZ * GAMMA_Z) ** 2
    re_chi = kappa * s * (s - MZ**2) / denom
    abs2_chi = kappa**2 * s**2 / denom
    gv2 = (-0.5 + 2.0 * s2) ** 2
    ga2 = 0.25
    a = 1.0 + 2.0 * gv2 * re_chi + (gv2 + ga2) ** 2 * abs2_chi
    b = 4.0 * ga2 * re_chi + 8.0 * gv2 * ga2 * abs2_chi
    return a, b


def forward_backward_asymmetry(sin2_theta_w: Array, beam_energy: Array) -> Array:
    """A_FB = 3B / (8A) (scalar)."""
    a, b = weinberg_coefficients(sin2_theta_w, beam_energy)
    return 3.0 * b / (8.0 * a)


def _slope(sin2_theta_w, beam_energy):
    a, b = weinberg_coefficients(sin2_theta_w, beam_energy)
    return b / a


def cos_theta_log_density(c: Array, sin2_theta_w: Array, beam_energy: Array) -> Array:
    """log f(c), f(c) = 3/8 (1 + c² + (B/A) c) on [−1, 1] (−inf outside); c any shape."""
    b = _slope(sin2_theta_w, beam_energy)
    f = 0.375 * (1.0 + c**2 + b * c)
    inside = (c >= -1.0) & (c <= 1.0)
    return jnp.where(inside, jnp.log(jnp.where(inside, f, 1.0)), -jnp.inf)


def _cdf(c: Array, b: Array) -> Array:
    return 0.375 * ((c + 1.0) + (c**3 + 1.0) / 3.0 + 0.5 * b * (c**2 - 1.0))


def cos_theta_cdf(c: Array, sin2_theta_w: Array, beam_energy: Array) -> Array:
    """F(c) = ∫₋₁ᶜ f, clipped to [0, 1] outside [−1, 1]; c any shape."""
    b = _slope(sin2_theta_w, beam_energy)
    return _cdf(jnp.clip(c, -1.0, 1.0), b)


def sample_cos_theta(key: Array, sin2_theta_w: Array, beam_energy: Array, n: int) -> Array:
    """n draws of cosθ by inverting the CDF in closed form → ``(n,)``.

    F(c) = u is the cubic c³ + (3b/2)c² + 3c + (4 − 3b/2 − 8u) = 0. With c = t − b/2 it becomes
    t³ + p t + q = 0 with p = 3(1 − b²/4) > 0 (|b| < 2 always), whose one real root is
    t = −2 √(p/3) sinh(asinh((3q / 2p) √(3/p)) / 3). One Newton step polishes the float32 root.
    """
    b = _slope(sin2_theta_w, beam_energy)
    u = jax.random.uniform(key, (n,))
    a2 = 1.5 * b
    p = 3.0 * (1.0 - 0.25 * b**2)
    q = 2.0 * a2**3 / 27.0 - a2 + (4.0 - 1.5 * b - 8.0 * u)
    r = jnp.sqrt(p / 3.0)
    t = -2.0 * r * jnp.sinh(jnp.arcsinh(1.5 * q / (p * r)) / 3.0)
    c = jnp.clip(t - 0.5 * b, -1.0, 1.0)
    density = 0.375 * (1.0 + c**2 + b * c)
    c = c - (_cdf(c, b) - u) / jnp.maximum(density, 1e-6)
    return jnp.clip(c, -1.0, 1.0)


def cos_theta_histogram(c: Array, num_bins: int) -> Array:
    """Counts of ``(n,)`` values of cosθ in ``num_bins`` equal bins over [−1, 1] → float32."""
    idx = jnp.clip(jnp.floor((c + 1.0) * (0.5 * num_bins)), 0, num_bins - 1).astype(jnp.int32)
    return jnp.zeros((num_bins,), jnp.float32).at[idx].add(1.0)


def _bin_log_probs(b: Array, num_bins: int) -> Array:
    edges = jnp.linspace(-1.0, 1.0, num_bins + 1)
    p = jnp.diff(_cdf(edges, b))
    return jnp.log(jnp.maximum(p, 1e-30))


@functools.cache
def weinberg(
    beam_energy: float = 45.0,
    num_events: int = 1000,
    num_bins: int = 20,
    representation: Literal["histogram", "events"] = "histogram",
) -> Task:
    """The Weinberg-angle task (see the module docstring): θ = (sin²θ_W,) ~ U(0.1, 0.4).

    Args:
        beam_energy: E in GeV (√s = 2E), fixed.
        num_events: events per observation.
        num_bins: histogram bins over [−1, 1] (``representation="histogram"``).
        representation: "histogram" (x of shape ``(num_bins,)``, counts) or "events" (x of shape
            ``(num_events,)``, the cosθ values).

    Returns:
        A :class:`~jaxsbi.tasks.Task` with an exact ``log_likelihood``.

    Raises:
        ValueError: non-positive energy, counts or bins, or an unknown representation.
    """
    if not (isinstance(beam_energy, int | float) and beam_energy > 0):
        raise ValueError(f"beam_energy must be a positive number of GeV, got {beam_energy!r}")
    if int(num_events) != num_events or num_events < 1:
        raise ValueError(f"num_events must be a positive integer, got {num_events!r}")
    if int(num_bins) != num_bins or num_bins < 1:
        raise ValueError(f"num_bins must be a positive integer, got {num_bins!r}")
    if representation not in ("histogram", "events"):
        raise ValueError(f"representation must be 'histogram' or 'events', got {representation!r}")
    energy = float(beam_energy)
    n, k = int(num_events), int(num_bins)

    if representation == "histogram":

        def simulate(key: Array, theta: Array) -> Array:
            return cos_theta_histogram(sample_cos_theta(key, theta[0], energy, n), k)

        def log_likelihood(theta: Array, x: Array) -> Array:
            # Multinomial(n; p_1..p_k) with p_j the exact bin probabilities.
            logp = _bin_log_probs(_slope(theta[0], energy), k)
            return gammaln(jnp.sum(x) + 1.0) - jnp.sum(gammaln(x + 1.0)) + jnp.sum(x * logp)

        x_shape = (k,)
        x_names = tuple(f"bin_{j + 1}" for j in range(k))
    else:

        def simulate(key: Array, theta: Array) -> Array:
            return sample_cos_theta(key, theta[0], energy, n)

        def log_likelihood(theta: Array, x: Array) -> Array:
            return jnp.sum(cos_theta_log_density(x, theta[0], energy))

        x_shape = (n,)
        x_names = tuple(f"cos_theta_{j + 1}" for j in range(n))

    return Task(
        name="weinberg",
        prior=uniform(jnp.asarray([PRIOR_LOW]), jnp.asarray([PRIOR_HIGH])),
        simulate=simulate,
        x_shape=x_shape,
        log_likelihood=log_likelihood,
        theta_names=("sin2_theta_w",),
        x_names=x_names,
    )
