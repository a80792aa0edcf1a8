"""The registered experiments run end to end and write their run folder."""

import json

import pytest

from jaxsbi.config import experiment_kinds, from_dict


def test_experiments_registered_and_configs_parse():
    import tomllib

    import jaxsbi.hpo.experiment as ex

    kinds = experiment_kinds()
    assert kinds["hpo_polynomial"][0] is ex.PolynomialConfig
    assert kinds["hpo_digits"][0] is ex.DigitsConfig
    for name, cls in (("hpo_polynomial", ex.PolynomialConfig), ("hpo_digits", ex.DigitsConfig)):
        data = tomllib.loads(open(f"configs/{name}.toml").read())
        assert data.pop("experiment") == name
        from_dict(cls, data)


@pytest.mark.slow
def test_polynomial_experiment_small(tmp_path):
    from jaxsbi.hpo.experiment import PolynomialConfig, run_polynomial

    cfg = PolynomialConfig(
        objectives=("evidence",),
        methods=("random", "greedy"),
        budget=6,
        sensitivity=False,
        n_test=100,
    )
    metrics = run_polynomial(cfg, tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["exact_evidence_optimum"]["q"] == pytest.approx(
        metrics["exact_evidence_optimum"]["q"]
    )
    q_star = metrics["exact_evidence_optimum"]["q"]
    for row in metrics["comparison"]["evidence"]:
        # The exact optimum over the box bounds every method's Q from below.
        assert row["best_q"] >= q_star - 1e-9
    for fig in metrics["figures"]:
        assert (tmp_path / fig).is_file()
