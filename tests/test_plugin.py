"""The pytest plugin (gradlab/testing/plugin.py) on a sample project run by pytester.

The runs are in-process (a fraction of a second each) except the one under pytest-xdist.  Each
names the plugin as ``-p no:gradlab -p gradlab.testing.plugin``: the entry point registers it
only once gradlab is reinstalled, and where it is, the ``no:`` keeps it from loading twice.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import gradlab
from gradlab.testing import plugin

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ("-p", "no:gradlab", "-p", "gradlab.testing.plugin", "-p", "no:cacheprovider")
SUMMARY = re.compile(
    r"^gradcheck: (\d+) checks, (\d+) passed, (\d+) failed, (\d+) inconclusive; ([\d,]+) evaluations$", re.M
)


# the functions of the sample project, defined here too (the sample gets their source): what the
# plugin reports is checked against gradlab itself
def f(x):
    return float(np.sum(x * np.sin(x)))


def grad(x):
    return np.sin(x) + x * np.cos(x)


def buggy(x):  # the product rule's second term dropped where x > 2
    return np.sin(x) + np.where(x > 2, 0.0, x * np.cos(x))


def layer(d):
    return f(d["W"]) + 2.0 * f(d["b"])


def layer_grad(d):  # the bug is in W's gradient only
    return {"W": buggy(d["W"]), "b": 2.0 * grad(d["b"])}


FUNCTIONS = "import numpy as np\n\n\n" + "\n\n".join(
    inspect.getsource(fn) for fn in (f, grad, buggy, layer, layer_grad)
)

SAMPLE = """
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from gradlab.testing import strategies as gst
from functions import f, grad, buggy, layer, layer_grad

POINT = np.array([0.5, -1.5, 2.5])


def test_correct(gradcheck):
    result = gradcheck(f, POINT, grad=grad)
    assert result.passed and gradcheck.results == [result]


@pytest.mark.gradcheck(rtol=1e-5, seed=3)
def test_marker_defaults(gradcheck):
    assert gradcheck(f, POINT, grad=grad).rtol == 1e-5
    assert gradcheck(f, POINT, grad=grad, rtol=1e-6).rtol == 1e-6  # the call's own option wins


def test_planted_bug(gradcheck):
    gradcheck(layer, {"W": POINT, "b": np.array([0.25])}, grad=layer_grad)


# the fixture's only state is the list of results, which may well grow across examples
@settings(max_examples=4, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=gst.points((2,), magnitude=1.5))
def test_given(gradcheck, x):
    gradcheck(f, x, grad=grad)


def noisy(x, rng=np.random.default_rng(0)):
    return f(x) + 1e-12 * rng.normal()


def test_random_f(gradcheck):  # a verdict that could not be reached is not a pass
    gradcheck(noisy, np.array([0.5, 1.5]), grad=grad)


def test_random_f_judged_with_its_noise(gradcheck):
    gradcheck(noisy, np.array([0.5, 1.5]), grad=grad, noise=1e-11)


@pytest.mark.gradcheck(rtol=-1.0)
def test_bad_marker_value(gradcheck):
    pass


@pytest.mark.gradcheck(grad=grad)
def test_marker_with_a_rule(gradcheck):
    pass


@pytest.mark.gradcheck(1e-5)
def test_marker_positional(gradcheck):
    pass


@pytest.mark.gradcheck(rtoll=1e-5)
def test_marker_misspelt(gradcheck):
    pass
"""


SWITCHED = """
import numpy as np
import pytest
from functions import f, grad

POINT = np.linspace(-2.0, 2.0, 12)

def test_plain(gradcheck):
    gradcheck(f, POINT, grad=grad)

def test_own_choice(gradcheck):
    gradcheck(f, POINT, grad=grad, fast=False)
    gradcheck(f, POINT, grad=grad, fast=True)

@pytest.mark.gradcheck(fast=True)
def test_marker(gradcheck):
    gradcheck(f, POINT, grad=grad)
    gradcheck(f, POINT, jvp=lambda x, v: float(grad(x) @ v))  # the marker's fast is not for a forward rule

def test_forward_rule(gradcheck):  # a forward rule is always checked along directions: fast stays unset
    gradcheck(f, POINT, jvp=lambda x, v: float(grad(x) @ v))
"""


@pytest.fixture
def project(pytester):
    pytester.makepyfile(functions=FUNCTIONS, test_sample=SAMPLE, test_switched=SWITCHED)
    return pytester


def _summary(result) -> tuple[int, ...]:
    found = SUMMARY.findall(result.stdout.str())
    assert len(found) == 1, result.stdout.str()
    return tuple(int(n.replace(",", "")) for n in found[0])


def _records(result) -> dict[str, list[str]]:
    """Each test's gradcheck records, from its call report (what junitxml and xdist carry)."""
    out = {}
    for rep in result.reprec.getreports("pytest_runtest_logreport"):
        if rep.when == "call":
            out[rep.nodeid.split("::")[-1]] = [value for name, value in rep.user_properties if name == "gradcheck"]
    return out


RECORD = re.compile(r"^(passed|failed|inconclusive), (.+) check, (\d+) evaluations$")


def _parse(record: str) -> tuple[str, str, int]:
    """``(status, mode, evaluations)`` of one record, as the plugin writes it."""
    m = RECORD.match(record)
    assert m, record
    return m[1], m[2], int(m[3])


def _spent(result: gradlab.GradcheckResult) -> int:
    return result.evaluations + (result.taylor.evaluations if result.taylor is not None else 0)


def test_sample_project(project):
    result = project.runpytest(*PLUGIN, "--strict-markers", "test_sample.py")
    result.assert_outcomes(passed=4, failed=2, errors=4)
    out = result.stdout.str()

    # the planted bug: gradlab's own report is the explanation, cut to the failing block
    bug = gradlab.gradcheck(layer, {"W": np.array([0.5, -1.5, 2.5]), "b": np.array([0.25])}, grad=layer_grad)
    assert bug.status == "failed"
    head = bug.message().splitlines()[0]
    result.stdout.fnmatch_lines(
        [
            "*def test_planted_bug(gradcheck):",
            f"E * {head}",
            "E * worst entry W[[]2[]]: analytic *, numeric *",
            "E * failing blocks: W (1/3 entries)",
            "E * block * status *passed",
            "E * W * failed * False",
            "E * (1 block passed, not shown: b)",
        ]
    )
    assert not re.search(r"^E\s+b\s+1\s", out, re.M)  # the passing block's row is left out

    # an unseeded random f: inconclusive, and the test fails saying so
    result.stdout.fnmatch_lines(
        [
            "*def test_random_f(gradcheck):*",
            "E * gradcheck INCONCLUSIVE: *",
            "E * f is random*",
            "E * (the gradcheck fixture fails a test whose check is inconclusive*",
        ]
    )
    # marker options validated as gradcheck validates them, at the test's setup
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_bad_marker_value*",
            "@pytest.mark.gradcheck: `rtol` must be a positive finite float; got -1.0",
            "*ERROR at setup of test_marker_with_a_rule*",
            "@pytest.mark.gradcheck: `grad` belongs to each call, gradcheck(f, x, grad=...)*",
            "*ERROR at setup of test_marker_positional*",
            "@pytest.mark.gradcheck takes keyword options only, such as rtol=1e-5; got (1e-05,)",
            "*ERROR at setup of test_marker_misspelt*",
            "@pytest.mark.gradcheck: `rtoll` is not an option of gradcheck (accept_unverified, atol, *)",
        ]
    )

    # the summary line counts every check: 1 + 2 + 1 + 4 (the hypothesis examples) + 1 + 1
    records = _records(result)
    tests = ("test_correct", "test_marker_defaults", "test_planted_bug", "test_given", "test_random_f")
    assert [len(records[t]) for t in tests] == [1, 2, 1, 4, 1]
    assert records["test_random_f"][0].startswith("inconclusive, full check, ")
    assert records["test_random_f_judged_with_its_noise"][0].startswith("passed, full check, ")
    assert records["test_planted_bug"] == [f"failed, full check, {_spent(bug)} evaluations"]
    correct = gradlab.gradcheck(f, np.array([0.5, -1.5, 2.5]), grad=grad)
    assert records["test_correct"] == [f"passed, full check, {_spent(correct)} evaluations"]
    total = sum(_parse(r)[2] for rs in records.values() for r in rs)
    assert _summary(result) == (10, 8, 1, 1, total)


@pytest.mark.parametrize(
    "switch, plain, marker",
    [
        pytest.param((), "full", "fast", marks=pytest.mark.slow),  # the marker's default applies
        (("--gradcheck-fast",), "fast", "fast"),
        pytest.param(("--gradcheck-full",), "full", "full", marks=pytest.mark.slow),  # the switch over the marker
    ],
)
def test_fast_and_full_switches(project, switch, plain, marker):
    result = project.runpytest(*PLUGIN, *switch, "test_switched.py")
    result.assert_outcomes(passed=4)
    records = _records(result)
    mode = {t: [f"{_parse(r)[1]} check" for r in rs] for t, rs in records.items()}
    assert mode["test_plain"] == [f"{plain} check"]
    assert mode["test_own_choice"] == ["full check", "fast check"]  # the call's own fast= over everything
    assert mode["test_marker"][0] == f"{marker} check"
    forward = gradlab.gradcheck(f, np.linspace(-2.0, 2.0, 12), jvp=lambda x, v: float(grad(x) @ v))
    assert mode["test_marker"][1] == mode["test_forward_rule"][0] == f"{forward.mode} check"
    # a fast check that passes costs a few evaluations whatever n; the full one 2n and more
    fast, full = (
        gradlab.gradcheck(f, np.linspace(-2.0, 2.0, 12), grad=grad, fast=True),
        gradlab.gradcheck(f, np.linspace(-2.0, 2.0, 12), grad=grad),
    )
    assert records["test_own_choice"] == [f"passed, full check, {full.evaluations} evaluations"] + [
        f"passed, fast check, {fast.evaluations} evaluations"
    ]
    assert fast.evaluations < 12 < full.evaluations
    assert records["test_plain"] == [
        f"passed, {plain} check, {(fast if plain == 'fast' else full).evaluations} evaluations"
    ]


def test_switches_exclude_each_other(pytester):
    result = pytester.runpytest(*PLUGIN, "--gradcheck-fast", "--gradcheck-full")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gradcheck-fast and --gradcheck-full exclude each other*"])


@pytest.mark.slow
def test_no_summary_line_without_checks(pytester):
    pytester.makepyfile(test_other="def test_nothing():\n    assert True\n")
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=1)
    assert "gradcheck:" not in result.stdout.str()


@pytest.mark.slow
def test_summary_totals_the_xdist_workers(project):
    result = project.runpytest_subprocess(*PLUGIN, "-n", "2", "--dist", "load", "-p", "xdist", "test_sample.py")
    result.assert_outcomes(passed=4, failed=2, errors=4)
    checks, passed, failed, inconclusive, evaluations = _summary(result)
    assert (checks, passed, failed, inconclusive) == (10, 8, 1, 1)
    # the same total as one process spends
    serial = project.runpytest(*PLUGIN, "test_sample.py")
    assert _summary(serial)[4] == evaluations


@pytest.mark.slow
def test_the_readme_test_file_fails_as_shown(pytester):
    """The README's test file, run: its planted bug found, shrunk and reported as the README shows."""
    text = (ROOT / "README.md").read_text().split("## Gradient checks in your own test suite")[1].split("\n## ")[0]
    code = text.split("```python\n")[1].split("```")[0]
    shown = text.split("```\n")[1].split("```")[0]
    pytester.makepyfile(test_layer=code)
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=3, failed=1)
    out = result.stdout.str()
    for line in shown.splitlines():
        if line.startswith("E ") and "object at 0x" not in line:
            assert line in out, line
    found = SUMMARY.findall(out)
    assert len(found) == 1 and int(found[0][2]) >= 1 and int(found[0][3]) == 0


def test_entry_point_in_pyproject():
    tomllib = pytest.importorskip("tomllib")
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["pytest11"] == {"gradlab": "gradlab.testing.plugin"}
    assert any(req.startswith("hypothesis") for req in meta["project"]["optional-dependencies"]["testing"])


def test_entry_point_loads_where_installed(pytester):
    """Once gradlab is (re)installed the fixture is there without -p."""
    from importlib.metadata import entry_points

    if not any(ep.value == "gradlab.testing.plugin" for ep in entry_points(group="pytest11")):
        pytest.skip("gradlab's pytest11 entry point is not installed here (reinstall gradlab)")
    pytester.makepyfile(
        functions=FUNCTIONS,
        test_ep="from functions import f, grad\nimport numpy as np\n"
        "def test_it(gradcheck):\n    gradcheck(f, np.array([0.5]), grad=grad)\n",
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert _summary(result)[:2] == (1, 1)


@pytest.mark.slow
def test_the_entry_point_loads_the_plugin(pytester, monkeypatch):
    """The pytest11 entry point as an installed gradlab declares it (a distribution's metadata on
    the path, naming pyproject's entry point): the fixture is there without -p, and the tests'
    own ``-p no:gradlab -p gradlab.testing.plugin`` loads it once, not twice."""
    tomllib = pytest.importorskip("tomllib")
    ((name, value),) = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][
        "pytest11"
    ].items()
    dist = pytester.path / "site" / "gradlab_entry_point-0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gradlab-entry-point\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text(f"[pytest11]\n{name} = {value}\n")
    monkeypatch.setenv("PYTHONPATH", f"{pytester.path / 'site'}:{ROOT}")
    pytester.makepyfile(
        functions=FUNCTIONS,
        test_ep="import numpy as np\nfrom functions import f, grad\n\n"
        "def test_it(gradcheck):\n    gradcheck(f, np.array([0.5]), grad=grad)\n",
    )
    for args in [(), PLUGIN]:
        result = pytester.runpytest_subprocess(*args)
        result.assert_outcomes(passed=1)
        assert _summary(result)[:2] == (1, 1)


def test_plugin_module_imports_nothing_heavy():
    """pytest loads the plugin into every run where gradlab is installed: at import it needs pytest,
    the standard library and gradlab's checker, never hypothesis or an optional peer."""
    tree = ast.parse(Path(plugin.__file__).read_text())
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            top.add("." * node.level + (node.module or "").split(".")[0])
    assert top == {"__future__", "dataclasses", "inspect", "pytest", "..check"}


@pytest.mark.slow
def test_plugin_import_in_a_fresh_interpreter():
    """What importing the plugin pulls in, measured (gradlab's package __init__ comes with it)."""
    import subprocess

    code = (
        "import sys; import gradlab.testing.plugin; "
        "print(sorted(m for m in ('hypothesis', 'torch', 'jax', 'matplotlib', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_tally_merges_worker_counts():
    tally = plugin.Tally()
    tally.add("passed", 10)
    tally.add("failed", 5)
    tally.merge({"checks": 3, "passed": 1, "failed": 0, "inconclusive": 2, "evaluations": 1234})
    assert tally.line() == "gradcheck: 5 checks, 2 passed, 1 failed, 2 inconclusive; 1,249 evaluations"
