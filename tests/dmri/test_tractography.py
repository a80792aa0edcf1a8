"""Deterministic tractography on synthetic fields with known streamlines."""

import numpy as np
import pytest

from jaxsbi.dmri import tractography as tr


def _straight(shape=(20, 5, 5), flip_signs=False, seed=0):
    field = np.zeros((*shape, 3))
    field[..., 0] = 1.0
    if flip_signs:  # axes are sign-free: a random sign per voxel must not matter
        signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=shape)
        field *= signs[..., None]
    return field


def _circle(size=40, depth=3, r_in=3.0, r_out=18.0):
    c = (size - 1) / 2
    xx, yy = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    dx, dy = -(yy - c), xx - c
    r = np.hypot(dx, dy)
    field = np.zeros((size, size, depth, 3))
    field[..., 0] = (dx / np.maximum(r, 1e-9))[..., None]
    field[..., 1] = (dy / np.maximum(r, 1e-9))[..., None]
    mask = np.broadcast_to(((r > r_in) & (r < r_out))[..., None], (size, size, depth))
    return field, mask, c


@pytest.mark.parametrize("interpolation", ["nearest", "trilinear"])
@pytest.mark.parametrize("flip", [False, True])
def test_straight_field_gives_straight_lines_of_the_mask_length(interpolation, flip):
    field = _straight(flip_signs=flip)
    mask = np.zeros(field.shape[:3], bool)
    mask[2:18, 1:4, 1:4] = True  # x from 2 to 17: continuous extent [1.5, 17.5), 16 voxels
    seeds = tr.seeds_from_mask(mask)
    cfg = tr.TrackingConfig(step_size=0.5, interpolation=interpolation)
    out = tr.track(field, seeds, mask=mask, config=cfg)
    assert len(out.streamlines) == seeds.shape[0] == 16 * 9
    for s, seed in zip(out.streamlines, out.seeds, strict=True):
        np.testing.assert_allclose(s[:, 1:], np.broadcast_to(seed[1:], s[:, 1:].shape), atol=1e-9)
        # both ends within one step of the mask's faces
        assert 1.5 <= s[:, 0].min() <= 2.0 and 17.0 <= s[:, 0].max() < 17.5
    lengths = tr.streamline_lengths(out.streamlines)
    assert np.all(np.abs(lengths - 15.5) <= 0.5 + 1e-9)
    assert out.stop_counts()["left_mask"] == 2 * seeds.shape[0]
    # world coordinates: 2 mm voxels, shifted origin
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = (-10.0, 4.0, 7.0)
    np.testing.assert_allclose(tr.streamline_lengths(out.streamlines, affine), 2 * lengths)
    np.testing.assert_allclose(tr.to_world(np.zeros(3), affine), (-10.0, 4.0, 7.0))


def test_circular_field_gives_arcs_on_their_radius():
    field, mask, c = _circle()
    seeds = np.array([[c + 8.0, c, 1.0], [c, c + 12.0, 1.0], [c - 5.0, c, 1.0]])
    radii = np.array([8.0, 12.0, 5.0])
    rk2 = tr.TrackingConfig(step_size=0.25, max_steps=150, integrator="rk2")
    out = tr.track(field, seeds, mask=mask, config=rk2)
    for s, r0 in zip(out.streamlines, radii, strict=True):
        r = np.hypot(s[:, 0] - c, s[:, 1] - c)
        assert np.max(np.abs(r - r0)) < 0.02, (r0, np.max(np.abs(r - r0)))
        assert len(s) == 301  # 150 steps each way, no stopping rule fired
        np.testing.assert_allclose(s[:, 2], 1.0)
    assert out.stop_counts()["max_steps"] == 6
    # Euler drifts outwards (r² grows by h² per step): it would fail the same tolerance
    euler = tr.TrackingConfig(step_size=0.25, max_steps=150, integrator="euler")
    s = tr.track(field, seeds[:1], mask=mask, config=euler).streamlines[0]
    drift = np.max(np.hypot(s[:, 0] - c, s[:, 1] - c)) - 8.0
    assert 0.3 < drift < 0.7  # sqrt(64 + 150·0.0625) − 8 = 0.57 on each half


def test_stopping_rules_fire():
    field, mask, c = _circle()
    seed = np.array([[c + 5.0, c, 1.0]])
    # turning h / r = 1 / 5 rad = 11.5° per step
    sharp = tr.TrackingConfig(step_size=1.0, max_angle=5.0, max_steps=50)
    out = tr.track(field, seed, mask=mask, config=sharp)
    assert out.stop[0].tolist() == [3, 3] and len(out.streamlines[0]) <= 3  # curvature
    loose = tr.TrackingConfig(step_size=1.0, max_angle=20.0, max_steps=50)
    assert tr.track(field, seed, mask=mask, config=loose).stop_counts()["curvature"] == 0

    straight = _straight()
    confidence = np.where(np.arange(20)[:, None, None] < 10, 1.0, 0.0) * np.ones((20, 5, 5))
    cfg = tr.TrackingConfig(step_size=0.5, min_confidence=0.5, bidirectional=False)
    out = tr.track(straight, np.array([[5.0, 2.0, 2.0]]), confidence=confidence, config=cfg)
    s = out.streamlines[0]
    assert s[-1, 0] == 9.0 and out.stop[0, 1] == 2  # 9.5 rounds to voxel 10: low confidence
    assert out.stop[0, 0] == -1
    # a hole in the field: no direction
    holed = straight.copy()
    holed[12] = 0.0
    cfg = tr.TrackingConfig(step_size=0.5, interpolation="nearest", bidirectional=False)
    out = tr.track(holed, np.array([[5.0, 2.0, 2.0]]), mask=np.ones((20, 5, 5), bool), config=cfg)
    assert out.stop[0, 1] == 4 and out.streamlines[0][-1, 0] == 11.5  # voxel 12 is empty
    # min_length drops short streamlines
    cfg = tr.TrackingConfig(step_size=0.5, min_length=100.0)
    assert tr.track(straight, np.array([[5.0, 2.0, 2.0]]), config=cfg).streamlines == []


def test_plot_tracts(tmp_path):
    field = _straight()
    out = tr.track(field, tr.seeds_from_mask(np.ones((20, 5, 5), bool))[:10])
    path = tr.plot_tracts(
        tmp_path / "t.png", out, np.random.default_rng(0).uniform(size=(20, 5, 5))
    )
    assert path.stat().st_size > 1000


def test_bad_input():
    field = _straight()
    seeds = np.array([[5.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match="directions must have shape"):
        tr.track(field[..., :2], seeds)
    with pytest.raises(ValueError, match="mask shape"):
        tr.track(field, seeds, mask=np.ones((5, 5, 5), bool))
    with pytest.raises(ValueError, match="selects no voxel"):
        tr.track(field, seeds, mask=np.zeros((20, 5, 5), bool))
    bad = field.copy()
    bad[3, 2, 2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tr.track(bad, seeds)
    with pytest.raises(ValueError, match="seeds must have shape"):
        tr.track(field, seeds[0])
    with pytest.raises(ValueError, match="confidence shape"):
        tr.track(field, seeds, confidence=np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="step_size"):
        tr.TrackingConfig(step_size=0.0)
    with pytest.raises(ValueError, match="max_angle"):
        tr.TrackingConfig(max_angle=0.0)
    with pytest.raises(ValueError, match="integrator"):
        tr.TrackingConfig(integrator="rk4")
    with pytest.raises(ValueError, match="selects no voxel"):
        tr.seeds_from_mask(np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="affine"):
        tr.to_world(seeds, np.eye(3))
