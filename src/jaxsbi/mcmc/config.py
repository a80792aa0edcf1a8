"""The sampler's settings (:class:`SamplerConfig`, a frozen dataclass read from TOML) and the
per-observation summaries every sampler returns (:class:`SamplerInfo`)."""

from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple

from jax import Array

__all__ = ["KERNEL_NAMES", "SamplerConfig", "SamplerInfo"]

# The kernels a config (a TOML file) can name; the Python API also takes a Kernel object.
KERNEL_NAMES = ("smc", "nuts", "hmc", "rwmh")


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """Posterior sampler settings.

    Attributes:
        kernel: "smc" (adaptive tempered SMC from the prior, :mod:`jaxsbi.mcmc.smc`: right mode
            masses on multimodal posteriors, and log Z), or an MCMC kernel: "nuts", "hmc" or
            "rwmh" (random-walk Metropolis–Hastings). A string, so that TOML configs can name
            it; any other MCMC algorithm (e.g. a blackjax one) is passed as a
            :class:`jaxsbi.mcmc.Kernel` object through ``kernel=`` of
            :func:`jaxsbi.mcmc.sample_posterior`, which overrides this field.
        num_chains: chains per observation. For "smc", the ``num_chains * num_samples``
            particles are returned as ``num_chains`` groups of ``num_samples`` (the particles
            are exchangeable, so the groups are not chains in time).
        num_samples: kept draws per chain (after thinning).
        num_warmup: adaptation steps per chain (discarded; not used by "smc").
        thinning: keep every ``thinning``-th draw.
        target_acceptance: dual-averaging target; None picks 0.8 (NUTS), 0.75 (HMC), 0.3 (MH).
        num_integration_steps: leapfrog steps per HMC transition.
        max_num_doublings: NUTS tree depth cap.
        step_size_jitter: HMC/NUTS step size is multiplied by U[1 − j, 1 + j] each step, which
            breaks the periodicity of fixed-length trajectories.
        init: "resample" (chains start at prior draws resampled ∝ exp(potential), as sbi does:
            the chains are spread over the posterior's modes from the start) or "prior".
        num_init_candidates: prior draws considered by "resample".
        target_ess: SMC: each tempering step keeps this fraction of the particles' ESS.
        smc_mutation: SMC's mutation kernel: "rwmh" (Gaussian random walk with the particle
            cloud's covariance) or "hmc" (``num_integration_steps`` leapfrog steps, the cloud's
            variances as inverse mass matrix).
        smc_min_steps / smc_max_steps: mutation steps per stage, at least / at most.
        smc_unmoved: an intermediate stage's mutation stops once at most this fraction of the
            particles has never moved (or at ``smc_max_steps``).
        smc_final_unmoved: the same for the last stage (λ = 1), whose particles are the output:
            an unmoved particle may be a resampling duplicate, which a C2ST classifier can
            memorise across its folds.
        smc_max_stages: cap on tempering stages (``info.num_stages`` reports how many ran).
        smc_observations: "vmap" (all observations in lockstep: large batched matmuls, best
            on accelerators), "map" (one after another inside the compiled call: no
            observation waits for another's extra stages and steps; 1.5x faster for 10 slcp
            observations on a 2-core CPU) or "auto" (map on CPU, vmap elsewhere).
    """

    kernel: Literal["smc", "nuts", "hmc", "rwmh"] = "smc"
    num_chains: int = 100
    num_samples: int = 100
    num_warmup: int = 200
    thinning: int = 1
    target_acceptance: float | None = None
    num_integration_steps: int = 8
    max_num_doublings: int = 6
    step_size_jitter: float = 0.2
    init: Literal["resample", "prior"] = "resample"
    num_init_candidates: int = 2000
    target_ess: float = 0.9
    smc_mutation: Literal["rwmh", "hmc"] = "rwmh"
    smc_min_steps: int = 2
    smc_max_steps: int = 50
    smc_unmoved: float = 0.01
    smc_final_unmoved: float = 0.01
    smc_max_stages: int = 500
    smc_observations: Literal["auto", "vmap", "map"] = "auto"

    def __post_init__(self):
        for name in (
            "num_chains",
            "num_samples",
            "num_warmup",
            "thinning",
            "num_integration_steps",
            "max_num_doublings",
            "num_init_candidates",
            "smc_min_steps",
            "smc_max_steps",
            "smc_max_stages",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"sampler.{name} must be >= 1, got {getattr(self, name)}")
        if self.target_acceptance is not None and not 0 < self.target_acceptance < 1:
            raise ValueError(
                f"sampler.target_acceptance must be in (0, 1), got {self.target_acceptance}"
            )
        if self.init == "resample" and self.num_init_candidates < self.num_chains:
            raise ValueError(
                f"sampler.num_init_candidates ({self.num_init_candidates}) must be >= "
                f"sampler.num_chains ({self.num_chains}) for init = 'resample'"
            )
        if self.kernel not in KERNEL_NAMES:
            raise ValueError(
                f"sampler.kernel must be 'smc', 'nuts', 'hmc' or 'rwmh', got {self.kernel!r}"
            )
        if self.smc_mutation not in ("rwmh", "hmc"):
            raise ValueError(
                f"sampler.smc_mutation must be 'rwmh' or 'hmc', got {self.smc_mutation!r}"
            )
        if self.smc_observations not in ("auto", "vmap", "map"):
            raise ValueError(
                "sampler.smc_observations must be 'auto', 'vmap' or 'map', got "
                f"{self.smc_observations!r}"
            )
        if not 0 < self.target_ess < 1:
            raise ValueError(f"sampler.target_ess must be in (0, 1), got {self.target_ess}")
        for name in ("smc_unmoved", "smc_final_unmoved"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"sampler.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.smc_min_steps > self.smc_max_steps:
            raise ValueError(
                f"sampler.smc_min_steps ({self.smc_min_steps}) must be <= "
                f"sampler.smc_max_steps ({self.smc_max_steps})"
            )
        if not 0 <= self.step_size_jitter < 1:
            raise ValueError(
                f"sampler.step_size_jitter must be in [0, 1), got {self.step_size_jitter}"
            )

    @property
    def acceptance_target(self) -> float:
        if self.target_acceptance is not None:
            return self.target_acceptance
        return {"nuts": 0.8, "hmc": 0.75, "rwmh": 0.3, "smc": 0.234}[self.kernel]


class SamplerInfo(NamedTuple):
    """Per-observation summaries of one run (leading axis: observations when batched).

    The last four fields are filled by "smc" only (None for the MCMC kernels): for "smc",
    ``step_size`` is the final proposal scale, ``acceptance_rate`` that of the last stage's
    mutations and ``mean_num_steps`` the mutation steps per particle over all stages.
    """

    step_size: Array  # ()
    inverse_mass_matrix: Array  # (theta_dim,)
    acceptance_rate: Array  # () mean over chains and kept draws
    num_divergent: Array  # () divergent transitions among kept draws (HMC/NUTS)
    mean_num_steps: Array  # () mean leapfrog steps per transition (1 for MH)
    log_normalizer: Array | None = None  # () SMC: log ∫ p(θ) L(θ, x) dθ
    num_stages: Array | None = None  # () SMC: tempering stages
    tempering: Array | None = None  # () SMC: final λ (1 unless smc_max_stages was hit)
    ess_min: Array | None = None  # () SMC: smallest incremental ESS / N over the stages
