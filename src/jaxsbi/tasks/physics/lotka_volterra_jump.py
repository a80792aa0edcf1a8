"""Stochastic Lotka–Volterra predator–prey model as a Markov jump process (Gillespie).

The setting of Papamakarios & Murray (2016) and SNL (Papamakarios et al., 2019), which the
AALR paper reuses. X predators, Y prey, four reactions with rates θ = exp(log θ):

    1. predator born   X → X + 1   propensity θ1·X·Y
    2. predator dies   X → X − 1   propensity θ2·X
    3. prey born       Y → Y + 1   propensity θ3·Y
    4. prey eaten      Y → Y − 1   propensity θ4·X·Y

X0 = 50, Y0 = 100; the state is recorded every dt = 0.2 over [0, 30] (151 points per species;
the state at grid time t is the state after every event with time ≤ t). The 9 summaries are
SNL's (``snl/simulators/lotka_volterra.py``): mean of X and of Y; log(var + 1) of each
(``ddof=1``); the lag-1 and lag-2 autocorrelations of each standardised series
(Σ x_t x_{t+lag} / (n − 1)); the cross-correlation Σ x_t y_t / (n − 1). Order:
(mean X, mean Y, logvar X, logvar Y, ac1 X, ac2 X, ac1 Y, ac2 Y, cc). SNL additionally
z-scores them with pilot-run constants; we leave that to the estimator / ABC. A series that never
changes has no defined correlation; its correlations are set to 0 (SNL would return NaN).

The parameter is the vector of LOG rates, prior U(−5, 2)⁴ (SNL's broad prior); SNL's ground
truth is ``LV_TRUE_LOG_RATES = log(0.01, 0.5, 1, 0.01)``.

Event cap. The jump process runs in a ``lax.while_loop`` whose iterations either record one grid
point or apply one event. A run that would need more than ``max_events`` events (default
10,000, SNL's ``max_n_steps``) inside [0, 30] is not truncated: its whole output is NaN (the
trainer's ``simulate`` excludes and counts such runs; rejection ABC gives them infinite
distance). Under ``vmap`` every member runs as many steps as the longest one, at most
``max_events + 152`` (rounded up to a multiple of 64).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from jaxsbi.distributions import uniform
from jaxsbi.tasks.base import Task

__all__ = [
    "LV_TRUE_LOG_RATES",
    "MJPRun",
    "lotka_volterra_mjp",
    "lotka_volterra_run",
    "lotka_volterra_summaries",
]

LV_TRUE_LOG_RATES = tuple(math.log(v) for v in (0.01, 0.5, 1.0, 0.01))
INITIAL = (50, 100)
DT = 0.2
DURATION = 30.0
MAX_EVENTS = 10_000
_BLOCK = 64  # jump-process steps per while-loop iteration

# Change of (X, Y) per reaction.
_STOICHIOMETRY = ((1, 0), (-1, 0), (0, 1), (0, -1))


class MJPRun(NamedTuple):
    """One jump-process run.

    Attributes:
        states: ``(num_times, 2)`` float32 (X, Y) on the observation grid; all NaN if the run
            exceeded the event cap.
        reaction_counts: ``(4,)`` int32 number of events of each reaction applied in [0, T].
        exceeded: bool scalar, the run needed more than ``max_events`` events.
    """

    states: Array
    reaction_counts: Array
    exceeded: Array


def _propensities(state: Array) -> Array:
    x, y = state[0], state[1]
    xy = x * y
    return jnp.stack([xy, x, y, xy])


def lotka_volterra_run(
    key: Array,
    log_rates: Array,
    *,
    initial: tuple[int, int] = INITIAL,
    dt: float = DT,
    duration: float = DURATION,
    max_events: int = MAX_EVENTS,
) -> MJPRun:
    """Simulate the jump process exactly (Gillespie's direct method) for one θ.

    Args:
        key: PRNG key.
        log_rates: ``(4,)`` log reaction rates; ``-inf`` switches a reaction off.
        initial: (X0, Y0).
        dt, duration: observation grid ``0, dt, …, duration`` (static).
        max_events: event cap (static); see the module docstring.

    Returns:
        :class:`MJPRun`.
    """
    num_times = int(round(duration / dt)) + 1
    grid = dt * jnp.arange(num_times, dtype=jnp.float32)
    rates = jnp.exp(jnp.asarray(log_rates, jnp.float32))
    stoich = jnp.asarray(_STOICHIOMETRY, jnp.float32)
    k_first, k_loop = jax.random.split(key)

    def waiting_time(e, state):
        # Exp(total rate) from an Exp(1) draw e. No reaction can fire (e.g. both species
        # extinct): the next event never comes.
        total = jnp.sum(rates * _propensities(state))
        return jnp.where(total > 0, e / jnp.where(total > 0, total, 1.0), jnp.inf)

    state0 = jnp.asarray(initial, jnp.float32)
    carry0 = (
        waiting_time(jax.random.exponential(k_first), state0),  # time of the pending event
        state0,
        jnp.zeros((), jnp.int32),  # next grid index to record
        jnp.zeros((4,), jnp.int32),  # events applied per reaction
        jnp.full((num_times, 2), jnp.nan, jnp.float32),
        jnp.zeros((), jnp.int32),  # block index
        jnp.asarray(False),  # exceeded
    )

    def cond(carry):
        _, _, k, _, _, _, exceeded = carry
        return (k < num_times) & ~exceeded

    def step(carry, u):
        t_next, state, k, counts, rec, exceeded = carry
        # Either the next grid point comes before the pending event (record the current state),
        # or the pending event happens first (apply it and draw the one after). Once finished
        # (all points recorded, or the cap exceeded) a step changes nothing.
        live = (k < num_times) & ~exceeded
        record = live & (grid[jnp.minimum(k, num_times - 1)] < t_next)
        # Scatter one row (an out-of-range index is dropped): no copy of the whole record.
        rec = rec.at[jnp.where(record, k, num_times)].set(state, mode="drop")
        # u in (0, 1]: a reaction of zero propensity is never chosen, and log u is finite.
        u_choice, u_wait = 1.0 - u[0], 1.0 - u[1]
        cum = jnp.cumsum(rates * _propensities(state))
        reaction = jnp.minimum(jnp.sum(cum < u_choice * cum[-1]), 3)
        new_state = state + stoich[reaction]
        event = live & ~record
        exceeded = exceeded | (event & (jnp.sum(counts) >= max_events))
        apply = event & ~exceeded
        t_after = t_next + waiting_time(-jnp.log(u_wait), new_state)
        carry = (
            jnp.where(apply, t_after, t_next),
            jnp.where(apply, new_state, state),
            jnp.where(record, k + 1, k),
            counts.at[reaction].add(apply.astype(jnp.int32)),
            rec,
            exceeded,
        )
        return carry, None

    def block(carry):
        # _BLOCK steps per loop iteration, their uniforms drawn in one call (threefry makes two
        # 32-bit words per hash; one key per step would cost two hashes per step).
        *inner, b, exceeded = carry
        u = jax.random.uniform(jax.random.fold_in(k_loop, b), (_BLOCK, 2))
        (t_next, state, k, counts, rec, exceeded), _ = jax.lax.scan(step, (*inner, exceeded), u)
        return t_next, state, k, counts, rec, b + 1, exceeded

    _, _, _, counts, rec, _, exceeded = jax.lax.while_loop(cond, block, carry0)
    states = jnp.where(exceeded, jnp.nan, rec)
    return MJPRun(states, counts, exceeded)


def lotka_volterra_summaries(states: Array) -> Array:
    """SNL's 9 summaries of a ``(num_times, 2)`` trajectory → ``(9,)`` (see module docstring)."""
    n = states.shape[0]
    mean = jnp.mean(states, axis=0)
    centred = states - mean[None, :]
    var = jnp.sum(centred**2, axis=0) / (n - 1)
    ok = var > 0
    z = jnp.where(ok[None, :], centred / jnp.sqrt(jnp.where(ok, var, 1.0))[None, :], 0.0)

    def autocorr(lag):
        return jnp.sum(z[:-lag] * z[lag:], axis=0) / (n - 1)

    ac1, ac2 = autocorr(1), autocorr(2)
    cc = jnp.sum(z[:, 0] * z[:, 1]) / (n - 1)
    return jnp.stack(
        [
            mean[0],
            mean[1],
            jnp.log(var[0] + 1.0),
            jnp.log(var[1] + 1.0),
            ac1[0],
            ac2[0],
            ac1[1],
            ac2[1],
            cc,
        ]
    )


def _make_simulate(max_events: int):
    def simulate(key: Array, theta: Array) -> Array:
        run = lotka_volterra_run(key, theta, max_events=max_events)
        x = lotka_volterra_summaries(run.states)
        return jnp.where(run.exceeded, jnp.nan, x)

    return simulate


_SIMULATE = _make_simulate(MAX_EVENTS)


@functools.cache
def lotka_volterra_mjp(max_events: int = MAX_EVENTS) -> Task:
    """The stochastic Lotka–Volterra task: log θ ~ U(−5, 2)⁴, x ∈ R⁹ (NaN past the event cap).

    Args:
        max_events: event cap per run (default 10,000, as SNL).
    """
    if int(max_events) < 1:
        raise ValueError(f"max_events must be >= 1, got {max_events}")
    simulate = _SIMULATE if max_events == MAX_EVENTS else _make_simulate(int(max_events))
    return Task(
        name="lotka_volterra_mjp",
        prior=uniform(jnp.full(4, -5.0), jnp.full(4, 2.0)),
        simulate=simulate,
        x_shape=(9,),
        log_likelihood=None,
        theta_names=("log_predator_birth", "log_predator_death", "log_prey_birth", "log_predation"),
        x_names=(
            "mean_x",
            "mean_y",
            "logvar_x",
            "logvar_y",
            "ac1_x",
            "ac2_x",
            "ac1_y",
            "ac2_y",
            "cc_xy",
        ),
    )
