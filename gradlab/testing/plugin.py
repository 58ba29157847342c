"""gradlab's pytest plugin: gradient checks as assertions of your own tests.

Installed with gradlab (entry point ``pytest11: gradlab``), it adds to every pytest run:

- the ``gradcheck`` fixture, called like :func:`gradlab.assert_gradcheck`::

      def test_layer(gradcheck):
          gradcheck(f, x, grad=g)        # or vjp=, jvp=, hvp=, any option of gradlab.gradcheck

  It returns the :class:`~gradlab.GradcheckResult` of a check that passed and fails the test on
  any other verdict, with gradlab's report as the explanation (the failing blocks' table rows,
  the worst entry, the hints).  **An inconclusive verdict fails the test too**: nothing verified
  the gradient, and a test that passes says it was.  The check's own options are the way to
  accept less, visibly: ``accept_unverified=True`` passes entries no reference could measure
  (never one measured off the analytic value), ``noise=`` judges a random ``f``.  Every check is
  recorded: ``gradcheck.results`` (this test's results, in order), ``gradcheck.evaluations``.
- ``@pytest.mark.gradcheck(**options)``: defaults for every check of a test (or of a class or
  module, through ``pytestmark``; the closest marker wins).  It takes the check's settings
  (``reference, h, rtol, atol, fast, directions, sample, seed, noise, accept_unverified,
  max_evaluations, scheduler``), validated by gradcheck's own validation when the test is set
  up: a bad one is an error at the test that names it, before anything is evaluated.  The
  rules to check (``grad=``, ``vjp=``, ...) belong to each call.
- ``--gradcheck-fast`` / ``--gradcheck-full`` (one or the other): every check of the run with
  ``fast=True`` / ``fast=False``.  Precedence, strongest first: the call's own ``fast=`` (its
  author wrote it into the check, say because the test reads the per-entry errors only a full
  check has), then the switch (the run's choice), then the marker's ``fast``, then gradcheck's
  default (full).  A forward rule (``jvp=``) is always checked along directions: neither the
  switch nor the marker sets ``fast`` for it.
- a line at the end of the run, the total over pytest-xdist's workers too::

      gradcheck: 3 checks, 2 passed, 1 failed, 0 inconclusive; 92 evaluations

  (the evaluations of ``f`` the checks spent, their Taylor tests included).

Loaded into every pytest run where gradlab is installed, the module imports pytest and gradlab
(numpy and pandas: what ``import gradlab`` costs, about half a second), never hypothesis, torch,
jax, scipy or matplotlib.  It has no ``assert`` statement for pytest to rewrite (PYTEST_DONT_REWRITE).
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from ..check.gradcheck import gradcheck as _gradcheck
from ..check.result import GradcheckError
from ..check.settings import CheckSettings, validated

MARKER = "gradcheck"
#: the key of the counts a pytest-xdist worker hands to the controller
WORKER_KEY = "gradlab_gradcheck"


@dataclasses.dataclass
class Tally:
    """The checks of one process (a worker's, or the whole run's on the controller)."""

    checks: int = 0
    passed: int = 0
    failed: int = 0
    inconclusive: int = 0
    evaluations: int = 0

    def add(self, status: str, evaluations: int) -> None:
        self.checks += 1
        setattr(self, status, getattr(self, status) + 1)
        self.evaluations += evaluations

    def merge(self, counts: dict) -> None:
        for name, value in counts.items():
            setattr(self, name, getattr(self, name) + int(value))

    def line(self) -> str:
        return (
            f"gradcheck: {self.checks} checks, {self.passed} passed, {self.failed} failed, "
            f"{self.inconclusive} inconclusive; {self.evaluations:,} evaluations"
        )


TALLY = pytest.StashKey[Tally]()
#: True (--gradcheck-fast), False (--gradcheck-full) or None (neither)
FAST = pytest.StashKey[object]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradlab", "gradient checks (gradlab's gradcheck fixture)")
    group.addoption(
        "--gradcheck-fast",
        action="store_true",
        default=False,
        help="run every check of the gradcheck fixture in fast mode (fast=True: one random projection first; "
        "per-block directions and sampled entries only on a disagreement), unless the call passes fast= itself",
    )
    group.addoption(
        "--gradcheck-full",
        action="store_true",
        default=False,
        help="run every check of the gradcheck fixture entry by entry (fast=False), unless the call passes "
        "fast= itself",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): defaults for the gradcheck fixture's checks in this test (reference, h, rtol, atol, "
        "fast, directions, sample, seed, noise, accept_unverified, max_evaluations, scheduler)",
    )
    fast, full = config.getoption("gradcheck_fast"), config.getoption("gradcheck_full")
    if fast and full:
        raise pytest.UsageError("--gradcheck-fast and --gradcheck-full exclude each other: pass one of them")
    config.stash[FAST] = True if fast else False if full else None
    config.stash[TALLY] = Tally()


class GradcheckFixture:
    """What the ``gradcheck`` fixture gives a test: call it like :func:`gradlab.assert_gradcheck`.

    ``results`` holds this test's results in order, ``evaluations`` what they spent.
    """

    def __init__(self, defaults: dict, fast: bool | None, tally: Tally, node: pytest.Item):
        self.defaults, self.fast, self._tally, self._node = defaults, fast, tally, node
        self.results: list = []

    def options(self, call: dict) -> dict:
        """The options a call runs with: its own over the switch over the marker's (see the module)."""
        merged = {**self.defaults, **call}
        if "fast" in call:
            return merged
        if call.get("jvp") is not None:
            merged.pop("fast", None)  # a forward rule is checked along directions: no default makes it invalid
        elif self.fast is not None:
            merged["fast"] = self.fast
        return merged

    def __call__(self, f: object, x: object, **options):
        __tracebackhide__ = True  # the test's own line is where the failure is
        result = _gradcheck(f, x, **self.options(options))
        spent = evaluations_spent(result)
        self.results.append(result)
        self._tally.add(result.status, spent)
        # the record a junitxml report carries (and pytest-xdist hands to the controller)
        self._node.user_properties.append(("gradcheck", f"{result.status}, {result.mode} check, {spent} evaluations"))
        if not result.passed:
            raise GradcheckError(explanation(result), result)
        return result

    @property
    def evaluations(self) -> int:
        return sum(evaluations_spent(r) for r in self.results)


@pytest.fixture
def gradcheck(request: pytest.FixtureRequest) -> GradcheckFixture:
    """``gradcheck(f, x, **options)``: a gradient check that fails the test unless it passes (see
    :mod:`gradlab.testing.plugin`); the result of a check that passed is returned."""
    config = request.config
    return GradcheckFixture(marker_defaults(request.node), config.stash[FAST], config.stash[TALLY], request.node)


def marker_defaults(node: pytest.Item) -> dict:
    """The options of the ``gradcheck`` markers on ``node`` (the closest over the farther ones),
    validated as gradcheck validates them; a bad one fails the test's setup, naming it."""
    merged: dict = {}
    for mark in reversed(list(node.iter_markers(MARKER))):  # iter_markers yields the closest first
        if mark.args:
            pytest.fail(
                f"@pytest.mark.{MARKER} takes keyword options only, such as rtol=1e-5; got {mark.args!r}", pytrace=False
            )
        merged.update(mark.kwargs)
    settings = {f.name for f in dataclasses.fields(CheckSettings)}
    for name in merged:
        if name in settings:
            continue
        if name in inspect.signature(_gradcheck).parameters:
            why = f"`{name}` belongs to each call, gradcheck(f, x, {name}=...): the marker sets the check's settings"
        else:
            why = f"`{name}` is not an option of gradcheck"
        pytest.fail(f"@pytest.mark.{MARKER}: {why} ({', '.join(sorted(settings))})", pytrace=False)
    try:
        validated(**merged)
    except (TypeError, ValueError) as exc:
        problem = str(exc)
    else:
        return merged
    pytest.fail(f"@pytest.mark.{MARKER}: {problem}", pytrace=False)  # outside the except: no chained traceback


def evaluations_spent(result) -> int:
    """The evaluations a check spent: its own and its Taylor tests' (a second-order result
    counts its first-order check's evaluations already)."""
    spent = result.evaluations
    for r in (result, result.first_order):
        if r is not None and r.taylor is not None:
            spent += r.taylor.evaluations
    return spent


def explanation(result) -> str:
    """gradlab's report of a check that did not pass, its table cut to the blocks that did not pass
    (a network's twenty blocks would bury the two that matter)."""
    table = result.table
    shown = table[table["status"] != "passed"]
    if 0 < len(shown) < len(table):
        hidden = table.loc[table["status"] == "passed", "block"]
        text = dataclasses.replace(result, table=shown).message()
        blocks = "1 block" if len(hidden) == 1 else f"{len(hidden)} blocks"
        text += f"\n({blocks} passed, not shown: {', '.join(map(str, hidden))})"
    else:
        text = result.message()
    if result.status == "inconclusive":
        text += (
            "\n(the gradcheck fixture fails a test whose check is inconclusive: nothing verified this gradient; "
            "accept_unverified=True or noise= accept less, visibly)"
        )
    return text


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: its counts go to the controller
        workeroutput[WORKER_KEY] = dataclasses.asdict(session.config.stash[TALLY])


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's: unknown to pytest without it
def pytest_testnodedown(node, error) -> None:
    counts = getattr(node, "workeroutput", {}).get(WORKER_KEY)
    if counts:
        node.config.stash[TALLY].merge(counts)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    tally = config.stash.get(TALLY, None)
    if tally is not None and tally.checks:
        terminalreporter.write_line(tally.line())
