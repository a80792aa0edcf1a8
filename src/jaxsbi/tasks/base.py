"""The Task record: a prior and a simulator as pure functions."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from jax import Array

from jaxsbi.distributions import Prior

__all__ = ["Task"]


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
    """A simulation-based inference problem.

    Attributes:
        name: registry name, e.g. ``"two_moons"``.
        prior: the prior over θ (shape ``(theta_dim,)``).
        simulate: ``simulate(key, theta) -> x`` for ONE θ of shape ``(theta_dim,)``, returning
            x of shape ``x_shape``; pure, ``jit``/``vmap``-able.
        x_shape: shape of one observation.
        log_likelihood: ``log_likelihood(theta, x) -> scalar`` where tractable, else None.
        theta_names / x_names: labels for plots and tables.
    """

    name: str
    prior: Prior
    simulate: Callable[[Array, Array], Array]
    x_shape: tuple[int, ...]
    log_likelihood: Callable[[Array, Array], Array] | None = None
    theta_names: tuple[str, ...] | None = None
    x_names: tuple[str, ...] | None = None

    @property
    def theta_dim(self) -> int:
        return self.prior.theta_dim

    @property
    def labels(self) -> tuple[str, ...]:
        return self.theta_names or tuple(f"theta_{i + 1}" for i in range(self.theta_dim))
