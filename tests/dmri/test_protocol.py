"""Protocols: validation, dipy's bundled tables, synthetic protocols."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi import dmri
from jaxsbi.dmri import protocol as proto


def _table(n=6):
    g = proto.fibonacci_hemisphere(n)
    return np.r_[0.0, np.full(n - 1, 1000.0)], np.r_[[[0.0, 0.0, 0.0]], g[1:]]


def test_make_protocol_accepts_and_casts():
    b, g = _table()
    p = dmri.make_protocol(b, g)
    assert p.bvals.dtype == jnp.float32 and p.bvecs.shape == (6, 3)
    assert p.num_measurements == 6
    np.testing.assert_array_equal(np.asarray(p.b0_mask()), b <= 50)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda b, g: (b[:-1], g), r"shape \(n, 3\)"),
        (lambda b, g: (b, g.T), "transposed"),
        (lambda b, g: (np.r_[b[:-1], -5.0], g), "negative"),
        (lambda b, g: (np.r_[b[:-1], np.nan], g), "NaN/inf"),
        (lambda b, g: (b, np.r_[g[:-1], [[0.5, 0.5, 0.0]]]), "unit vectors"),
        (lambda b, g: (b, np.r_[g[:-1], [[np.nan, 0, 0]]]), "diffusion-weighted"),
        (lambda b, g: (np.zeros((2, 3)), g), r"shape \(n,\)"),
    ],
)
def test_make_protocol_refuses_bad_tables(mutate, match):
    b, g = mutate(*_table())
    with pytest.raises(ValueError, match=match):
        dmri.make_protocol(b, g)


def test_nan_b0_rows_replaced_and_counted():
    b, g = _table()
    g[0] = np.nan
    with pytest.warns(UserWarning, match="replaced 1 NaN gradient row"):
        p = dmri.make_protocol(b, g)
    np.testing.assert_array_equal(np.asarray(p.bvecs[0]), 0.0)


def test_normalize_option():
    b, g = _table()
    g[2] *= 1.5
    with pytest.raises(ValueError, match="norm"):
        dmri.make_protocol(b, g)
    p = dmri.make_protocol(b, g, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(p.bvecs[1:]), axis=1), 1.0, atol=1e-6)


def test_load_fsl_roundtrip(tmp_path):
    b, g = _table(10)
    np.savetxt(tmp_path / "x.bval", b[None])
    np.savetxt(tmp_path / "x.bvec", g.T)  # FSL layout (3, n)
    p = dmri.load_fsl(tmp_path / "x.bval", tmp_path / "x.bvec")
    np.testing.assert_allclose(np.asarray(p.bvecs), g, atol=1e-7)
    np.testing.assert_allclose(np.asarray(p.bvals), b)


@pytest.mark.parametrize(
    "name, n, shells",
    [
        ("small_64D", 65, {0: 1, 1000: 64}),
        ("small_25", 26, {0: 1, 2000: 25}),
        ("55dir_grad", 56, {0: 1, 2000: 55}),
        ("gtab_3shell", 193, {0: 1, 1000: 64, 2000: 64, 3500: 64}),
        ("gtab_isbi2013_2shell", 64, {0: 1, 1500: 27, 2500: 36}),
        ("small_101D", 102, None),
    ],
)
def test_dipy_tables(name, n, shells):
    pytest.importorskip("dipy")
    p = dmri.load_dipy_protocol(name, warn=False)
    b, g = np.asarray(p.bvals), np.asarray(p.bvecs)
    assert b.shape == (n,) and g.shape == (n, 3)
    dw = b > proto.B0_THRESHOLD
    np.testing.assert_allclose(np.linalg.norm(g[dw], axis=1), 1.0, atol=1e-3)
    if shells is not None:
        rounded = np.round(b, -2)
        assert {int(k): int(np.sum(rounded == k)) for k in np.unique(rounded)} == shells


def test_small_64d_nan_row_is_reported():
    pytest.importorskip("dipy")
    with pytest.warns(UserWarning, match="replaced 1 NaN"):
        p = dmri.load_dipy_protocol("small_64D")
    np.testing.assert_array_equal(np.asarray(p.bvecs[0]), 0.0)


def test_missing_dipy_names_the_extra(monkeypatch):
    def no_dipy(name):
        raise ModuleNotFoundError("No module named 'dipy'")

    monkeypatch.setattr(proto.resources, "files", no_dipy)
    with pytest.raises(ImportError, match=r'pip install "jaxsbi\[dmri\]"'):
        dmri.load_dipy_protocol("small_64D")


def test_unknown_dipy_table():
    with pytest.raises(ValueError, match="unknown dipy table"):
        dmri.load_dipy_protocol("nope")


def test_random_multishell_properties():
    draw = jax.jit(lambda k: dmri.random_multishell(k, 200, b0_fraction=0.05))
    for i in range(3):
        p = draw(jax.random.key(i))
        b, g = np.asarray(p.bvals), np.asarray(p.bvecs)
        assert b.shape == (200,) and g.shape == (200, 3)
        assert b[0] == 0 and np.all((b >= 0) & (b <= 4000))
        dw = b > 0
        np.testing.assert_allclose(np.linalg.norm(g[dw], axis=-1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(g[~dw], 0.0)
        assert 2 <= np.sum(~dw) <= 30  # 1 forced + ~5% of 199
        assert abs(b[dw].mean() - 2000) < 250  # U[0, 4000]
    np.testing.assert_array_equal(np.asarray(draw(jax.random.key(2)).bvals), b)  # same seed
    z = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    shells = jax.jit(lambda z: dmri.protocol.multishell_from_normals(z, shells=(1e3, 3e3)))
    shelled = shells(z)
    assert set(np.unique(np.asarray(shelled.bvals))) <= {0.0, 1000.0, 3000.0}
    with pytest.raises(ValueError, match="num_b0"):
        dmri.random_multishell(jax.random.key(0), 4, num_b0=0)
    with pytest.raises(ValueError, match="shells"):
        dmri.random_multishell(jax.random.key(0), 4, shells=(0.0,))


@pytest.mark.parametrize(
    "factory, counts",
    [
        (dmri.uk_biobank_like, {0: 5, 1000: 50, 2000: 50}),
        (dmri.hcp_like, {0: 18, 1000: 90, 2000: 90, 3000: 90}),
    ],
)
def test_synthetic_protocols(factory, counts):
    p = factory()
    b, g = np.asarray(p.bvals), np.asarray(p.bvecs)
    assert {int(k): int(np.sum(b == k)) for k in np.unique(b)} == counts
    for shell in (k for k in counts if k):
        d = g[b == shell]
        cos = np.abs(d @ d.T) - 2 * np.eye(len(d))
        # well spread (repulsion): no two axes of a shell within 12 degrees
        assert np.degrees(np.arccos(cos.max())) > 12.0
