import json

import numpy as np
import pytest

from jaxsbi.experiments.run_folder import prepare_run_dir, save_samples
from jaxsbi.mcmc import SamplerConfig


def test_samples_npz_round_trip_and_arviz_when_installed(tmp_path):
    theta = np.random.default_rng(0).normal(size=(2, 4, 10, 3)).astype(np.float32)
    out = save_samples(tmp_path, theta, np.zeros((2, 5), np.float32), ("a", "b", "c"))
    z = np.load(out["samples"])
    np.testing.assert_array_equal(z["theta"], theta)
    assert list(z["labels"]) == ["a", "b", "c"]
    try:
        import arviz as az
    except ImportError:
        assert "arviz" in out["inference_data"]
        return
    idata = az.from_netcdf(out["inference_data"][1])
    np.testing.assert_allclose(idata.posterior["b"].values, theta[1, :, :, 1])


def test_run_dir_is_bound_to_its_config(tmp_path):
    prepare_run_dir(SamplerConfig(num_chains=4), tmp_path / "r")
    assert json.loads((tmp_path / "r" / "config.json").read_text())["num_chains"] == 4
    prepare_run_dir(SamplerConfig(num_chains=4), tmp_path / "r")  # same config: fine
    (tmp_path / "r" / "stale.npz").write_text("x")
    with pytest.raises(FileExistsError, match="different config"):
        prepare_run_dir(SamplerConfig(num_chains=8), tmp_path / "r")
    prepare_run_dir(SamplerConfig(num_chains=8), tmp_path / "r", overwrite=True)
    assert not (tmp_path / "r" / "stale.npz").exists()


def test_a_config_differing_only_in_cache_free_sections_keeps_the_folder(tmp_path):
    import dataclasses

    from jaxsbi.experiments.aalr import AALRConfig, DiagnosticsConfig, TaskConfig
    from jaxsbi.train import TrainConfig

    cfg = AALRConfig(task=TaskConfig(name="two_moons"))
    prepare_run_dir(cfg, tmp_path / "r")
    (tmp_path / "r" / "simulations.npz").write_text("cached")
    new_diag = dataclasses.replace(cfg, diagnostics=DiagnosticsConfig(roc_samples=100))
    prepare_run_dir(new_diag, tmp_path / "r")  # diagnostics only: cache kept, config updated
    assert (tmp_path / "r" / "simulations.npz").exists()
    assert (
        json.loads((tmp_path / "r" / "config.json").read_text())["diagnostics"]["roc_samples"]
        == 100
    )
    with pytest.raises(FileExistsError, match="different config"):
        prepare_run_dir(dataclasses.replace(cfg, train=TrainConfig(batch_size=64)), tmp_path / "r")
