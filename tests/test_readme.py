"""The README's own-simulator example, run as written (smaller budget) and checked."""

import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np


def test_readme_example_recovers_the_true_parameters():
    text = Path(__file__).resolve().parents[1].joinpath("README.md").read_text()
    code = re.search(r"## Your own simulator.*?```python\n(.*?)```", text, re.S).group(1)
    # Same code, a smaller budget so the test stays quick.
    code = code.replace("10_000)", "3_000)").replace("TrainConfig()", "TrainConfig(max_epochs=60)")
    code = code.replace("SamplerConfig()", "SamplerConfig(num_chains=20, num_samples=50)")
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    theta = np.asarray(scope["posterior"].theta).reshape(-1, 2)
    assert scope["posterior"].theta.shape == (1, 20, 50, 2)
    truth = np.array([1.2, 2.0])
    lo, hi = np.quantile(theta, [0.005, 0.995], axis=0)
    assert np.all((lo < truth) & (truth < hi)), (lo, hi)
    # The data pin the amplitude and frequency far more tightly than the prior box.
    assert np.all(theta.std(0) < 0.2 * (jnp.array([1.5, 2.0])))
    # The one-argument log density is log prior + log ratio at the true θ.
    logdensity = scope["logdensity_fn"](jnp.asarray(truth, jnp.float32))
    log_ratio = scope["estimator"].log_ratio(scope["params"], truth, scope["x_obs"])
    np.testing.assert_allclose(logdensity, log_ratio - np.log(1.5 * 2.0), rtol=1e-5)
