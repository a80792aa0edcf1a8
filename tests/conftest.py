"""Fixtures shared by every test folder.

- ``key``: a fresh ``jax.random.key(0)`` per test (tests that need several split it).
- ``x64``: float64 for a whole test module (``jax.enable_x64`` is a context manager on
  jax >= 0.6, so the flag is restored when the module's tests end and does not leak).
- ``TINY_PRISM_NETWORK``: the settings of the smallest PRISM network the tests build (one layer
  per part, width 16): ``NetworkConfig(**TINY_PRISM_NETWORK)``, or with a few keys replaced
  (``from tests.conftest import TINY_PRISM_NETWORK``).
"""

import os

# Tests run on CPU; many chains and several forced host devices for sharding tests.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402

TINY_PRISM_NETWORK = dict(
    width=16,
    num_heads=2,
    encoder_layers=1,
    lambda_layers=1,
    structure_layers=1,
    theta_layers=1,
    time_samples=1,
)


@pytest.fixture(autouse=True)
def _strict_promotion():
    # A silent broadcast or dtype promotion is an error in tests (equinox's habit).
    with jax.numpy_rank_promotion("raise"):
        yield


@pytest.fixture
def key():
    """``jax.random.key(0)``."""
    return jax.random.key(0)


@pytest.fixture(scope="module")
def x64():
    """float64 for the module's tests (closed forms at 1e-6 or tighter); restored afterwards."""
    with jax.enable_x64(True):
        yield

