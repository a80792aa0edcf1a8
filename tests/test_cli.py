"""`jaxsbi run CONFIG` end to end on a tiny two_moons config."""

import json

import numpy as np

from jaxsbi.cli import main

TINY = """
experiment = "aalr"
seed = 1
[task]
name = "two_moons"
num_simulations = 1000
[observations]
values = [[-0.6396706, 0.16234657], [0.1, -0.2]]
[network]
hidden = [32, 32]
[train]
max_epochs = 6
epochs_per_call = 3
checkpoint_every = 3
[sampler]
kernel = "hmc"
num_chains = 8
num_samples = 20
num_warmup = 40
[diagnostics]
num_reference = 160
calibration_observations = 12
calibration_chains = 4
calibration_samples = 10
[output]
progress = false
"""


def test_run_writes_a_complete_run_folder_and_resumes(tmp_path, capsys):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    assert main(["run", str(cfg), "--output", str(tmp_path / "runs")]) == 0
    run = tmp_path / "runs" / "tiny"
    for name in (
        "config.json",
        "metrics.json",
        "samples.npz",
        "simulations.npz",
        "loss.png",
        "pair_plot_config_1.png",
        "pair_plot_config_2.png",
        "coverage.png",
        "sbc.png",
        "roc.png",
    ):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    z = np.load(run / "samples.npz")
    assert z["theta"].shape == (2, 8, 20, 2)
    assert metrics["simulations"] == {"requested": 1000, "valid": 1000, "excluded_nonfinite": 0}
    assert set(metrics["c2st"]) == {"config_1", "config_2"}
    assert all(0.4 <= v <= 1.0 for v in metrics["c2st"].values())
    for key in ("rhat", "ess_bulk"):
        assert key in metrics["mcmc"][0]
    for key in ("simulate", "train", "sample", "metrics"):
        assert metrics["timings_s"][key] >= 0
    assert metrics["machine"]["cpu_count"] >= 1
    assert metrics["training"]["resumed_from_epoch"] == 0
    # A few epochs of training: the ROC ratio check must flag the ratio as not yet right.
    assert metrics["roc"]["auc"] > 0.7
    first = z["theta"]
    # Same command again: simulations reloaded, training resumed at its last checkpoint (the
    # end), and the same seed gives the same samples.
    assert main(["run", str(cfg), "--output", str(tmp_path / "runs")]) == 0
    metrics2 = json.loads((run / "metrics.json").read_text())
    assert metrics2["training"]["resumed_from_epoch"] == 6
    np.testing.assert_array_equal(np.load(run / "samples.npz")["theta"], first)


def test_bad_config_exits_with_a_named_error(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(TINY.replace("num_warmup = 40", "num_warmup = 40\nwarmup_steps = 3"))
    assert main(["run", str(cfg), "--output", str(tmp_path / "runs")]) == 2
    assert "sampler.warmup_steps" in capsys.readouterr().err


def test_observation_of_the_wrong_dimension_is_named(tmp_path, capsys):
    cfg = tmp_path / "obs.toml"
    cfg.write_text(TINY.replace("[0.1, -0.2]]", "[0.1, -0.2, 0.3]]"))
    assert main(["run", str(cfg), "--output", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "observations.values[1]" in err and "x of shape (2,)" in err
    assert not (tmp_path / "runs").exists()  # refused before the run folder is made


def test_a_run_folder_refuses_a_different_config(tmp_path, capsys):
    cfg = tmp_path / "r.toml"
    cfg.write_text(TINY.replace("num_simulations = 1000", "num_simulations = 200")
                   .replace("max_epochs = 6", "max_epochs = 1")
                   .replace("calibration_observations = 12", "calibration_observations = 0"))
    assert main(["run", str(cfg), "--output", str(tmp_path)]) == 0
    cfg.write_text(cfg.read_text().replace("seed = 1", "seed = 2"))
    assert main(["run", str(cfg), "--output", str(tmp_path)]) == 2
    assert "different config" in capsys.readouterr().err
