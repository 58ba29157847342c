"""The README runs as written: every Python block, in order, and what it claims is what it prints.

Every fenced block labelled ``python`` or ``py`` is run, each as a script (``__name__ ==
"__main__"``) in a namespace of its own.  An HTML comment on the line before the fence,
``<!-- readme-test: ... -->``, says what a block needs (invisible on the rendered page):

- ``continues`` -- the block runs after the previous Python block, in its namespace
  (a snippet that goes on from the one above it, as a reader does);
- ``needs MODULE`` -- skipped, naming the module, where it is not installed (an optional extra);
- ``cluster ADDRESS`` -- the block connects to a cluster at ``ADDRESS``: the test starts a
  local one and runs the block with its address in that place;
- ``slow`` -- the block takes seconds (it starts worker processes): its run carries the
  ``slow`` marker, so plain ``pytest`` leaves it to ``pytest -m slow`` (which CI runs).

No other block is skipped, and a fence with no language must not hold Python.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from gradlab.check.directional import PROJECTION_EVALUATIONS
from gradlab.check.probe import FAST_PROBE_EVALUATIONS, PROBE_EVALUATIONS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text()

FENCE = re.compile(
    r"^(?P<directive><!-- readme-test: (?P<what>.*?) -->\n)?```(?P<lang>\w*)\n(?P<code>.*?)^```", re.S | re.M
)


@dataclass(frozen=True)
class Block:
    index: int  # among the Python blocks, from 0
    line: int
    section: str
    code: str
    directives: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.index}-{re.sub(r'[^a-z]+', '-', self.section.lower()).strip('-')}"

    def directive(self, word: str) -> list[str]:
        return [d.split(None, 1)[1] for d in self.directives if d.split()[0] == word]


def _section(pos: int) -> str:
    heads = re.findall(r"^#+ (.*)$", TEXT[:pos], re.M)
    return heads[-1] if heads else "top"


def _fences():
    for m in FENCE.finditer(TEXT):
        yield m, TEXT.count("\n", 0, m.start("code")) + 1


def python_blocks() -> list[Block]:
    out = []
    for m, line in _fences():
        if m["lang"] in ("python", "py"):
            directives = tuple(d.strip() for d in (m["what"] or "").split(";") if d.strip())
            out.append(Block(len(out), line, _section(m.start()), m["code"], directives))
    return out


BLOCKS = python_blocks()
KNOWN = {"continues", "needs", "cluster", "slow"}


def test_the_readme_blocks_are_found_and_every_directive_is_known():
    assert [b.section for b in BLOCKS] == [
        "In Python",
        "Check your own backprop",
        "Notebooks",
        "torch `autograd.Function` and jax `custom_vjp`, in one call",
        "torch `autograd.Function` and jax `custom_vjp`, in one call",
        "The `adaptive` backend",
        "Forward mode: `forward_ad`",
        "Second order",
        "On many cores or a cluster",
        "Beyond the MLP",
        "Gradient checks in your own test suite",
    ]
    for b in BLOCKS:
        assert {d.split()[0] for d in b.directives} <= KNOWN, (b.id, b.directives)
    assert "continues" not in BLOCKS[0].directives


def test_a_fence_without_a_language_holds_no_python():
    """So that no Python snippet escapes the run below by losing its label."""
    for m, line in _fences():
        if m["lang"] == "":
            with pytest.raises(SyntaxError):
                compile(m["code"], f"README.md:{line}", "exec")


@contextlib.contextmanager
def _cluster(address: str, code: str):
    """``code`` with ``address`` replaced by that of a local in-process cluster, while it runs."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        assert address in code
        yield code.replace(address, cluster.scheduler_address)


def _close_clients(namespace: dict) -> None:
    """Close the clients a block opened (a script's exit would), so that none outlives its cluster."""
    from distributed import Client

    for value in namespace.values():
        if isinstance(value, Client):
            value.close()


@functools.cache
def run(block: Block) -> dict:
    """Run ``block`` (after the blocks it continues) as README.md's code; return its namespace
    (once per session: the tests below only read it)."""
    namespace = dict(run(BLOCKS[block.index - 1])) if "continues" in block.directives else {"__name__": "__main__"}
    for module in block.directive("needs"):
        pytest.importorskip(module, reason=f"README block {block.id} (line {block.line}) needs {module}")
    code = "\n" * (block.line - 1) + block.code  # tracebacks point at README.md's own lines
    with contextlib.ExitStack() as stack:
        for address in block.directive("cluster"):
            code = stack.enter_context(_cluster(address, code))
            stack.callback(_close_clients, namespace)  # before the cluster stops (callbacks run last in, first out)
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        CLAIMS[block.index] = _execute(code, namespace)
    return namespace


def _claim(stmt: ast.stmt, lines: list[str]) -> tuple | None:
    """``(value,)`` when ``stmt`` is an expression whose comment begins with a Python literal
    (``net.params(g)["W1"].shape  # (16, 4): named views``), else ``None``."""
    if not isinstance(stmt, ast.Expr) or stmt.lineno != stmt.end_lineno:
        return None
    line = lines[stmt.lineno - 1]
    if "  # " not in line:
        return None
    comment = line.split("  # ", 1)[1]
    for text in (comment, comment.split(":")[0]):
        try:
            return (ast.literal_eval(text.strip()),)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return None


def _execute(code: str, namespace: dict) -> list[tuple[int, object]]:
    """Run ``code`` statement by statement; an expression whose comment states a literal value
    must evaluate to it, there and then.  Returns the ``(line, value)`` claims checked."""
    lines = code.splitlines()
    checked = []
    for stmt in ast.parse(code, str(README)).body:
        claim = _claim(stmt, lines)
        if claim is None:
            exec(compile(ast.Module([stmt], type_ignores=[]), str(README), "exec"), namespace)  # noqa: S102
            continue
        value = eval(compile(ast.Expression(stmt.value), str(README), "eval"), namespace)  # noqa: S307
        same = np.array_equal(value, claim[0]) if isinstance(value, np.ndarray) else value == claim[0]
        assert same, (
            f"README.md line {stmt.lineno}: {ast.unparse(stmt.value)} is {value!r}; its comment says {claim[0]!r}"
        )
        checked.append((stmt.lineno, claim[0]))
    return checked


CLAIMS: dict[int, list[tuple[int, object]]] = {}


@pytest.mark.parametrize(
    "block", [pytest.param(b, id=b.id, marks=[pytest.mark.slow] if "slow" in b.directives else []) for b in BLOCKS]
)
def test_every_python_block_runs_as_written(block):
    run(block)


# -- what the blocks claim ---------------------------------------------------------------------


def test_literal_claims_in_comments_are_checked():
    """The comments that state a value (``# (True, 49)``, ``# (16, 4)``, the backend list) are
    compared with what the line gives; prose comments are not claims."""
    run(BLOCKS[0]), run(BLOCKS[1])
    values = [value for _, value in CLAIMS[0] + CLAIMS[1]]
    assert (16, 4) in values and (True, 49) in values
    assert ["forward", "central", "backprop", "richardson", "complex_step", "adaptive", "forward_ad"] in values


def test_forward_mode_claims_are_checked():
    block = next(b for b in BLOCKS if b.section == "Forward mode: `forward_ad`")
    run(block)
    values = [value for _, value in CLAIMS[block.index]]
    assert (403, 0) in values and [3.43, -0.87, 0.52] in values and values.count(True) == 4


def test_quick_start_claims():
    ns = run(BLOCKS[0])
    assert ns["r"].evaluations == 2 * ns["net"].n_params == 806  # the comment's figure
    assert ns["result"].passed
    quick = ns["quick"]
    assert quick.mode == "fast" and quick.evaluations == FAST_PROBE_EVALUATIONS + PROJECTION_EVALUATIONS * len(
        quick.directions
    )
    assert len(quick.directions) == 1 and quick.evaluations == 3  # the comment's figure


def test_beyond_the_mlp_claims():
    block = next(b for b in BLOCKS if b.section == "Beyond the MLP")
    ns = run(block)
    assert ns["model"].n_params == 4 * 9 + 4 + 36 * 10 + 10  # the contract's CNN
    assert ns["g"].shape == ns["theta"].shape
    assert len(CLAIMS[block.index]) == 3  # the block names, the passed check, the failed check and its blocks


def test_check_your_own_backprop_claims():
    own = run(BLOCKS[1])
    layer, (x, w, b) = own["layer"], (own["x"], own["w"], own["b"])
    # (True, 49): central differences, 2 per entry, and the 9 evaluations that know f first
    assert layer.passed and layer.evaluations == 2 * (x.size + w.size + b.size) + PROBE_EVALUATIONS == 49
    assert "(True, 49)" in BLOCKS[1].code
    shown = TEXT.split("## Check your own backprop")[1].split("## Backends")[0]
    for check in (own["net_check"], own["layer_check"]):
        assert check.status == "failed"
        lines = check.message().splitlines()
        worst = next(line for line in lines if line.startswith("worst entry"))
        assert worst in shown
        assert f"{check.evaluations} evaluations" in lines[0] and f"{check.evaluations} evaluations" in shown
    counts = (own["net_check"].evaluations, own["layer_check"].evaluations)
    assert f"{counts[0]} and {counts[1]} evaluations" in shown


def test_adaptive_claims():
    r = run(next(b for b in BLOCKS if b.section == "The `adaptive` backend"))["r"]
    exact = np.exp(-700.0)
    rel = abs(float(r.gradient[0]) - exact) / exact
    assert rel <= 3e-13 and r.evaluations == 11  # "within ~3e-13 ..., 11" (measured: 2.8e-14)
    assert float(r.error[0]) >= abs(float(r.gradient[0]) - exact)  # "a bound on that error"


# -- the dependency list -----------------------------------------------------------------------


def _requirement_name(spec: str) -> str:
    return re.match(r"[A-Za-z0-9_.-]+", spec.strip())[0].lower().replace("_", "-")


def _pyproject_dependencies() -> set[str]:
    if sys.version_info >= (3, 11):
        import tomllib

        deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    else:  # Python 3.10: the list literal, one requirement per line
        body = re.search(r"^dependencies = \[(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.S | re.M)[1]
        deps = re.findall(r'"([^"]+)"', body)
    return {_requirement_name(d) for d in deps}


def test_the_dependency_list_is_pyprojects():
    sentence = re.search(r"Dependencies \(those of `pyproject.toml`[^)]*\):\s*(.*?)\.\s", TEXT, re.S)[1]
    without_notes = re.sub(r"\([^)]*\)", "", sentence)
    named = {n.strip().lower() for n in re.split(r",|\band\b", without_notes) if n.strip()}
    assert named == _pyproject_dependencies()
