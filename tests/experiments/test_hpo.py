"""The registered experiments run end to end and write their run folder."""

import json

import pytest

from jaxsbi.experiments.config import from_dict
from jaxsbi.experiments.registry import EXPERIMENTS


def test_experiments_registered_and_configs_parse():
    import tomllib

    import jaxsbi.experiments.hpo as ex

    assert EXPERIMENTS["hpo_polynomial"].config is ex.PolynomialConfig
    assert EXPERIMENTS["hpo_digits"].config is ex.DigitsConfig
    for file, name, cls in (
        ("hpo_polynomial", "hpo_polynomial", ex.PolynomialConfig),
        ("hpo_digits", "hpo_digits", ex.DigitsConfig),
        ("hpo_mnist5k", "hpo_digits", ex.DigitsConfig),
    ):
        data = tomllib.loads(open(f"configs/{file}.toml").read())
        assert data.pop("experiment") == name
        from_dict(cls, data)


@pytest.mark.slow
def test_polynomial_experiment_small(tmp_path):
    from jaxsbi.experiments.hpo import PolynomialConfig, run_polynomial

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


def test_mlp_input_groups_follow_the_pixels():
    # groups="input": the first layer's weights out of input d share the precision of input d;
    # every other array has one of its own. Checked by marking the kernel in the pytree.
    import jax
    import numpy as np
    from jax.flatten_util import ravel_pytree

    from jaxsbi.hpo.models import _MLP, mlp_model

    model, theta0, names = mlp_model(jax.random.key(0), 6, (4,), 3, groups="input")
    assert model.num_hyper == len(names) == 6 + 3  # 6 inputs + bias_0, bias_1, kernel_1
    params = _MLP((4,), 3).init(jax.random.key(0), np.zeros(6))
    marked = jax.tree_util.tree_map(lambda x: -np.ones(x.shape), params)
    marked["params"]["Dense_0"]["kernel"] = np.tile(np.arange(6.0)[:, None], (1, 4))
    flat = np.asarray(ravel_pytree(marked)[0])
    rows = flat >= 0
    first = names.index("Dense_0/kernel[in=0]")
    np.testing.assert_array_equal(model.groups[rows], first + flat[rows].astype(int))
    other = model.groups[~rows]
    assert set(other.tolist()) == {i for i, n in enumerate(names) if "[in=" not in n}
    sizes = {"Dense_0/bias": 4, "Dense_1/bias": 3, "Dense_1/kernel": 12}
    assert np.bincount(model.groups).tolist() == [sizes.get(n, 4) for n in names]


@pytest.mark.slow
def test_digits_experiment_small(tmp_path):
    import numpy as np

    from jaxsbi.experiments.hpo import DigitsConfig, run_digits
    from jaxsbi.hpo import SearchConfig

    cfg = DigitsConfig(
        max_points=300,
        noise_stds=(0.5,),
        objectives=("validation", "elbo"),
        methods=("random", "greedy"),
        budget=3,
        inner_steps=60,
        search=SearchConfig(outer_lr=0.3, warm_start=True, warm_steps=20, greedy_every=5),
    )
    metrics = run_digits(cfg, tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    res = saved["results"]["noise_0.5"]
    assert res["sizes"] == {"train": 150, "val": 75, "test": 75}
    for rows in res["comparison"].values():
        for row in rows:
            assert row["iterations"] == 3 and np.isfinite(row["best_q"])
    # Pruning by q(0)/q(μ) < threshold: a larger threshold keeps more parameters.
    pruned = [lv["fraction_pruned"] for lv in res["pruning"]["levels"]]
    assert pruned == sorted(pruned, reverse=True)
    for fig in metrics["figures"]:
        assert (tmp_path / fig).is_file()
