"""The benchmark runner: grid config, summary table against the published numbers, resume."""

import csv
import dataclasses
import importlib.util
import json

import numpy as np
import pytest

from jaxsbi.experiments.bench import PUBLISHED, BenchConfig, run_bench, summarise
from jaxsbi.experiments.bench import config as bench_config
from jaxsbi.experiments.bench import grid as bench_grid
from jaxsbi.experiments.bench import report as bench_report
from jaxsbi.experiments.config import ConfigError, from_dict


def _row(task, budget, c2sts, seed=0):
    return {
        "task": task,
        "budget": budget,
        "seed": seed,
        "c2st": {str(i + 1): c for i, c in enumerate(c2sts)},
        "timings_s": {"simulate": 1.0, "train": 10.0, "sample": 2.0, "metric": 5.0},
    }


def test_summary_table_gaps_and_targets(tmp_path):
    results = [
        _row("two_moons", 10_000, [0.55, 0.57, 0.59]),
        _row("slcp", 10_000, [0.96, 0.98]),
    ]
    out = summarise(results, tmp_path)
    tm = out["table"]["two_moons/10000"]
    assert tm["c2st_mean"] == pytest.approx(0.57)
    assert tm["c2st_sd"] == pytest.approx(np.std([0.55, 0.57, 0.59], ddof=1))
    assert tm["nre"] == PUBLISHED["two_moons"]["NRE"][10_000] == 0.761
    assert tm["meets_nre"] is True
    assert out["table"]["slcp/10000"]["meets_nre"] is False  # 0.97 > 0.947
    md = (tmp_path / "results.md").read_text()
    row = "| two_moons | 10,000 | 0.570 ± 0.020 | 3 | 0.761 | -0.191 | 0.606 | -0.036 | yes |"
    assert row in md
    # train + sample = 12 s: within the 2-minute target; no load recorded -> "—".
    assert "| 10.0 | 2.0 | 12.0 | yes | — | 5.0 |" in md
    assert tm["meets_time"] is True and tm["max_load_avg"] is None
    assert "**no**" in md
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and rows[0]["task"] == "two_moons"
    assert (tmp_path / "c2st_vs_budget.png").stat().st_size > 10_000


def test_summary_flags_slow_and_loaded_cells(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_report.os, "cpu_count", lambda: 2)
    slow = _row("two_moons", 10_000, [0.6])
    slow["timings_s"].update(train=100.0, sample=30.0)  # 130 s > 120 s
    slow["load_avg"] = [1.2, 3.4]  # ran beside other work on 2 cores
    big = _row("two_moons", 100_000, [0.6])  # the time target is for 10k only
    big["timings_s"].update(train=500.0)
    out = summarise([slow, big], tmp_path)
    assert out["table"]["two_moons/10000"]["meets_time"] is False
    assert out["table"]["two_moons/10000"]["max_load_avg"] == 3.4
    assert out["table"]["two_moons/100000"]["meets_time"] is None
    md = (tmp_path / "results.md").read_text()
    assert "| 130.0 | **no** | 3.4* |" in md
    assert "| 502.0 | — | — |" in md


def test_published_table_is_complete():
    assert set(PUBLISHED) == set(bench_config.SBIBM_TASKS)
    for task, algos in PUBLISHED.items():
        for algo in ("NRE", "NPE"):
            assert sorted(algos[algo]) == [1_000, 10_000, 100_000], (task, algo)
            assert all(0.5 <= v <= 1.0 for v in algos[algo].values())


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"overrides.slcp.network.hiden"):
        from_dict(BenchConfig, {"overrides": {"slcp": {"network": {"hiden": [64]}}}})
    with pytest.raises(ConfigError, match=r"overrides.slcp.netwrk"):
        from_dict(BenchConfig, {"overrides": {"slcp": {"netwrk": {}}}})
    with pytest.raises(ConfigError, match=r"observations must be sbibm numbers 1..10"):
        from_dict(BenchConfig, {"observations": [0, 11]})
    with pytest.raises(ConfigError, match=r"unknown config key"):
        from_dict(BenchConfig, {"task": ["two_moons"]})


def test_overrides_merge_into_defaults():
    cfg = from_dict(BenchConfig, {"overrides": {"slcp": {"train": {"max_epochs": 400}}}})
    net, train, sampler = cfg.task_settings("slcp")
    assert train.max_epochs == 400
    assert train.learning_rate == cfg.train.learning_rate  # untouched keys keep the default
    assert cfg.task_settings("two_moons")[1].max_epochs == cfg.train.max_epochs
    # Optimiser steps grow with the budget: epochs scale by (reference / budget) ** 0.5, so
    # 100k gets sqrt(10) x the steps of 10k (a 100k cell must not stop at 10k's step count).
    train_config = bench_config._train_config
    epochs = {n: train_config(cfg.train, n, cfg).max_epochs for n in (10_000, 100_000)}
    steps = {n: e * n for n, e in epochs.items()}
    assert bench_config._train_config(cfg.train, 100_000, cfg).max_epochs == 64
    assert steps[100_000] / steps[10_000] == pytest.approx(10**0.5, rel=0.02)
    assert bench_config._train_config(cfg.train, 1_000, cfg).max_epochs == 633
    # epoch_scaling = 1 is the old rule: the same steps at every budget.
    same = dataclasses.replace(cfg, epoch_scaling=1.0)
    assert bench_config._train_config(cfg.train, 100_000, same).max_epochs == 20
    with pytest.raises(ConfigError, match="epoch_scaling"):
        from_dict(BenchConfig, {"epoch_scaling": 1.5})


def test_grid_runs_and_resumes(tmp_path, monkeypatch):
    if importlib.util.find_spec("sbibm") is None:
        pytest.skip("sbibm's data not installed (pip install --no-deps sbibm==1.1.0)")
    cfg = from_dict(
        BenchConfig,
        {
            "tasks": ["two_moons"],
            "budgets": [500],
            "observations": [1, 2],
            "reference_budget": 500,
            "min_epochs": 2,
            "c2st": False,
            "train": {"max_epochs": 3, "patience": 3, "batch_size": 128, "epochs_per_call": 3},
            "sampler": {
                "kernel": "hmc",
                "num_chains": 4,
                "num_samples": 5,
                "num_warmup": 10,
                "num_init_candidates": 50,
            },
        },
    )
    run_bench(cfg, tmp_path)
    cell = tmp_path / "cells" / "two_moons_500_seed0"
    row = json.loads((cell / "cell.json").read_text())
    assert row["epochs"] == 3 and set(row["timings_s"]) == {"simulate", "train", "sample", "metric"}
    theta = np.load(cell / "samples.npz")["theta"]
    assert theta.shape == (2, 20, 2) and np.all(np.isfinite(theta))

    # A second run finds the finished cell and does not run it again.
    def fail(*a, **k):
        raise AssertionError("finished cell was run again")

    monkeypatch.setattr(bench_grid, "run_cell", fail)
    out = run_bench(cfg, tmp_path)
    assert out["cells"] == 1
    assert "| two_moons | 500 | not scored | 0 |" in (tmp_path / "results.md").read_text()

    # A report of a larger grid runs nothing and lists the cells without results.
    bigger = dataclasses.replace(cfg, budgets=(500, 1000))
    out = run_bench(bigger, tmp_path, report_only=True)
    assert out["cells"] == 1 and out["not_run"] == ["two_moons_1000_seed0"]
    assert (
        "Not run (1 of the grid's 2 cells): two_moons_1000_seed0"
        in (tmp_path / "results.md").read_text()
    )

    # Changed settings make the finished cell stale: a report lists it as not run, and a run
    # runs it again from scratch.
    monkeypatch.undo()
    changed = dataclasses.replace(cfg, sampler=dataclasses.replace(cfg.sampler, num_samples=6))
    assert run_bench(changed, tmp_path, report_only=True)["not_run"] == ["two_moons_500_seed0"]
    run_bench(changed, tmp_path)
    assert np.load(cell / "samples.npz")["theta"].shape == (2, 24, 2)


def test_run_folder_accepts_other_grid_subsets_and_settings(tmp_path):
    from jaxsbi.experiments.run_folder import prepare_run_dir

    cfg = BenchConfig(tasks=("two_moons",))
    assert prepare_run_dir(cfg, tmp_path) == tmp_path
    finished = tmp_path / "cells" / "two_moons_10000_seed0" / "cell.json"
    finished.parent.mkdir(parents=True)
    finished.write_text("{}")
    # Another subset of tasks / budgets / seeds, or other settings, may fill the same folder:
    # cells are independent and each checks its own settings (test_grid_runs_and_resumes).
    prepare_run_dir(dataclasses.replace(cfg, tasks=("slcp",), budgets=(1000,)), tmp_path)
    other = dataclasses.replace(cfg, sampler=dataclasses.replace(cfg.sampler, kernel="hmc"))
    prepare_run_dir(other, tmp_path)
    # Nothing was emptied, and the folder records the grid it was last prepared for.
    assert finished.read_text() == "{}"
    recorded = json.loads((tmp_path / "config.json").read_text())
    assert recorded["sampler"]["kernel"] == "hmc"


def test_cell_settings_follow_overrides_of_their_task_only():
    cfg = BenchConfig()
    tuned = from_dict(BenchConfig, {"overrides": {"slcp": {"network": {"ensemble_size": 3}}}})
    assert tuned.cell_settings("slcp", 10_000) != cfg.cell_settings("slcp", 10_000)
    assert tuned.cell_settings("two_moons", 10_000) == cfg.cell_settings("two_moons", 10_000)
    # The budget enters through the scaled epochs.
    assert cfg.cell_settings("slcp", 10_000) != cfg.cell_settings("slcp", 100_000)


def test_unknown_task_is_refused(tmp_path):
    cfg = BenchConfig(tasks=("two_moon",))
    with pytest.raises(ValueError, match="unknown task"):
        run_bench(cfg, tmp_path)


def test_c2st_cache_is_reused_only_for_the_same_samples(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    refs = {k: rng.normal(size=(300, 2)) for k in (1, 2)}
    monkeypatch.setattr("jaxsbi.tasks.load_sbibm_reference", lambda task, k: refs[k])
    scored = []

    def fake_c2st(reference, samples):
        scored.append(samples.shape[0])
        return 0.5 + 0.01 * len(scored)

    monkeypatch.setattr("jaxsbi.diagnostics.c2st", fake_c2st)
    theta = rng.normal(size=(2, 400, 2))
    first = bench_grid._c2st_cached(tmp_path, "two_moons", (1, 2), theta, seed=0)
    assert scored == [300, 300] and first == pytest.approx({1: 0.51, 2: 0.52})
    # Same samples: both scores come from the cache, nothing is scored again.
    assert bench_grid._c2st_cached(tmp_path, "two_moons", (1, 2), theta, seed=0) == first
    assert len(scored) == 2
    # Samples of observation 2 changed (e.g. another sampler): only it is scored again.
    theta[1] += 1.0
    again = bench_grid._c2st_cached(tmp_path, "two_moons", (1, 2), theta, seed=0)
    assert len(scored) == 3 and again[1] == first[1] and again[2] == pytest.approx(0.53)


def test_cli_no_c2st_makes_a_timing_grid(tmp_path, capsys):
    from jaxsbi.cli import main

    out = tmp_path / "timing"
    rc = main(
        [
            "bench",
            "--no-c2st",
            "--report",
            "--tasks",
            "two_moons",
            "--budgets",
            "10000",
            "--output",
            str(out),
        ]
    )
    assert rc == 0
    grid = json.loads((out / "grid.json").read_text())
    assert grid["c2st"] is False and grid["tasks"] == ["two_moons"]
    assert "Not run (1 of the grid's 1 cells): two_moons_10000_seed0" in capsys.readouterr().out


def test_settings_added_later_match_only_at_their_default():
    cfg = BenchConfig()
    now = cfg.cell_settings("slcp", 10_000)
    assert cfg.settings_match(now, "slcp", 10_000)
    # A cell that ran before `network.balance` existed: the default (0, plain NRE) matches...
    older = json.loads(json.dumps(now))
    del older["network"]["balance"]
    assert cfg.settings_match(older, "slcp", 10_000)
    # ...a grid that sets it does not, nor does a changed or a removed setting.
    balanced = dataclasses.replace(cfg, network=dataclasses.replace(cfg.network, balance=100.0))
    assert not balanced.settings_match(older, "slcp", 10_000)
    changed = json.loads(json.dumps(now))
    changed["sampler"]["num_samples"] += 1
    assert not cfg.settings_match(changed, "slcp", 10_000)
    extra = json.loads(json.dumps(now))
    extra["sampler"]["gone"] = 1
    assert not cfg.settings_match(extra, "slcp", 10_000)
