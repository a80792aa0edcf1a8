"""The contracts of jaxsbi.base: the real families, estimators and log-densities satisfy them."""

import ast
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tests.conftest import TINY_PRISM_NETWORK

import jaxsbi.base
from jaxsbi.base import Estimator, LogDensityFn, ModelFamily
from jaxsbi.dmri import dmri_family
from jaxsbi.prism import NetworkConfig, prism_estimator
from jaxsbi.prism.families import Structure, linear_gaussian_family, symbolic_family
from jaxsbi.ratio import aalr

FAMILY_MEMBERS = (
    "name",
    "component_names",
    "noise_names",
    "param_names",
    "param_owner",
    "num_components",
    "num_noise",
    "theta_dim",
    "n_points",
    "token_dim",
    "num_models",
    "bit_support",
    "bit_prior_logits",
    "sample_structure",
    "structure_log_prior",
    "check_structure",
    "param_mask",
    "sample_theta",
    "theta_log_prior",
    "theta_standardization",
    "simulate",
    "signal",
    "sample_joint",
    "tokens",
)

SMALL = NetworkConfig(**TINY_PRISM_NETWORK)


def test_family_member_list_is_the_protocol():
    """FAMILY_MEMBERS lists exactly what ModelFamily declares (its annotations and methods)."""
    declared = set(ModelFamily.__annotations__)
    declared |= {n for n, v in vars(ModelFamily).items() if callable(v) or isinstance(v, property)}
    declared -= {n for n in declared if n.startswith("_")}
    assert declared == set(FAMILY_MEMBERS)


@pytest.mark.parametrize(
    "family", [symbolic_family(5), symbolic_family(15), linear_gaussian_family(3)], ids=str
)
def test_symbolic_families_are_model_families(family):
    assert isinstance(family, ModelFamily)
    assert family.token_dim == 2
    assert family.bit_support is None
    k = family.num_components
    bits = jnp.zeros((k,), jnp.int32)
    assert family.bit_prior_logits(jnp.float32(0.3), bits).shape == (k,)
    family.check_structure(Structure(jnp.ones((k,), jnp.int32), jnp.int32(0)))
    with pytest.raises(ValueError, match="at least one active"):
        family.check_structure(Structure(jnp.zeros((k,), jnp.int32), jnp.int32(0)))
    with pytest.raises(ValueError, match="must end in"):
        family.check_structure(Structure(jnp.ones((k + 1,), jnp.int32), jnp.int32(0)))
    with pytest.raises(ValueError, match="noise"):
        family.check_structure(Structure(jnp.ones((k,), jnp.int32), jnp.int32(family.num_noise)))


def test_dmri_family_is_a_model_family():
    family = dmri_family()
    assert isinstance(family, ModelFamily)
    assert family.token_dim == 7
    assert family.bit_support(jnp.zeros((6,), jnp.int32)).shape == (6,)
    assert family.bit_prior_logits is None  # PRISM enumerates its prior (K = 6)


def test_estimators_are_estimators():
    ratio = aalr(2, (3,), hidden=(8,))
    prism = prism_estimator(linear_gaussian_family(3, n_points=8), SMALL)
    assert isinstance(ratio, Estimator)
    assert isinstance(prism, Estimator)
    # The documented difference: AALR's init needs simulations, PRISM's a key alone.
    key = jax.random.key(0)
    params = ratio.init(key, jnp.zeros((4, 2)), jnp.ones((4, 3)))
    batch = (jnp.zeros((4, 2)), jnp.ones((4, 3)))
    assert np.shape(ratio.loss(params, key, batch)) == ()
    params = prism.init(key)
    assert np.shape(prism.loss(params, key, prism.simulate_batch(key, 4))) == ()


def test_posterior_logdensity_is_a_logdensity_fn():
    """mcmc.posterior_logdensity returns one-argument logdensity_fn(position) -> scalar."""
    from jaxsbi.distributions import normal
    from jaxsbi.mcmc import posterior_logdensity

    def log_ratio(params, theta, x):
        return -jnp.sum((theta - x) ** 2)

    fn = posterior_logdensity(normal(jnp.zeros(2), jnp.ones(2)), log_ratio, None, jnp.ones(2))
    assert isinstance(fn, LogDensityFn)
    assert np.shape(fn(jnp.zeros(2))) == ()
    assert not isinstance(3.0, LogDensityFn)


def test_base_is_a_leaf_module():
    """base.py imports only typing, collections.abc and jax (so tasks may import it)."""
    tree = ast.parse(inspect.getsource(jaxsbi.base))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add(node.module.split(".")[0])
    assert roots <= {"__future__", "typing", "collections", "jax"}, roots
