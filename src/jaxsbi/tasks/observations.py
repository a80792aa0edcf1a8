"""sbibm's published observations and reference posterior samples, read without importing sbibm.

sbibm itself imports torch and pyro, so we only locate its installed package directory
(``importlib.util.find_spec``) and read the data files shipped in the 1.1.0 wheel:
``sbibm/tasks/<task>/files/num_observation_<k>/observation.csv`` (header + one row) and
``reference_posterior_samples.csv.bz2`` (header + 10,000 rows). Install the data with
``pip install --no-deps sbibm==1.1.0``.

``SBIBM_OBSERVATION_1`` holds the published num_observation_1 values so tests and examples run
without sbibm.
"""

from __future__ import annotations

import bz2
import importlib.util
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = ["SBIBM_OBSERVATION_1", "load_sbibm_observation", "load_sbibm_reference"]

SBIBM_OBSERVATION_1: dict[str, list[float]] = {
    "two_moons": [-0.6396706, 0.16234657],
    "gaussian_linear": [
        1.0471346,
        0.5566712,
        -0.23618454,
        0.027879834,
        -1.0051446,
        -0.007930746,
        0.06117077,
        -0.29286885,
        -0.38539964,
        0.2449614,
    ],
    "gaussian_linear_uniform": [
        -0.53739023,
        -0.23864163,
        0.81923723,
        0.6407443,
        0.41616207,
        -0.09746933,
        1.1292295,
        -0.05842293,
        -0.97055256,
        -0.9423423,
    ],
    "slcp": [
        2.3718784,
        0.49947417,
        9.931435,
        1.7136912,
        -10.436423,
        -1.9067793,
        -1.2343777,
        -0.09735,
    ],
    "gaussian_mixture": [-9.472713, -1.4950509],
    "sir": [0.0, 1.0, 352.0, 40.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    "lotka_volterra": [
        31.783262,
        1.1971166,
        0.29703617,
        0.71145046,
        2.9415865,
        11.482614,
        36.09036,
        0.46229604,
        0.38081983,
        0.9173736,
        0.8910395,
        27.039942,
        4.356176,
        0.78444487,
        0.17100818,
        0.1325878,
        8.727008,
        16.97251,
        2.7902339,
        0.47567415,
    ],
    "bernoulli_glm": [
        56.0,
        3.32306,
        14.356438,
        11.104893,
        -4.167525,
        -18.507809,
        -21.917496,
        -9.553517,
        -0.357257,
        -5.497825,
    ],
}
"""sbibm 1.1.0 ``num_observation_1/observation.csv`` for the tasks in ``jaxsbi.tasks.sbibm`` and
``jaxsbi.tasks.sbibm_ode``."""

# task name -> (folder under sbibm/tasks, observation file). Variants without their own folder
# share the base task's reference samples (NOTES §2.1).
_SBIBM_FILES: dict[str, tuple[str, str]] = {
    "gaussian_linear": ("gaussian_linear", "observation.csv"),
    "gaussian_linear_uniform": ("gaussian_linear_uniform", "observation.csv"),
    "slcp": ("slcp", "observation.csv"),
    "slcp_distractors": ("slcp", "observation_distractors.csv"),
    "bernoulli_glm": ("bernoulli_glm", "observation.csv"),
    "bernoulli_glm_raw": ("bernoulli_glm", "observation_raw.csv"),
    "gaussian_mixture": ("gaussian_mixture", "observation.csv"),
    "two_moons": ("two_moons", "observation.csv"),
    "sir": ("sir", "observation.csv"),
    "lotka_volterra": ("lotka_volterra", "observation.csv"),
}
_NUM_OBSERVATIONS = 10


def _observation_dir(task: str, k: int) -> tuple[Path, str]:
    if task not in _SBIBM_FILES:
        raise ValueError(f"unknown sbibm task {task!r}; known: {', '.join(_SBIBM_FILES)}")
    if int(k) != k or not 1 <= k <= _NUM_OBSERVATIONS:
        raise ValueError(f"sbibm observations are numbered 1..{_NUM_OBSERVATIONS}, got k={k!r}")
    spec = importlib.util.find_spec("sbibm")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "sbibm's data files are not installed. Run `pip install --no-deps sbibm==1.1.0` "
            "(data only; jaxsbi never imports sbibm, which would need torch)."
        )
    folder, obs_file = _SBIBM_FILES[task]
    root = Path(list(spec.submodule_search_locations)[0])
    path = root / "tasks" / folder / "files" / f"num_observation_{int(k)}"
    if not path.is_dir():
        raise FileNotFoundError(f"sbibm is installed but {path} is missing; reinstall sbibm==1.1.0")
    return path, obs_file


def _read_csv(path: Path, text: str | None = None) -> np.ndarray:
    if text is None:
        text = path.read_text()
    rows = text.strip().splitlines()[1:]  # drop the header
    return np.array([[float(v) for v in row.split(",")] for row in rows], np.float32)


def load_sbibm_observation(task: str, k: int = 1) -> Array:
    """Read sbibm 1.1.0's observation number ``k`` of ``task``.

    Args:
        task: an sbibm task name (also ``slcp_distractors`` and ``bernoulli_glm_raw``).
        k: observation number, 1..10.

    Returns:
        float32 array of shape ``(x_dim,)``.

    Raises:
        ModuleNotFoundError: sbibm's data are not installed (``pip install --no-deps
            sbibm==1.1.0``).
        ValueError: unknown task or k outside 1..10.
    """
    path, obs_file = _observation_dir(task, k)
    return jnp.asarray(_read_csv(path / obs_file)[0])


def load_sbibm_reference(task: str, k: int = 1) -> Array:
    """Read sbibm 1.1.0's 10,000 reference posterior samples for observation ``k`` of ``task``.

    ``slcp_distractors`` and ``bernoulli_glm_raw`` return their base task's samples (same θ).

    Args:
        task: an sbibm task name.
        k: observation number, 1..10.

    Returns:
        float32 array of shape ``(10000, theta_dim)``.

    Raises:
        ModuleNotFoundError: sbibm's data are not installed (``pip install --no-deps
            sbibm==1.1.0``).
        ValueError: unknown task or k outside 1..10.
    """
    path, _ = _observation_dir(task, k)
    file = path / "reference_posterior_samples.csv.bz2"
    return jnp.asarray(_read_csv(file, bz2.decompress(file.read_bytes()).decode()))
