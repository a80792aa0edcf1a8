"""The "prism" experiment kind: config files map strictly onto PrismConfig."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from jaxsbi.experiments.config import ConfigError
from jaxsbi.experiments.prism import PrismConfig, build_family
from jaxsbi.experiments.registry import load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["prism_k5", "prism_k15", "prism_k30"])
def test_configs_load_and_build_their_family(name):
    cfg = load_config(ROOT / "configs" / f"{name}.toml")
    assert isinstance(cfg, PrismConfig)
    family = build_family(cfg.family)
    assert family.num_components == int(name.split("k")[-1])
    if name == "prism_k5":
        assert family.linear_gaussian is not None and family.num_models == 31


def test_lambda_outside_training_range_in_a_config_is_refused(tmp_path):
    text = (ROOT / "configs" / "prism_k5.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(
        text.replace("predictive_lambdas = [0.1, 0.9]", "predictive_lambdas = [0.1, 1.5]")
    )
    with pytest.raises(ConfigError, match="λ"):
        load_config(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text(text.replace("width = 32", "widht = 32"))
    with pytest.raises(ConfigError, match="widht"):
        load_config(typo)


def test_dmri_config_builds_the_dmri_family(tmp_path):
    cfg = load_config(ROOT / "configs" / "prism_dmri.toml")
    family = build_family(cfg.family)
    assert family.num_components == 6 and family.num_models == 31
    assert family.token_dim == 7 and family.n_meas == 48 and family.lambda_max == 1.0
    assert family.shells == (1000.0, 2000.0) and family.noise_names == ("rician",)
    text = (ROOT / "configs" / "prism_dmri.toml").read_text()
    typo = tmp_path / "typo.toml"
    typo.write_text(text.replace("num_b0 = 4", "num_bzero = 4"))
    with pytest.raises(ConfigError, match="num_bzero"):
        load_config(typo)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text.replace('kind = "dmri"', 'kind = "symbolic"'))
    with pytest.raises(ConfigError, match="family.dmri"):
        load_config(wrong)
    enc = tmp_path / "enc.toml"
    enc.write_text(text.replace('gradient_encoding = "outer"', 'gradient_encoding = "polar"'))
    with pytest.raises(ConfigError, match="gradient_encoding"):
        load_config(enc)


def test_dmri_config_with_a_fixed_protocol(tmp_path):
    """``protocol = "dipy:small_64D"`` trains on that acquisition; an FSL pair by stem reads
    the same table back (n_meas from the table when left out); a wrong n_meas or table is
    refused."""
    pytest.importorskip("dipy")
    from jaxsbi.dmri.protocol import load_dipy_protocol

    cfg = load_config(ROOT / "configs" / "prism_dmri_dipy.toml")
    family = build_family(cfg.family)
    table = load_dipy_protocol("small_64D", warn=False)
    assert family.protocol is not None and family.n_meas == 65
    assert (family.protocol.bvals == table.bvals).all()
    assert (family.protocol.bvecs == table.bvecs).all()
    stem = tmp_path / "dwi"
    np.savetxt(stem.with_suffix(".bval"), np.asarray(table.bvals)[None], fmt="%.1f")
    np.savetxt(stem.with_suffix(".bvec"), np.asarray(table.bvecs).T, fmt="%.8f")
    dmri_cfg = dataclasses.replace(cfg.family.dmri, protocol=f"fsl:{stem}", n_meas=None)
    fsl = build_family(dataclasses.replace(cfg.family, dmri=dmri_cfg))
    assert fsl.n_meas == 65  # taken from the table when n_meas is left out
    np.testing.assert_allclose(fsl.protocol.bvals, table.bvals, atol=0.05)
    np.testing.assert_allclose(fsl.protocol.bvecs, table.bvecs, atol=1e-6)
    for old, new, match in [
        ("n_meas = 65", "n_meas = 48", "n_meas=48 does not match"),
        ('protocol = "dipy:small_64D"', 'protocol = "dipy:no_such"', "unknown dipy table"),
    ]:
        with pytest.raises((ConfigError, ValueError), match=match):
            build_family(_edited_config(tmp_path, old, new).family)


@pytest.mark.parametrize(
    "old, new, match",
    [
        ('protocol = "dipy:small_64D"', 'protocol = "small_64D"', "dipy:<table>"),
        ("n_meas = 65", "n_meas = 65\nshells = [1000.0]", "shells.*no effect"),
        ('protocol = "dipy:small_64D"', 'protocol = "fsl:{tmp}/missing"', "no file"),
    ],
)
def test_dmri_config_refuses_bad_fixed_protocols(tmp_path, old, new, match):
    """Checks that need no dipy: the protocol's form, random-protocol settings beside a fixed
    protocol, a missing FSL pair."""
    with pytest.raises((ConfigError, ValueError, FileNotFoundError), match=match):
        build_family(_edited_config(tmp_path, old, new.format(tmp=tmp_path)).family)


def _edited_config(tmp_path, old: str, new: str):
    """configs/prism_dmri_dipy.toml with ``old`` replaced by ``new``, loaded."""
    text = (ROOT / "configs" / "prism_dmri_dipy.toml").read_text()
    assert old in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(old, new))
    return load_config(bad)
