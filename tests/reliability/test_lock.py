"""One run per folder: ``run_dir/.lock`` (``run_folder.run_lock``) and the CLI's use of it."""

import json
import os
import socket
import subprocess
import sys

import pytest

from jaxsbi.cli import main
from jaxsbi.experiments.config import ConfigError
from jaxsbi.experiments.run_folder import LOCK_NAME, run_lock

HOLD = """
import sys
from jaxsbi.experiments.run_folder import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_second_holder_is_refused_with_the_holders_pid(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"PID {holder.pid}\b"):
            with run_lock(tmp_path):
                pass
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0
    assert not (tmp_path / LOCK_NAME).exists()
    with run_lock(tmp_path):  # free again
        pass


def test_the_cli_refuses_a_locked_folder_before_running(tmp_path, capsys, monkeypatch):
    from jaxsbi.experiments import registry

    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        run = tmp_path / "runs" / "tiny"
        run.mkdir(parents=True)
        (run / LOCK_NAME).write_text(
            json.dumps({"pid": sleeper.pid, "host": socket.gethostname()})
        )
        cfg = tmp_path / "tiny.toml"
        cfg.write_text('experiment = "aalr"\n[task]\nname = "two_moons"\n'
                       "[observations]\nvalues = [[0.1, 0.2]]\n")
        called = []
        monkeypatch.setattr(registry, "runner", lambda c: called.append(c))
        assert main(["run", str(cfg), "--output", str(tmp_path / "runs")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and f"PID {sleeper.pid}" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert not called and not (run / "config.json").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_stale_lock_of_a_dead_pid_is_taken_over_with_a_warning(tmp_path):
    pid = _dead_pid()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    with pytest.warns(RuntimeWarning, match=rf"stale run lock \(PID {pid} "):
        with run_lock(tmp_path) as lock:
            assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_held_on_another_host_is_not_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": _dead_pid(), "host": "elsewhere"}))
    with pytest.raises(ConfigError, match="on elsewhere"):
        with run_lock(tmp_path):
            pass


def test_the_lock_is_released_after_an_exception(tmp_path):
    with pytest.raises(KeyError):
        with run_lock(tmp_path):
            assert (tmp_path / LOCK_NAME).exists()
            raise KeyError("boom")
    assert not (tmp_path / LOCK_NAME).exists()
