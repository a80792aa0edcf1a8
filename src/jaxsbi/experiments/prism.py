"""PRISM as an experiment: ``jaxsbi run configs/prism_k5.toml`` (or ``prism_dmri.toml``).

:func:`run_prism` trains the estimator on online simulations with the project's trainer
(:func:`jaxsbi.train.fit`: progress bar, orbax checkpoints in ``<run>/checkpoints``, resume
after a kill with identical results) and writes into the run folder

- ``metrics.json`` — top-1/top-5 per λ (beam search over the full model space), TV distance
  to the exact model posterior and the Bayes-optimal top-1 (analytic family), inclusion
  calibration, θ SBC per entry for two λ values, the λ sweep (monotonicity, interpolation),
  training history and timings;
- ``prism_loss.png``, ``prism_sbc_lam*.png``, ``prism_calibration.png``, ``prism_lambda.png``,
  ``prism_predictive.png`` (families with an x grid only: not for dMRI).

``family.kind = "dmri"`` trains on :func:`jaxsbi.dmri.dmri_family` with the settings of the
``[family.dmri]`` table (:class:`DmriFamilyConfig`); the dMRI benchmarks against the MCMC /
evidence baseline are in ``benchmarks/dmri_prism.py``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Literal

import jax
import numpy as np

from jaxsbi.diagnostics import sbc_histogram
from jaxsbi.diagnostics.training import loss_plot
from jaxsbi.experiments.config import to_dict
from jaxsbi.experiments.run_folder import OutputConfig, machine_info, save_figure, write_json
from jaxsbi.prism import NetworkConfig, param_count, prism_estimator
from jaxsbi.prism.evaluate import (
    calibration_figure,
    inclusion_calibration,
    lambda_figure,
    lambda_sweep,
    predictive_figure,
    simulate_held_out,
    structure_metrics,
    theta_sbc,
)
from jaxsbi.prism.families import NOISE_MODELS, linear_gaussian_family, symbolic_family
from jaxsbi.train import TrainConfig, fit, online_source

__all__ = [
    "DmriFamilyConfig",
    "FamilyConfig",
    "EvalConfig",
    "OutputConfig",
    "PrismConfig",
    "build_family",
    "run_prism",
]


@dataclasses.dataclass(frozen=True)
class DmriFamilyConfig:
    """The dMRI family's settings (``[family.dmri]``; see :func:`jaxsbi.dmri.dmri_family`).

    Attributes:
        protocol: ``""`` (default) draws a random protocol per simulated voxel from the
            settings below; ``"dipy:<table>"`` (e.g. ``"dipy:small_64D"``, see
            :data:`jaxsbi.dmri.protocol.DIPY_TABLES`) or ``"fsl:<stem>"`` (``<stem>.bval`` and
            ``<stem>.bvec``) trains on that one fixed acquisition — the network then serves
            exactly the scanner protocol of the data it will map. With a fixed protocol the
            random-protocol settings (``num_b0``, ``shells``, ``b_max``, ``b0_fraction``) must
            stay at their defaults. A relative ``fsl:`` stem is read from the working
            directory (the run folder's config.json keeps the string as written).
        n_meas: measurements per simulated voxel (tokens); default 48 for random protocols,
            the table's length for a fixed one (if given, it must equal it).
        num_b0: leading b0 measurements of every random protocol.
        shells: b-values (s/mm²) the other measurements are drawn from uniformly; empty:
            b ~ U[0, b_max].
        b_max: upper b-value when ``shells`` is empty.
        b0_fraction: probability that a non-leading measurement is an extra b0.
        noise_models: from ``("rician", "gaussian")``.
        snr_rician / snr_gaussian: SNR prior ranges (S0 / σ).
        diffusivity: (lo, hi) of every diffusivity prior, µm²/ms.
        lambda_max / p0: the structure prior's dimension penalty.
        gradient_encoding: ``"outer"`` (b·ggᵀ, sign-invariant) or ``"vector"`` (b, g).
    """

    protocol: str = ""
    n_meas: int | None = None
    num_b0: int = 4
    shells: tuple[float, ...] = (1000.0, 2000.0)
    b_max: float = 4000.0
    b0_fraction: float = 0.0
    noise_models: tuple[str, ...] = ("rician",)
    snr_rician: tuple[float, float] = (10.0, 40.0)
    snr_gaussian: tuple[float, float] = (20.0, 80.0)
    diffusivity: tuple[float, float] = (0.1, 3.5)
    lambda_max: float = 4.0
    p0: float = 0.5
    gradient_encoding: Literal["outer", "vector"] = "outer"

    def __post_init__(self):
        if not self.protocol:
            return
        kind, _, name = self.protocol.partition(":")
        if kind not in ("dipy", "fsl") or not name:
            raise ValueError(
                f"family.dmri.protocol must be '', 'dipy:<table>' or 'fsl:<stem>'; got "
                f"{self.protocol!r}"
            )
        default = DmriFamilyConfig()
        changed = [
            k
            for k in ("num_b0", "shells", "b_max", "b0_fraction")
            if getattr(self, k) != getattr(default, k)
        ]
        if changed:
            raise ValueError(
                f"family.dmri.{', '.join(changed)} describe random protocols and have no effect "
                f"with the fixed protocol {self.protocol!r}; remove them"
            )

    def fixed_protocol(self):
        """The fixed :class:`~jaxsbi.dmri.protocol.Protocol` this config names, or None."""
        if not self.protocol:
            return None
        from jaxsbi.dmri.protocol import load_dipy_protocol, load_fsl

        kind, _, name = self.protocol.partition(":")
        if kind == "dipy":
            return load_dipy_protocol(name, warn=False)
        stem = Path(name)
        bval, bvec = stem.with_name(stem.name + ".bval"), stem.with_name(stem.name + ".bvec")
        for f in (bval, bvec):
            if not f.is_file():
                raise FileNotFoundError(f"family.dmri.protocol = {self.protocol!r}: no file {f}")
        return load_fsl(bval, bvec, warn=False)


@dataclasses.dataclass(frozen=True)
class FamilyConfig:
    """Which model family.

    Attributes:
        kind: ``"linear_gaussian"`` (analytic, exact model posterior; K ≤ 8), ``"symbolic"``
            or ``"dmri"`` (diffusion MRI: ball, ≤ 3 sticks, zeppelin, dot; K = 6).
        num_components: K (symbolic families; dMRI has K = 6).
        n_points: grid size on [0, 10) (symbolic families).
        noise_scale: noise sd of the analytic family.
        noise_models: noise models of the symbolic family.
        dmri: the dMRI family's settings (only with ``kind = "dmri"``).
    """

    kind: Literal["linear_gaussian", "symbolic", "dmri"] = "linear_gaussian"
    num_components: int = 5
    n_points: int = 32
    noise_scale: float = 0.1
    noise_models: tuple[str, ...] = tuple(NOISE_MODELS)
    dmri: DmriFamilyConfig = DmriFamilyConfig()

    def __post_init__(self):
        if self.kind != "dmri" and self.dmri != DmriFamilyConfig():
            raise ValueError(f"[family.dmri] settings need kind = 'dmri', got kind = {self.kind!r}")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Held-out evaluation.

    Attributes:
        lambdas: λ values for top-k / TV / calibration (held out: training draws λ ~ U[0, 1]).
        num_observations: held-out observations per λ.
        sbc_lambdas: λ values whose held-out simulations are used for θ SBC.
        sbc_observations / sbc_samples: SBC observations and posterior samples each.
        sweep_lambdas: number of λ grid points for the monotonicity sweep.
        sweep_observations: observations in the sweep.
        predictive_lambdas: the two λ values of the posterior-predictive figure.
        ddim_steps: DDIM steps for θ sampling.
        inclusion_samples: structure samples per observation for inclusion probabilities
            when K is too large to enumerate.
    """

    lambdas: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    num_observations: int = 200
    sbc_lambdas: tuple[float, ...] = (0.3, 0.8)
    sbc_observations: int = 300
    sbc_samples: int = 100
    sweep_lambdas: int = 21
    sweep_observations: int = 100
    predictive_lambdas: tuple[float, float] = (0.1, 0.9)
    ddim_steps: int = 32
    inclusion_samples: int = 256


@dataclasses.dataclass(frozen=True)
class PrismConfig:
    """A PRISM experiment (``experiment = "prism"``)."""

    family: FamilyConfig = FamilyConfig()
    network: NetworkConfig = NetworkConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    seed: int = 0
    validation_size: int = 512
    dpi: int = 110
    output: OutputConfig = OutputConfig()

    def __post_init__(self):
        from jaxsbi.prism.families import check_lambda

        for name in ("lambdas", "sbc_lambdas", "predictive_lambdas"):
            try:
                check_lambda(getattr(self.eval, name))
            except ValueError as e:
                raise ValueError(f"eval.{name}: {e}") from None
        if self.validation_size < 2:
            raise ValueError(f"validation_size must be >= 2, got {self.validation_size}")


def build_family(cfg: FamilyConfig):
    """The model family a :class:`FamilyConfig` describes (a :class:`ModelFamily`, or a
    :class:`jaxsbi.dmri.DmriFamily` for ``kind = "dmri"``)."""
    if cfg.kind == "dmri":
        from jaxsbi.dmri.family import dmri_family

        d = cfg.dmri
        return dmri_family(
            protocol=d.fixed_protocol(),
            n_meas=48 if d.n_meas is None and not d.protocol else d.n_meas,
            num_b0=d.num_b0,
            shells=tuple(d.shells) or None,
            b_max=d.b_max,
            b0_fraction=d.b0_fraction,
            noise_models=tuple(d.noise_models),
            snr_ranges={"rician": tuple(d.snr_rician), "gaussian": tuple(d.snr_gaussian)},
            diffusivity=tuple(d.diffusivity),
            lambda_max=d.lambda_max,
            p0=d.p0,
            gradient_encoding=d.gradient_encoding,
        )
    if cfg.kind == "linear_gaussian":
        return linear_gaussian_family(
            cfg.num_components, n_points=cfg.n_points, noise_scale=cfg.noise_scale
        )
    return symbolic_family(cfg.num_components, n_points=cfg.n_points, noise_models=cfg.noise_models)


def run_prism(config: PrismConfig, run_dir: Path) -> dict:
    """Train and evaluate PRISM; writes figures and ``metrics.json`` into ``run_dir``.

    Returns:
        The metrics dict.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    family = build_family(config.family)
    est = prism_estimator(family, config.network)
    key = jax.random.key(config.seed)
    k_init, k_val, k_fit, k_eval = jax.random.split(key, 4)
    params = est.init(k_init)
    validation = est.simulate_batch(k_val, config.validation_size)
    source = online_source(
        est.simulate_batch, validation, config.train.batch_size, config.train.steps_per_epoch
    )
    timings = {}
    t0 = time.perf_counter()
    params, history = fit(
        k_fit,
        est.loss,
        params,
        source,
        config.train,
        checkpoint_dir=run_dir / "checkpoints",
        progress=config.output.progress,
        description=f"prism {family.name}",
    )
    timings["train_s"] = time.perf_counter() - t0
    figures = {}
    if history.epochs_run:
        loss_plot(history.train_loss, history.val_loss, run_dir / "prism_loss.png")
        figures["prism_loss.png"] = None

    ev = config.eval
    t0 = time.perf_counter()
    structure = structure_metrics(
        est, params, jax.random.fold_in(k_eval, 0), ev.lambdas, ev.num_observations
    )
    timings["structure_eval_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    calib = inclusion_calibration(
        est,
        params,
        jax.random.fold_in(k_eval, 1),
        ev.lambdas,
        ev.num_observations,
        ev.inclusion_samples,
    )
    figures["prism_calibration.png"] = calibration_figure(calib)
    timings["calibration_eval_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sbc = {}
    for i, lam in enumerate(ev.sbc_lambdas):
        summary, ranks = theta_sbc(
            est,
            params,
            jax.random.fold_in(k_eval, 10 + i),
            lam,
            ev.sbc_observations,
            ev.sbc_samples,
            ev.ddim_steps,
        )
        sbc[f"{lam:g}"] = summary
        if ranks:
            names = list(ranks)
            n_min = min(len(r) for r in ranks.values())
            stacked = np.stack([ranks[nm][:n_min] for nm in names], axis=1)
            name = f"prism_sbc_lam{lam:g}.png"
            sbc_histogram(stacked, ev.sbc_samples, run_dir / name, labels=names)
            figures[name] = None
    timings["sbc_eval_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sweep = lambda_sweep(
        est,
        params,
        jax.random.fold_in(k_eval, 2),
        ev.sweep_observations,
        np.linspace(0.0, 1.0, ev.sweep_lambdas),
    )
    figures["prism_lambda.png"] = lambda_figure(sweep)
    pred_info = None
    if config.family.kind != "dmri":  # a curve on an x grid (not dMRI's random protocols)
        example = simulate_held_out(est, jax.random.fold_in(k_eval, 3), 0.5, 1)
        pred_fig, pred_info = predictive_figure(
            est,
            params,
            jax.random.fold_in(k_eval, 4),
            example["y"][0],
            ev.predictive_lambdas,
            num_steps=ev.ddim_steps,
        )
        figures["prism_predictive.png"] = pred_fig
    timings["sweep_predictive_s"] = time.perf_counter() - t0
    for name, fig in figures.items():
        if fig is not None:
            save_figure(fig, run_dir / name, dpi=config.dpi)

    sweep_json = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in sweep.items()}
    metrics = {
        "config": to_dict(config),
        "family": {
            "name": family.name,
            "num_components": family.num_components,
            "num_noise_models": family.num_noise,
            "num_models": family.num_models,
            "theta_dim": family.theta_dim,
        },
        "num_params": param_count(params),
        "structure": structure,
        "inclusion_calibration": calib,
        "theta_sbc": sbc,
        "lambda_sweep": sweep_json,
        "predictive": pred_info,
        "history": {
            "epochs_run": history.epochs_run,
            "best_epoch": history.best_epoch,
            "best_val_loss": history.best_val_loss,
            "train_loss": history.train_loss.tolist(),
            "val_loss": history.val_loss.tolist(),
            "nonfinite_steps": history.nonfinite_steps,
            "resumed_from_epoch": history.resumed_from_epoch,
            "stop_reason": history.stop_reason,
            "train_wall_s_all_runs": history.wall_time,
            "simulations": history.epochs_run
            * config.train.steps_per_epoch
            * config.train.batch_size,
        },
        "timings_s": timings,
        "machine": machine_info(),
        "figures": sorted(figures),
    }
    write_json(run_dir / "metrics.json", metrics)
    return metrics

