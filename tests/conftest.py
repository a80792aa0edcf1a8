import os

# Tests run on CPU; many chains and several forced host devices for sharding tests.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _strict_promotion():
    # A silent broadcast or dtype promotion is an error in tests (equinox's habit).
    with jax.numpy_rank_promotion("raise"):
        yield
