"""The experiments ``jaxsbi run`` knows, by the ``experiment`` key of a config file.

An explicit table: each kind names its frozen config dataclass and its run function
``run(config, run_dir) -> metrics dict``. A new experiment is a module in
:mod:`jaxsbi.experiments` and one row here (and a config under ``configs/``).

Example:
    >>> from jaxsbi.experiments.registry import load_config, runner
    >>> cfg = load_config("configs/two_moons_aalr.toml")  # doctest: +SKIP
    >>> metrics = runner(cfg)(cfg, run_dir)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jaxsbi.experiments import aalr, bench, evidence, hpo, prism
from jaxsbi.experiments.config import ConfigError, from_dict, read_toml

__all__ = ["Experiment", "EXPERIMENTS", "load_config", "runner"]


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One kind of experiment: the dataclass its config maps onto and the function that runs it."""

    kind: str
    config: type
    run: Callable[[Any, Path], dict]


EXPERIMENTS: Mapping[str, Experiment] = {
    e.kind: e
    for e in (
        Experiment("aalr", aalr.AALRConfig, aalr.run_aalr),
        Experiment("bench", bench.BenchConfig, bench.run_experiment),
        Experiment("evidence", evidence.PRMLConfig, evidence.run_prml),
        Experiment("hpo_polynomial", hpo.PolynomialConfig, hpo.run_polynomial),
        Experiment("hpo_digits", hpo.DigitsConfig, hpo.run_digits),
        Experiment("prism", prism.PrismConfig, prism.run_prism),
    )
}


def load_config(path: str | Path) -> Any:
    """Read a TOML experiment file and map it onto its experiment's dataclass, strictly.

    Raises:
        ConfigError: the file is missing or not TOML, its ``experiment`` key is missing or
            unknown, or a table does not match the dataclass (the key path is named).
    """
    data = read_toml(path)
    kind = data.pop("experiment", None)
    if kind is None:
        raise ConfigError(
            f"{path}: missing top-level key 'experiment' (one of {sorted(EXPERIMENTS)})"
        )
    if kind not in EXPERIMENTS:
        raise ConfigError(f"{path}: unknown experiment {kind!r}; known: {sorted(EXPERIMENTS)}")
    try:
        return from_dict(EXPERIMENTS[kind].config, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def runner(config: Any) -> Callable[[Any, Path], dict]:
    """The run function of the experiment whose dataclass ``config`` is."""
    for e in EXPERIMENTS.values():
        if type(config) is e.config:
            return e.run
    raise ConfigError(f"no experiment is registered for {type(config).__name__}")
