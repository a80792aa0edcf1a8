"""Evidence-driven hyperparameter optimisation: objectives and seven search methods.

A :class:`Problem` is a bilevel record of pure functions: parameters θ minimise the inner loss
L(θ, h); hyperparameters h minimise the outer loss Q(θ, h) — a validation loss, a negative
Laplace or exact log evidence, a negative ELBO or a k-fold CV negative log-likelihood
(:mod:`jaxsbi.hpo.objectives`). :func:`optimise` searches h with grid, random, GP-BO, RMAD,
DrMAD, greedy or HOAG and returns a :class:`SearchHistory`.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from jaxsbi import hpo
    >>> x = jax.random.normal(jax.random.key(0), (40, 3))
    >>> y = x @ jnp.array([1.0, -2.0, 0.5])
    >>> data = hpo.Splits(*(hpo.Dataset(x[i::3], y[i::3]) for i in range(3)))
    >>> problem = hpo.map_problem(hpo.linear_model(3, 1.0), data, jnp.zeros(3), -5.0 * jnp.ones(1),
    ...                           5.0 * jnp.ones(1), inner_steps=50, inner_lr=0.05)
    >>> hist = hpo.optimise(jax.random.key(1), problem, "random", 8)
    >>> hist.h.shape
    (8, 1)
"""

from jaxsbi.hpo.gp import expected_improvement as expected_improvement
from jaxsbi.hpo.gp import fit_gp as fit_gp
from jaxsbi.hpo.gp import gp_predict as gp_predict
from jaxsbi.hpo.hypergrad import IFTResult as IFTResult
from jaxsbi.hpo.hypergrad import drmad_hypergradient as drmad_hypergradient
from jaxsbi.hpo.hypergrad import greedy_hypergradient as greedy_hypergradient
from jaxsbi.hpo.hypergrad import ift_hypergradient as ift_hypergradient
from jaxsbi.hpo.hypergrad import inner_solve as inner_solve
from jaxsbi.hpo.hypergrad import reverse_pass as reverse_pass
from jaxsbi.hpo.hypergrad import rmad_hypergradient as rmad_hypergradient
from jaxsbi.hpo.laplace import LaplaceEvidence as LaplaceEvidence
from jaxsbi.hpo.laplace import hessian_nll as hessian_nll
from jaxsbi.hpo.laplace import laplace_log_evidence as laplace_log_evidence
from jaxsbi.hpo.likelihood import Dataset as Dataset
from jaxsbi.hpo.likelihood import Model as Model
from jaxsbi.hpo.likelihood import Splits as Splits
from jaxsbi.hpo.likelihood import linear_model as linear_model
from jaxsbi.hpo.likelihood import log_prior as log_prior
from jaxsbi.hpo.likelihood import nll_per_example as nll_per_example
from jaxsbi.hpo.likelihood import prior_precision as prior_precision
from jaxsbi.hpo.objectives import cv_problem as cv_problem
from jaxsbi.hpo.objectives import elbo_problem as elbo_problem
from jaxsbi.hpo.objectives import kfold_weights as kfold_weights
from jaxsbi.hpo.objectives import laplace_problem as laplace_problem
from jaxsbi.hpo.objectives import linear_evidence_problem as linear_evidence_problem
from jaxsbi.hpo.objectives import map_problem as map_problem
from jaxsbi.hpo.problem import Evaluation as Evaluation
from jaxsbi.hpo.problem import Problem as Problem
from jaxsbi.hpo.problem import fit_and_score as fit_and_score
from jaxsbi.hpo.problem import make_problem as make_problem
from jaxsbi.hpo.problem import run_inner as run_inner
from jaxsbi.hpo.search import METHODS as METHODS
from jaxsbi.hpo.search import SearchConfig as SearchConfig
from jaxsbi.hpo.search import SearchHistory as SearchHistory
from jaxsbi.hpo.search import optimise as optimise
from jaxsbi.hpo.variational import elbo as elbo
from jaxsbi.hpo.variational import gaussian_kl_diag as gaussian_kl_diag
from jaxsbi.hpo.variational import prune_mask as prune_mask
