"""Every shipped config parses into its experiment's dataclass (unknown keys, bad values raise)."""

from pathlib import Path

import pytest

from jaxsbi.experiments.registry import load_config, runner

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml"))


def test_configs_exist():
    assert len(CONFIGS) >= 10


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_loads(path):
    cfg = load_config(path)
    assert callable(runner(cfg))
