"""AALR end to end: simulate → train the ratio estimator → sample with MCMC → diagnose.

``run_aalr(config, run_dir)`` is what ``jaxsbi run configs/<task>_aalr.toml`` calls; every step
is a public function the Python API exposes as well. Simulations (npz, written atomically) and
training (orbax checkpoints, which hold the best params) are cached in the run folder, so a
killed run started again with the same config resumes there instead of simulating and training
again; sampling and diagnostics, which take seconds, are redone. A run folder is bound to its
config: a different config is refused (see :func:`jaxsbi.experiments.run_folder.prepare_run_dir`).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from pathlib import Path
from typing import ClassVar, Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxsbi.diagnostics.training import loss_plot
from jaxsbi.experiments.run_folder import (
    OutputConfig,
    Stopwatch,
    atomic_path,
    machine_info,
    prepare_run_dir,
    save_samples,
    write_json,
)
from jaxsbi.mcmc import SamplerConfig, sample_posterior
from jaxsbi.ratio import RatioNetworkConfig, build_estimator
from jaxsbi.train import SimulationData, TrainConfig, simulate, train_estimator

__all__ = [
    "TaskConfig",
    "ObservationConfig",
    "DiagnosticsConfig",
    "OutputConfig",
    "AALRConfig",
    "X_TRANSFORMS",
    "transform_task",
    "run_aalr",
]

log = logging.getLogger("jaxsbi")


# name -> (elementwise bijection, its domain as a predicate on numpy arrays, domain in words)
X_TRANSFORMS: dict = {
    "none": (lambda x: x, lambda x: np.ones(np.shape(x), bool), "all reals"),
    "log1p": (jnp.log1p, lambda x: x > -1.0, "x > -1"),
}


def transform_task(task, x_obs: np.ndarray, name: str):
    """``(task, x_obs)`` with x replaced by ``X_TRANSFORMS[name]`` of x.

    The returned task simulates f(x) (a simulation outside f's domain becomes NaN, and is
    excluded and counted like any non-finite simulation); the observations are transformed
    here, and any outside the domain is refused. The task keeps its name (reference posteriors
    are looked up by it, for the untransformed observations) but loses ``log_likelihood``,
    which is a density of the untransformed x.
    """
    if name not in X_TRANSFORMS:
        raise ValueError(f"unknown x transform {name!r}; choose from {sorted(X_TRANSFORMS)}")
    if name == "none":
        return task, x_obs
    fn, inside, domain = X_TRANSFORMS[name]
    x_obs = np.asarray(x_obs, np.float32)
    bad = ~inside(x_obs)
    if bad.any():
        idx = np.argwhere(bad)[0].tolist()
        raise ValueError(
            f"x_transform {name!r} needs {domain}, but observation entry {idx} is "
            f"{x_obs[tuple(idx)]}"
        )
    base = task.simulate

    def simulate(key, theta):
        x = base(key, theta)
        return jnp.where(inside(x), fn(jnp.where(inside(x), x, 0.0)), jnp.nan)

    new = dataclasses.replace(task, simulate=simulate, log_likelihood=None)
    return new, np.asarray(fn(x_obs), np.float32)


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """Which task, and how many simulations.

    Attributes:
        name: a registered task (``jaxsbi.tasks.task_names()``).
        num_simulations: fixed simulation budget (ignored when ``online``).
        online: simulate a fresh batch at every training step instead of a fixed budget.
        simulation_chunk: simulations per compiled batch of the fixed budget (lower it for
            simulators with large intermediates, e.g. ray-traced images).
        x_transform: an elementwise bijection applied to x before the ratio estimator sees it
            (simulations and observations alike): "none" or "log1p" (for x ≥ 0 with heavy
            tails, e.g. queueing times; see :data:`X_TRANSFORMS`). A bijection of x leaves the
            posterior p(θ | x_o) unchanged; it only changes what the classifier has to learn.
    """

    name: str
    num_simulations: int = 10_000
    online: bool = False
    simulation_chunk: int = 100_000
    x_transform: str = "none"

    def __post_init__(self):
        if self.x_transform not in X_TRANSFORMS:
            raise ValueError(
                f"task.x_transform must be one of {sorted(X_TRANSFORMS)}, got {self.x_transform!r}"
            )
        if self.num_simulations < 10:
            raise ValueError(f"task.num_simulations must be >= 10, got {self.num_simulations}")
        if self.simulation_chunk < 1:
            raise ValueError(f"task.simulation_chunk must be >= 1, got {self.simulation_chunk}")


@dataclasses.dataclass(frozen=True)
class ObservationConfig:
    """Observations to sample posteriors for.

    Attributes:
        values: observations stated in the config, one list per observation.
        sbibm: sbibm observation numbers (1–10) read from sbibm's package data.
        file: an ``.npz`` whose ``x_obs`` holds one observation (``x_shape``) or several
            (``(n, *x_shape)``), e.g. images too large to list in a config.
    """

    values: tuple[tuple[float, ...], ...] = ()
    sbibm: tuple[int, ...] = ()
    file: str = ""


@dataclasses.dataclass(frozen=True)
class DiagnosticsConfig:
    """What to check after sampling.

    Attributes:
        reference: "analytic" (the task's exact posterior sampler), "sbibm" (sbibm's published
            reference samples; needs the observation numbers in ``observations.sbibm``), "file"
            (an ``.npz`` with ``theta`` samples for the observation ``x_obs``, e.g. rejection ABC
            or exact-likelihood MCMC; ``reference_file``), "none".
        reference_file: the ``.npz`` for ``reference = "file"``.
        num_reference: reference samples per observation for C2ST.
        c2st: compute C2ST against the reference.
        calibration_observations: simulated observations for expected coverage / SBC of the
            amortized posterior (0 disables).
        calibration_chains / calibration_samples: MCMC per calibration observation (HMC).
        pair_plot: write ``pair_plot.png``.
        roc: the AALR paper's ratio check: a classifier tells x ~ p(x|θ) from x ~ p(x) weighted
            by the learned r(x|θ), amortised over the prior; ROC AUC ≈ 0.5 when the ratio is
            right (``roc.png``, ``metrics["roc"]``).
        roc_samples: simulations per class for the ROC check.
        roc_proposal_scale: None: the marginal draws come from p(x) (the paper's check); s in
            (0, 1]: from the prior contracted by s towards the θ being checked, weighted by
            multiple importance sampling (even weights when posteriors are narrow; see
            :mod:`jaxsbi.diagnostics.roc`).
    """

    reference: Literal["analytic", "sbibm", "file", "none"] = "analytic"
    reference_file: str = ""
    num_reference: int = 10_000
    c2st: bool = True
    calibration_observations: int = 200
    calibration_chains: int = 10
    calibration_samples: int = 50
    pair_plot: bool = True
    roc: bool = True
    roc_samples: int = 4000
    roc_proposal_scale: float | None = None

    def __post_init__(self):
        if self.reference == "file" and not self.reference_file:
            raise ValueError("diagnostics.reference = 'file' needs diagnostics.reference_file")
        if self.roc_proposal_scale is not None and not 0.0 < self.roc_proposal_scale <= 1.0:
            raise ValueError(
                f"diagnostics.roc_proposal_scale must be in (0, 1], got {self.roc_proposal_scale}"
            )


@dataclasses.dataclass(frozen=True)
class AALRConfig:
    """An AALR experiment (``experiment = "aalr"`` in a config file)."""

    # Sampling and diagnostics are redone on every run: changing them keeps the run folder's
    # cached simulations and checkpoints (see jaxsbi.experiments.run_folder.prepare_run_dir).
    cache_free_sections: ClassVar[tuple[str, ...]] = ("sampler", "diagnostics", "output")

    task: TaskConfig
    observations: ObservationConfig = ObservationConfig()
    seed: int = 0
    network: RatioNetworkConfig = RatioNetworkConfig()
    train: TrainConfig = TrainConfig()
    sampler: SamplerConfig = SamplerConfig()
    diagnostics: DiagnosticsConfig = DiagnosticsConfig()
    output: OutputConfig = OutputConfig()


def _observations(task, config: AALRConfig) -> tuple[np.ndarray, list[str]]:
    obs, names = [], []
    for i, v in enumerate(config.observations.values):
        o = np.asarray(v, np.float32)
        if o.size == int(np.prod(task.x_shape)):
            o = o.reshape(task.x_shape)  # images may be given flat, in row-major order
        obs.append(o)
        names.append(f"config_{i + 1}")
    if config.observations.sbibm:
        from jaxsbi.tasks import load_sbibm_observation

        for k in config.observations.sbibm:
            obs.append(
                np.asarray(load_sbibm_observation(task.name, k), np.float32).reshape(task.x_shape)
            )
            names.append(f"sbibm_{k}")
    if config.observations.file:
        path = Path(config.observations.file)
        if not path.is_file():
            raise FileNotFoundError(f"observations.file {str(path)!r} does not exist")
        z = np.load(path)
        if "x_obs" not in z.files:
            raise ValueError(f"{path} must hold an array 'x_obs'; it has {z.files}")
        arr = np.asarray(z["x_obs"], np.float32)
        arr = arr[None] if arr.shape == task.x_shape else arr
        for i, o in enumerate(arr):
            obs.append(o)
            names.append(f"file_{i + 1}")
    if not obs:
        raise ValueError(
            "no observations: set observations.values, observations.sbibm or observations.file"
        )
    for name, o in zip(names, obs, strict=True):
        if o.shape != task.x_shape:
            raise ValueError(
                f"observation {name} has shape {o.shape}, but task {task.name!r} produces x of "
                f"shape {task.x_shape}"
            )
    return np.stack(obs), names


def _references(key, task, config: AALRConfig, x_obs, names) -> list[np.ndarray | None]:
    kind = config.diagnostics.reference
    n = config.diagnostics.num_reference
    if kind == "none":
        return [None] * len(names)
    if kind == "file":
        path = Path(config.diagnostics.reference_file)
        if not path.is_file():
            raise FileNotFoundError(f"diagnostics.reference_file {str(path)!r} does not exist")
        z = np.load(path)
        if "theta" not in z.files or "x_obs" not in z.files:
            raise ValueError(f"{path} must hold arrays 'theta' and 'x_obs'; it has {z.files}")
        ref_x = np.asarray(z["x_obs"], np.float32).reshape(task.x_shape)
        matches = [bool(np.allclose(x, ref_x, rtol=1e-5, atol=1e-6)) for x in np.asarray(x_obs)]
        if not any(matches):
            raise ValueError(
                f"none of the observations equals the reference's x_obs in {path}: the "
                "reference posterior belongs to another observation"
            )
        theta = np.asarray(z["theta"], np.float32)[:n]
        return [theta if m else None for m in matches]
    if kind == "sbibm":
        from jaxsbi.tasks import load_sbibm_reference

        return [
            np.asarray(load_sbibm_reference(task.name, int(nm.split("_")[1])))[:n]
            if nm.startswith("sbibm_")
            else None
            for nm in names
        ]
    from jaxsbi.tasks import reference_posterior

    return [
        np.asarray(reference_posterior(task.name, jax.random.fold_in(key, i), x, n))
        for i, x in enumerate(x_obs)
    ]


def _calibration(key, task, estimator, params, config: AALRConfig) -> dict:
    """Expected coverage and SBC ranks of the amortized posterior on simulated observations."""
    from jaxsbi.diagnostics import expected_coverage, sbc_ranks, sbc_uniformity

    dcfg = config.diagnostics
    k_theta, k_sim, k_mcmc = jax.random.split(key, 3)
    n = dcfg.calibration_observations
    theta_true = task.prior.sample(k_theta, (n,))
    x = jax.vmap(task.simulate)(jax.random.split(k_sim, n), theta_true)
    ok = np.all(np.isfinite(np.asarray(x).reshape(n, -1)), axis=1)
    theta_true, x = theta_true[ok], x[ok]
    cal_sampler = dataclasses.replace(
        config.sampler,
        kernel="hmc",
        num_chains=dcfg.calibration_chains,
        num_samples=dcfg.calibration_samples,
    )
    post = sample_posterior(
        k_mcmc, task.prior, estimator.log_ratio, params, x, cal_sampler, x_shape=task.x_shape
    )
    samples = post.theta.reshape(x.shape[0], -1, task.theta_dim)

    def logpost(t, xo):
        return task.prior.log_prob(t) + estimator.log_ratio(params, t, xo)

    lp_samples = jax.vmap(lambda s, xo: jax.vmap(lambda t: logpost(t, xo))(s))(samples, x)
    lp_true = jax.vmap(logpost)(theta_true, x)
    levels, coverage = expected_coverage(lp_samples, lp_true)
    ranks = sbc_ranks(theta_true, samples)
    uniform = sbc_uniformity(ranks, samples.shape[1])
    return {
        "levels": np.asarray(levels),
        "coverage": np.asarray(coverage),
        "ranks": np.asarray(ranks),
        "num_samples": int(samples.shape[1]),
        "uniformity": uniform,
        "num_observations": int(x.shape[0]),
        "num_invalid": int((~ok).sum()),
    }


def _load_simulations(path: Path, task, num_simulations: int) -> SimulationData | None:
    """The cached simulations of ``path``, or None (none yet, or unreadable: with a warning).

    A cache that cannot be read (truncated, corrupted, not an npz) or does not hold what this
    config simulates (keys, shapes, count, finite values) is re-simulated: the same key gives
    the same simulations, so the run's result does not change.
    """
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            theta, x, num_invalid = z["theta"], z["x"], int(z["num_invalid"])
        n = theta.shape[0]
        if theta.shape != (n, task.theta_dim) or x.shape != (n, *task.x_shape):
            raise ValueError(f"shapes theta {theta.shape}, x {x.shape} do not fit the task")
        if n + num_invalid != num_simulations:
            raise ValueError(f"{n} + {num_invalid} simulations, not {num_simulations}")
        if not (np.isfinite(theta).all() and np.isfinite(x).all()):
            raise ValueError("non-finite values")
    except Exception as err:  # noqa: BLE001 - any unreadable cache is simulated again
        msg = f"simulation cache {path} is unreadable or corrupted ({type(err).__name__}: {err}); "
        warnings.warn(msg + "simulating again", RuntimeWarning, stacklevel=2)
        log.warning("%ssimulating again", msg)
        return None
    return SimulationData(jnp.asarray(theta), jnp.asarray(x), num_invalid)


def run_aalr(config: AALRConfig, run_dir: Path) -> dict:
    """Run one AALR experiment into ``run_dir``; returns the metrics (also in metrics.json)."""
    from jaxsbi import diagnostics
    from jaxsbi.tasks import get_task

    run_dir = prepare_run_dir(config, Path(run_dir))
    task = get_task(config.task.name)
    x_raw, obs_names = _observations(task, config)
    task, x_obs = transform_task(task, x_raw, config.task.x_transform)
    watch = Stopwatch()
    key = jax.random.key(config.seed)
    k_sim, k_train, k_sample, k_ref, k_cal = jax.random.split(key, 5)
    progress = config.output.progress
    metrics: dict = {"task": task.name, "machine": machine_info(), "observations": obs_names}

    # 1. simulate (cached in the run folder)
    data = None
    if not config.task.online:
        sim_path = run_dir / "simulations.npz"
        with watch("simulate"):
            data = _load_simulations(sim_path, task, config.task.num_simulations)
            if data is not None:
                log.info("loaded %d simulations from %s", data.theta.shape[0], sim_path)
            else:
                data = simulate(
                    k_sim,
                    task,
                    config.task.num_simulations,
                    chunk_size=config.task.simulation_chunk,
                )
                # Write then rename, so a kill mid-write never leaves a truncated cache.
                with atomic_path(sim_path) as tmp:
                    np.savez(
                        tmp,
                        theta=np.asarray(data.theta),
                        x=np.asarray(data.x),
                        num_invalid=data.num_invalid,
                    )
        metrics["simulations"] = {
            "requested": config.task.num_simulations,
            "valid": int(data.theta.shape[0]),
            "excluded_nonfinite": data.num_invalid,
        }

    # 2. train (orbax checkpoints; a killed run resumes)
    estimator = build_estimator(task, config.network)
    with watch("train"):
        params, history, num_invalid = train_estimator(
            k_train,
            task,
            estimator,
            config.train,
            data=data,
            online=config.task.online,
            checkpoint_dir=run_dir / "checkpoints",
            progress=progress,
        )
    if config.task.online:
        metrics["simulations"] = {"online": True, "validation_excluded_nonfinite": num_invalid}
    metrics["training"] = {
        "epochs": history.epochs_run,
        "best_epoch": history.best_epoch,
        "best_val_loss": history.best_val_loss,
        "stopped_early": history.stopped_early,
        "nonfinite_steps_skipped": history.nonfinite_steps,
        "resumed_from_epoch": history.resumed_from_epoch,
    }
    with atomic_path(run_dir / "loss.png") as tmp:
        loss_plot(history.train_loss, history.val_loss, tmp)

    # 3. sample all observations in one compiled call
    with watch("sample"):
        post = sample_posterior(
            k_sample,
            task.prior,
            estimator.log_ratio,
            params,
            x_obs,
            config.sampler,
            x_shape=task.x_shape,
        )
        theta = np.asarray(jax.block_until_ready(post.theta))
    info = jax.tree.map(np.asarray, post.info._asdict())
    metrics["sampler"] = {"kernel": config.sampler.kernel, **info}
    metrics["mcmc"] = [diagnostics.mcmc_summary(theta[i]) for i in range(theta.shape[0])]
    metrics["files"] = save_samples(run_dir, theta, x_raw, task.labels)

    # 4. diagnostics: C2ST against a reference, pair plot, calibration
    with watch("metrics"):
        refs = _references(k_ref, task, config, x_raw, obs_names)
        c2sts = []
        for i, ref in enumerate(refs):
            flat = theta[i].reshape(-1, task.theta_dim)
            if ref is not None and config.diagnostics.c2st:
                # A random subset across all chains (not the first chains) of the reference's size.
                pick = np.random.default_rng(config.seed).permutation(flat.shape[0])
                c2sts.append(float(diagnostics.c2st(ref, flat[pick[: ref.shape[0]]])))
            else:
                c2sts.append(None)
            if config.diagnostics.pair_plot:
                sets = {"AALR": flat}
                if ref is not None:
                    sets = {"reference": ref, "AALR": flat}
                suffix = "" if len(refs) == 1 else f"_{obs_names[i]}"
                with atomic_path(run_dir / f"pair_plot{suffix}.png") as tmp:
                    diagnostics.pair_plot(sets, tmp, labels=task.labels)
        metrics["c2st"] = dict(zip(obs_names, c2sts, strict=True))
        if config.diagnostics.calibration_observations > 0:
            cal = _calibration(k_cal, task, estimator, params, config)
            with atomic_path(run_dir / "coverage.png") as tmp:
                diagnostics.coverage_plot(
                    cal["levels"], cal["coverage"], tmp, num_observations=cal["num_observations"]
                )
            with atomic_path(run_dir / "sbc.png") as tmp:
                diagnostics.sbc_histogram(
                    cal["ranks"], cal["num_samples"], tmp, labels=task.labels
                )
            metrics["calibration"] = {
                "num_observations": cal["num_observations"],
                "excluded_nonfinite": cal["num_invalid"],
                "expected_coverage": {
                    f"{lv:.2f}": float(c)
                    for lv, c in zip(cal["levels"][::5], cal["coverage"][::5], strict=True)
                },
                "sbc": cal["uniformity"],
            }
        if config.diagnostics.roc:
            roc = diagnostics.ratio_roc_check(
                jax.random.fold_in(key, 7),
                task.prior,
                task.simulate,
                estimator.log_ratio,
                params,
                num_samples=config.diagnostics.roc_samples,
                proposal_scale=config.diagnostics.roc_proposal_scale,
            )
            with atomic_path(run_dir / "roc.png") as tmp:
                diagnostics.roc_plot(roc, tmp)
            metrics["roc"] = {
                "auc": float(roc.auc),
                "effective_sample_size": float(roc.effective_sample_size),
                "num_test": int(roc.num_test),
                "excluded_nonfinite": int(roc.num_dropped),
                "proposal_scale": config.diagnostics.roc_proposal_scale,
            }
    metrics["timings_s"] = dict(watch.times)
    write_json(run_dir / "metrics.json", metrics)
    return metrics

