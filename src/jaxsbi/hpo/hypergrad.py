"""Hypergradients dQ/dh of the outer loss through (or around) the trainer.

- :func:`rmad_hypergradient` — reverse mode through the whole trajectory (Maclaurin et al.
  2015): ``jax.grad`` of h ↦ Q(θ_T(h), h) through the checkpointed ``lax.scan`` of
  :func:`~jaxsbi.hpo.problem.train` (O(√T·P) memory). Exact for the T-step trainer.
- :func:`drmad_hypergradient` — DrMAD (Fu et al. 2016): keeps only θ₀ and θ_T and runs the
  same reverse recursion at the interpolated states θ_t ≈ (1 − t/T)θ₀ + (t/T)θ_T. O(P) memory;
  exact only when the trajectory is a straight line.
- :func:`greedy_hypergradient` — one-step lookahead (Luketina et al. 2016): the gradient of
  Q(θ', h) with θ' = one trainer step from θ; equals the IFT hypergradient with H ≈ I/η.
- :func:`ift_hypergradient` — implicit function theorem at an (approximate) minimiser θ*:
  dQ/dh = ∇_hQ − (∇²_{θh}L)ᵀ v with H v = ∇_θQ, H = ∇²_{θθ}L, solved by conjugate gradients
  on Hessian-vector products (HOAG, Pedregosa 2016). Never forms H.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from jaxsbi.hpo.problem import Problem, inner_step, run_inner

__all__ = [
    "rmad_hypergradient",
    "drmad_hypergradient",
    "reverse_pass",
    "greedy_hypergradient",
    "ift_hypergradient",
    "IFTResult",
    "inner_solve",
]


def rmad_hypergradient(
    problem: Problem, h: Array, theta0: Array | None = None, num_steps: int | None = None
) -> tuple[Array, Array, Array]:
    """Q(θ_T(h), h) and its exact gradient in h by reverse mode through T trainer steps.

    Args:
        problem: the problem.
        h: hyperparameters, shape ``(H,)``.
        theta0: the start of training, shape ``(P,)``, held constant (a warm start from an
            earlier θ gives the truncated, "short-horizon" hypergradient); defaults to
            ``problem.theta_init``.
        num_steps: T; defaults to ``problem.inner_steps``.

    Returns:
        ``(q, grad, theta_T)``: shapes ``()``, ``(H,)``, ``(P,)``.
    """

    def q_of_h(hh):
        theta, _ = run_inner(problem, hh, theta0, num_steps)
        return problem.outer_loss(theta, hh), theta

    (q, theta), grad = jax.value_and_grad(q_of_h, has_aux=True)(h)
    return q, grad, theta


def reverse_pass(
    problem: Problem, h: Array, state_at, num_steps: int, theta_T: Array
) -> tuple[Array, Array]:
    """The reverse-mode recursion of the heavy-ball trainer, given the states it visited.

    For t = T−1 … 0 it pulls (dθ_{t+1}, dv_{t+1}) back through the step
    (θ_t, v_t) ↦ (θ_{t+1}, v_{t+1}) evaluated at ``states[t]`` and accumulates the h part.
    The step is linear in the velocity, so only θ_t is needed. With the exact trajectory this
    is RMAD's gradient; with interpolated states it is DrMAD's.

    Args:
        problem: the problem.
        h: hyperparameters, shape ``(H,)``.
        state_at: ``t -> θ_t`` (shape ``(P,)``) for an int32 scalar t in [0, T); e.g.
            ``lambda t: states[t]`` for a stored trajectory ``(T, P)``.
        num_steps: T.
        theta_T: the final parameters, where Q is evaluated, shape ``(P,)``.

    Returns:
        ``(q, grad)``: Q(θ_T, h) ``()`` and the hypergradient ``(H,)``.
    """
    q, (g_theta, g_h) = jax.value_and_grad(problem.outer_loss, argnums=(0, 1))(theta_T, h)
    vel0 = jnp.zeros_like(theta_T)

    def back(carry, t):
        d_theta, d_vel, d_h = carry
        _, vjp = jax.vjp(lambda th, ve, hh: inner_step(problem, th, ve, hh), state_at(t), vel0, h)
        d_theta, d_vel, dh_step = vjp((d_theta, d_vel))
        return (d_theta, d_vel, d_h + dh_step), None

    carry = (g_theta, jnp.zeros_like(g_theta), g_h)
    (_, _, grad), _ = jax.lax.scan(back, carry, jnp.arange(num_steps - 1, -1, -1))
    return q, grad


def drmad_hypergradient(
    problem: Problem, h: Array, theta0: Array | None = None, num_steps: int | None = None
) -> tuple[Array, Array, Array]:
    """DrMAD: the reverse pass of the trainer at linearly interpolated states.

    Only θ₀ and θ_T are kept; :func:`reverse_pass` runs at θ_t ≈ (1 − t/T)θ₀ + (t/T)θ_T.
    Exact when the trajectory is a straight line at constant speed. From a random start of a
    neural network the straight line crosses regions of negative curvature that the real
    trajectory leaves within a few dozen steps; at an eigenvalue λ < 0 each reverse step
    multiplies the reverse state by the largest root of z² − (1 + μ + η|λ|)z + μ (> 1; 1.25 at
    η|λ| = 0.07, μ = 0.9), so the hypergradient can blow up (see ``docs/hpo.md``). Warm
    starts (``theta0`` = an earlier, converged θ) make the path short and nearly straight,
    which is where DrMAD is accurate.

    Args:
        problem, h, theta0, num_steps: as in :func:`rmad_hypergradient`.

    Returns:
        ``(q, grad, theta_T)``: shapes ``()``, ``(H,)``, ``(P,)``.
    """
    theta0 = problem.theta_init if theta0 is None else theta0
    num_steps = problem.inner_steps if num_steps is None else num_steps
    theta_t, _ = run_inner(problem, h, theta0, num_steps)

    def interpolated(t):
        frac = t.astype(theta0.dtype) / num_steps
        return (1.0 - frac) * theta0 + frac * theta_t

    q, grad = reverse_pass(problem, h, interpolated, num_steps, theta_t)
    return q, grad, theta_t


def greedy_hypergradient(
    problem: Problem, theta: Array, velocity: Array, h: Array
) -> tuple[Array, Array, Array, Array]:
    """One trainer step and the gradient of Q(θ', h) in h through that step (Luketina 2016).

    Args:
        problem: the problem.
        theta, velocity: the trainer state before the step, shape ``(P,)`` each.
        h: hyperparameters, shape ``(H,)``.

    Returns:
        ``(q, grad, theta', velocity')`` with q = Q(θ', h).
    """

    def q_of_h(hh):
        new_theta, new_vel = inner_step(problem, theta, velocity, hh)
        return problem.outer_loss(new_theta, hh), (new_theta, new_vel)

    (q, (new_theta, new_vel)), grad = jax.value_and_grad(q_of_h, has_aux=True)(h)
    return q, grad, jax.lax.stop_gradient(new_theta), jax.lax.stop_gradient(new_vel)


class IFTResult(NamedTuple):
    """The implicit hypergradient and the solver state HOAG warm-starts from.

    Attributes:
        q: Q(θ, h), shape ``()``.
        grad: dQ/dh, shape ``(H,)``.
        v: the solution of H v = ∇_θQ, shape ``(P,)``.
        residual: ‖H v − ∇_θQ‖ / ‖∇_θQ‖ reached by CG, shape ``()``.
    """

    q: Array
    grad: Array
    v: Array
    residual: Array


def ift_hypergradient(
    problem: Problem,
    theta: Array,
    h: Array,
    *,
    v0: Array | None = None,
    tol: float = 1e-6,
    max_cg_iter: int = 200,
    damping: float = 0.0,
) -> IFTResult:
    """Implicit-function-theorem hypergradient at θ ≈ argmin L(·, h).

    Args:
        problem: the problem.
        theta: the inner minimiser, shape ``(P,)``.
        h: hyperparameters, shape ``(H,)``.
        v0: CG warm start, shape ``(P,)``.
        tol: relative CG tolerance.
        max_cg_iter: CG iteration cap.
        damping: λ ≥ 0 added to H (H + λI) for non-convex inner problems.

    Returns:
        :class:`IFTResult`.
    """
    q, (g_theta, g_h) = jax.value_and_grad(problem.outer_loss, argnums=(0, 1))(theta, h)
    grad_l = jax.grad(problem.inner_loss)

    def hvp(u):
        return jax.jvp(lambda th: grad_l(th, h), (theta,), (u,))[1] + damping * u

    v0 = jnp.zeros_like(theta) if v0 is None else v0
    v, _ = jax.scipy.sparse.linalg.cg(hvp, g_theta, x0=v0, tol=tol, maxiter=max_cg_iter)
    _, vjp_h = jax.vjp(lambda hh: grad_l(theta, hh), h)
    (cross,) = vjp_h(v)
    res = jnp.linalg.norm(hvp(v) - g_theta) / jnp.maximum(jnp.linalg.norm(g_theta), 1e-30)
    return IFTResult(q, g_h - cross, v, res)


def inner_solve(
    problem: Problem, theta0: Array, h: Array, abs_tol: Array, max_steps: int
) -> tuple[Array, Array]:
    """Warm-started trainer steps from θ₀ until ‖∇_θL(θ, h)‖ ≤ ``abs_tol`` or ``max_steps``.

    Returns:
        ``(θ, num_steps)``.
    """
    grad_l = jax.grad(problem.inner_loss)

    def cond(state):
        theta, _, k = state
        return (k < max_steps) & (jnp.linalg.norm(grad_l(theta, h)) > abs_tol)

    def body(state):
        theta, vel, k = state
        theta, vel = inner_step(problem, theta, vel, h)
        return theta, vel, k + 1

    theta, _, k = jax.lax.while_loop(cond, body, (theta0, jnp.zeros_like(theta0), 0))
    return theta, k
