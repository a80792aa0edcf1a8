"""A corrupted or truncated checkpoint, or simulation cache, is detected, reported with a warning,
and redone: the final params and samples equal an uncorrupted run's, bit for bit."""

import shutil
import warnings

import jax
import numpy as np
import pytest

from jaxsbi.ratio import aalr
from jaxsbi.train import TrainConfig, array_source, fit, split

CFG = TrainConfig(max_epochs=12, epochs_per_call=3, batch_size=64, patience=100, checkpoint_every=3)


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    theta = jax.random.uniform(jax.random.key(0), (2000, 2), minval=-1, maxval=1)
    x = theta + 0.1 * jax.random.normal(jax.random.key(1), (2000, 2))
    train, val = split(jax.random.key(2), (theta, x), 0.1)
    est = aalr(2, (2,), hidden=(32, 32))
    params = est.init(jax.random.key(3), *train)
    source = array_source(train, val, CFG.batch_size)

    def run(directory=None):
        return fit(jax.random.key(4), est.loss, params, source, CFG, checkpoint_dir=directory,
                   progress=False)

    # Under the tests' rank-promotion setting (tests/conftest.py), which is part of jit's cache
    # key: compiled here, the loop is not compiled again in each test.
    with jax.numpy_rank_promotion("raise"):
        reference, _ = run()
        finished = tmp_path_factory.mktemp("finished")
        run(finished)  # checkpoints at epochs 9 and 12 are kept
    return run, reference, finished


def _same(a, b):
    return all(
        np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def _data_files(step_dir):
    return sorted((p for p in step_dir.rglob("*") if p.is_file() and "ocdbt" in str(p)),
                  key=lambda p: p.stat().st_size)


def _truncate(step_dir):
    for p in _data_files(step_dir):
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip_bytes(step_dir):
    big = _data_files(step_dir)[-1]
    data = bytearray(big.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0xFF
    big.write_bytes(bytes(data))


def _drop_metadata(step_dir):
    (step_dir / "default" / "_METADATA").unlink()


@pytest.mark.parametrize(
    "corrupt", [_truncate, _flip_bytes, pytest.param(_drop_metadata, marks=pytest.mark.slow)]
)
def test_a_corrupted_latest_checkpoint_falls_back_to_the_previous_one(problem, tmp_path, corrupt):
    run, reference, finished = problem
    ckpt = tmp_path / "ckpt"
    shutil.copytree(finished, ckpt)
    corrupt(ckpt / "orbax" / "12")
    with pytest.warns(RuntimeWarning, match="checkpoint at epoch 12 .* corrupted"):
        params, history = run(ckpt)
    assert history.resumed_from_epoch == 9
    assert _same(params, reference)
    # The fallback rewrote epoch 12: a further run restores it without a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        params2, history2 = run(ckpt)
    assert history2.resumed_from_epoch == 12 and _same(params2, reference)


@pytest.mark.slow
def test_with_every_checkpoint_corrupted_training_starts_afresh(problem, tmp_path):
    run, reference, finished = problem
    ckpt = tmp_path / "ckpt"
    shutil.copytree(finished, ckpt)
    _truncate(ckpt / "orbax" / "12")
    _flip_bytes(ckpt / "orbax" / "9")
    with pytest.warns(RuntimeWarning, match="epoch 9 .* corrupted"):
        params, history = run(ckpt)
    assert history.resumed_from_epoch == 0
    assert _same(params, reference)


def _cache(path, n=50, num_invalid=0, x_dim=2):
    rng = np.random.default_rng(0)
    np.savez(path, theta=rng.normal(size=(n, 2)).astype(np.float32),
             x=rng.normal(size=(n, x_dim)).astype(np.float32), num_invalid=num_invalid)
    return path


def _flip_middle(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 16] = bytes(b ^ 0xFF for b in data[len(data) // 2 :
                                                                              len(data) // 2 + 16])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), ""),
        (_flip_middle, ""),
        (lambda p: p.write_bytes(b""), ""),
        (lambda p: _cache(p, x_dim=3), "shapes"),
        (lambda p: _cache(p, n=40), "simulations, not 50"),
    ],
    ids=["truncated", "flipped-bytes", "empty", "wrong-shape", "wrong-count"],
)
def test_a_bad_simulation_cache_is_refused_with_a_warning(tmp_path, damage, reason):
    from jaxsbi.experiments.aalr import _load_simulations
    from jaxsbi.tasks import get_task

    task = get_task("two_moons")
    path = _cache(tmp_path / "simulations.npz")
    good = _load_simulations(path, task, 50)
    assert good is not None and good.theta.shape == (50, 2)
    damage(path)
    with pytest.warns(RuntimeWarning, match=f"simulation cache .*{reason}.*simulating again"):
        assert _load_simulations(path, task, 50) is None
