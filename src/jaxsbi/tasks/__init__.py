"""Benchmark tasks (prior + simulator + likelihood), reference posteriors and sbibm data.

Example:
    >>> from jaxsbi.tasks import get_task
    >>> get_task("two_moons").theta_dim
    2
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from jaxsbi.tasks import physics as physics
from jaxsbi.tasks import sbibm as sbibm
from jaxsbi.tasks import sbibm_ode as sbibm_ode
from jaxsbi.tasks import slcp_distractors as slcp_distractors
from jaxsbi.tasks.base import Task as Task
from jaxsbi.tasks.observations import SBIBM_OBSERVATION_1 as SBIBM_OBSERVATION_1
from jaxsbi.tasks.observations import load_sbibm_observation as load_sbibm_observation
from jaxsbi.tasks.observations import load_sbibm_reference as load_sbibm_reference
from jaxsbi.tasks.reference import reference_posterior as reference_posterior
from jaxsbi.tasks.reference import reference_task_names as reference_task_names

# name -> zero-argument factory. Factories are cached, so get_task returns the same Task (and the
# same simulate/log_likelihood functions, hence jit cache hits) on every call.
_REGISTRY: dict[str, Callable[[], Task]] = {
    "gaussian_linear": sbibm.gaussian_linear,
    "gaussian_linear_uniform": sbibm.gaussian_linear_uniform,
    "two_moons": sbibm.two_moons,
    "slcp": sbibm.slcp,
    "gaussian_mixture": sbibm.gaussian_mixture,
    "bernoulli_glm": sbibm.bernoulli_glm,
    "bernoulli_glm_raw": sbibm.bernoulli_glm_raw,
    "slcp_distractors": slcp_distractors.slcp_distractors,
    "sir": sbibm_ode.sir,
    "lotka_volterra": sbibm_ode.lotka_volterra,
    # The AALR paper's scientific simulators (jaxsbi.tasks.physics), with their default settings.
    "mg1": functools.cache(physics.mg1),
    "lotka_volterra_mjp": functools.cache(physics.lotka_volterra_mjp),
    "weinberg": functools.cache(physics.weinberg),
    "lensing": physics.lensing,  # cached per LensingConfig
}


def register_task(name: str, factory: Callable[[], Task]) -> None:
    """Add a task factory to the registry under ``name`` (refuses to overwrite)."""
    if name in _REGISTRY:
        raise ValueError(f"task {name!r} is already registered")
    _REGISTRY[name] = factory


def task_names() -> tuple[str, ...]:
    """Names accepted by :func:`get_task`, in registration order."""
    return tuple(_REGISTRY)


def get_task(name: str) -> Task:
    """Build (or fetch the cached) task called ``name``.

    Raises:
        ValueError: ``name`` is not registered; the message lists the known names.
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(_REGISTRY)}") from None
    return factory()
