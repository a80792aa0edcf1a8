"""The conjugate Bayesian linear model and the evidence framework (Bishop, PRML §3.3–3.5).

Conventions (Bishop's): α is the precision of the weight prior N(0, α⁻¹I), β the precision of the
Gaussian noise on the targets. scikit-learn's ``BayesianRidge`` swaps the names: its ``lambda_`` is
our α and its ``alpha_`` is our β.

Everything works from :class:`SufficientStats` (ΦᵀΦ, Φᵀt, tᵀt, N) of one data set; batch with
``jax.vmap`` or the ``*_batch`` / ``*_models`` helpers. Results are NamedTuples (pytrees).

Example:
    >>> import jax.numpy as jnp
    >>> from jaxsbi import evidence as ev
    >>> x = jnp.linspace(0.0, 1.0, 20)
    >>> phi = ev.design_matrix(ev.polynomial_basis(3), x)
    >>> stats = ev.sufficient_stats(phi, jnp.sin(2 * jnp.pi * x))
    >>> fit = ev.maximise_evidence(stats)
    >>> pred = ev.predictive(fit.posterior, phi, fit.beta)
"""

from jaxsbi.evidence.basis import BasisFn as BasisFn
from jaxsbi.evidence.basis import concat_bases as concat_bases
from jaxsbi.evidence.basis import design_matrix as design_matrix
from jaxsbi.evidence.basis import fourier_basis as fourier_basis
from jaxsbi.evidence.basis import gaussian_basis as gaussian_basis
from jaxsbi.evidence.basis import polynomial_basis as polynomial_basis
from jaxsbi.evidence.basis import sigmoidal_basis as sigmoidal_basis
from jaxsbi.evidence.comparison import MixturePredictive as MixturePredictive
from jaxsbi.evidence.comparison import ModelComparison as ModelComparison
from jaxsbi.evidence.comparison import block_masks as block_masks
from jaxsbi.evidence.comparison import compare_models as compare_models
from jaxsbi.evidence.comparison import log_bayes_factors as log_bayes_factors
from jaxsbi.evidence.comparison import log_evidence_models as log_evidence_models
from jaxsbi.evidence.comparison import maximise_evidence_models as maximise_evidence_models
from jaxsbi.evidence.comparison import mixture_cdf as mixture_cdf
from jaxsbi.evidence.comparison import mixture_interval as mixture_interval
from jaxsbi.evidence.comparison import mixture_log_density as mixture_log_density
from jaxsbi.evidence.comparison import mixture_moments as mixture_moments
from jaxsbi.evidence.comparison import nested_masks as nested_masks
from jaxsbi.evidence.comparison import predictive_models as predictive_models
from jaxsbi.evidence.evidence import effective_num_params as effective_num_params
from jaxsbi.evidence.evidence import log_evidence as log_evidence
from jaxsbi.evidence.evidence import log_evidence_batch as log_evidence_batch
from jaxsbi.evidence.evidence import log_evidence_gaussian_prior as log_evidence_gaussian_prior
from jaxsbi.evidence.maximise import EvidenceFit as EvidenceFit
from jaxsbi.evidence.maximise import default_tol as default_tol
from jaxsbi.evidence.maximise import maximise_evidence as maximise_evidence
from jaxsbi.evidence.maximise import maximise_evidence_optax as maximise_evidence_optax
from jaxsbi.evidence.posterior import Posterior as Posterior
from jaxsbi.evidence.posterior import posterior as posterior
from jaxsbi.evidence.posterior import posterior_gaussian_prior as posterior_gaussian_prior
from jaxsbi.evidence.posterior import sequential_posterior as sequential_posterior
from jaxsbi.evidence.posterior import update_posterior as update_posterior
from jaxsbi.evidence.predictive import Predictive as Predictive
from jaxsbi.evidence.predictive import equivalent_kernel as equivalent_kernel
from jaxsbi.evidence.predictive import predictive as predictive
from jaxsbi.evidence.predictive import predictive_covariance as predictive_covariance
from jaxsbi.evidence.stats import SufficientStats as SufficientStats
from jaxsbi.evidence.stats import mask_stats as mask_stats
from jaxsbi.evidence.stats import merge_stats as merge_stats
from jaxsbi.evidence.stats import sufficient_stats as sufficient_stats
