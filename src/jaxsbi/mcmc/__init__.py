"""Posterior sampling with blackjax, vectorised over chains and observations.

Tempered SMC (``smc``) by default; MCMC kernels (``nuts``, ``hmc``, ``rwmh``, or any blackjax
algorithm wrapped in a :class:`Kernel`) with pooled windowed adaptation (``adaptation``).
"""

from jaxsbi.mcmc.adaptation import AdaptationState as AdaptationState
from jaxsbi.mcmc.adaptation import pooled_adaptation as pooled_adaptation
from jaxsbi.mcmc.config import SamplerConfig as SamplerConfig
from jaxsbi.mcmc.config import SamplerInfo as SamplerInfo
from jaxsbi.mcmc.hmc import hmc_kernel as hmc_kernel
from jaxsbi.mcmc.kernel import Kernel as Kernel
from jaxsbi.mcmc.kernel import StepInfo as StepInfo
from jaxsbi.mcmc.likelihood_reference import LikelihoodReference as LikelihoodReference
from jaxsbi.mcmc.likelihood_reference import LikelihoodReferenceConfig as LikelihoodReferenceConfig
from jaxsbi.mcmc.likelihood_reference import likelihood_reference as likelihood_reference
from jaxsbi.mcmc.logdensity import posterior_logdensity as posterior_logdensity
from jaxsbi.mcmc.nuts import nuts_kernel as nuts_kernel
from jaxsbi.mcmc.posterior import PosteriorSamples as PosteriorSamples
from jaxsbi.mcmc.posterior import potential as potential
from jaxsbi.mcmc.posterior import sample_posterior as sample_posterior
from jaxsbi.mcmc.runner import KERNELS as KERNELS
from jaxsbi.mcmc.runner import kernel_from_config as kernel_from_config
from jaxsbi.mcmc.runner import sample_batched as sample_batched
from jaxsbi.mcmc.runner import sample_chains as sample_chains
from jaxsbi.mcmc.rwmh import rwmh_kernel as rwmh_kernel
