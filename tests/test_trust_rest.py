"""Issue 18's last items: the verdict under every option (float32 with the adaptive reference,
adaptive's tiny estimates, the complex step at 1e-200, the warning at awkward points).

Each repro is a test here; each failed before its fix.
"""

import numpy as np
import pytest

import gradlab
from gradlab.backends import get
from gradlab.backends.adaptive import ADAPTIVE

# -- item 4/float32: the adaptive reference concludes on correct float32 code -------------------------


def _sin_cubic(v):
    return np.sum(np.sin(v) * v + 0.25 * v**3)


def _sin_cubic_grad(v):
    return np.sin(v) + v * np.cos(v) + 0.75 * v**2


X32 = np.random.default_rng(0).standard_normal(6).astype(np.float32)


@pytest.mark.parametrize("h", [None, 1e-3])
def test_the_adaptive_reference_concludes_on_float32_code(h):
    # its float32 rtol (2e-3) exceeded the largest error a float32 pass may overlook (5e-4): every
    # entry was "too coarse to judge" whatever the reference measured, and correct code inconclusive
    r = gradlab.gradcheck(_sin_cubic, X32, grad=_sin_cubic_grad, reference="adaptive", h=h)
    assert r.status == "passed", r.message()
    assert r.rtol == pytest.approx(1e-4)

    def one_entry_off(v):
        g = _sin_cubic_grad(v)
        g[2] *= np.float32(1.01)
        return g

    bad = gradlab.gradcheck(_sin_cubic, X32, grad=one_entry_off, reference="adaptive", h=h)
    assert bad.status == "failed" and bad.table["n_failed"].sum() == 1, bad.message()


def test_the_adaptive_reference_measures_at_the_precision_f_computes_in():
    # a float64 x whose f casts to float32: adaptive's rounding model took float64's eps and its bounds
    # were 1e8 times too small; with the float32 rtol a correct gradient was failed (7 of 20 points)
    def f(v):
        w = v.astype(np.float32)
        return float(np.sum(np.sin(w) * w))

    rng = np.random.default_rng(0)
    for _ in range(4):
        x = rng.standard_normal(8)
        r = gradlab.gradcheck(f, x, grad=lambda v: np.sin(v) + v * np.cos(v), reference="adaptive")
        assert r.status != "failed", r.message()
        bad = gradlab.gradcheck(f, x, grad=lambda v: 1.01 * (np.sin(v) + v * np.cos(v)), reference="adaptive")
        assert bad.status == "failed", bad.message()


def test_the_adaptive_ladder_never_sinks_below_the_spacing_of_x():
    # a pilot led below x's spacing (a noisy float32 network with kinks, constant to the last bit at
    # its finest round) left every level at x + h == x, and the entry "undefined on both sides"
    from gradlab.backends.adaptive import _Line
    from gradlab.objective import Counted

    x = np.array([-0.137646], dtype=np.float32)
    counted = Counted(lambda v: np.sum(np.sin(v)))
    line = _Line(counted, x)
    f0 = counted(line.work.point)
    eps = float(np.finfo(np.float32).eps)
    g, err, step, _ = ADAPTIVE._ladder(line, 0, float(x[0]), f0, 2.0**-27, 4.0, {}, eps, 2.0**-27)
    assert np.isfinite(g) and abs(g - np.cos(-0.137646)) <= err
    assert step >= 16 * np.spacing(np.float32(0.137646))


@pytest.mark.slow
def test_adaptive_on_a_float32_hard_tanh_network_at_large_inputs_measures_every_entry():
    from gradlab.experiments.trustzoo import Condition, _problem

    obj, theta = _problem(Condition("hard_tanh", 1e3, 1.0, "float32", 2000), 0)
    r = gradlab.gradcheck(obj, theta, reference="adaptive")  # raised "f undefined on both sides"
    assert r.status != "failed"


# -- item 6: x^2 at 1e-200 with the complex step ----------------------------------------------------------


def test_the_complex_step_measures_a_product_whose_value_underflows():
    # f(x) = 1e-400 = 0 and Im f = 2 x h = 2e-408 = 0 at the rule's step 1e-208: the rescue skipped
    # the entry (f = 0 sized nothing) and the check stayed inconclusive on an exact gradient
    x = np.array([1e-200])
    r = gradlab.differentiate(lambda x: np.sum(x * x), x, backend="complex_step")
    assert r.gradient[0] == pytest.approx(2e-200, rel=1e-14)
    assert r.evaluations <= 16  # the sizing steps (1e16 apart) and one Richardson pair
    check = gradlab.gradcheck(lambda x: np.sum(x * x), x, grad=lambda x: 2 * x, reference="complex_step")
    assert check.status == "passed", check.message()
    bad = gradlab.gradcheck(lambda x: np.sum(x * x), x, grad=lambda x: 2.02 * x, reference="complex_step")
    assert bad.status == "failed", bad.message()


def test_the_complex_step_keeps_an_underflowed_derivative_it_cannot_measure():
    # x^3 at 1e-200: f' = 3e-400 underflows too, and the steps that make Im f appear show only the
    # -h^2 term: levels that disagree are no measurement, and a made-up value is not passed
    x = np.array([1e-200])
    r = gradlab.differentiate(lambda x: np.sum(x**3), x, backend="complex_step")
    assert r.gradient[0] == 0.0
    bad = gradlab.gradcheck(lambda x: np.sum(x**3), x, grad=lambda x: 0 * x + 1e-300, reference="complex_step")
    assert bad.status != "passed", bad.message()


# -- item 7: adaptive's tiny estimates ---------------------------------------------------------------


def test_adaptive_keeps_the_coarser_estimate_where_closer_scales_are_rounding():
    # log(cosh x) at 1e-9: cosh rounds to 1 + k eps, so f takes multiples of eps; the closer look
    # (at step / 64) disagreed by 1%, the restart from there measured the staircase and returned
    # 9.31e-10 (7% too small) with an error of 6e-11 below its own error.  The restart that lands
    # further from the refuting quotient than the first estimate did is rounding, not a feature
    f = lambda x: np.log(np.cosh(x[0]))  # noqa: E731
    r = gradlab.differentiate(f, np.array([1e-9]), backend="adaptive")
    g, err, exact = float(r.gradient[0]), float(r.error[0]), np.tanh(1e-9)
    assert abs(g - exact) <= err  # honest
    assert abs(g - exact) <= 1e-4 * exact  # and right: the coarse ladder was
    assert err >= 1e-3 * exact  # no better than the 1% disagreement it met
    assert r.evaluations <= ADAPTIVE.evaluations(1)


# -- item 8: a fixed stencil that spans more than f's own scale is warned of --------------------------------


def test_central_differences_warn_where_the_default_stencil_spans_a_period_of_sin():
    # np.sin at 1e6: central's default step is 6.06 there and the quotient -0.035 (exact 0.937), silently
    from gradlab.backends.difference import StencilScaleWarning

    x = np.array([1e6, 2.0])
    with pytest.warns(StencilScaleWarning, match=r"index 0 \(x = 1e\+06\).*step 6\.06.*scale of about") as w:
        r = gradlab.differentiate(lambda x: np.sum(np.sin(x)), x, backend="central")
    assert issubclass(w[0].category, gradlab.StepWarning)
    assert abs(r.gradient[0] - np.cos(1e6)) > 0.5  # the value is wrong: the warning is all there is
    assert r.evaluations == 2 * x.size + 3  # f(x) and one pilot pair, at the one suspicious entry
    assert r.looks == 3 and r.evaluations - r.looks == get("central").evaluations(x.size)


def test_the_stencil_look_is_cheap_and_quiet_where_f_is_smooth_on_its_scale(recwarn):
    # entries at 1e4 (step 0.06) on a function whose scale is 1e4: looked at, at most LOOKS of them, no warning
    from gradlab.backends.scale import LOOKS

    x = 1e4 + np.arange(200.0)
    r = gradlab.differentiate(lambda x: np.sum(np.exp(x / 1e4)), x, backend="central")
    np.testing.assert_allclose(r.gradient, np.exp(x / 1e4) / 1e4, rtol=1e-8)
    assert r.evaluations == 2 * x.size + 1 + 2 * LOOKS and r.looks == 1 + 2 * LOOKS
    # steps below 1e-2 (|x| <= 1: every network's parameters), or the caller's own step: no look at all
    small = gradlab.differentiate(lambda x: np.sum(np.sin(x)), np.linspace(-1, 1, 50), backend="central")
    assert small.evaluations == 100 and small.looks == 0
    own = gradlab.differentiate(lambda x: np.sum(np.sin(x)), np.array([1e6]), backend="central", h=6.0)
    assert own.evaluations == 2
    assert not [w for w in recwarn if issubclass(w.category, gradlab.StepWarning)]


def test_a_stencil_small_beside_fs_scale_is_not_warned_of(recwarn):
    # forward differences at 1e6 step 0.015 against sin's scale ~2.7: the 0.3% off is the scheme's own
    # truncation, which the warning does not claim to see
    gradlab.differentiate(lambda x: np.sum(np.sin(x)), np.array([1e6]), backend="forward")
    assert not [w for w in recwarn if issubclass(w.category, gradlab.StepWarning)]


def test_adaptive_never_states_a_zero_error_on_a_zero_a_pilot_contradicted():
    # log(1 + x^2) at 1e-8: 1 + x^2 rounds to 1 within 1e-8 of x, so every ladder point returned 0 and
    # the estimate was 0 with error 0, after a pilot at 1e-3 had measured the slope 2e-8
    r = gradlab.differentiate(lambda x: np.log(1 + x[0] ** 2), np.array([1e-8]), backend="adaptive")
    assert abs(float(r.gradient[0]) - 2e-8) <= float(r.error[0])


@pytest.mark.parametrize("rtol", [1e-4, 1e-3, 1e-2])
def test_a_looser_rtol_than_the_limit_still_gives_verdicts(rtol):
    # rtol at or above the pass limit (1e-4 in float64) made every entry "too coarse to judge": a correct
    # gradient came back inconclusive at rtol=1e-4, 1e-3, 1e-2 (found by the pytest plugin's strategies)
    def f(x):
        return float(np.sum(x * np.sin(x)))  # float(): no complex step, central differences

    def g(x):
        return np.sin(x) + x * np.cos(x)

    x = np.array([0.5, -1.5, 2.5])
    right = gradlab.gradcheck(f, x, grad=g, rtol=rtol)
    assert right.status == "passed"
    assert right.table["resolution"].iloc[0] >= rtol  # it says what the caller's tolerance let through
    assert gradlab.gradcheck(f, x, grad=lambda x: g(x) * (1 + 4 * rtol), rtol=rtol).status == "failed"
    assert gradlab.gradcheck(f, x, grad=lambda x: g(x) * (1 + rtol / 2), rtol=rtol).status == "passed"


def test_the_advice_on_unverified_entries_never_names_what_the_check_already_used():
    # a saturated tanh unit leaves entries too small for the complex step's own bound; the advice
    # used to suggest reference='complex_step', the default step and float64 to a check that had all three
    net = gradlab.MLP([4, 8, 8, 3], activation="tanh", output="softmax", loss="cross_entropy")
    obj, theta = net.objective(*net.random_batch(16, seed=0)), net.init(seed=0) * 20
    advice = {
        kw: next(
            line for line in gradlab.gradcheck(obj, theta, **dict(kw)).message().splitlines() if "what to try" in line
        )
        for kw in ((), (("reference", "central"),))
    }
    (plain, central) = advice.values()
    assert "complex_step" not in plain and "default step" not in plain and "float64" not in plain
    assert "another point" in plain and "accept_unverified=True" in plain
    assert "reference='complex_step'" in central and "default step" not in central
