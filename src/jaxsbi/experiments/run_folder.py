"""Run folders: resolved config, metrics JSON, samples (npz / ArviZ InferenceData), stage cache."""

from __future__ import annotations

import dataclasses
import json
import platform
import time
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
]


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    """Where the run folder goes: ``<dir>/<name>`` (name defaults to the config file's stem)."""

    dir: str = "runs"
    name: str = ""
    progress: bool = True


def machine_info() -> dict:
    """The machine a figure was measured on."""
    import os

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
    path.write_text(json.dumps(data, indent=2, default=_json_default, allow_nan=True) + "\n")
    return path


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
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    cfg_path.write_text(resolved)
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
    np.savez_compressed(
        run_dir / "samples.npz", theta=theta, x_obs=x_obs, labels=np.array(labels), **(extra or {})
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
        idata.to_netcdf(str(p))
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
