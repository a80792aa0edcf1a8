"""The persistent compilation cache: a second process reads what the first compiled."""

import os
import subprocess
import sys

from jaxsbi.compilation import default_cache_dir, enable_compilation_cache

SCRIPT = """
import jax, jax.numpy as jnp
from jax._src import monitoring
from jaxsbi.compilation import enable_compilation_cache
hits = []
monitoring.register_event_listener(
    lambda name, **kw: hits.append(name) if name.endswith("cache_hits") else None)
assert enable_compilation_cache({path!r}, min_compile_time_s=0.0) is not None

@jax.jit
def f(x):
    for _ in range(20):
        x = jnp.tanh(x @ x.T + 1.0)
    return x.sum()

f(jnp.ones((64, 64))).block_until_ready()
print("HITS", len(hits))
"""


def _run(path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(path=str(path))],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )
    return int(out.stdout.split("HITS")[-1])


def test_second_process_reads_the_cache(tmp_path):
    cache = tmp_path / "xla"
    assert _run(cache) == 0  # cold: compiles and writes
    assert any(cache.iterdir())
    assert _run(cache) >= 1  # warm: the executable comes from disk


def test_cache_folder_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXSBI_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.setenv("JAXSBI_CACHE_DIR", "off")
    assert default_cache_dir() is None
    assert enable_compilation_cache() is None
    monkeypatch.delenv("JAXSBI_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "jaxsbi" / "xla"


def test_unwritable_folder_disables_instead_of_failing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert enable_compilation_cache(blocker / "sub") is None
