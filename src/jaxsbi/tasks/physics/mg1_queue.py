"""The M/G/1 queue of Papamakarios & Murray (2016), Papamakarios et al. (SNL, 2019) and AALR.

One server, first come first served. Customer i arrives after an inter-arrival time
V_i ~ Exp(rate θ3) (arrival time A_i = V_1 + … + V_i), waits while the server is busy and is
served for u_i ~ U(θ1, θ2). Its departure time obeys Lindley's recursion

    D_i = u_i + max(A_i, D_{i−1}),  D_0 = 0,

and the observation is the five quantiles (0, 25, 50, 75, 100 %; numpy's default linear
interpolation) of the ``num_customers`` = 50 inter-departure times D_i − D_{i−1}. This is the
simulator of SNL (``simulators/mg1.py``) and of the AALR paper's code
(``hypothesis.benchmark.mg1``: same recursion, ``np.percentile(idts, linspace(0, 100, 5))``).

Parameterisation (the one the SNL prior is written in): θ = (θ1, θ2 − θ1, θ3) = (minimum service
time, service-time range, arrival rate) with the box prior U(0, 10) × U(0, 10) × U(0, 1/3). The
simulator turns it into the service interval [θ1, θ1 + (θ2 − θ1)]. SNL's ground truth
θ1 = 1, θ2 = 5, θ3 = 0.2 is ``MG1_TRUE_THETA = (1, 4, 0.2)`` here.

The likelihood is intractable; the reference posterior is rejection ABC
(:mod:`jaxsbi.likelihood_free`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import Array

from jaxsbi.distributions import uniform
from jaxsbi.tasks.base import Task

__all__ = [
    "MG1_TRUE_THETA",
    "mg1",
    "mg1_departures",
    "mg1_summaries",
    "mg1_simulate",
]

NUM_CUSTOMERS = 50
QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)
MG1_TRUE_THETA = (1.0, 4.0, 0.2)  # (θ1, θ2 − θ1, θ3): SNL's θ1 = 1, θ2 = 5, θ3 = 0.2


def mg1_departures(key: Array, theta: Array, num_customers: int = NUM_CUSTOMERS) -> Array:
    """Inter-departure times of one queue run, shape ``(num_customers,)``.

    Args:
        key: PRNG key.
        theta: ``(3,)`` = (min service time θ1 ≥ 0, service range θ2 − θ1 ≥ 0, arrival rate θ3 > 0).
        num_customers: number of customers (static).

    The first entry is D_1 − 0 = A_1 + u_1 (the queue starts empty at time 0).
    """
    k_service, k_arrival = jax.random.split(key)
    service = theta[0] + theta[1] * jax.random.uniform(k_service, (num_customers,))
    # Exp(rate θ3) as E / θ3 with E ~ Exp(1).
    gaps = jax.random.exponential(k_arrival, (num_customers,)) / theta[2]

    # Lindley's recursion in relative times: s_i = A_i − D_{i−1} (arrival minus the previous
    # departure; negative while the server is busy) gives D_i − D_{i−1} = u_i + max(0, s_i) and
    # s_{i+1} = s_i + V_{i+1} − (D_i − D_{i−1}). Unlike differencing absolute departure times
    # (which grow to ~10⁴ and lose float32 digits), a busy server gives exactly u_i.
    def step(slack, inputs):
        u, gap = inputs
        slack = slack + gap
        inter = u + jnp.maximum(slack, 0.0)
        return slack - inter, inter

    _, inter = jax.lax.scan(step, jnp.zeros((), service.dtype), (service, gaps))
    return inter


def mg1_summaries(inter_departures: Array) -> Array:
    """The 0/25/50/75/100 % quantiles (linear interpolation) of ``(n,)`` times → ``(5,)``."""
    return jnp.quantile(inter_departures, jnp.asarray(QUANTILES, inter_departures.dtype))


def mg1_simulate(key: Array, theta: Array) -> Array:
    """x = quantiles of the 50 inter-departure times, shape ``(5,)``, for θ of shape ``(3,)``."""
    return mg1_summaries(mg1_departures(key, theta))


@functools.cache
def mg1() -> Task:
    """The M/G/1 queue task: θ = (θ1, θ2 − θ1, θ3) ~ U(0,10) × U(0,10) × U(0,1/3), x ∈ R⁵.

    See the module docstring for the model. No tractable likelihood.
    """
    return Task(
        name="mg1",
        prior=uniform(jnp.zeros(3), jnp.asarray([10.0, 10.0, 1.0 / 3.0])),
        simulate=mg1_simulate,
        x_shape=(len(QUANTILES),),
        log_likelihood=None,
        theta_names=("service_min", "service_range", "arrival_rate"),
        x_names=("q0", "q25", "q50", "q75", "q100"),
    )
