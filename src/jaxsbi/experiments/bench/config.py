"""The grid's settings: :class:`BenchConfig` (tasks × budgets × seeds, per-task overrides) and
the per-cell settings a finished cell is matched against."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, ClassVar

from jaxsbi.experiments.config import ConfigError, from_dict, to_dict
from jaxsbi.mcmc import SamplerConfig
from jaxsbi.ratio import RatioNetworkConfig
from jaxsbi.train import TrainConfig

__all__ = ["BenchConfig", "QuickConfig", "SBIBM_TASKS"]

SBIBM_TASKS = (
    "gaussian_linear",
    "gaussian_linear_uniform",
    "slcp",
    "slcp_distractors",
    "bernoulli_glm",
    "bernoulli_glm_raw",
    "gaussian_mixture",
    "two_moons",
    "sir",
    "lotka_volterra",
)


@dataclasses.dataclass(frozen=True)
class QuickConfig:
    """The ``--quick`` subset (a laptop run)."""

    tasks: tuple[str, ...] = ("two_moons", "gaussian_mixture", "slcp")
    budgets: tuple[int, ...] = (10_000,)
    observations: tuple[int, ...] = (1, 2, 3)


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """The benchmark grid (``experiment = "bench"`` in a config file).

    Attributes:
        tasks: sbibm task names.
        budgets: simulation budgets.
        observations: sbibm observation numbers (1..10), all sampled in one call per cell.
        seeds: one cell per seed (simulations, training and sampling all follow the seed).
        network / train / sampler: defaults for every task.
        overrides: per-task changes, ``{task: {"network": {...}, "train": {...},
            "sampler": {...}}}``; a table's keys replace those of the default table.
        reference_budget / min_epochs / epoch_scaling: see the module docstring.
        quick: the ``--quick`` subset.
        c2st: score the samples against sbibm's reference (the 10-D C2ST is the slowest stage
            on a CPU).
    """

    tasks: tuple[str, ...] = SBIBM_TASKS
    budgets: tuple[int, ...] = (10_000, 100_000)
    observations: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    seeds: tuple[int, ...] = (0,)
    network: RatioNetworkConfig = RatioNetworkConfig(num_contrastive=2)
    train: TrainConfig = TrainConfig(
        learning_rate=3e-3, batch_size=512, max_epochs=200, patience=60, epochs_per_call=10
    )
    sampler: SamplerConfig = SamplerConfig(kernel="smc", num_chains=100, num_samples=100)
    overrides: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    reference_budget: int = 10_000
    min_epochs: int = 20
    epoch_scaling: float = 0.5
    quick: QuickConfig = QuickConfig()
    c2st: bool = True

    # Each cell records the settings it ran with (:meth:`cell_settings`) and is re-run when
    # they change, so the folder-level check has nothing to guard: a folder may be filled by
    # runs over different task/budget/seed subsets (``jaxsbi bench --tasks ...``) and
    # reported as a whole, and changing one task's override re-runs that task's cells only.
    cache_free_sections: ClassVar[tuple[str, ...]] = (
        "tasks", "budgets", "observations", "seeds", "network", "train", "sampler",
        "overrides", "reference_budget", "min_epochs", "epoch_scaling", "quick", "c2st",
    )

    def __post_init__(self):
        for name in ("tasks", "budgets", "observations", "seeds"):
            if not getattr(self, name):
                raise ValueError(f"bench.{name} must not be empty")
        bad = [k for k in self.observations if not 1 <= k <= 10]
        if bad:
            raise ValueError(f"bench.observations must be sbibm numbers 1..10, got {bad}")
        if not 0.0 <= self.epoch_scaling <= 1.0:
            raise ValueError(f"bench.epoch_scaling must be in [0, 1], got {self.epoch_scaling}")
        bad = [n for n in self.budgets if n < 100]
        if bad:
            raise ValueError(f"bench.budgets must be >= 100 simulations, got {bad}")
        for task, table in self.overrides.items():
            if not isinstance(table, dict):
                raise ValueError(f"overrides.{task} must be a table")
            unknown = sorted(set(table) - {"network", "train", "sampler"})
            if unknown:
                raise ValueError(
                    f"unknown key(s) {[f'overrides.{task}.{k}' for k in unknown]}; "
                    "accepted: network, train, sampler"
                )
            self.task_settings(task)  # raises on an unknown or mistyped key

    def task_settings(self, task: str) -> tuple[RatioNetworkConfig, TrainConfig, SamplerConfig]:
        """The network, training and sampler settings of ``task`` (defaults + its overrides)."""
        table = self.overrides.get(task, {})
        out = []
        for name, cls in (("network", RatioNetworkConfig), ("train", TrainConfig),
                          ("sampler", SamplerConfig)):
            merged = {**to_dict(getattr(self, name)), **table.get(name, {})}
            try:
                out.append(from_dict(cls, merged, f"overrides.{task}.{name}"))
            except ConfigError as e:
                raise ValueError(str(e)) from None
        return tuple(out)

    def cell_settings(self, task: str, budget: int) -> dict:
        """Everything a (task, budget) cell's results depend on, as JSON-ready values."""
        network, train, sampler = self.task_settings(task)
        return json.loads(json.dumps({
            "network": to_dict(network),
            "train": to_dict(_train_config(train, budget, self)),
            "sampler": to_dict(sampler),
            "observations": list(self.observations),
            "c2st": self.c2st,
        }))

    def settings_match(self, stored: dict, task: str, budget: int) -> bool:
        """Whether a finished cell's ``stored`` settings are this grid's for (task, budget).

        A setting added to the code after the cell ran (absent from ``stored``) matches when the
        grid leaves it at its default: defaults of new fields keep the old behaviour (e.g.
        ``network.balance = 0`` is plain NRE; ``sampler.smc_observations = "auto"`` only
        chooses how observations are batched, and batching equals one by one).
        """
        return _match(stored, self.cell_settings(task, budget), _DEFAULT_SETTINGS)

    def quick_grid(self) -> BenchConfig:
        q = self.quick
        return dataclasses.replace(
            self,
            tasks=q.tasks,
            budgets=q.budgets,
            observations=q.observations,
            seeds=self.seeds[:1],
        )


_DEFAULT_SETTINGS = json.loads(json.dumps({
    "network": to_dict(RatioNetworkConfig()),
    "train": to_dict(TrainConfig()),
    "sampler": to_dict(SamplerConfig()),
}))


def _match(stored: dict, current: dict, defaults: dict) -> bool:
    if set(stored) - set(current):
        return False  # a setting the code no longer has
    for name, value in current.items():
        if name not in stored:
            if name not in defaults or value != defaults[name]:
                return False
        elif isinstance(value, dict) and isinstance(stored[name], dict):
            if not _match(stored[name], value, defaults.get(name, {})):
                return False
        elif stored[name] != value:
            return False
    return True


def _train_config(base: TrainConfig, budget: int, cfg: BenchConfig) -> TrainConfig:
    scale = (cfg.reference_budget / budget) ** cfg.epoch_scaling
    return dataclasses.replace(
        base,
        max_epochs=max(cfg.min_epochs, math.ceil(base.max_epochs * scale)),
        patience=max(max(5, cfg.min_epochs // 2), math.ceil(base.patience * scale)),
    )
