"""The checker as a pipeline: options validated before f runs, one column list, the backend's own reference."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import gradlab
from gradlab.backends import Backend, Estimate, GradientResult, get
from gradlab.check.result import TABLE_COLUMNS
from gradlab.check.settings import CheckSettings, validated

CHECK = Path(gradlab.__file__).parent / "check"

#: every gradcheck option with bad values: (value, the error it must raise)
BAD = {
    "reference": [(3, TypeError), ("bogus", ValueError)],
    "h": [("abc", TypeError), (-1e-3, ValueError), (float("nan"), ValueError)],
    "rtol": [("abc", TypeError), (-1.0, ValueError), (0.0, ValueError)],
    "atol": [("abc", TypeError), (-1.0, ValueError), (float("inf"), ValueError)],
    "fast": [("yes", TypeError), (1, TypeError)],
    "directions": [(1.5, TypeError), (0, ValueError)],
    "sample": [("8", TypeError), (-2, ValueError)],
    "seed": [(1.5, TypeError), (-1, ValueError)],
    "noise": [("abc", TypeError), (-1e-9, ValueError)],
    "accept_unverified": [("no", TypeError)],
    "max_evaluations": [(2.5, TypeError), (0, ValueError)],
    "scheduler": [(3, TypeError), ("bogus", ValueError)],
}
CASES = [(name, value, error) for name, bad in BAD.items() for value, error in bad]


class Counter:
    """Counts calls of f independently of gradlab's own count."""

    def __init__(self):
        self.calls = 0


def _flat(counter):
    def f(x):
        counter.calls += 1
        return float(np.sum(np.sin(x)))

    return f, np.linspace(0.1, 1.0, 5), {"grad": np.cos}


def _structure(counter):
    def f(p):
        counter.calls += 1
        return float(np.sum(np.sin(p["w"])) + np.sum(p["b"] ** 2))

    p = {"w": np.linspace(0.1, 1.0, 4).reshape(2, 2), "b": np.array([0.5, -0.5])}
    return f, p, {"grad": lambda p: {"w": np.cos(p["w"]), "b": 2 * p["b"]}}


def _vjp(counter):
    def f(x, w):
        counter.calls += 1
        return np.tanh(x @ w)

    def vjp(x, w, u):
        g = u * (1 - np.tanh(x @ w) ** 2)
        return g @ w.T, x.T @ g

    rng = np.random.default_rng(0)
    return f, (rng.normal(size=(3, 2)), rng.normal(size=(2, 2))), {"vjp": vjp}


@pytest.mark.parametrize("shape", [_flat, _structure, _vjp], ids=["flat", "structure", "vjp"])
@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
@pytest.mark.parametrize(("option", "value", "error"), CASES)
def test_every_bad_option_is_refused_before_f_is_evaluated(shape, fast, option, value, error):
    counter = Counter()
    f, x, kw = shape(counter)
    options = {"fast": fast, option: value}
    with pytest.raises(error, match=f"`{option}` must be"):
        gradlab.gradcheck(f, x, **kw, **options)
    assert counter.calls == 0


def test_atol_is_validated_in_fast_mode_too():
    # it used to be read only after the full reference: in fast mode never, and "abc" passed
    with pytest.raises(TypeError, match="`atol` must be a positive finite float; got 'abc'"):
        gradlab.gradcheck(np.sin, np.array([0.3]), grad=np.cos, fast=True, atol="abc")


def test_a_bad_grad_vjp_or_cotangent_costs_no_evaluation():
    counter = Counter()
    f, x, _ = _flat(counter)
    with pytest.raises(TypeError, match="`grad` must be a callable"):
        gradlab.gradcheck(f, x, grad=3)
    with pytest.raises(TypeError, match="`cotangent` is the upstream gradient"):
        gradlab.gradcheck(f, x, grad=np.cos, cotangent=np.ones(5))
    g, args, _ = _vjp(counter)
    with pytest.raises(TypeError, match="`vjp` must be a callable"):
        gradlab.gradcheck(g, args, vjp="backward")
    assert counter.calls == 0


def test_settings_are_frozen_and_hold_the_validated_values():
    s = validated(h=np.float32(0.5), directions=np.int64(3), noise=0)
    assert isinstance(s, CheckSettings) and s.h == 0.5 and type(s.h) is float and s.directions == 3
    assert s.noise == 0.0 and s.reference == "auto" and s.atol is None
    with pytest.raises(AttributeError):
        s.h = 1.0  # frozen


# -- one column list -------------------------------------------------------------------------------


def _net(sizes=(3, 4, 2)):
    net = gradlab.MLP(list(sizes), activation="tanh", output="softmax", loss="cross_entropy")
    X, Y = net.random_batch(6, seed=1)
    return net.objective(X, Y), net.init(seed=0)


def _every_mode():
    obj, theta = _net()
    wrong = lambda t: obj.gradient(t) * 1.01  # noqa: E731
    rng = np.random.default_rng(5)
    big = np.linspace(0.1, 2.0, 2500)
    structure_f, p, skw = _structure(Counter())
    vjp_f, args, vkw = _vjp(Counter())
    yield "full", gradlab.gradcheck(obj, theta)
    yield "full, failed", gradlab.gradcheck(obj, theta, grad=wrong)
    yield "fast", gradlab.gradcheck(obj, theta, fast=True)
    yield "fast, then full", gradlab.gradcheck(obj, theta, grad=wrong, fast=True)
    yield (
        "fast, localised",
        gradlab.gradcheck(lambda x: np.sum(np.sin(x)), big, grad=lambda x: 1.01 * np.cos(x), fast=True),
    )
    yield "fast, random", gradlab.gradcheck(lambda x: np.sum(x**2) + rng.normal(), big, grad=lambda x: 2 * x, fast=True)
    yield "random", gradlab.gradcheck(lambda x: np.sum(x**2) + rng.normal(), big[:4], grad=lambda x: 2 * x)
    yield "constant", gradlab.gradcheck(lambda x: 1.0, big[:4], grad=lambda x: 0 * x)
    yield "unverified", gradlab.gradcheck(lambda x: np.sum(x**2), np.ones(3), grad=lambda x: 2 * x, h=0.9)
    yield "structure", gradlab.gradcheck(structure_f, p, **skw)
    yield "structure, fast", gradlab.gradcheck(structure_f, p, **skw, fast=True)
    yield "vjp", gradlab.gradcheck(vjp_f, args, **vkw)
    yield "vjp, fast", gradlab.gradcheck(vjp_f, args, **vkw, fast=True)


def test_every_modes_table_has_exactly_the_one_column_list():
    seen = {}
    for label, r in _every_mode():
        assert tuple(r.table.columns) == TABLE_COLUMNS, label
        seen[label] = (r.mode, r.status)
    # the paths are the ones named (each mode and verdict reached)
    assert seen["fast"] == ("fast", "passed") and seen["fast, then full"] == ("fast, then full", "failed")
    assert seen["fast, localised"] == ("fast, localised", "failed") and seen["fast, random"][1] == "inconclusive"
    assert seen["random"] == ("full", "inconclusive") and seen["constant"] == ("full", "inconclusive")
    assert seen["full, failed"][1] == "failed" and seen["vjp"][1] == seen["structure, fast"][1] == "passed"


def test_table_columns_is_the_only_list_of_columns_in_check():
    for path in CHECK.glob("*.py"):
        text = path.read_text()
        if path.name != "result.py":
            assert '"max_abs_error": ' not in text and "'max_abs_error': " not in text, path.name


def test_a_fast_check_names_the_reference_that_measured():
    obj, theta = _net()
    assert gradlab.gradcheck(obj, theta, fast=True).reference == "complex_step (directional)"
    real = gradlab.gradcheck(
        lambda x: float(np.sum(np.abs(x) ** 3)), np.array([0.5, 1.0]), grad=lambda x: 3 * x**2, fast=True
    )
    assert real.passed and real.reference == "central (directional)"


# -- the shape of check/ ------------------------------------------------------------------------------


def _functions():
    for path in sorted(CHECK.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield path.name, node


def test_no_function_in_check_takes_more_than_six_positional_parameters():
    for name, fn in _functions():
        positional = [a.arg for a in fn.args.posonlyargs + fn.args.args if a.arg not in ("self", "cls")]
        assert len(positional) <= 6, f"{name}:{fn.name} takes {len(positional)} positional parameters"


def test_gradcheck_reads_as_a_pipeline():
    (fn,) = [fn for name, fn in _functions() if name == "gradcheck.py" and fn.name == "gradcheck"]
    body = fn.body[1:]  # after the docstring
    assert body[-1].end_lineno - body[0].lineno + 1 <= 30
    assert not any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "gradcheck" for n in ast.walk(fn))


def test_check_asks_the_backend_instead_of_testing_its_kind():
    pattern = re.compile(
        r"(?<!dtype)\.kind\b|order is None|isinstance\([^)]*(DifferenceScheme|ComplexStep|Adaptive|Analytic)"
    )
    for path in CHECK.glob("*.py"):
        for k, line in enumerate(path.read_text().splitlines(), 1):
            assert not pattern.search(line), f"{path.name}:{k}: {line.strip()}"


# -- a backend with its own reference behaviour --------------------------------------------------------


class Oracle(Backend):
    """A reference of a kind gradcheck has never seen: the exact gradient of sum(sin x), with a bound of 0."""

    name = "oracle"
    kind = "exact"
    offsets = ()

    def __init__(self):
        self.asked = 0

    def compute(self, objective, x, *, h):
        objective(x.copy())
        return GradientResult(np.cos(x), self.name, h, 1)

    def reference(self, objective, x, *, h, eps_f, noise, f0=None, scheduler=None, progress=None):
        self.asked += 1
        g = self.compute(objective, x, h=h).gradient.astype(np.float64).reshape(-1)
        zero = np.zeros(g.size)
        return Estimate(g, 4 * eps_f * np.abs(g), zero, zero, self)


def test_a_backend_of_a_new_kind_serves_as_reference_through_its_own_methods():
    oracle = Oracle()
    x = np.linspace(-1.0, 1.0, 7)
    good = gradlab.gradcheck(lambda x: np.sum(np.sin(x)), x, grad=np.cos, reference=oracle)
    bad = gradlab.gradcheck(lambda x: np.sum(np.sin(x)), x, grad=lambda x: np.cos(x) * (1 + 1e-5), reference=oracle)
    assert good.passed and good.reference == "oracle" and oracle.asked == 2
    assert bad.status == "failed" and bad.table["n_failed"].tolist() == [7]  # every entry, off by 1e-5


def _float32_inside(x):
    return float(np.sum(np.sin(x.astype(np.float32))))  # a float64 x, computed in float32


def test_f_in_a_lower_precision_takes_the_backends_step_for_that_precision():
    x = np.linspace(0.1, 0.9, 6)
    eps32 = float(np.finfo(np.float32).eps)
    for name in ("central", "richardson"):
        backend = get(name)
        r = gradlab.gradcheck(_float32_inside, x, grad=np.cos, reference=name)
        h = eps32 ** (1 / (backend.order + 1))  # max |x| < 1: the step is the precision's own
        assert r.status != "failed", r.message()  # central is inconclusive here, as before: rounding dominates
        assert f"the reference steps by h = {h:.3g}, the best step for float32 arithmetic" in r.notes
        assert np.array_equal(backend.default_step(x, eps=eps32), np.full(x.size, h))
    assert gradlab.gradcheck(_float32_inside, x, grad=np.cos, reference="richardson").passed
    # a rule that does not balance rounding against truncation does not follow the precision
    adaptive = gradlab.gradcheck(_float32_inside, x, grad=np.cos, reference="adaptive")
    assert not any("the reference steps by" in note for note in adaptive.notes)
    complex_step = get("complex_step")
    assert np.array_equal(complex_step.default_step(x, eps=eps32), complex_step.default_step(x))
