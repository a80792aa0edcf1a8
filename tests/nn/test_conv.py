"""The CNN embedding: shapes, translation equivariance, use inside AALR."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi.nn.conv import ConvEmbedding
from jaxsbi.ratio import aalr

# Modules that differ only in padding / standardisation share one parameter layout, so one
# compiled init serves them all (compilation dominates these tests on a small CPU).
_KW = dict(features=(4, 8), out=3, dense=(16,))


@functools.cache
def _params():
    return jax.jit(ConvEmbedding(**_KW).init)(jax.random.key(4), jnp.zeros((32, 32)))


def _trunk(module):
    return jax.jit(lambda p, v: module.apply(p, v, method=ConvEmbedding.trunk))


def test_output_shapes():
    emb = ConvEmbedding(features=(4, 8), out=6, dense=(16,))
    params = jax.eval_shape(emb.init, jax.random.key(0), jnp.zeros((16, 16)))
    for batch in ((), (3,), (2, 5)):
        x = jnp.zeros((*batch, 16, 16))
        assert jax.eval_shape(emb.apply, params, x).shape == (*batch, 6)
        trunk = jax.eval_shape(lambda p, v: emb.apply(p, v, method=ConvEmbedding.trunk), params, x)
        assert trunk.shape == (*batch, 4, 4, 8)
    # Explicit channels.
    emb_c = ConvEmbedding(features=(4,), out=3, channels_last=True)
    p_c = jax.eval_shape(emb_c.init, jax.random.key(0), jnp.zeros((8, 8, 2)))
    assert jax.eval_shape(emb_c.apply, p_c, jnp.zeros((7, 8, 8, 2))).shape == (7, 3)


def test_batch_axes_are_independent():
    emb = ConvEmbedding(**_KW)
    apply = jax.jit(emb.apply)
    x = jax.random.normal(jax.random.key(2), (2, 3, 32, 32))
    out = apply(_params(), x)
    assert out.shape == (2, 3, 3)
    np.testing.assert_allclose(out[1], apply(_params(), x[1]), atol=1e-5)
    np.testing.assert_allclose(out[1, 2], jax.vmap(apply, (None, 0))(_params(), x[1])[2], atol=1e-5)


def test_trunk_is_translation_equivariant():
    # Circular padding: rolling the image by a multiple of the pooling factor (4) rolls the
    # feature map by the shift / 4, exactly.
    x = jax.random.normal(jax.random.key(3), (2, 32, 32))
    trunk = _trunk(ConvEmbedding(**_KW, padding="CIRCULAR"))
    f = trunk(_params(), x)
    f_shift = trunk(_params(), jnp.roll(x, (8, -12), axis=(1, 2)))
    np.testing.assert_allclose(f_shift, jnp.roll(f, (2, -3), axis=(1, 2)), atol=1e-5)
    # Zero padding: the same holds away from the borders (two blocks of one 3×3 conv: a
    # feature cell sees input pixels ≤ 7 away, so cells ≥ 2 from the border are unaffected).
    trunk0 = _trunk(ConvEmbedding(**_KW))
    g = trunk0(_params(), x)
    g_shift = trunk0(_params(), jnp.roll(x, 4, axis=1))
    np.testing.assert_allclose(g_shift[:, 3:6], g[:, 2:5], atol=1e-5)
    assert not np.allclose(g_shift[:, 1:], g[:, :-1], atol=1e-3)  # but not at the border


def test_per_image_standardisation_is_affine_invariant():
    apply = jax.jit(ConvEmbedding(**_KW, standardize="image").apply)
    x = jax.random.normal(jax.random.key(5), (2, 32, 32))
    np.testing.assert_allclose(apply(_params(), 3.0 * x + 7.0), apply(_params(), x), atol=1e-4)


def test_as_aalr_embedding_with_image_x():
    # x of shape (H, W): AALR standardises x per pixel, the embedding adds the channel axis.
    x_shape = (16, 16)
    est = aalr(2, x_shape, hidden=(16, 16), embedding=ConvEmbedding(features=(4, 8), out=8))
    theta = jax.random.normal(jax.random.key(7), (12, 2))
    x = jax.random.normal(jax.random.key(8), (12, *x_shape)) + theta[:, :1, None]
    params = jax.jit(est.init)(jax.random.key(9), theta, x)
    assert params["stats"].x_loc.shape == x_shape
    # log r and its gradient w.r.t. θ (what HMC uses), one observation and a vmapped batch.
    lr_and_grad = jax.value_and_grad(est.log_ratio, argnums=1)
    lrs, g_theta = jax.jit(jax.vmap(lr_and_grad, in_axes=(None, 0, 0)))(params, theta, x)
    assert lrs.shape == (12,) and g_theta.shape == (12, 2)
    assert np.all(np.isfinite(g_theta)) and np.all(np.any(g_theta != 0, axis=1))
    # Gradients of the training loss are finite and reach the convolutions.
    g = jax.jit(jax.grad(est.loss))(params, jax.random.key(10), (theta, x))
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(g["net"]))
    conv_grads = g["net"]["params"]["embedding"]["convs_0"]["kernel"]
    assert float(jnp.max(jnp.abs(conv_grads))) > 0


def test_bad_input_is_refused():
    emb = ConvEmbedding(features=(4, 8), out=2)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="divisible"):
        jax.eval_shape(emb.init, key, jnp.zeros((18, 18)))
    with pytest.raises(ValueError, match=r"\(\*batch, H, W"):
        jax.eval_shape(emb.init, key, jnp.zeros((16,)))
    with pytest.raises(TypeError, match="floating"):
        jax.eval_shape(emb.init, key, jnp.zeros((16, 16), jnp.int32))
    with pytest.raises(ValueError, match="padding"):
        jax.eval_shape(ConvEmbedding(padding="VALID").init, key, jnp.zeros((16, 16)))


def test_space_to_depth_patch_is_a_lossless_reshape():
    from jaxsbi.nn.conv import _space_to_depth

    x = np.arange(2 * 4 * 6 * 3, dtype=np.float32).reshape(2, 4, 6, 3)
    y = np.asarray(_space_to_depth(jnp.asarray(x), 2))
    assert y.shape == (2, 2, 3, 12)
    for i, j, a, b, c in np.ndindex(2, 3, 2, 2, 3):
        assert y[1, i, j, (a * 2 + b) * 3 + c] == x[1, 2 * i + a, 2 * j + b, c]
    # With patch 2 and one block the downsampling factor is 2 · 2 = 4: a circular roll by 4
    # pixels rolls the feature map by exactly one cell.
    emb = ConvEmbedding(features=(4,), out=2, dense=(), padding="CIRCULAR", patch=2)
    # Inputs and params from numpy (jax.random and flax's init cost seconds of compilation);
    # 4 input channels = 2 × 2 pixels.
    rng = np.random.default_rng(0)
    img = jnp.asarray(rng.normal(size=(2, 16, 16)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 3, 4, 4)), jnp.float32)
    params = {"params": {"convs_0": {"kernel": kernel, "bias": jnp.zeros(4)}}}
    f = emb.apply(params, img, method=ConvEmbedding.trunk)
    assert f.shape == (2, 4, 4, 4)
    f_roll = emb.apply(params, jnp.roll(img, 4, axis=1), method=ConvEmbedding.trunk)
    np.testing.assert_allclose(f_roll, jnp.roll(f, 1, axis=1), atol=1e-5)
    with pytest.raises(ValueError, match="divisible"):
        jax.eval_shape(emb.init, jax.random.key(0), jnp.zeros((10, 10)))
