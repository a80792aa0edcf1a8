"""Seven search methods behind one interface: ``optimise(key, problem, method, budget)``.

Black-box: ``"grid"``, ``"random"`` (Bergstra & Bengio 2012), ``"gpbo"`` (GP surrogate +
expected improvement, :mod:`jaxsbi.hpo.gp`). Gradient-based: ``"rmad"`` (Maclaurin et al.
2015), ``"drmad"`` (Fu et al. 2016), ``"greedy"`` (Luketina et al. 2016), ``"hoag"``
(Pedregosa 2016). ``budget`` is the number of trials (black-box) or outer iterations
(gradient). Each method compiles its step once (compile time is recorded apart) and times
every iteration on the host clock after ``block_until_ready``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsbi.hpo.gp import propose
from jaxsbi.hpo.hypergrad import (
    drmad_hypergradient,
    greedy_hypergradient,
    ift_hypergradient,
    inner_solve,
    rmad_hypergradient,
)
from jaxsbi.hpo.problem import Problem, _score, check_h, fit_and_score, inner_step, run_inner

__all__ = ["METHODS", "SearchConfig", "SearchHistory", "optimise"]

Method = Literal["grid", "random", "gpbo", "rmad", "drmad", "greedy", "hoag"]
METHODS: tuple[str, ...] = ("grid", "random", "gpbo", "rmad", "drmad", "greedy", "hoag")
BLACK_BOX = ("grid", "random", "gpbo")


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Settings of the methods (each reads its own).

    Attributes:
        outer_lr: Adam step size on h for rmad / drmad; greedy uses outer_lr / √T per inner
            step.
        num_init: random trials before GP-BO starts fitting its surrogate.
        hoag_tol0: HOAG's first tolerance ε₀ (relative to ‖∇_θL(θ₀, h₀)‖ for the inner solve,
            relative for CG).
        hoag_decay: ε_k = ε₀·decay^k (Pedregosa's "exponential" schedule), floored at 1e-12.
        hoag_step_scale: multiplies HOAG's first Lipschitz estimate L₀ = ‖p₀‖·H.
        max_cg_iter: CG iteration cap (HOAG).
        cg_damping: λ in (H + λI)v = ∇_θQ, for non-convex inner problems (HOAG).
        warm_start: rmad / drmad / greedy train ``warm_steps`` steps per outer iteration,
            starting from the previous iteration's θ (velocity reset to 0) instead of
            ``theta_init``; before the first iteration θ is pre-trained at ``h_init`` for
            ``inner_steps − warm_steps`` steps (charged to iteration 0). The hypergradient is
            the truncated one through those last steps (their start held constant) — the
            "short-horizon" hypergradient; for DrMAD it keeps the interpolated path short and
            nearly straight. HOAG always warm-starts its inner solve.
        warm_steps: trainer steps per warm-started iteration (0: ``inner_steps``).
        greedy_every: greedy updates h after every ``greedy_every``-th trainer step (plain
            steps in between); 1 is Luketina et al.'s method. Larger values cut its cost when
            Q is expensive (e.g. a Laplace evidence, evaluated at every update). Its Adam step
            is outer_lr / √(number of h updates per inner_steps).
    """

    outer_lr: float = 0.1
    num_init: int = 5
    hoag_tol0: float = 1e-2
    hoag_decay: float = 0.9
    hoag_step_scale: float = 1.0
    max_cg_iter: int = 100
    cg_damping: float = 0.0
    warm_start: bool = False
    warm_steps: int = 0
    greedy_every: int = 1

    def __post_init__(self):
        if not self.outer_lr > 0:
            raise ValueError(f"outer_lr must be positive; got {self.outer_lr}")
        if not (0 < self.hoag_decay <= 1 and self.hoag_tol0 > 0 and self.hoag_step_scale > 0):
            raise ValueError("need hoag_tol0 > 0, 0 < hoag_decay <= 1, hoag_step_scale > 0")
        if self.num_init < 1 or self.max_cg_iter < 1 or self.cg_damping < 0:
            raise ValueError("need num_init >= 1, max_cg_iter >= 1, cg_damping >= 0")
        if self.warm_steps < 0:
            raise ValueError(f"warm_steps must be >= 0 (0: inner_steps); got {self.warm_steps}")
        if self.greedy_every < 1:
            raise ValueError(f"greedy_every must be >= 1; got {self.greedy_every}")


class SearchHistory(NamedTuple):
    """One row per iteration (trial or outer step).

    Attributes:
        method: the method's name.
        h: hyperparameters evaluated, shape ``(K, H)``.
        q: outer loss Q there, shape ``(K,)`` (non-finite for failed trials).
        val_loss: validation loss, shape ``(K,)``.
        test_loss: test loss (NaN if the problem has none), shape ``(K,)``.
        wall_time: seconds per iteration, shape ``(K,)`` (compile time excluded).
        num_fits: cumulative model fits in units of T trainer steps, shape ``(K,)``.
        compile_time: seconds spent compiling, shape ``()``.
        stopped: why the loop ended early ("" when it used the whole budget).
    """

    method: str
    h: np.ndarray
    q: np.ndarray
    val_loss: np.ndarray
    test_loss: np.ndarray
    wall_time: np.ndarray
    num_fits: np.ndarray
    compile_time: float
    stopped: str

    @property
    def best(self) -> int:
        """Index of the lowest finite Q."""
        q = np.where(np.isfinite(self.q), self.q, np.inf)
        return int(np.argmin(q))

    @property
    def cumulative_time(self) -> np.ndarray:
        return np.cumsum(self.wall_time)


class _Recorder:
    def __init__(self, method):
        self.method = method
        self.rows = {k: [] for k in ("h", "q", "val_loss", "test_loss", "wall_time", "num_fits")}
        self.fits = 0.0

    def add(self, h, ev, seconds, fits):
        self.fits += float(fits)
        for k, v in (
            ("h", np.asarray(h)),
            ("q", float(ev.q)),
            ("val_loss", float(ev.val_loss)),
            ("test_loss", float(ev.test_loss)),
            ("wall_time", seconds),
            ("num_fits", self.fits),
        ):
            self.rows[k].append(v)

    def history(self, compile_time, stopped="") -> SearchHistory:
        arr = {k: np.asarray(v, dtype=float) for k, v in self.rows.items()}
        return SearchHistory(self.method, compile_time=float(compile_time), stopped=stopped, **arr)


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t0


def _compile(fn, *args):
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - t0


def _grid_points(problem: Problem, budget: int) -> np.ndarray:
    d = problem.num_hyper
    n = int(np.floor(budget ** (1.0 / d) + 1e-9))
    if n < 2:
        raise ValueError(
            f"a grid over {d} hyperparameters needs at least 2**{d} = {2**d} trials; budget is "
            f"{budget}. Use method='random' or 'gpbo' for many hyperparameters"
        )
    axes = [
        np.linspace(lo, hi, n)
        for lo, hi in zip(np.asarray(problem.lower), np.asarray(problem.upper), strict=True)
    ]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, d)


def _black_box(key, problem: Problem, method: str, budget: int, cfg: SearchConfig) -> SearchHistory:
    lo, hi = np.asarray(problem.lower), np.asarray(problem.upper)
    d = problem.num_hyper
    dtype = problem.lower.dtype
    fit, t_compile = _compile(lambda h: fit_and_score(problem, h)[0], problem.h_init)
    rec = _Recorder(method)
    k_rand, k_bo = jax.random.split(key)
    if method == "gpbo":  # compile the proposal once, outside the timed loop
        pad = jnp.zeros((budget, d), dtype)
        t0 = time.perf_counter()
        jax.block_until_ready(
            propose(k_bo, pad, jnp.zeros((budget,), dtype), jnp.ones((budget,), dtype))
        )
        t_compile += time.perf_counter() - t0
    if method == "grid":
        points = _grid_points(problem, budget)
    else:
        points = np.asarray(jax.random.uniform(k_rand, (budget, d), dtype), float) * (hi - lo) + lo
    unit = np.zeros((budget, d))
    ys = np.zeros(budget)
    mask = np.zeros(budget)
    for i in range(len(points)):
        t0 = time.perf_counter()
        if method == "gpbo" and i >= cfg.num_init:
            finite = np.isfinite(ys[:i])
            y_fill = np.where(mask > 0, np.where(np.isfinite(ys), ys, 0.0), 0.0)
            if finite.any():
                y_fill[:i][~finite] = ys[:i][finite].max()  # failed trials: the worst seen
            x_next, _ = propose(
                jax.random.fold_in(k_bo, i),
                jnp.asarray(unit, dtype),
                jnp.asarray(y_fill, dtype),
                jnp.asarray(mask, dtype),
            )
            points[i] = lo + np.asarray(x_next, float) * (hi - lo)
        ev = jax.block_until_ready(fit(jnp.asarray(points[i], dtype)))
        seconds = time.perf_counter() - t0
        rec.add(points[i], ev, seconds, 1)
        unit[i] = (points[i] - lo) / (hi - lo)
        ys[i] = float(ev.q)
        mask[i] = 1.0
    hist = rec.history(t_compile)
    if not np.isfinite(hist.q).any():
        raise ValueError(
            f"{method}: the objective was non-finite (NaN/inf) at all {len(hist.q)} trials; check "
            "the bounds of h and the model (a failed fit or a Laplace Hessian that is not "
            "positive definite gives NaN)"
        )
    return hist


def _non_finite(method, k, h, q, grad) -> str:
    msg = (
        f"{method}: non-finite objective or hypergradient at iteration {k} (h = {np.asarray(h)},"
        f" Q = {float(q)}, |grad| = {float(np.linalg.norm(np.asarray(grad)))}); stopped"
    )
    if k == 0:
        raise ValueError(msg + " before any finite step: check the bounds of h and the model")
    return msg


def _project(problem, h):
    return jnp.clip(h, problem.lower, problem.upper)


def _warm_starts(problem: Problem, cfg: SearchConfig):
    """Training starts for the gradient methods: ``(steps, start_fn, compile_s)``.

    Cold (default): every outer iteration trains ``inner_steps`` from ``theta_init``;
    ``start_fn(k, theta_prev, h)`` returns ``(theta_init, 0.0)``. Warm: every iteration trains
    ``warm_steps`` from the previous iteration's θ; before the first one, θ is pre-trained at
    h for ``inner_steps − warm_steps`` steps (timed, and charged to iteration 0), so the first
    hypergradient, too, only sees the end of training.
    """
    if not cfg.warm_start:
        return problem.inner_steps, (lambda k, theta, h: (problem.theta_init, 0.0)), 0.0
    steps = min(cfg.warm_steps or problem.inner_steps, problem.inner_steps)
    pre_steps = problem.inner_steps - steps
    if pre_steps == 0:
        return steps, (lambda k, theta, h: (problem.theta_init if k == 0 else theta, 0.0)), 0.0
    pretrain, t_compile = _compile(
        lambda h: run_inner(problem, h, problem.theta_init, pre_steps)[0], problem.h_init
    )

    def start(k, theta, h):
        if k > 0:
            return theta, 0.0
        return _timed(pretrain, h)

    return steps, start, t_compile


def _unrolled(key, problem: Problem, method: str, budget: int, cfg: SearchConfig) -> SearchHistory:
    del key  # deterministic given the problem
    hypergrad = rmad_hypergradient if method == "rmad" else drmad_hypergradient
    opt = optax.adam(cfg.outer_lr)

    def make_step(num_steps):
        def step(theta0, h, state):
            q, g, theta = hypergrad(problem, h, theta0, num_steps)
            ev = _score(problem, theta, h)
            upd, state = opt.update(g, state, h)
            return ev._replace(q=q), g, theta, _project(problem, optax.apply_updates(h, upd)), state

        return step

    theta, h = problem.theta_init, problem.h_init
    state = opt.init(h)
    steps, start_at, t_compile = _warm_starts(problem, cfg)
    fn, t_c = _compile(make_step(steps), theta, h, state)
    t_compile += t_c
    rec = _Recorder(method)
    stopped = ""
    # Reverse mode re-runs the forward pass (checkpointing) and the backward pass: ≈ 3 fits.
    cost = 3.0 if method == "rmad" else 2.0
    for k in range(budget):
        start, t_pre = start_at(k, theta, h)
        (ev, g, theta_new, h_new, state_new), seconds = _timed(fn, start, h, state)
        if not (np.isfinite(float(ev.q)) and np.all(np.isfinite(np.asarray(g)))):
            stopped = _non_finite(method, k, h, ev.q, g)
            break
        pre_fits = (problem.inner_steps - steps) / problem.inner_steps if k == 0 else 0.0
        rec.add(h, ev, seconds + t_pre, cost * steps / problem.inner_steps + pre_fits)
        theta, h, state = theta_new, h_new, state_new
    return rec.history(t_compile, stopped)


def _greedy(key, problem: Problem, method: str, budget: int, cfg: SearchConfig) -> SearchHistory:
    del key
    every = cfg.greedy_every
    opt = optax.adam(cfg.outer_lr / np.sqrt(max(problem.inner_steps // every, 1)))

    def hyper_step(carry):
        theta, vel, hh, s = carry
        _, g, theta, vel = greedy_hypergradient(problem, theta, vel, hh)
        g = jnp.where(jnp.isfinite(g), g, jnp.nan)
        upd, s = opt.update(g, s, hh)
        return (theta, vel, _project(problem, optax.apply_updates(hh, upd)), s), jnp.sum(g)

    def plain_step(carry):
        theta, vel, hh, s = carry
        theta, vel = inner_step(problem, theta, vel, hh)
        return (theta, vel, hh, s), jnp.zeros((), theta.dtype)

    def make_run(num_steps):
        def run(theta0, h, state):
            def body(carry, k):
                if every == 1:
                    return hyper_step(carry)
                return jax.lax.cond((k + 1) % every == 0, hyper_step, plain_step, carry)

            (theta, _, h, state), gs = jax.lax.scan(
                body, (theta0, jnp.zeros_like(theta0), h, state), jnp.arange(num_steps)
            )
            return _score(problem, theta, h), theta, h, state, gs

        return run

    theta, h = problem.theta_init, problem.h_init
    state = opt.init(h)
    steps, start_at, t_compile = _warm_starts(problem, cfg)
    fn, t_c = _compile(make_run(steps), theta, h, state)
    t_compile += t_c
    rec = _Recorder(method)
    stopped = ""
    for k in range(budget):
        start, t_pre = start_at(k, theta, h)
        (ev, theta_new, h_new, state_new, gs), seconds = _timed(fn, start, h, state)
        if not (np.isfinite(float(ev.q)) and np.all(np.isfinite(np.asarray(gs)))):
            stopped = _non_finite(method, k, h, ev.q, gs)
            break
        # Greedy's model is the one trained while h moved; it is scored at the final h.
        pre_fits = (problem.inner_steps - steps) / problem.inner_steps if k == 0 else 0.0
        fits = (steps + steps // every) / problem.inner_steps  # a step + a hypergradient
        rec.add(h_new, ev, seconds + t_pre, fits + pre_fits)
        theta, h, state = theta_new, h_new, state_new
    return rec.history(t_compile, stopped)


def _hoag(key, problem: Problem, method: str, budget: int, cfg: SearchConfig) -> SearchHistory:
    del key
    ref = float(jnp.linalg.norm(jax.grad(problem.inner_loss)(problem.theta_init, problem.h_init)))
    ref = max(ref, 1e-12)

    def step(theta, v, h, eps):
        theta, n_steps = inner_solve(problem, theta, h, eps * ref, problem.inner_steps)
        res = ift_hypergradient(
            problem, theta, h, v0=v, tol=eps, max_cg_iter=cfg.max_cg_iter, damping=cfg.cg_damping
        )
        ev = _score(problem, theta, h)._replace(q=res.q)
        return ev, res.grad, theta, res.v, n_steps

    theta, v, h = problem.theta_init, jnp.zeros_like(problem.theta_init), problem.h_init
    dtype = h.dtype
    eps = cfg.hoag_tol0
    fn, t_compile = _compile(step, theta, v, h, jnp.asarray(eps, dtype))
    rec = _Recorder(method)
    stopped = ""
    lip = None
    q_prev = eps_prev = dh = None
    for k in range(budget):
        (ev, p, theta_new, v_new, n_steps), seconds = _timed(
            fn, theta, v, h, jnp.asarray(eps, dtype)
        )
        q = float(ev.q)
        if not (np.isfinite(q) and np.all(np.isfinite(np.asarray(p)))):
            stopped = _non_finite(method, k, h, ev.q, p)
            break
        rec.add(h, ev, seconds, float(n_steps) / problem.inner_steps)
        # Pedregosa's step-size rule on the Lipschitz estimate L of ∇Q.
        if lip is None:
            pn = float(jnp.linalg.norm(p))
            lip = cfg.hoag_step_scale * (pn * problem.num_hyper if pn > 1e-3 else 1.0)
        else:
            nd = float(jnp.linalg.norm(dh))
            if q - eps <= q_prev + eps_prev * (1.0 + nd) - 0.5 * lip * nd**2:
                lip *= 0.95
            elif q > q_prev:
                lip *= 2.0
        h_new = _project(problem, h - p / lip)
        dh = h_new - h
        q_prev, eps_prev = q, eps
        theta, v, h = theta_new, v_new, h_new
        eps = max(eps * cfg.hoag_decay, 1e-12)
    return rec.history(t_compile, stopped)


def optimise(
    key,
    problem: Problem,
    method: Method,
    budget: int,
    config: SearchConfig | None = None,
) -> SearchHistory:
    """Search hyperparameters h of ``problem`` minimising its outer loss Q.

    Args:
        key: PRNG key (random / GP-BO draws; gradient methods are deterministic).
        problem: a :class:`~jaxsbi.hpo.problem.Problem`.
        method: one of :data:`METHODS`.
        budget: trials (grid, random, gpbo) or outer iterations (rmad, drmad, greedy, hoag).
        config: method settings; defaults to :class:`SearchConfig()`.

    Returns:
        :class:`SearchHistory`; ``history.h[history.best]`` is the best hyperparameter found.

    Raises:
        ValueError: unknown method, budget < 1, bad bounds or h_init, a grid larger than the
            budget, or an objective that is non-finite everywhere it was evaluated (black-box)
            or at the start (gradient methods). A gradient method that meets a non-finite value
            later stops and says so in ``history.stopped``.

    Example:
        >>> hist = optimise(jax.random.key(0), problem, "hoag", 20)  # doctest: +SKIP
        >>> h_best = hist.h[hist.best]  # doctest: +SKIP
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if not (isinstance(budget, int | np.integer) and budget >= 1):
        raise ValueError(f"budget must be a positive integer; got {budget!r}")
    lo, hi = np.asarray(problem.lower), np.asarray(problem.upper)
    if lo.shape != hi.shape or np.any(lo >= hi):
        raise ValueError(
            f"hyperparameter bounds inverted or empty: lower {lo} must be < upper {hi}"
        )
    check_h(problem, problem.h_init, "h_init")
    config = config or SearchConfig()
    run = {
        "grid": _black_box,
        "random": _black_box,
        "gpbo": _black_box,
        "rmad": _unrolled,
        "drmad": _unrolled,
        "greedy": _greedy,
        "hoag": _hoag,
    }[method]
    return run(key, problem, method, int(budget), config)
