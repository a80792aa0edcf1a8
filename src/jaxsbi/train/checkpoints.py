"""Checkpoints of :func:`jaxsbi.train.fit`: orbax steps plus a record per step.

The record (``train_time.json``) holds, for each kept step, the training seconds spent so far
(the time budget carries over a resume) and a SHA-256 of the saved state. Restoring tries the
latest step first; a step that fails to restore or whose digest differs (a truncated or
corrupted file) is deleted with a warning naming it, and the previous one is tried.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import warnings
from pathlib import Path

import jax
import numpy as np

__all__ = ["restore", "save_record", "elapsed", "as_tree"]

logger = logging.getLogger("jaxsbi.train.fit")


def _first_line(err: BaseException) -> str:
    text = str(err)
    return text.splitlines()[0][:200] if text else ""


def restore(directory: Path, state, config):
    """The checkpoint manager and the state of the latest readable checkpoint.

    A checkpoint that fails to restore, or whose contents differ from the digest recorded when
    it was saved (a truncated or corrupted file), is deleted with a warning naming its step,
    and the previous one is tried (``max_to_keep=2``); with none left, training starts afresh.
    Either way the run ends with the params of an uninterrupted run.
    """
    import orbax.checkpoint as ocp

    directory = directory.absolute()
    directory.mkdir(parents=True, exist_ok=True)
    meta = directory / "train_config.json"
    current = json.dumps(dataclasses.asdict(config), sort_keys=True)
    if meta.exists() and meta.read_text() != current:
        raise ValueError(
            f"checkpoints in {directory} were written with a different TrainConfig; remove the "
            "folder or choose another run directory to start afresh"
        )
    if not meta.exists():
        _atomic_write_text(meta, current)
    manager = ocp.CheckpointManager(
        directory / "orbax", options=ocp.CheckpointManagerOptions(max_to_keep=2)
    )
    records = _records(directory)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, as_tree(state))
    for step in sorted(manager.all_steps(), reverse=True):
        try:
            restored = manager.restore(step, args=ocp.args.StandardRestore(abstract))
            candidate = _from_tree(state, restored)
            expected = records.get(str(step), {}).get("sha256")
            if expected is not None and _digest(candidate) != expected:
                raise ValueError("its contents differ from the digest recorded at saving")
        except Exception as err:  # noqa: BLE001 - any unreadable checkpoint is treated alike
            msg = (
                f"checkpoint at epoch {step} in {directory / 'orbax'} is unreadable or "
                f"corrupted ({type(err).__name__}: {_first_line(err)}); "
                "deleting it and falling back to the previous one"
            )
            warnings.warn(msg, RuntimeWarning, stacklevel=3)
            logger.warning(msg)
            _delete_step(manager, step)
            continue
        return manager, candidate
    return manager, state


def _delete_step(manager, step: int) -> None:
    import shutil

    try:
        manager.delete(step)
    except Exception:  # noqa: BLE001 - a corrupted folder may confuse orbax; remove it by hand
        shutil.rmtree(Path(manager.directory) / str(step), ignore_errors=True)
        manager.reload()


def _atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename: never a truncated file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _digest(state) -> str:
    """SHA-256 of every leaf of the state (dtype, shape and bytes), in tree order."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(as_tree(state)):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


_RECORDS = "train_time.json"  # per checkpoint: training seconds so far and the state's digest


def _records(directory: Path) -> dict:
    path = directory.absolute() / _RECORDS
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(rec, dict):
        return {}
    if "steps" not in rec and "epoch" in rec:  # the one-record format of earlier versions
        return {str(rec["epoch"]): {"seconds": rec.get("seconds", 0.0)}}
    steps = rec.get("steps", {})
    return steps if isinstance(steps, dict) else {}


def save_record(directory: Path, manager, state, seconds: float) -> None:
    keep = {str(s) for s in manager.all_steps()}
    records = {k: v for k, v in _records(directory).items() if k in keep}
    records[str(int(state.epoch))] = {"seconds": seconds, "sha256": _digest(state)}
    _atomic_write_text(directory.absolute() / _RECORDS, json.dumps({"steps": records}))


def elapsed(directory: Path, epoch: int) -> float:
    """Training seconds recorded with the checkpoint of ``epoch`` (0 when none)."""
    if epoch == 0:
        return 0.0
    return float(_records(directory).get(str(epoch), {}).get("seconds", 0.0))


def as_tree(state) -> dict:
    return {k: v for k, v in state._asdict().items()}


def _like(leaf, template_leaf):
    """``leaf`` placed as ``template_leaf`` is. orbax returns arrays committed to a device,
    where fresh ones are not; jit lowers a committed argument with its sharding, so a resumed
    run would compile (and run) another program than an uninterrupted one, for training and
    for everything the params flow into (sampling). An uncommitted copy gives the same one."""
    if getattr(template_leaf, "committed", True):
        return jax.device_put(leaf, template_leaf.sharding)
    return jax.device_put(np.asarray(leaf))


def _from_tree(template, tree: dict):
    # orbax restores plain containers; put the template's NamedTuples (optimizer states,
    # Standardizer) back around the restored leaves.
    out = {}
    for k in template._fields:
        leaves = jax.tree.leaves(getattr(template, k))
        restored = [_like(r, t) for r, t in zip(jax.tree.leaves(tree[k]), leaves, strict=True)]
        out[k] = jax.tree.unflatten(jax.tree.structure(getattr(template, k)), restored)
    return type(template)(**out)
