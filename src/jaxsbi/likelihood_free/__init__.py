"""Likelihood-free (ABC) reference posteriors for simulators without a tractable likelihood.

Two samplers share one distance (a Euclidean distance on summaries standardised by a pilot
run's robust spread): :func:`rejection_abc` (draws from the prior, keeps the closest;
:mod:`~jaxsbi.likelihood_free.rejection`) and :func:`smc_abc` (sequential Monte Carlo ABC, for
posteriors too narrow for rejection from the prior; :mod:`~jaxsbi.likelihood_free.smc`), whose
weighted particles :func:`equal_weight_samples` turns into distinct unweighted draws.

Example:
    >>> import jax
    >>> from jaxsbi.tasks.physics import mg1, MG1_TRUE_THETA
    >>> import jax.numpy as jnp
    >>> task = mg1()
    >>> x_o = task.simulate(jax.random.key(0), jnp.asarray(MG1_TRUE_THETA))
    >>> res = rejection_abc(jax.random.key(1), task, x_o, 20_000, quantile=0.01)
    >>> res.theta.shape
    (200, 3)
"""

from jaxsbi.likelihood_free.rejection import ABCResult as ABCResult
from jaxsbi.likelihood_free.rejection import pilot_scale as pilot_scale
from jaxsbi.likelihood_free.rejection import rejection_abc as rejection_abc
from jaxsbi.likelihood_free.smc import SMCABCResult as SMCABCResult
from jaxsbi.likelihood_free.smc import equal_weight_samples as equal_weight_samples
from jaxsbi.likelihood_free.smc import smc_abc as smc_abc

__all__ = [
    "ABCResult",
    "SMCABCResult",
    "equal_weight_samples",
    "pilot_scale",
    "rejection_abc",
    "smc_abc",
]
