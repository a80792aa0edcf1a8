"""Model families for PRISM: symbolic regression with K switchable basis terms.

A *model family* is a prior over binary structures M ∈ {0,1}^K (plus a categorical noise
model), a prior over the parameters θ of the active components, and a simulator
``simulate(key, structure, theta) -> y`` on a fixed grid of x in [0, 10) in which inactive
components have no effect (their θ entries are never read into the output).

y(x) = Σ_k M_k a_k g_k(x; b_k) + noise,

- ``p(M_k = 1 | λ) = λ`` independently, conditioned on at least one active term
  (exactly: ``|M|`` from a binomial truncated at 0, then a uniform subset of that size);
- a uniform categorical over the noise models;
- amplitudes ``a_k ~ N(0, 1)``; a term with a shape parameter ``b_k`` (a frequency, a decay
  length, a centre) has ``b_k ~ U(lo, hi)``; noise parameters have uniform priors.

Two families:

- :func:`symbolic_family` (K = 5, 15 or 30 of the 30-term library; K = 15 gives
  (2^15 − 1) × 5 ≈ 1.6·10⁵ models, K = 30 gives ≈ 5.4·10⁹) with five noise models:
  homoscedastic Gaussian, heteroscedastic Gaussian, Student-t, multiplicative, AR(1).
- :func:`linear_gaussian_family` (K ≤ 8): fixed basis shapes, linear amplitudes, Gaussian noise
  of known scale, so each structure's marginal likelihood is Gaussian and the exact model
  posterior is available by enumeration (:func:`exact_model_posterior`), as is the exact
  parameter posterior (:func:`exact_theta_posterior`).

Modules: :mod:`~jaxsbi.prism.families.structures` (the :class:`Structure` record, λ check,
enumeration), :mod:`~jaxsbi.prism.families.family` (the :class:`SymbolicFamily` record),
:mod:`~jaxsbi.prism.families.library` (the basis library, noise models, :func:`symbolic_family`),
:mod:`~jaxsbi.prism.families.linear_gaussian` (the analytic family and its exact posteriors).
"""

from jaxsbi.prism.families.family import SymbolicFamily as SymbolicFamily
from jaxsbi.prism.families.library import BASIS_LIBRARY as BASIS_LIBRARY
from jaxsbi.prism.families.library import NOISE_MODELS as NOISE_MODELS
from jaxsbi.prism.families.library import Basis as Basis
from jaxsbi.prism.families.library import symbolic_family as symbolic_family
from jaxsbi.prism.families.linear_gaussian import exact_model_posterior as exact_model_posterior
from jaxsbi.prism.families.linear_gaussian import exact_theta_posterior as exact_theta_posterior
from jaxsbi.prism.families.linear_gaussian import linear_gaussian_family as linear_gaussian_family
from jaxsbi.prism.families.structures import Structure as Structure
from jaxsbi.prism.families.structures import all_structures as all_structures
from jaxsbi.prism.families.structures import check_lambda as check_lambda
from jaxsbi.prism.families.structures import structure_index as structure_index

__all__ = [
    "Structure",
    "Basis",
    "SymbolicFamily",
    "BASIS_LIBRARY",
    "NOISE_MODELS",
    "symbolic_family",
    "linear_gaussian_family",
    "all_structures",
    "check_lambda",
    "exact_model_posterior",
    "exact_theta_posterior",
    "structure_index",
]
