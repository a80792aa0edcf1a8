"""Every file an experiment stage writes goes through a temporary name and a rename."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from jaxsbi.experiments import run_folder
from jaxsbi.experiments.run_folder import atomic_path, atomic_write_text, save_figure, write_json

EXPERIMENTS = Path(run_folder.__file__).parent
WRITERS = {"savefig", "write_text", "write_bytes", "savez", "savez_compressed", "to_netcdf"}


def test_a_failed_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "samples.npz"
    np.savez(target, theta=np.zeros(3))
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a file")
            raise RuntimeError("killed mid-write")
    assert np.array_equal(np.load(target)["theta"], np.zeros(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.npz"]


def test_a_kill_before_the_rename_keeps_the_previous_json(tmp_path, monkeypatch):
    path = write_json(tmp_path / "metrics.json", {"c2st": 0.5})
    monkeypatch.setattr(run_folder.os, "replace", lambda *a: (_ for _ in ()).throw(OSError()))
    with pytest.raises(OSError):
        write_json(path, {"c2st": 0.9})
    assert json.loads(path.read_text()) == {"c2st": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_helpers_write_complete_files(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    assert save_figure(fig, tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    plt.close(fig)
    assert atomic_write_text(tmp_path / "t.md", "x\n").read_text() == "x\n"
    with atomic_path(tmp_path / "a.npz") as tmp:
        np.savez(tmp, a=np.arange(3))  # the suffix is kept: numpy appends nothing
    assert np.array_equal(np.load(tmp_path / "a.npz")["a"], np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "f.png", "t.md"]


def _bare_writes(path: Path) -> list[str]:
    """Writer calls whose target is not a temporary from atomic_path (named ``tmp``)."""
    tree = ast.parse(path.read_text())
    bad = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in WRITERS:
            continue
        # path.write_text(...): the receiver is the target; np.savez(tmp, ...), fig.savefig(tmp)
        target = node.func.value if node.func.attr.startswith("write_") else (
            node.args[0] if node.args else None)
        if not (isinstance(target, ast.Name) and target.id == "tmp") and not (
            isinstance(target, ast.Call) and getattr(target.func, "id", "") == "str"
            and isinstance(target.args[0], ast.Name) and target.args[0].id == "tmp"
        ):
            bad.append(f"{path.relative_to(EXPERIMENTS)}:{node.lineno} {ast.unparse(node)[:60]}")
    return bad


def test_no_experiment_writes_a_file_in_place():
    bad = [b for p in sorted(EXPERIMENTS.rglob("*.py")) for b in _bare_writes(p)]
    assert not bad, "write through run_folder.atomic_path / atomic_write_text:\n" + "\n".join(bad)
