"""PRISM: amortized joint posteriors q(M | x, λ) · q(θ | M, x) over a model family.

An autoregressive Bernoulli decoder for the structure M (exact log-probabilities, ancestral
sampling, beam-search top-k) and a masked diffusion decoder for θ (v-prediction, DDIM /
ancestral sampling, probability-flow log-density), sharing a transformer encoder over the
observation's tokens (coordinates, then the measured value: (x, y) points, or dMRI's
(B-matrix, signal)); the complexity λ ∈ [0, 1] enters by adaLN-Zero and is chosen at test
time. See ``docs/prism.md``.
"""

from jaxsbi.prism.estimator import NetworkConfig as NetworkConfig
from jaxsbi.prism.estimator import PrismEstimator as PrismEstimator
from jaxsbi.prism.estimator import param_count as param_count
from jaxsbi.prism.estimator import prism_estimator as prism_estimator
