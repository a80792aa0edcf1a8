"""SMC-ABC: sequential Monte Carlo ABC and unweighted draws from its weighted particles.

For posteriors too narrow for rejection from the prior (e.g. the Lotka–Volterra jump process
under its broad prior): generation 0 is :func:`~jaxsbi.likelihood_free.rejection.rejection_abc`,
later generations move weighted particles under a shrinking tolerance with the same distance
and pilot scale (:mod:`jaxsbi.likelihood_free.rejection`).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from jaxsbi.likelihood_free.rejection import _check, pilot_scale, rejection_abc

__all__ = [
    "SMCABCResult",
    "equal_weight_samples",
    "smc_abc",
]


class SMCABCResult(NamedTuple):
    """The last population of :func:`smc_abc` and per-generation bookkeeping (host values).

    Attributes:
        theta: ``(num_particles, theta_dim)`` particles of the last generation.
        weights: ``(num_particles,)`` their importance weights (sum to 1).
        distances: ``(num_particles,)`` their distances (all ≤ ``epsilon``).
        epsilon: the last generation's tolerance.
        epsilons: ``(num_generations,)`` tolerance of each generation (generation 0: rejection
            from the prior).
        acceptance_rates: ``(num_generations,)`` accepted / simulated in each generation.
        simulations: ``(num_generations,)`` simulations run in each generation.
        ess: ``(num_generations,)`` Kish effective sample size of each generation's weights.
        num_simulations: all simulations (excluding the pilot run).
        num_invalid: simulations whose output had NaN/inf, or whose θ lay outside the prior's
            support (never accepted).
        scale: ``x_shape`` per-summary scale used in the distance.
        stopped: why the run stopped: "target_epsilon", "min_acceptance_rate",
            "max_generations" or "max_simulations".
    """

    theta: np.ndarray
    weights: np.ndarray
    distances: np.ndarray
    epsilon: float
    epsilons: np.ndarray
    acceptance_rates: np.ndarray
    simulations: np.ndarray
    ess: np.ndarray
    num_simulations: int
    num_invalid: int
    scale: np.ndarray
    stopped: str


_SMC_FNS: dict = {}

# A prior draw on the edge of a box maps to ±inf in unconstrained space; such particles are
# moved to ±_U_BOUND (the sampler does the same with its starting points).
_U_BOUND = 15.0


def _smc_fns(task, n: int, moves: str):
    """jit'd (propose + simulate, weights) for a population of size n; cached per task."""
    cache_key = (task.prior, task.simulate, n, moves)
    if cache_key in _SMC_FNS:
        return _SMC_FNS[cache_key]
    prior = task.prior
    if moves == "unconstrained":
        from_space, log_density = prior.from_unconstrained, prior.unconstrained_log_prob
    else:
        from_space, log_density = (lambda u: u), prior.log_prob

    def propose(key, u_prev, log_w_prev, chol, x_obs, scale):
        k_pick, k_move, k_sim = jax.random.split(key, 3)
        idx = jax.random.categorical(k_pick, log_w_prev, shape=(n,))
        z = jax.random.normal(k_move, (n, u_prev.shape[1]))
        u = u_prev[idx] + z @ chol.T
        theta = jax.vmap(from_space)(u)
        inside = jnp.isfinite(jax.vmap(log_density)(u))
        x = jax.vmap(task.simulate)(jax.random.split(k_sim, n), theta)
        flat = x.reshape(n, -1)
        ok = jnp.all(jnp.isfinite(flat), axis=1) & jnp.all(jnp.isfinite(theta), axis=1) & inside
        zd = (flat - x_obs.reshape(1, -1)) / scale.reshape(1, -1)
        dist = jnp.sqrt(jnp.sum(jnp.where(ok[:, None], zd, 0.0) ** 2, axis=1))
        return u, theta, jnp.where(ok, dist, jnp.inf)

    def log_weights(u_new, u_prev, log_w_prev, chol):
        # w_i ∝ p(u_i) / Σ_j w_j N(u_i | u_j, Σ) (Beaumont et al. 2009), p the prior's density
        # in the space of the moves (with its log-Jacobian in unconstrained space). The
        # Gaussian's constant cancels.
        def one(u):
            diff = jax.scipy.linalg.solve_triangular(chol, (u[None, :] - u_prev).T, lower=True)
            log_k = -0.5 * jnp.sum(diff**2, axis=0)
            return log_density(u) - jax.nn.logsumexp(log_w_prev + log_k)

        return jax.lax.map(one, u_new, batch_size=256)

    fns = (jax.jit(propose), jax.jit(log_weights))
    _SMC_FNS[cache_key] = fns
    return fns


def _normalise(log_w: np.ndarray) -> np.ndarray:
    w = np.exp(log_w - np.max(log_w))
    return w / w.sum()


def smc_abc(
    key: Array,
    task,
    x_obs,
    num_particles: int,
    *,
    initial_simulations: int | None = None,
    epsilon_quantile: float = 0.5,
    target_epsilon: float | None = None,
    min_acceptance_rate: float = 0.01,
    max_generations: int = 30,
    max_simulations: int = 10_000_000,
    kernel_scale: float = 2.0,
    moves: Literal["theta", "unconstrained"] = "theta",
    scale=None,
    num_pilot: int = 10_000,
) -> SMCABCResult:
    """Sequential Monte Carlo ABC (population Monte Carlo, Beaumont et al. 2009).

    Generation 0 is rejection ABC from the prior: the ``num_particles`` closest of
    ``initial_simulations`` draws. Each later generation t sets its tolerance ε_t to the
    ``epsilon_quantile`` quantile of the previous distances, proposes θ* by picking a particle
    in proportion to its weight and moving it by a Gaussian with ``kernel_scale`` × the weighted
    covariance of the particles (2 is Beaumont's choice), simulates in batches of
    ``num_particles`` until ``num_particles`` have distance ≤ ε_t, and weights them by
    prior / proposal density. At every generation the weighted particles target the ABC
    posterior p(θ | ‖x − x_o‖ ≤ ε_t).

    The run stops after the generation whose tolerance reaches ``target_epsilon``, or whose
    acceptance rate falls below ``min_acceptance_rate``, or after ``max_generations``; a
    generation that would exceed ``max_simulations`` is abandoned and the previous one returned.

    Args:
        key: PRNG key (generation t batch i uses ``fold_in(fold_in(key, t), i)``).
        task: a :class:`~jaxsbi.tasks.Task`.
        x_obs: the observation, shape ``task.x_shape``.
        num_particles: population size (also the simulation batch size).
        initial_simulations: prior simulations of generation 0 (default 10 × num_particles).
        epsilon_quantile: quantile of the previous distances that sets the next tolerance.
        target_epsilon: stop once a generation's tolerance is at or below this.
        min_acceptance_rate: stop after a generation accepting fewer than this share.
        max_generations: upper bound on generations (including generation 0).
        max_simulations: simulation budget (pilot run excluded).
        kernel_scale: perturbation covariance = kernel_scale × weighted particle covariance.
        moves: "theta": Gaussian moves of θ itself (a proposal outside the prior's support is
            simulated in the batch but never accepted); "unconstrained": moves in the prior's
            unconstrained space (never outside the support, but the log-Jacobian makes the
            weights far more uneven for a posterior near a bound of a box prior).
        scale: per-summary distance scale, as in :func:`rejection_abc` (default: pilot MAD).
        num_pilot: pilot run size for the default scale.

    Returns:
        :class:`SMCABCResult`; draw unweighted samples with :func:`equal_weight_samples`.

    Raises:
        ValueError: bad shapes, NaN/inf in ``x_obs``, non-positive sizes, a quantile outside
            (0, 1), a non-positive scale, or too few finite simulations in generation 0.
    """
    x_obs, scale = _check(task, x_obs, 1, 0.5, None, 1, scale)
    for name, v in (("num_particles", num_particles), ("max_generations", max_generations)):
        if not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if num_particles < 2:
        raise ValueError(f"num_particles must be >= 2, got {num_particles}")
    init_n = 10 * num_particles if initial_simulations is None else initial_simulations
    if not isinstance(init_n, int | np.integer) or init_n < num_particles:
        raise ValueError(
            f"initial_simulations must be an integer >= num_particles ({num_particles}), "
            f"got {initial_simulations!r}"
        )
    if not 0.0 < float(epsilon_quantile) < 1.0:
        raise ValueError(f"epsilon_quantile must be in (0, 1), got {epsilon_quantile}")
    if not 0.0 <= float(min_acceptance_rate) < 1.0:
        raise ValueError(f"min_acceptance_rate must be in [0, 1), got {min_acceptance_rate}")
    if not (math.isfinite(float(kernel_scale)) and kernel_scale > 0):
        raise ValueError(f"kernel_scale must be positive and finite, got {kernel_scale}")
    if moves not in ("theta", "unconstrained"):
        raise ValueError(f"moves must be 'theta' or 'unconstrained', got {moves!r}")
    if target_epsilon is not None and not float(target_epsilon) > 0:
        raise ValueError(f"target_epsilon must be > 0, got {target_epsilon}")
    if scale is None:
        scale = pilot_scale(key, task, x_obs, int(num_pilot))

    # Generation 0: rejection from the prior.
    gen0 = rejection_abc(
        jax.random.fold_in(key, 0),
        task,
        x_obs,
        int(init_n),
        quantile=num_particles / init_n,
        batch_size=int(num_particles),
        scale=scale,
    )
    if gen0.num_accepted < num_particles:
        raise ValueError(
            f"only {gen0.num_accepted} finite simulations of {init_n} in generation 0; "
            f"need {num_particles}"
        )
    theta, dist = gen0.theta, gen0.distances
    log_w = np.zeros(num_particles, np.float32)
    epsilons, rates, sims, ess = [gen0.epsilon], [num_particles / init_n], [init_n], [num_particles]
    total, invalid = int(init_n), gen0.num_invalid
    propose, weigh = _smc_fns(task, int(num_particles), moves)
    x_j, s_j = jnp.asarray(x_obs), jnp.asarray(scale)
    to_u = jax.jit(
        jax.vmap(task.prior.to_unconstrained if moves == "unconstrained" else (lambda t: t))
    )
    stopped = "max_generations"
    for t in range(1, max_generations):
        if target_epsilon is not None and epsilons[-1] <= target_epsilon:
            stopped = "target_epsilon"
            break
        eps = float(np.quantile(dist, epsilon_quantile))
        if target_epsilon is not None:
            eps = max(eps, float(target_epsilon))
        u_prev = np.asarray(to_u(jnp.asarray(theta)), np.float64)
        u_prev = np.where(np.isfinite(u_prev), u_prev, np.sign(u_prev) * _U_BOUND)
        w = _normalise(log_w.astype(np.float64))
        mean = w @ u_prev
        cov = (u_prev - mean).T @ ((u_prev - mean) * w[:, None]) / (1.0 - np.sum(w**2))
        cov = kernel_scale * cov + 1e-10 * np.eye(cov.shape[0])
        chol = jnp.asarray(np.linalg.cholesky(cov), jnp.float32)
        up_j = jnp.asarray(u_prev, jnp.float32)
        lw_j = jnp.asarray(np.log(w), jnp.float32)
        acc_u, acc_theta, acc_d = [], [], []
        n_acc, n_sim, n_bad = 0, 0, 0
        abandoned = False
        for i in range(10**9):
            if total + n_sim + num_particles > max_simulations:
                abandoned = True
                break
            u, th, d = propose(
                jax.random.fold_in(jax.random.fold_in(key, t), i), up_j, lw_j, chol, x_j, s_j
            )
            d = np.asarray(d)
            n_sim += num_particles
            n_bad += int(np.sum(~np.isfinite(d)))
            sel = d <= eps
            acc_u.append(np.asarray(u)[sel])
            acc_theta.append(np.asarray(th)[sel])
            acc_d.append(d[sel])
            n_acc += int(sel.sum())
            if n_acc >= num_particles:
                break
        if abandoned:
            stopped = "max_simulations"
            break
        u_new = np.concatenate(acc_u)[:num_particles]
        theta = np.concatenate(acc_theta)[:num_particles]
        dist = np.concatenate(acc_d)[:num_particles]
        log_w = np.asarray(weigh(jnp.asarray(u_new, jnp.float32), up_j, lw_j, chol), np.float64)
        log_w = np.where(np.isfinite(log_w), log_w, -np.inf)
        total += n_sim
        invalid += n_bad
        w_new = _normalise(log_w)
        epsilons.append(eps)
        rates.append(n_acc / n_sim)
        sims.append(n_sim)
        ess.append(float(1.0 / np.sum(w_new**2)))
        if rates[-1] < min_acceptance_rate:
            stopped = "min_acceptance_rate"
            break
    else:
        stopped = "max_generations"
    if (
        stopped == "max_generations"
        and target_epsilon is not None
        and epsilons[-1] <= target_epsilon
    ):
        stopped = "target_epsilon"
    return SMCABCResult(
        theta=np.asarray(theta, np.float32),
        weights=_normalise(np.asarray(log_w, np.float64)),
        distances=np.asarray(dist, np.float32),
        epsilon=float(epsilons[-1]),
        epsilons=np.asarray(epsilons),
        acceptance_rates=np.asarray(rates),
        simulations=np.asarray(sims),
        ess=np.asarray(ess),
        num_simulations=int(total),
        num_invalid=int(invalid),
        scale=np.asarray(scale),
        stopped=stopped,
    )


def equal_weight_samples(key: Array, theta, weights) -> np.ndarray:
    """Distinct, unweighted draws from weighted particles by rejection on the weights.

    Particle i is kept with probability w_i / max_j w_j, so the kept particles are draws from
    the weighted distribution without the duplicates that resampling with replacement makes
    (duplicates let a C2ST classifier recognise a reference). The expected number kept is
    n · mean(w) / max(w).

    Args:
        key: PRNG key.
        theta: ``(n, d)`` particles.
        weights: ``(n,)`` non-negative weights.

    Returns:
        ``(k, d)`` kept particles, k ≤ n, in their original order.
    """
    theta = np.asarray(theta)
    w = np.asarray(weights, np.float64).reshape(-1)
    if theta.ndim != 2 or w.shape[0] != theta.shape[0]:
        raise ValueError(f"theta (n, d) and weights (n,) must pair, got {theta.shape}, {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.max() > 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    # A host-side generator seeded by the key's data: no compiled kernel for a one-off draw.
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())
    return theta[rng.random(w.shape[0]) < w / w.max()]
