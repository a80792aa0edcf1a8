import jax
import jax.numpy as jnp
import numpy as np
import pytest


@pytest.fixture(scope="module")
def x64():
    """float64 for the tests that compare to references at 1e-6 or tighter.

    ``jax.enable_x64`` is a context manager on jax ≥ 0.6: the flag is restored when the module's
    tests end, so it does not leak into other test modules.
    """
    with jax.enable_x64(True):
        yield


def sinusoid_data(seed: int, n: int, noise_std: float = 0.3):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=n)
    return x, np.sin(2.0 * np.pi * x) + noise_std * rng.normal(size=n)


@pytest.fixture
def poly_problem(x64):
    """N = 25 sinusoid points, polynomial degree 9 (M = 10), float64."""
    from jaxsbi import evidence as ev

    x, t = sinusoid_data(0, 25)
    phi = ev.design_matrix(ev.polynomial_basis(9), jnp.asarray(x))
    return phi, jnp.asarray(t)
