"""Posterior sampling with blackjax, vectorised over chains and observations."""

from jaxsbi.mcmc.likelihood_reference import LikelihoodReference as LikelihoodReference
from jaxsbi.mcmc.likelihood_reference import LikelihoodReferenceConfig as LikelihoodReferenceConfig
from jaxsbi.mcmc.likelihood_reference import likelihood_reference as likelihood_reference
from jaxsbi.mcmc.logdensity import posterior_logdensity as posterior_logdensity
from jaxsbi.mcmc.posterior import PosteriorSamples as PosteriorSamples
from jaxsbi.mcmc.posterior import potential as potential
from jaxsbi.mcmc.posterior import sample_posterior as sample_posterior
from jaxsbi.mcmc.runner import SamplerConfig as SamplerConfig
from jaxsbi.mcmc.runner import SamplerInfo as SamplerInfo
from jaxsbi.mcmc.runner import sample_batched as sample_batched
from jaxsbi.mcmc.runner import sample_chains as sample_chains
