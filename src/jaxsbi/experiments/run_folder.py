"""Run folders: resolved config, metrics JSON, samples (npz / ArviZ InferenceData), stage cache.

Every file a stage writes goes through :func:`atomic_path` (a temporary name in the same folder,
then ``os.replace``), so a killed run never leaves a truncated file that a resumed run would
read as valid; :func:`run_lock` keeps a second process out of a folder that a run is using.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from jaxsbi.experiments.config import to_dict

__all__ = [
    "OutputConfig",
    "prepare_run_dir",
    "write_json",
    "save_samples",
    "machine_info",
    "Stopwatch",
    "atomic_path",
    "atomic_write_text",
    "save_figure",
    "run_lock",
    "LOCK_NAME",
]

LOCK_NAME = ".lock"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` on success.

    The temporary name keeps the suffix (``.png``, ``.npz``: writers pick the format or append
    an extension from it) and is removed if the writer raises, so ``path`` is either its old
    content or the complete new one, never a partial file::

        with atomic_path(run_dir / "loss.png") as tmp:
            fig.savefig(tmp)
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """``Path(path).write_text(text)``, atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def save_figure(fig, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """``fig.savefig(path, **savefig_kwargs)``, atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **savefig_kwargs)
    return Path(path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _read_lock(lock: Path) -> dict | None:
    try:
        rec = json.loads(lock.read_text())
        return rec if isinstance(rec, dict) and isinstance(rec.get("pid"), int) else None
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold ``run_dir/.lock`` (the PID and host) while a run uses the folder.

    Creating the file is atomic (``O_CREAT | O_EXCL``): of two runs started on one folder, one
    gets the lock and the other raises :class:`~jaxsbi.experiments.config.ConfigError` naming
    the holder's PID and host. A lock left by a killed run (its PID is not alive on this host)
    is taken over with a warning. The lock is removed on exit, also on an exception.
    """
    from jaxsbi.experiments.config import ConfigError

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / LOCK_NAME
    host = socket.gethostname()
    mine = json.dumps({"pid": os.getpid(), "host": host, "started": time.time()})
    for _attempt in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            rec = _read_lock(lock)
            if rec is None:
                # Unreadable: a holder between creating and writing it, or one killed there.
                try:
                    age = time.time() - lock.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age < 10.0:
                    raise ConfigError(
                        f"{run_dir} is locked by another run ({lock} is being written); wait "
                        "for it or choose another output directory"
                    ) from None
                stale = "an unreadable lock"
            elif rec.get("host") != host or _pid_alive(rec["pid"]):
                if rec["pid"] == os.getpid() and rec.get("host") == host:
                    raise ConfigError(f"{run_dir} is already locked by this process") from None
                raise ConfigError(
                    f"{run_dir} is in use by another run (PID {rec['pid']} on "
                    f"{rec.get('host')}, lock {lock}); wait for it to finish or choose another "
                    "output directory"
                ) from None
            else:
                stale = f"PID {rec['pid']} is not running on {host}"
            # Move the stale lock aside (only one taker can), then check it is the one judged.
            aside = lock.with_name(f"{LOCK_NAME}.stale{os.getpid()}")
            try:
                os.replace(lock, aside)
            except FileNotFoundError:
                continue
            if _read_lock(aside) != rec:
                os.replace(aside, lock)  # someone else's fresh lock: put it back, try again
                continue
            aside.unlink()
            warnings.warn(
                f"{run_dir}: taking over a stale run lock ({stale})", RuntimeWarning, stacklevel=3
            )
            continue
        with os.fdopen(fd, "w") as f:
            f.write(mine)
            f.flush()
            os.fsync(f.fileno())
        break
    else:
        raise ConfigError(f"{run_dir}: could not take the run lock {lock}; try again")
    try:
        yield lock
    finally:
        if _read_lock(lock) == json.loads(mine):
            lock.unlink()


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    """Where the run folder goes: ``<dir>/<name>`` (name defaults to the config file's stem)."""

    dir: str = "runs"
    name: str = ""
    progress: bool = True


def machine_info() -> dict:
    """The machine a figure was measured on."""
    import jax

    devices = jax.devices()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [d.device_kind for d in devices],
        "device_count": len(devices),
    }


def _json_default(o: Any):
    if isinstance(o, np.ndarray | np.generic):
        return o.tolist()
    if hasattr(o, "tolist"):
        return np.asarray(o).tolist()
    return str(o)


def write_json(path: Path, data: dict) -> Path:
    """``data`` as indented JSON at ``path``, written atomically."""
    text = json.dumps(data, indent=2, default=_json_default, allow_nan=True) + "\n"
    atomic_write_text(path, text)
    return Path(path)


def prepare_run_dir(config: Any, run_dir: Path, *, overwrite: bool = False) -> Path:
    """Create ``run_dir`` and record the resolved config there.

    A folder written by a different config is refused (unless ``overwrite``, which empties it),
    so a resumed run never mixes results of two experiments. A config class may name sections
    that no cached result depends on in a ``cache_free_sections`` class attribute (the AALR
    experiment: ``sampler``, ``diagnostics``, ``output``, which are redone on every run): a
    folder whose config differs only there is reused, with its simulations and checkpoints.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = json.dumps(to_dict(config), indent=2, sort_keys=True, default=_json_default)
    cfg_path = run_dir / "config.json"
    free = tuple(getattr(type(config), "cache_free_sections", ()))

    def cached_part(text: str):
        d = json.loads(text)
        return {k: v for k, v in d.items() if k not in free} if isinstance(d, dict) else d

    if cfg_path.exists() and cfg_path.read_text() != resolved:
        if cached_part(cfg_path.read_text()) != cached_part(resolved):
            if not overwrite:
                raise FileExistsError(
                    f"{run_dir} holds a run of a different config; pass --overwrite or choose "
                    "another output directory"
                )
            import shutil

            for child in run_dir.iterdir():
                if child.name != LOCK_NAME:  # the lock of the run doing this
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
    if not cfg_path.exists() or cfg_path.read_text() != resolved:
        atomic_write_text(cfg_path, resolved)
    return run_dir


def save_samples(
    run_dir: Path,
    theta: np.ndarray,
    x_obs: np.ndarray,
    labels: tuple[str, ...],
    extra: dict | None = None,
) -> dict:
    """Write ``samples.npz`` (theta: (num_observations, num_chains, num_samples, d)) and, where
    ArviZ is installed, one InferenceData NetCDF file per observation."""
    out = {"samples": str(run_dir / "samples.npz")}
    with atomic_path(run_dir / "samples.npz") as tmp:
        np.savez_compressed(
            tmp, theta=theta, x_obs=x_obs, labels=np.array(labels), **(extra or {})
        )
    try:
        import arviz as az
    except ImportError:
        out["inference_data"] = "skipped: install the 'arviz' extra (pip install jaxsbi[arviz])"
        return out
    paths = []
    for i in range(theta.shape[0]):
        posterior = {name: theta[i, :, :, j] for j, name in enumerate(labels)}
        idata = az.from_dict(posterior=posterior, observed_data={"x": x_obs[i]})
        p = run_dir / f"posterior_obs{i + 1}.nc"
        with atomic_path(p) as tmp:
            idata.to_netcdf(str(tmp))
        paths.append(str(p))
    out["inference_data"] = paths
    return out


class Stopwatch:
    """Wall time per named stage."""

    def __init__(self):
        self.times: dict[str, float] = {}

    def __call__(self, name: str):
        watch = self

        class _Ctx:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                watch.times[name] = watch.times.get(name, 0.0) + time.perf_counter() - self.t0

        return _Ctx()
