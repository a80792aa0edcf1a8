"""Compile once per machine: JAX's persistent compilation cache, on by default for ``jaxsbi``.

XLA compilation is most of a short run's wall time on a CPU (training 17 s of which 7.6 s is
compilation, one observation's first sampling call 5.6 s against 0.75 s steady; issue 25's
measurements). With the persistent cache, a second process that compiles the same functions
for the same shapes reads the executables from disk instead.

:func:`enable_compilation_cache` turns it on for this process: the folder is ``directory``, else
the environment variable ``JAXSBI_CACHE_DIR``, else ``~/.cache/jaxsbi/xla``
(``$XDG_CACHE_HOME/jaxsbi/xla`` when that is set); ``JAXSBI_CACHE_DIR=off`` (or ``0``, ``none``)
disables it. ``jaxsbi run`` and ``jaxsbi bench`` call it before any compilation; a library user
calls it once at the top of a script. Entries are keyed by the computation, the shapes, the jax
version and the device, so a stale entry is never used: a change to any gives a new key.

Example:
    >>> import jaxsbi as js
    >>> js.enable_compilation_cache()  # doctest: +SKIP
    PosixPath('/home/me/.cache/jaxsbi/xla')
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

__all__ = ["enable_compilation_cache", "default_cache_dir"]

_OFF = {"off", "0", "none", "false", ""}


def default_cache_dir() -> Path | None:
    """The folder :func:`enable_compilation_cache` uses without an argument (None: disabled)."""
    env = os.environ.get("JAXSBI_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in _OFF else Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxsbi" / "xla"


def enable_compilation_cache(
    directory: str | Path | None = None, *, min_compile_time_s: float = 0.5
) -> Path | None:
    """Turn on JAX's persistent compilation cache for this process.

    Args:
        directory: the cache folder (created if needed); default :func:`default_cache_dir`.
        min_compile_time_s: only computations that took at least this long to compile are
            written (tiny ones cost more to read than to compile).

    Returns:
        the folder in use, or None when disabled (``JAXSBI_CACHE_DIR=off``) or when the folder
        cannot be created or written (then the run goes on without the cache; nothing fails).
    """
    path = Path(directory).expanduser() if directory is not None else default_cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write_test_{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_s))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
