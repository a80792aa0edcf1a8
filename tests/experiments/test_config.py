import dataclasses

import pytest

from jaxsbi.experiments.aalr import AALRConfig
from jaxsbi.experiments.config import ConfigError, from_dict
from jaxsbi.experiments.registry import load_config


def _write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_two_moons_config_maps_onto_dataclasses():
    cfg = load_config("configs/two_moons_aalr.toml")
    assert isinstance(cfg, AALRConfig)
    assert cfg.task.name == "two_moons" and cfg.task.num_simulations == 10_000
    assert cfg.observations.values == ((-0.6396706, 0.16234657),)
    assert cfg.sampler.kernel == "smc"
    assert dataclasses.is_dataclass(cfg.train) and cfg.train.batch_size == 512
    assert cfg.network.hidden == (96, 96, 96, 96) and cfg.network.num_contrastive == 1
    assert cfg.sampler.num_chains * cfg.sampler.num_samples == 10_000


@pytest.mark.parametrize(
    "text, message",
    [
        ('experiment = "aalr"\n[task]\nname = "two_moons"\nbudget = 3\n', "task.budget"),
        (
            'experiment = "aalr"\n[task]\nname = "two_moons"\n[train]\nbatch_size = "big"\n',
            "train.batch_size",
        ),
        ('experiment = "aalr"\n[observations]\nvalues = [[1.0, 2.0]]\n', "'task'"),
        (
            'experiment = "aalr"\n[task]\nname = "two_moons"\n[sampler]\nkernel = "gibbs"\n',
            "sampler.kernel",
        ),
        ('experiment = "nope"\n', "unknown experiment 'nope'"),
        ('[task]\nname = "x"\n', "missing top-level key 'experiment'"),
        ('experiment = "aalr"\nsed = 1\n[task]\nname = "two_moons"\n', "sed"),
        ('experiment = "aalr"\n[task]\nname = "mg1"\nx_transform = "log"\n', "x_transform"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("'", "'")):
        load_config(_write(tmp_path, text))


def test_value_checks_inside_dataclasses_are_reported_with_their_path():
    from jaxsbi.mcmc import SamplerConfig

    with pytest.raises(ConfigError, match="num_chains"):
        from_dict(SamplerConfig, {"num_chains": 0})
    with pytest.raises(ConfigError, match="expected a number"):
        from_dict(SamplerConfig, {"target_acceptance": True})


def test_x_transform_maps_simulations_and_observations_and_refuses_out_of_domain():
    import jax
    import numpy as np

    from jaxsbi.experiments.aalr import transform_task
    from jaxsbi.tasks import get_task

    task = get_task("mg1")
    x_obs = np.array([[1.0, 3.5, 4.6, 6.6, 15.8]], np.float32)
    new, x_t = transform_task(task, x_obs, "log1p")
    np.testing.assert_allclose(x_t, np.log1p(x_obs), rtol=1e-6)
    key, theta = jax.random.key(0), np.array([1.0, 4.0, 0.2], np.float32)
    np.testing.assert_allclose(
        new.simulate(key, theta), np.log1p(task.simulate(key, theta)), rtol=1e-5
    )
    assert new.name == task.name and new.log_likelihood is None
    assert transform_task(task, x_obs, "none") == (task, x_obs)
    with pytest.raises(ValueError, match=r"needs x > -1.*entry \[0, 2\]"):
        transform_task(task, np.array([[1.0, 2.0, -3.0, 4.0, 5.0]]), "log1p")


def test_a_dataclass_error_names_the_key_once_with_its_full_path():
    from jaxsbi.ratio import RatioNetworkConfig

    for path, expected in (("network", "network.hidden: "), ("overrides.slcp.network",
                                                              "overrides.slcp.network.hidden: ")):
        with pytest.raises(ConfigError) as e:
            from_dict(RatioNetworkConfig, {"hidden": [0]}, path)
        assert str(e.value).startswith(expected), str(e.value)
        assert "network: network" not in str(e.value)
