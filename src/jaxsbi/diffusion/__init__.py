"""Diffusion ingredients: cosine VP schedule, v-prediction loss, DDIM/ancestral samplers and the
probability-flow ODE log-density (exact divergence), for a masked vector of parameters.

A model is a velocity function ``v_fn(z, t) -> v̂`` on one ``(dim,)`` vector; entries outside
``mask`` are held at 0 everywhere (no noise, no loss, no density).
"""

from jaxsbi.diffusion.sampling import ancestral_sample as ancestral_sample
from jaxsbi.diffusion.sampling import ddim_sample as ddim_sample
from jaxsbi.diffusion.sampling import probability_flow_log_prob as probability_flow_log_prob
from jaxsbi.diffusion.schedule import T_MAX as T_MAX
from jaxsbi.diffusion.schedule import T_MIN as T_MIN
from jaxsbi.diffusion.schedule import alpha_sigma as alpha_sigma
from jaxsbi.diffusion.schedule import predictions as predictions
from jaxsbi.diffusion.schedule import v_loss as v_loss
from jaxsbi.diffusion.schedule import v_target as v_target
