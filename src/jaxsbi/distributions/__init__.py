"""Priors over θ and their bijections to unconstrained space (backed by numpyro.distributions)."""

from jaxsbi.distributions.prior import Prior as Prior
from jaxsbi.distributions.prior import from_numpyro as from_numpyro
from jaxsbi.distributions.prior import lognormal as lognormal
from jaxsbi.distributions.prior import normal as normal
from jaxsbi.distributions.prior import uniform as uniform
