"""The architecture's rules, read from the source (docs/architecture.md, "Packages, lowest layer
first"): each package imports only packages of lower layers; no import circle between modules;
no library package imports the experiments; no private name crosses a package boundary."""

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "jaxsbi"

# The layer table of docs/architecture.md: a package may import only strictly lower layers.
LAYERS = {
    "base": 0,
    "compilation": 1,
    "distributions": 1,
    "nn": 1,
    "diffusion": 1,
    "train": 1,
    "diagnostics": 1,
    "tasks": 2,
    "ratio": 3,
    "mcmc": 3,
    "likelihood_free": 3,
    "sequential": 4,
    "prism": 4,
    "evidence": 4,
    "hpo": 5,
    "dmri": 5,
    "experiments": 6,
    "cli": 7,
    "__main__": 8,
    "__init__": 7,
}


def _modules():
    """{module name: (package, parsed tree)} for every module of src/jaxsbi."""
    out = {}
    for f in sorted(SRC.rglob("*.py")):
        parts = f.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = "__init__" if name == "jaxsbi" else parts[1]
        out[name] = (package, ast.parse(f.read_text(), str(f)))
    return out


MODULES = _modules()


def _package(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _imports(tree, *, top_level_only=False):
    """(imported module, names) for each jaxsbi import; function-level ones too unless told."""
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxsbi"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                yield (sub if sub in MODULES else node.module), alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("jaxsbi"):
                    yield alias.name, None


def test_every_package_has_a_layer():
    assert {p for p, _ in MODULES.values()} == set(LAYERS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module):
    package, tree = MODULES[module]
    bad = []
    for target, _ in _imports(tree):
        if module == "jaxsbi":
            continue  # the front door re-exports everything
        other = _package(target)
        if other != package and LAYERS[other] >= LAYERS[package]:
            bad.append(f"{target} (layer {LAYERS[other]})")
    assert not bad, f"{module} (layer {LAYERS[package]}) imports {bad}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_crosses_a_package(module):
    package, tree = MODULES[module]
    bad = [
        f"{target}.{name}"
        for target, name in _imports(tree)
        if name
        and name.startswith("_")
        and not name.startswith("__")
        and _package(target) != package
    ]
    assert not bad, f"{module} imports private names of another package: {bad}"


def test_no_import_circle():
    """Module-level imports (what runs at import time) form no cycle."""
    graph = {
        m: {t for t, _ in _imports(tree, top_level_only=True) if t in MODULES and t != m}
        for m, (_, tree) in MODULES.items()
    }
    # A package's __init__ re-exporting its own submodules is not a circle: drop the edges from a
    # submodule to its own package __init__'s exports (they resolve to submodules anyway).
    for m in graph:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == "open":
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, f"import circles: {cycles}"


def test_modules_stay_under_500_lines():
    long = {
        str(f.relative_to(SRC)): n
        for f in SRC.rglob("*.py")
        if (n := len(f.read_text().splitlines())) > 500
    }
    assert not long, f"split these by concept: {long}"
