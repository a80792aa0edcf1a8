"""Scientific simulators of the AALR paper: the M/G/1 queue, the stochastic Lotka–Volterra jump
process, the Weinberg-angle (e⁺e⁻ → μ⁺μ⁻) problem and strong gravitational lensing images, each
as a :class:`~jaxsbi.tasks.Task`.

Example:
    >>> import jax
    >>> from jaxsbi.tasks.physics import mg1
    >>> task = mg1()
    >>> theta = task.prior.sample(jax.random.key(0), (4,))
    >>> jax.vmap(task.simulate)(jax.random.split(jax.random.key(1), 4), theta).shape
    (4, 5)
"""

from jaxsbi.tasks.physics.lens_imaging import image_moments as image_moments
from jaxsbi.tasks.physics.lensing import LensingConfig as LensingConfig
from jaxsbi.tasks.physics.lensing import lensing as lensing
from jaxsbi.tasks.physics.lotka_volterra_jump import LV_TRUE_LOG_RATES as LV_TRUE_LOG_RATES
from jaxsbi.tasks.physics.lotka_volterra_jump import MJPRun as MJPRun
from jaxsbi.tasks.physics.lotka_volterra_jump import lotka_volterra_mjp as lotka_volterra_mjp
from jaxsbi.tasks.physics.lotka_volterra_jump import lotka_volterra_run as lotka_volterra_run
from jaxsbi.tasks.physics.lotka_volterra_jump import (
    lotka_volterra_summaries as lotka_volterra_summaries,
)
from jaxsbi.tasks.physics.mg1_queue import MG1_TRUE_THETA as MG1_TRUE_THETA
from jaxsbi.tasks.physics.mg1_queue import mg1 as mg1
from jaxsbi.tasks.physics.mg1_queue import mg1_departures as mg1_departures
from jaxsbi.tasks.physics.mg1_queue import mg1_simulate as mg1_simulate
from jaxsbi.tasks.physics.mg1_queue import mg1_summaries as mg1_summaries
from jaxsbi.tasks.physics.weinberg_angle import WEINBERG_TRUE_THETA as WEINBERG_TRUE_THETA
from jaxsbi.tasks.physics.weinberg_angle import cos_theta_cdf as cos_theta_cdf
from jaxsbi.tasks.physics.weinberg_angle import cos_theta_log_density as cos_theta_log_density
from jaxsbi.tasks.physics.weinberg_angle import (
    forward_backward_asymmetry as forward_backward_asymmetry,
)
from jaxsbi.tasks.physics.weinberg_angle import sample_cos_theta as sample_cos_theta
from jaxsbi.tasks.physics.weinberg_angle import weinberg as weinberg
from jaxsbi.tasks.physics.weinberg_angle import weinberg_coefficients as weinberg_coefficients
