"""The import graph of gradlab: one direction, no circle, every import at the top of its module.

Parsed with ``ast`` (nothing is imported): an arrow ``A -> B`` for each import in ``A`` of a
gradlab module ``B``, and to each package ``B`` lies in that ``A`` does not (its ``__init__``
runs first).  A circle hidden by an import inside a function is still a circle,
so imports of gradlab modules inside functions are refused outright.  Other packages may be
imported where they are needed: the optional peers (dask, mpmath, scipy, numdifftools, torch,
jax) must be, since gradlab works without them.
"""

import ast
import functools
import sys
from pathlib import Path

import gradlab

ROOT = Path(gradlab.__file__).parent


#: packages gradlab may import inside a function: the optional peers, which it must work without,
#: and two dependencies of single features kept off the import of gradlab (progress bars, BLAS pinning)
LAZY_PEERS = {"dask", "distributed", "cloudpickle", "mpmath", "scipy", "numdifftools", "torch", "jax"}
LAZY_DEPENDENCIES = {"tqdm", "threadpoolctl"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


@functools.cache
def _tree(path: Path) -> ast.Module:
    """The parsed module, once per session: four tests walk every file (parsing is most of their cost)."""
    return ast.parse(path.read_text())


def _package(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


def _targets(module: str, node: ast.AST) -> list[str]:
    """The gradlab modules an import statement names (``from . import stencil``: the submodule)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "gradlab"]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = _package(module)
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        base = f"{base}.{node.module}" if node.module else base
    elif (node.module or "").split(".")[0] == "gradlab":
        base = node.module
    else:
        return []
    subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
    return subs if len(subs) == len(node.names) else [base, *subs]


@functools.cache  # two tests read it; neither changes it
def _graph() -> dict[str, set[str]]:
    """Every import, wherever it stands: one inside a function closes a circle as surely."""
    graph = {}
    for name, path in MODULES.items():
        arrows = set()
        for node in ast.walk(_tree(path)):
            for target in _targets(name, node):
                arrows.add(target)
                parent = target.rpartition(".")[0]
                while parent and not (name == parent or name.startswith(parent + ".")):
                    arrows.add(parent)
                    parent = parent.rpartition(".")[0]
        graph[name] = {t for t in arrows if t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == "open":
                return [*stack[stack.index(m) :], m]
            if m not in state and (found := visit(m)):
                return found
        state[n] = "done"
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_every_import_names_a_module_that_exists():
    missing = {(a, b) for a, arrows in _graph().items() for b in arrows if b not in MODULES}
    assert not missing


def test_the_import_graph_has_no_circle():
    assert _cycle(_graph()) is None


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_gradlab_module_is_imported_inside_a_function():
    lazy = []
    for name, path in MODULES.items():
        for fn in ast.walk(_tree(path)):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if _targets(name, node):
                    lazy.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert not lazy, "imports of gradlab modules inside functions: " + ", ".join(lazy)


def test_inside_functions_only_the_listed_peers_and_the_standard_library_are_imported():
    others = set()
    for path in MODULES.values():
        for fn in ast.walk(_tree(path)):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(fn):
                    if isinstance(node, ast.Import):
                        others |= {a.name.split(".")[0] for a in node.names}
                    elif isinstance(node, ast.ImportFrom) and not node.level:
                        others.add(node.module.split(".")[0])
    unlisted = others - LAZY_PEERS - LAZY_DEPENDENCIES - set(sys.stdlib_module_names) - {"gradlab"}
    assert not unlisted, f"imported inside a function, and neither an optional peer nor listed: {sorted(unlisted)}"
