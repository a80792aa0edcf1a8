"""Per-voxel maps over a whole volume: masked, chunked, sharded over devices, streamed.

:func:`map_voxels` applies a per-voxel function to every voxel inside a mask:

1. the masked voxels are listed (flat indices, C order);
2. they are processed in chunks of ``chunk_size`` (rounded up to a multiple of the device
   count; the last chunk is padded with copies of its first voxel, whose results are
   dropped), gathered from the host array one chunk at a time;
3. each chunk is placed on a 1-D device mesh (``NamedSharding(Mesh(devices, ("voxels",)),
   P("voxels"))``) and run by one compiled ``shard_map(vmap(fn))``: every device runs its
   own slice independently (no cross-device traffic, and loops such as NUTS trees stop per
   device, not at the slowest voxel of the whole chunk);
4. chunk k+1 is dispatched before chunk k's results are copied back (asynchronous dispatch
   overlaps the host gather/scatter with compute) and results are scattered into host
   arrays of the volume's shape, so device memory holds about two chunks whatever the
   volume size.

Random functions get one key per voxel, ``fold_in(key, flat voxel index)``, so the maps do
not depend on ``chunk_size``, the number of devices or the mask around a voxel.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["map_voxels", "check_volume"]


def check_volume(data, mask=None, *, require_finite: bool = True) -> np.ndarray:
    """Validate ``data (*spatial, n)`` and ``mask (*spatial,)``; return the mask as bool.

    Raises:
        ValueError: data with fewer than 2 axes, a mask of another shape or non-binary
            values, an empty mask, NaN/inf in masked voxels (``require_finite``).
    """
    shape = np.shape(data)
    if len(shape) < 2:
        raise ValueError(f"data must have shape (*spatial, n); got {shape}")
    spatial = shape[:-1]
    if mask is None:
        m = np.ones(spatial, bool)
    else:
        m = np.asarray(mask)
        if m.shape != spatial:
            raise ValueError(
                f"mask shape {m.shape} does not match the data's spatial shape {spatial}"
            )
        if m.dtype != np.bool_:
            if not np.isin(m, (0, 1)).all():
                raise ValueError("mask must be boolean (or 0/1)")
            m = m.astype(bool)
    if not m.any():
        raise ValueError("the mask selects no voxel")
    if require_finite:
        x = np.asarray(data)[m]
        bad = ~np.all(np.isfinite(x), axis=-1)
        if bad.any():
            first = np.argwhere(m)[np.flatnonzero(bad)[0]].tolist()
            raise ValueError(
                f"{int(bad.sum())} masked voxel(s) contain NaN/inf (first at {first}); "
                "fix them or leave them out of the mask"
            )
    return m


def _num_required(fn: Callable) -> int | None:
    """Required positional parameters of ``fn`` (None when its signature is unknown)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in kinds and p.default is inspect.Parameter.empty for p in params)


def map_voxels(
    fn: Callable[..., Any],
    data,
    mask=None,
    *,
    chunk_size: int = 4096,
    key: jax.Array | None = None,
    devices: Sequence[jax.Device] | None = None,
    fill_value: float = 0.0,
) -> Any:
    """Apply ``fn`` to every masked voxel; return maps of the volume's shape.

    Args:
        fn: ``fn(x)`` — or ``fn(key, x)`` when ``key`` is given — for ONE voxel's
            ``x (n,)``, returning a pytree of arrays; pure and ``jit``/``vmap``-able.
        data: ``(*spatial, n)`` host (NumPy) or device array.
        mask: ``(*spatial,)`` bool; None processes every voxel.
        chunk_size: voxels per compiled call (rounded up to a multiple of the device count).
        key: PRNG key; voxel i (flat C-order index) gets ``fold_in(key, i)``.
        devices: devices of the 1-D mesh (default: all of ``jax.devices()``).
        fill_value: value of every floating output outside the mask (integer and boolean
            outputs are 0 there).

    Returns:
        The pytree of ``fn``'s output with NumPy leaves of shape ``(*spatial, *leaf_shape)``.

    Raises:
        ValueError: see :func:`check_volume`; ``chunk_size < 1``; an empty device list.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    m = check_volume(data, mask)
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must not be empty")
    required = _num_required(fn)
    if key is not None and required is not None and required < 2:
        raise ValueError("key was given but fn takes a single argument; use fn(key, x)")
    if key is None and required is not None and required >= 2:
        raise ValueError("fn takes (key, x) but no key was given; pass key=")
    nd = len(devices)
    chunk = math.ceil(chunk_size / nd) * nd
    spatial, n = np.shape(data)[:-1], np.shape(data)[-1]
    flat = data.reshape(-1, n) if isinstance(data, np.ndarray) else jnp.reshape(data, (-1, n))
    idx = np.flatnonzero(m.ravel()).astype(np.int32)
    num = idx.shape[0]
    chunk = min(chunk, math.ceil(num / nd) * nd)

    mesh = Mesh(np.asarray(devices), ("voxels",))
    sharded = NamedSharding(mesh, P("voxels"))
    x_dtype = jnp.result_type(flat.dtype)
    if not jnp.issubdtype(x_dtype, jnp.floating):
        x_dtype = jnp.float32

    if key is None:

        def one(k, i, x):
            return fn(x)

        key_arg = jax.random.key(0)
    else:

        def one(k, i, x):
            return fn(jax.random.fold_in(k, i), x)

        key_arg = key

    def block(k, i, x):
        return jax.vmap(one, in_axes=(None, 0, 0))(k, i, x)

    # A single spec is a pytree prefix: every output leaf is split along its voxel axis.
    # check_vma=False: fn is plain per-voxel code (its loop carries need not be marked as
    # device-varying); it uses no collectives.
    run = jax.jit(
        jax.shard_map(
            block,
            mesh=mesh,
            in_specs=(P(), P("voxels"), P("voxels")),
            out_specs=P("voxels"),
            check_vma=False,
        )
    )
    out_struct = jax.eval_shape(
        run,
        key_arg,
        jax.ShapeDtypeStruct((chunk,), jnp.int32, sharding=sharded),
        jax.ShapeDtypeStruct((chunk, n), x_dtype, sharding=sharded),
    )
    leaves, treedef = jax.tree.flatten(out_struct)
    outputs = [
        np.full(
            (int(np.prod(spatial)), *leaf.shape[1:]),
            fill_value if jnp.issubdtype(leaf.dtype, jnp.inexact) else 0,
            dtype=leaf.dtype,
        )
        for leaf in leaves
    ]

    def dispatch(start):
        sel = idx[start : start + chunk]
        count = sel.shape[0]
        sel_padded = np.concatenate([sel, np.full(chunk - count, sel[0], np.int32)])
        x = np.asarray(flat[sel_padded], dtype=x_dtype)
        out = run(key_arg, jax.device_put(sel_padded, sharded), jax.device_put(x, sharded))
        return out, sel, count

    def collect(pending):
        out, sel, count = pending
        for dst, leaf in zip(outputs, jax.tree.leaves(out), strict=True):
            dst[sel] = np.asarray(leaf)[:count]

    pending = None
    for start in range(0, num, chunk):
        nxt = dispatch(start)
        if pending is not None:
            collect(pending)
        pending = nxt
    collect(pending)
    return jax.tree.unflatten(treedef, [o.reshape(*spatial, *o.shape[1:]) for o in outputs])
