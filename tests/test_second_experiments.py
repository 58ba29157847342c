"""The second-order experiments: the second-difference V where the model puts it, exact counts of a
full Hessian three ways, and the HVP-ratio table's shape."""

import numpy as np
import pytest

from gradlab.experiments import second_order as exp


@pytest.fixture(scope="module")
def accuracy():
    return exp.second_accuracy(tuple(np.logspace(0, -9, 28)))


def test_second_difference_v_has_the_models_slopes_and_optimum(accuracy):
    s = exp.accuracy_summary(accuracy).set_index(["backend", "dtype", "order"])
    c2 = s.loc[("central", "float64", 2)]
    assert c2["truncation_slope"] == pytest.approx(2.0, abs=0.2)
    assert c2["rounding_slope"] == pytest.approx(-2.0, abs=0.3)
    # the best step found is within a factor 3 of the model's (near eps^(1/4) = 1.2e-4)
    assert c2["model_best_h"] / 3 <= c2["best_h"] <= 3 * c2["model_best_h"]
    assert c2["eps_power"] == pytest.approx(np.finfo(float).eps ** 0.25)
    # the best error is near sqrt(eps), far above the first order's eps^(2/3)
    c1 = s.loc[("central", "float64", 1)]
    assert 1e-10 < c2["best_error"] < 1e-6 and c1["best_error"] < c2["best_error"] / 100
    assert c1["rounding_slope"] == pytest.approx(-1.0, abs=0.2)
    f32 = s.loc[("central", "float32", 2)]
    assert f32["model_best_h"] / 3 <= f32["best_h"] <= 3 * f32["model_best_h"]
    assert s.loc[("richardson", "float64", 2), "truncation_slope"] == pytest.approx(4.0, abs=0.3)


def test_the_model_follows_the_measurement_away_from_the_optimum(accuracy):
    part = accuracy[(accuracy["backend"] == "central") & (accuracy["dtype"] == "float64") & (accuracy["order"] == 2)]
    part = part[part["entry"] == "diagonal"]
    far = part[(part["h"] > 1e-2) & (part["h"] < 0.3)]  # truncation dominates: h^2 |f''''| / 3
    np.testing.assert_allclose(far["abs_error"], far["model"], rtol=0.2)


def test_full_hessian_costs_are_exact():
    cost = exp.hessian_cost(exp.HessianCostParams(widths=(2, 3, 4), f_max_params=70))
    f = cost[cost["method"] == "second differences of f"]
    assert list(f["n_params"]) == [42, 64]
    assert list(f["evaluations"]) == [exp.central_count(n) for n in f["n_params"]] == [3529, 8193]
    g = cost[cost["method"] == "central differences of backprop"]
    assert list(g["gradients"]) == [2 * n for n in g["n_params"]]
    h = cost[cost["method"] == "N exact HVPs (R-operator)"]
    assert list(h["hvps"]) == list(h["n_params"])
    e = exp.cost_exponents(cost).set_index("method")
    assert e.loc["second differences of f", "calls_exponent"] == pytest.approx(2.0, abs=0.02)
    assert e.loc["central differences of backprop", "calls_exponent"] == pytest.approx(1.0, abs=1e-9)


def test_hvp_ratio_table():
    t = exp.hvp_ratio((8,), repeats=3, min_seconds=1e-4)
    r = t.iloc[0]
    assert r["n_params"] == 234 and r["repeats"] == 3
    assert 0 < r["ratio_low"] <= r["ratio_median"] <= r["ratio_high"]


def test_the_report_section_states_what_it_measured():
    from gradlab.report.config import Config
    from gradlab.report.sections.second_order import SECTION

    config = Config.make("smoke", progress=False)
    data = SECTION.run(config, lambda *a: None)
    assert set(SECTION.csvs) <= set(data)
    findings = "\n".join(SECTION.findings(data, config))
    best = data["second_accuracy_summary"].set_index(["backend", "dtype", "order"]).loc[("central", "float64", 2)]
    assert f"best step {best['best_h']:.2g}" in findings
    assert "false alarms on the correct HVP: 0%" in findings
    text = SECTION.text(data, config)
    assert "ε^¼" in text and "hvp=bug" in text
    fig = SECTION.figure(data, config)
    lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith("central, second")]
    part = data["second_accuracy"]
    part = part[(part["backend"] == "central") & (part["dtype"] == "float64") & (part["entry"] == "diagonal")]
    np.testing.assert_array_equal(lines[0].get_ydata(), part.sort_values("h")["abs_error"].to_numpy())


def test_the_hvp_ratio_is_stated_only_when_the_rounds_agree():
    import pandas as pd

    from gradlab.report.config import Config
    from gradlab.report.sections.second_order import SECTION

    config = Config.make("smoke", progress=False)
    data = SECTION.run(config, lambda *a: None)
    row = {"width": 16, "n_params": 714, "backprop_seconds": 1e-4, "hvp_seconds": 2e-4, "repeats": 5}
    agree = dict(data, hvp_ratio=pd.DataFrame([row | {"ratio_median": 2.0, "ratio_low": 1.9, "ratio_high": 2.1}]))
    noisy = dict(data, hvp_ratio=pd.DataFrame([row | {"ratio_median": 3.8, "ratio_low": 0.6, "ratio_high": 4.8}]))
    assert "2.00× one gradient" in "\n".join(SECTION.findings(agree, config))
    text = "\n".join(SECTION.findings(noisy, config))
    assert "not stated: the rounds disagree" in text and "3.80×" not in text
