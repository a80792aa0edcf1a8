"""The PRISM network's exact properties, on a randomly perturbed (non-trivial) network.

adaLN-Zero initialises every gate and output projection at 0, so a freshly initialised network
is constant; the tests add random noise to every parameter first.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tests.conftest import TINY_PRISM_NETWORK

from jaxsbi.prism import NetworkConfig, prism_estimator
from jaxsbi.prism.families import Structure, all_structures, linear_gaussian_family, symbolic_family
from jaxsbi.prism.network import PrismNet

SMALL = NetworkConfig(**TINY_PRISM_NETWORK)


def _random_params(est, seed=0):
    params = est.init(jax.random.key(seed))
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed + 1), len(leaves))
    leaves = [p + 0.3 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys, strict=True)]
    return jax.tree.unflatten(tree, leaves)


@pytest.fixture(scope="module")
def symbolic():
    family = symbolic_family(3, n_points=12, noise_models=("gaussian", "student_t"))
    est = prism_estimator(family, SMALL)
    params = _random_params(est)
    _, _, y = jax.jit(family.sample_joint)(jax.random.key(5), 0.5)
    return family, est, params, family.tokens(y)


def test_bernoulli_probabilities_over_all_structures_sum_to_one(symbolic):
    family, est, params, tokens = symbolic
    for lam in (0.0, 0.37, 1.0):
        p = np.asarray(est.structure_probs(params, tokens, lam))
        assert p.shape == (family.num_models,)
        np.testing.assert_allclose(p.sum(), 1.0, atol=1e-5)
        assert p.min() > 0
    # the exact log-probability agrees with the enumeration
    s = all_structures(3, 2)
    lp = est.structure_log_prob(params, tokens, 0.37, Structure(s.active[5], s.noise[5]))
    np.testing.assert_allclose(
        np.exp(float(lp)), est.structure_probs(params, tokens, 0.37)[5], rtol=1e-5
    )


def test_ancestral_sampling_and_beam_search_match_the_enumeration(symbolic):
    family, est, params, tokens = symbolic
    lam = 0.6
    p = np.asarray(est.structure_probs(params, tokens, lam))
    n = 6000
    s = est.sample_structures(params, jax.random.key(2), tokens, lam, n)
    code = (np.asarray(s.active) @ (2 ** np.arange(3)) - 1) * 2 + np.asarray(s.noise)
    freq = np.bincount(code, minlength=family.num_models) / n
    assert np.max(np.abs(freq - p)) < 4 * np.sqrt(p.max() / n) + 1e-3
    # beam width = number of models: exhaustive, so exactly the sorted enumeration
    best, logp = est.top_k(params, tokens, lam, family.num_models)
    np.testing.assert_allclose(np.exp(np.asarray(logp)), np.sort(p)[::-1], rtol=1e-4, atol=1e-7)
    best3, logp3 = est.top_k(params, tokens, lam, 3)
    np.testing.assert_allclose(np.asarray(logp3), np.asarray(logp)[:3], rtol=1e-5)


def test_inactive_theta_never_changes_the_decoder(symbolic):
    family, est, params, tokens = symbolic
    net = PrismNet(
        family.num_components,
        family.num_noise,
        family.theta_dim,
        SMALL.width,
        SMALL.num_heads,
        1,
        1,
        1,
        1,
        SMALL.mlp_ratio,
        SMALL.token_embedding,
        SMALL.token_hidden,
    )
    s = Structure(jnp.array([1, 0, 1], jnp.int32), jnp.int32(1))
    pmask = family.param_mask(s)
    pm = jnp.ones((family.n_points,), bool)
    h = net.apply(params, tokens, pm, method=PrismNet.encode)
    z = jax.random.normal(jax.random.key(0), (family.theta_dim,))
    z2 = jnp.where(pmask, z, 1e3 * jax.random.normal(jax.random.key(1), z.shape))
    v1 = net.apply(params, h, pm, s.active, s.noise, pmask, z, 0.4, method=PrismNet.velocity)
    v2 = net.apply(params, h, pm, s.active, s.noise, pmask, z2, 0.4, method=PrismNet.velocity)
    np.testing.assert_array_equal(np.asarray(v1), np.asarray(v2))
    assert np.all(np.asarray(v1)[~np.asarray(pmask)] == 0.0)
    assert np.any(np.asarray(v1)[np.asarray(pmask)] != 0.0)
    theta = family.sample_theta(jax.random.key(3), s)
    theta2 = jnp.where(pmask, theta, -7.0)
    lp1 = est.theta_log_prob(params, tokens, s, theta, num_steps=4)
    lp2 = est.theta_log_prob(params, tokens, s, theta2, num_steps=4)
    assert float(lp1) == float(lp2)
    draws = est.sample_theta(params, jax.random.key(4), tokens, s, 3, num_steps=4)
    assert np.all(np.asarray(draws)[:, ~np.asarray(pmask)] == 0.0)


def test_point_permutation_and_padding(symbolic):
    family, est, params, tokens = symbolic
    perm = jax.random.permutation(jax.random.key(0), family.n_points)
    p = est.structure_probs(params, tokens, 0.5)
    np.testing.assert_allclose(est.structure_probs(params, tokens[perm], 0.5), p, atol=2e-6)
    # a variable number of points: masked points' values have no effect
    mask = jnp.arange(family.n_points) < 7
    junk = tokens.at[7:, 1].set(99.0)
    np.testing.assert_allclose(
        est.structure_probs(params, junk, 0.5, point_mask=mask),
        est.structure_probs(params, tokens, 0.5, point_mask=mask),
        atol=1e-6,
    )


def test_bad_input_is_refused(symbolic):
    family, est, params, tokens = symbolic
    s = Structure(jnp.array([1, 0, 0], jnp.int32), jnp.int32(0))
    for bad in (-0.01, 1.5, float("nan")):
        with pytest.raises(ValueError, match="λ"):
            est.structure_probs(params, tokens, bad)
        with pytest.raises(ValueError, match="λ"):
            est.top_k(params, tokens, bad, 2)
        with pytest.raises(ValueError, match="λ"):
            est.sample_joint(params, jax.random.key(0), tokens, bad, 2)
    with pytest.raises(ValueError, match="shape"):
        est.structure_probs(params, tokens[:, :1], 0.5)
    with pytest.raises(ValueError, match="NaN"):
        est.structure_probs(params, tokens.at[0, 1].set(jnp.nan), 0.5)
    with pytest.raises(ValueError, match="at least one"):
        est.structure_log_prob(params, tokens, 0.5, Structure(jnp.zeros(3, jnp.int32), 0))
    with pytest.raises(ValueError, match="noise"):
        est.structure_log_prob(params, tokens, 0.5, Structure(s.active, jnp.int32(5)))
    with pytest.raises(ValueError, match="point_mask"):
        est.structure_probs(params, tokens, 0.5, point_mask=jnp.zeros(family.n_points, bool))
    with pytest.raises(ValueError, match="divisible"):
        NetworkConfig(width=10, num_heads=4)


@pytest.mark.slow
def test_loss_is_finite_and_decreases_on_a_fixed_batch():
    # A few Adam steps on one fixed batch must lower the loss (the gradient reaches every part).
    import optax

    family = linear_gaussian_family(3, n_points=12)
    est = prism_estimator(family, SMALL)
    params = est.init(jax.random.key(0))
    batch = est.simulate_batch(jax.random.key(1), 32)
    opt = optax.adam(3e-3)
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        loss, g = jax.value_and_grad(est.loss)(params, jax.random.key(2), batch)
        u, state = opt.update(g, state, params)
        return optax.apply_updates(params, u), state, loss

    losses = []
    for _ in range(30):
        params, state, loss = step(params, state)
        losses.append(float(loss))
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0] - 0.3


def test_untrained_structure_decoder_is_exactly_the_prior():
    """prior_skip adds the exact autoregressive prior log-odds, and adaLN-Zero starts the learned
    correction at 0: a fresh network's q(M | x, λ) is p(M | λ) over all 2^K − 1 structures. The
    family's closed-form log-odds equal those by enumeration."""
    from jaxsbi.prism.structure import _prior_logits_fn

    family = linear_gaussian_family(4, n_points=16)
    est = prism_estimator(family, SMALL)
    params = est.init(jax.random.key(0))
    tokens = family.tokens(jax.random.normal(jax.random.key(1), (16,)))
    s = all_structures(4, 1)

    class WithoutClosedForm:
        def __getattr__(self, name):
            if name == "bit_prior_logits":
                return None  # no closed form: enumerate the prior
            return getattr(family, name)

    enumerated = _prior_logits_fn(WithoutClosedForm())
    for lam in (0.05, 0.5, 0.93, 1.0):
        lam32 = jnp.float32(lam)
        q = est.structure_probs(params, tokens, lam)
        log_p = jax.vmap(lambda a, n, l=lam32: family.structure_log_prior(Structure(a, n), l))(
            s.active, s.noise
        )
        np.testing.assert_allclose(q, jnp.exp(log_p), atol=1e-5)
        own = jax.vmap(lambda b, l=lam32: family.bit_prior_logits(l, b))(s.active)
        enum = jax.vmap(lambda b, l=lam32: enumerated(l, b))(s.active)
        finite = np.isfinite(own) & np.isfinite(enum)
        assert finite.sum() > s.active.size // 2
        np.testing.assert_allclose(np.asarray(own)[finite], np.asarray(enum)[finite], atol=1e-5)
