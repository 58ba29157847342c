"""Backends own how they are drawn and counted: outside ``gradlab/backends/`` (and the checker,
``gradlab/check/``, cleaned on its own) nothing asks a backend what kind or class it is.

The scan is by ``ast``: a comparison of ``X.kind`` with a built-in kind, ``names(kind=...)``,
``isinstance``/``issubclass`` against a backend class, or ``X.order is (not) None`` (which
stood for "chooses its own steps").  Each is what a new kind of backend would fall through.
"""

import ast
from pathlib import Path

import pytest

import gradlab
from gradlab.backends import PALETTE, all_backends, get
from gradlab.backends.base import KINDS
from gradlab.report.style import OBJECTIVE_STYLE, evaluations_label, style_of

ROOT = Path(gradlab.__file__).parent
OWNERS = ("backends", "check")  # where a backend's kind and class may be read
CLASSES = {"DifferenceScheme", "Richardson", "ComplexStep", "Adaptive", "Analytic"}


def _name(node) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def switches(source: str) -> list[tuple[int, str]]:
    """Where ``source`` tests a backend's kind, class or missing order."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            consts = {
                c.value
                for s in sides
                for c in ([s] if isinstance(s, ast.Constant) else getattr(s, "elts", []))
                if isinstance(c, ast.Constant)
            }
            if any(isinstance(s, ast.Attribute) and s.attr == "kind" for s in sides) and consts & set(KINDS):
                found.append((node.lineno, "compares .kind with a backend kind"))
            if any(isinstance(s, ast.Attribute) and s.attr == "order" for s in sides) and any(
                isinstance(op, ast.Is | ast.IsNot) for op in node.ops
            ):
                found.append((node.lineno, "tests .order is None"))
        elif isinstance(node, ast.Call):
            if _name(node.func) in ("isinstance", "issubclass") and len(node.args) == 2:
                second = node.args[1]
                named = {_name(n) for n in ast.walk(second)}
                if named & CLASSES:
                    found.append((node.lineno, f"isinstance against {sorted(named & CLASSES)}"))
            if _name(node.func) == "names" and any(k.arg == "kind" for k in node.keywords):
                found.append((node.lineno, "names(kind=...)"))
    return found


def test_the_scan_finds_every_pattern_it_looks_for():
    source = """
if b.kind == "complex": pass
if backend.kind in ("analytic", "difference"): pass
if b.order is None: pass
if b.order is not None: pass
ok = isinstance(impl, DifferenceScheme)
ok = isinstance(impl, (ComplexStep, int))
xs = names(kind="difference")
"""
    assert [line for line, _ in switches(source)] == [2, 3, 4, 5, 6, 7, 8]
    # not a backend's kind: a dtype's, a leaf's, a parameter's; an order that is a number
    assert switches("a.dtype.kind in 'fc'\nleaf.kind == 'numpy'\ns.order + 1\nisinstance(b, Backend)") == []


def test_no_kind_class_or_order_switch_outside_the_backends():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.relative_to(ROOT).parts[0] in OWNERS:
            continue
        offenders += [f"{path.relative_to(ROOT.parent)}:{line}: {what}" for line, what in switches(path.read_text())]
    assert not offenders, "\n".join(offenders)


def test_the_fallback_palette_poses_as_no_backend():
    own = {b.style.color for b in all_backends() if b.style is not None} | {OBJECTIVE_STYLE.color}
    assert "#e7298a" == get("adaptive").drawn.color and not own & set(PALETTE)
    for name in ("numdifftools", "scipy", "jax", "torch", "my_scheme"):
        assert style_of(name).color in PALETTE and style_of(name).label == name


@pytest.mark.parametrize(
    "name, label",
    [
        ("forward", "forward: n + 1"),
        ("central", "central: 2n"),
        ("richardson", "richardson: 4n"),
        ("complex_step", "complex step: n complex + 4 real"),
        ("adaptive", "adaptive: at most 44n + 1"),
        ("backprop", "backprop: 1 forward + 1 backward pass"),
    ],
)
def test_each_backend_states_its_own_count_and_model(name, label):
    b = get(name)
    assert evaluations_label(name) == label
    legend = {"forward": "C_t·h + C_r·ε/h", "central": "C_t·h² + C_r·ε/h", "richardson": "C_t·h⁴ + C_r·ε/h"}
    legend |= {"complex_step": "C_t·h² + ε·|g|", "adaptive": "", "backprop": ""}
    assert b.legend() == legend[name]
    slopes = {"forward": (1, -1), "central": (2, -1), "richardson": (4, -1), "complex_step": (2, 0)}
    if name in slopes:
        assert b.expected_slopes == slopes[name]
    assert b.own_steps == (name == "adaptive") and b.has_step == (name != "backprop")
