import jax.numpy as jnp
import numpy as np
import pytest


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
