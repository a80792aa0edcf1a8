"""NIfTI I/O, dipy's real sample, validation and normalisation, the DTI reference fit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsbi import dmri

AFFINE = np.array(
    [[0.0, -2.0, 0.0, 20.0], [-1.94, 0.0, -0.49, 25.2], [-0.49, 0.0, 1.94, 12.3], [0, 0, 0, 1]]
)


@pytest.mark.parametrize("suffix, dtype", [(".nii", np.float32), (".nii.gz", np.int16)])
def test_nifti_roundtrip(tmp_path, suffix, dtype):
    pytest.importorskip("nibabel")
    data = (np.random.default_rng(0).normal(size=(4, 5, 3, 7)) * 100).astype(dtype)
    path = dmri.save_nifti(tmp_path / f"x{suffix}", data, AFFINE)
    back, affine = dmri.load_nifti(path, dtype=None)
    assert back.dtype == dtype and back.shape == data.shape
    np.testing.assert_array_equal(back, data)
    np.testing.assert_allclose(affine, AFFINE, atol=1e-6)  # the header stores float32
    with pytest.raises(ValueError, match="affine"):
        dmri.save_nifti(tmp_path / "bad.nii", data, np.eye(3))


def test_dipy_sample_small_64d():
    pytest.importorskip("dipy")
    data, affine, protocol = dmri.load_dipy_sample("small_64D")
    assert data.shape == (10, 10, 10, 65) and data.dtype == np.float32
    assert affine.shape == (4, 4) and protocol.num_measurements == 65
    np.testing.assert_array_equal(np.asarray(protocol.bvecs[0]), 0.0)  # NaN row replaced
    prep = dmri.prepare_dwi(data, protocol)
    assert prep.mask.sum() == 1000  # an ROI inside the brain: every voxel
    otsu = dmri.b0_mask_otsu(data, protocol)  # bright CSF vs tissue on this ROI
    assert 0 < otsu.sum() < 1000
    np.testing.assert_allclose(prep.signals[prep.mask][:, 0], 1.0, rtol=1e-6)  # one b0
    assert np.all(prep.signals[~prep.mask] == 0)


def _toy(n_vox=(3, 2, 2)):
    protocol = dmri.uk_biobank_like()
    rng = np.random.default_rng(1)
    data = rng.uniform(100, 1000, size=(*n_vox, protocol.num_measurements)).astype(np.float32)
    return data, protocol


def test_validation_errors():
    data, protocol = _toy()
    with pytest.raises(ValueError, match="105 b-values"):
        dmri.prepare_dwi(data[..., :-1], protocol)
    with pytest.raises(ValueError, match="mask shape"):
        dmri.prepare_dwi(data, protocol, np.ones((3, 2), bool))
    with pytest.raises(ValueError, match="selects no voxel"):
        dmri.prepare_dwi(data, protocol, np.zeros((3, 2, 2), bool))
    bad = data.copy()
    bad[1, 1, 0, 7] = np.nan
    bad[2, 0, 1, 3] = -4.0
    with pytest.raises(
        ValueError, match=r"2 masked voxel\(s\) are invalid \(1 non-finite, 1 negative"
    ):
        dmri.prepare_dwi(bad, protocol, np.ones((3, 2, 2), bool))
    with pytest.warns(UserWarning, match="left 2 invalid"):
        prep = dmri.prepare_dwi(bad, protocol, np.ones((3, 2, 2), bool), on_invalid="mask")
    assert prep.mask.sum() == 10 and prep.num_dropped == {"non-finite": 1, "negative": 1}
    assert np.all(np.isfinite(prep.signals))
    only_bad = np.zeros((3, 2, 2), bool)
    only_bad[1, 1, 0] = True
    with pytest.raises(ValueError, match="no \\(valid\\) voxel"), pytest.warns(UserWarning):
        dmri.prepare_dwi(bad, protocol, only_bad, on_invalid="mask")
    zero_b0 = data.copy()
    zero_b0[0, 0, 0, :5] = 0.0
    with pytest.raises(ValueError, match="mean b0 <= 0"):
        dmri.prepare_dwi(zero_b0, protocol, np.ones((3, 2, 2), bool))


def test_normalize_and_save_maps(tmp_path):
    data, protocol = _toy()
    mask = np.ones((3, 2, 2), bool)
    mask[0, 0, 0] = False
    out = dmri.normalize_by_b0(data, protocol, mask)
    np.testing.assert_allclose(out[mask][:, :5].mean(1), 1.0, rtol=1e-6)
    assert np.all(out[0, 0, 0] == 0)
    fa = np.random.default_rng(0).uniform(size=(3, 2, 2)).astype(np.float32)
    rgb = np.random.default_rng(1).uniform(size=(3, 2, 2, 3)).astype(np.float32)
    paths = dmri.save_maps(tmp_path / "maps", {"fa": fa, "dir_rgb": rgb}, AFFINE)
    assert sorted(p.name for p in paths) == ["dir_rgb.nii.gz", "dir_rgb.png", "fa.nii.gz", "fa.png"]
    back, _ = dmri.load_nifti(tmp_path / "maps" / "fa.nii.gz")
    np.testing.assert_array_equal(back, fa)
    with pytest.raises(ValueError, match="NaN"):
        dmri.save_maps(tmp_path / "bad", {"fa": np.full((3, 2, 2), np.nan)}, AFFINE)


def test_tensor_fit_recovers_a_known_tensor():
    protocol = dmri.load_dipy_protocol("gtab_3shell") if _has_dipy() else dmri.hcp_like()
    r, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(3, 3)))
    evals = np.array([1.7e-3, 0.5e-3, 0.3e-3])
    d = r @ np.diag(evals) @ r.T
    signal = 800.0 * dmri.tensor(protocol, jnp.asarray(d, jnp.float32))
    fit = jax.jit(lambda s: dmri.fit_tensor(protocol, s))(signal)
    np.testing.assert_allclose(np.asarray(fit.evals), evals, rtol=2e-3)
    assert abs(float(fit.evecs[:, 0] @ r[:, 0])) > 0.9999
    assert float(fit.s0) == pytest.approx(800.0, rel=1e-3)
    l1, l2, l3 = evals
    fa = np.sqrt(0.5 * ((l1 - l2) ** 2 + (l2 - l3) ** 2 + (l3 - l1) ** 2) / (evals**2).sum())
    assert float(fit.fa) == pytest.approx(fa, abs=1e-3)


def _has_dipy():
    try:
        import dipy  # noqa: F401
    except ImportError:
        return False
    return True


def test_tensor_fit_matches_dipy_on_small_64d():
    pytest.importorskip("dipy")
    from dipy.core.gradients import gradient_table
    from dipy.reconst.dti import TensorModel

    data, _, protocol = dmri.load_dipy_sample("small_64D")
    fits = dmri.map_voxels(lambda s: dmri.fit_tensor(protocol, s), data, chunk_size=1000)
    gtab = gradient_table(
        np.asarray(protocol.bvals, np.float64), bvecs=np.asarray(protocol.bvecs, np.float64)
    )
    ref = TensorModel(gtab, fit_method="WLS").fit(data)
    assert np.max(np.abs(fits.fa - ref.fa)) < 1e-3
    np.testing.assert_allclose(fits.md, ref.md, rtol=1e-3, atol=1e-7)
    aniso = ref.fa > 0.2
    cos = np.abs(np.sum(fits.evecs[..., 0] * ref.evecs[..., 0], axis=-1))[aniso]
    assert aniso.sum() > 500 and np.degrees(np.arccos(np.clip(cos.min(), 0, 1))) < 0.5
