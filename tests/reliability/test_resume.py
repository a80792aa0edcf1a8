"""Kill/resume: ``python -m jaxsbi run`` SIGKILLed at a moment of each stage, then the same
command again, finishes with samples and metrics bit-identical to an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

TINY = """
experiment = "aalr"
seed = 3
[task]
name = "two_moons"
num_simulations = 1200
[observations]
values = [[-0.6396706, 0.16234657], [0.1, -0.2]]
[network]
hidden = [16, 16]
[train]
max_epochs = 8
epochs_per_call = 2
checkpoint_every = 2
patience = 100
[sampler]
kernel = "smc"
num_chains = 4
num_samples = 50
[diagnostics]
reference = "none"
calibration_observations = {calibration}
calibration_chains = 2
calibration_samples = 10
roc = {roc}
roc_samples = 200
[output]
progress = false
"""
FAST = TINY.format(calibration=0, roc="false")
FULL = TINY.format(calibration=6, roc="true")
# Numbers that may differ between runs that computed the same thing.
VOLATILE = {"timings_s", "machine", "files"}



@pytest.fixture(scope="module", autouse=True)
def _compilation_cache(tmp_path_factory):
    """One persistent XLA cache for the module's runs: only the first compiles (a tiny run on
    a busy 2-core machine: 36 s cold, 11 s warm), which the uninterrupted reference pays for. The
    executables are the ones a fresh compile would give, so equality still tests resuming."""
    cache = tmp_path_factory.mktemp("xla_cache")
    env = {
        "JAXSBI_CACHE_DIR": str(cache),  # jaxsbi.compilation (the CLI turns the cache on)
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    _ENV.update(os.environ, **env)
    yield
    _ENV.clear()


_ENV: dict = {}


def _command(cfg: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "jaxsbi", "run", str(cfg), "--output", str(out)]


def _run(cfg: Path, out: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(_command(cfg, out), capture_output=True, text=True, timeout=600,
                          env=_ENV or None)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _kill_when(cfg: Path, out: Path, ready, timeout=300.0) -> None:
    """Start the run, SIGKILL it as soon as ``ready(run_dir)`` holds."""
    proc = subprocess.Popen(_command(cfg, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_ENV or None)
    run_dir = out / cfg.stem
    t0 = time.monotonic()
    try:
        while not ready(run_dir):
            assert proc.poll() is None, "the run finished before the kill point"
            assert time.monotonic() - t0 < timeout, "kill point never reached"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert not (run_dir / "metrics.json").exists()


def _checkpoint_written(run_dir: Path) -> bool:
    orbax = run_dir / "checkpoints" / "orbax"
    return orbax.is_dir() and any(p.name.isdigit() for p in orbax.iterdir())


def _stable_metrics(run_dir: Path) -> dict:
    m = json.loads((run_dir / "metrics.json").read_text())
    m["training"].pop("resumed_from_epoch")
    return {k: v for k, v in m.items() if k not in VOLATILE}


def _assert_same_run(a: Path, b: Path) -> None:
    za, zb = np.load(a / "samples.npz"), np.load(b / "samples.npz")
    assert sorted(za.files) == sorted(zb.files)
    for name in za.files:
        assert np.array_equal(za[name], zb[name]), name
    assert _stable_metrics(a) == _stable_metrics(b)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Uninterrupted runs of both configs, each computed once (on first use)."""
    base = tmp_path_factory.mktemp("uninterrupted")
    cache = {}

    def get(text: str) -> Path:
        if text not in cache:
            cfg = base / f"cfg{len(cache)}" / "tiny.toml"
            cfg.parent.mkdir()
            cfg.write_text(text)
            _run(cfg, base / f"out{len(cache)}")
            cache[text] = base / f"out{len(cache)}" / "tiny"
        return cache[text]

    return get


def _kill_and_resume(tmp_path, text, ready, uninterrupted) -> subprocess.CompletedProcess:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(text)
    out = tmp_path / "runs"
    _kill_when(cfg, out, ready)
    done = _run(cfg, out)
    assert "stale run lock" in done.stderr  # the killed run's lock, taken over
    # The reference last: the runs before it filled the compilation cache it then reads.
    _assert_same_run(out / "tiny", uninterrupted(text))
    return done


def test_killed_during_training_resumes_bit_identical(tmp_path, uninterrupted):
    _kill_and_resume(tmp_path, FAST, _checkpoint_written, uninterrupted)
    m = json.loads((tmp_path / "runs" / "tiny" / "metrics.json").read_text())
    assert m["training"]["resumed_from_epoch"] > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "ready",
    [
        pytest.param(lambda d: (d / "simulations.npz").exists(), id="after-simulation"),
        pytest.param(_checkpoint_written, id="during-training"),
        pytest.param(lambda d: (d / "loss.png").exists(), id="after-training"),
        pytest.param(lambda d: (d / "samples.npz").exists(), id="during-diagnostics"),
    ],
)
def test_killed_in_each_stage_resumes_bit_identical(tmp_path, uninterrupted, ready):
    done = _kill_and_resume(tmp_path, FULL, ready, uninterrupted)  # samples, metrics compared
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_a_corrupted_simulation_cache_is_simulated_again(tmp_path, uninterrupted):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(FAST)
    out = tmp_path / "runs"
    _kill_when(cfg, out, lambda d: (d / "simulations.npz").exists())
    cache = out / "tiny" / "simulations.npz"
    data = bytearray(cache.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 32] = b"\xff" * 32
    cache.write_bytes(bytes(data))
    done = _run(cfg, out)
    assert "simulation cache" in done.stderr and "simulating again" in done.stderr
    _assert_same_run(out / "tiny", uninterrupted(FAST))
