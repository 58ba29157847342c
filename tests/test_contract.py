"""One contract, every registered backend: the registry is the only list of backends.

Parametrized over ``gradlab.backends()`` at collection time, so a backend registered by
gradlab (or installed through the ``gradlab.backends`` entry point) is held to the same
contract the day it appears: shape and dtype, the caller's x untouched (also when f raises
half-way), evaluation counts from an independent counter, accuracy within the backend's own
error on a smooth function.
"""

import numpy as np
import pytest

import gradlab
from gradlab.backends import base, get

NET = gradlab.MLP([3, 4, 2], activation="tanh", output="softmax", loss="cross_entropy", l2=0.01)
X, Y = NET.random_batch(6, seed=1)
OBJ = NET.objective(X, Y)
THETA = NET.init(seed=1) + 0.05


def _counted(f):
    calls = []

    def g(x):
        calls.append(1)
        return f(x)

    return g, calls


@pytest.mark.parametrize("name", gradlab.backends())
def test_contract(name):
    backend = get(name)
    theta = THETA.copy()
    before = theta.tobytes()
    if backend.kind == "analytic":
        r = gradlab.differentiate(OBJ, theta, backend=name)
        assert (r.evaluations, r.backward_passes) == (1, 1) == (backend.evaluations(NET.n_params), 1)
        exact = r.gradient
    else:
        f, calls = _counted(OBJ.value)  # the unchecked value: it takes complex theta too
        r = gradlab.differentiate(f, theta, backend=name)
        if backend.jvps(NET.n_params):  # forward mode: passes of f that carry tangents, counted as JVPs
            assert (r.evaluations, r.jvps) == (backend.evaluations(NET.n_params), NET.n_params) == (0, NET.n_params)
            assert 1 <= len(calls) <= NET.n_params
        elif backend.order is None:  # chooses its own steps: evaluations(n) is an upper bound
            assert r.evaluations == len(calls)  # the count is the truth, by an independent counter
            assert r.evaluations <= backend.evaluations(NET.n_params)
        else:
            assert r.evaluations == len(calls) == backend.evaluations(NET.n_params)
        exact = gradlab.gradient(OBJ, THETA, backend="backprop")
        # within the backend's own best error on this smooth, well-scaled function
        eps = np.finfo(np.float64).eps
        best = eps ** (backend.order / (backend.order + 1)) if backend.order else 1e-10
        np.testing.assert_allclose(r.gradient, exact, rtol=0, atol=100 * best * max(1, np.abs(exact).max()))
        assert (r.step is not None and r.step.shape == theta.shape) == backend.has_step
    assert r.gradient.shape == theta.shape and r.gradient.dtype == theta.dtype
    assert theta.tobytes() == before and r.backend == name
    # float32 in, float32 out
    if backend.kind != "analytic":
        r32 = gradlab.differentiate(lambda x: np.sum(np.sin(x) ** 2), THETA[:5].astype(np.float32), backend=name)
        assert r32.gradient.dtype == np.float32


@pytest.mark.parametrize("name", [n for n in gradlab.backends() if get(n).kind != "analytic"])
def test_caller_data_survives_f_raising_half_way(name):
    x = np.linspace(-1, 1, 300)  # forward mode takes 64 entries a pass: still 5 passes
    before = x.tobytes()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 5:
            raise KeyError("half-way")
        return np.sum(v**2)

    with pytest.raises(KeyError, match="half-way"):
        gradlab.gradient(f, x, backend=name)
    assert x.tobytes() == before


@pytest.mark.parametrize("name", [n for n in gradlab.backends() if get(n).has_step])
def test_every_step_backend_is_a_gradcheck_reference_and_catches_a_bug(name):
    wrong = lambda th: OBJ.gradient(th) * 1.01  # noqa: E731
    assert gradlab.gradcheck(OBJ, THETA, reference=name).status in ("passed", "inconclusive")
    assert gradlab.gradcheck(OBJ, THETA, grad=wrong, reference=name).status == "failed"


CENTRAL4 = gradlab.DifferenceScheme("central4", offsets=(-2, -1, 1, 2), weights=(1, -8, 8, -1), divisor=12, order=4)


@pytest.fixture
def central4():
    gradlab.register(CENTRAL4)
    yield CENTRAL4
    gradlab.unregister("central4")


def test_a_third_party_scheme_flows_to_gradcheck_and_the_command_line(central4, capsys):
    from gradlab import cli

    assert "central4" in gradlab.backends() and central4.evaluations(10) == 40
    r = gradlab.gradcheck(OBJ, THETA, reference="central4")
    assert r.passed and r.reference == "central4"
    assert gradlab.gradcheck(OBJ, THETA, grad=lambda th: OBJ.gradient(th) * 1.001, reference="central4").status == (
        "failed"
    )
    assert cli.main(["check", "--sizes", "3,4,2", "--reference", "central4"]) == 0
    assert "vs central4" in capsys.readouterr().out


def test_a_backend_from_an_installed_package_is_found_by_its_entry_point(monkeypatch):
    class EntryPoint:
        name, value = "central4x", "somepkg:CENTRAL4"

        def load(self):
            return gradlab.DifferenceScheme(
                "central4x", offsets=(-2, -1, 1, 2), weights=(1, -8, 8, -1), divisor=12, order=4
            )

    import importlib.metadata

    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda group: [EntryPoint()] if group == base.ENTRY_POINT_GROUP else []
    )
    monkeypatch.setattr(base, "_PLUGINS_LOADED", False)
    try:
        assert "central4x" in gradlab.backends()
        assert gradlab.gradcheck(OBJ, THETA, reference="central4x").passed
    finally:
        base._REGISTRY.pop("central4x", None)


def test_a_broken_plugin_warns_and_does_not_break_gradlab(monkeypatch):
    class Broken:
        name, value = "broken", "nopkg:nothing"

        def load(self):
            raise ImportError("no module named nopkg")

    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [Broken()])
    monkeypatch.setattr(base, "_PLUGINS_LOADED", False)
    with pytest.warns(UserWarning, match="'broken'.*failed to load"):
        names = gradlab.backends()
    assert "central" in names and "broken" not in names


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(offsets=(-1, 1), weights=(1, 1), divisor=2, order=2), "does not approximate a first derivative"),
        (dict(offsets=(0, 1, 2), weights=(-1, 1, 0), divisor=1, order=2), "not of order 2"),
        (dict(offsets=(-1, 1), weights=(-1,), divisor=2, order=2), "one weight per offset"),
        (dict(offsets=(1, 1), weights=(-1, 1), divisor=2, order=2), "distinct"),
    ],
)
def test_a_wrong_stencil_is_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        gradlab.DifferenceScheme("bad", **kw)


def test_register_refuses_what_is_not_a_backend():
    with pytest.raises(TypeError, match="`backend` must be a gradlab.Backend"):
        gradlab.register(lambda f, x: x)
