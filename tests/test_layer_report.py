"""The CNN/LSTM cost and accuracy experiments and their report section: exact counts, fits
recovered from exact power laws, findings that state an exponent only when it is clear."""

import functools

import numpy as np
import pandas as pd
import pytest

from gradlab.experiments import layercost as lc
from gradlab.experiments import layerzoo as lz
from gradlab.report.config import Config
from gradlab.report.sections.layers import SECTION, layers_figure


def test_ladder_sizes_follow_their_formulas():
    for w in (1, 2, 5):
        assert lc.model("cnn", w).n_params == 170 * w + 10  # 9w + w conv, 16w * 10 + 10 dense
        assert lc.model("lstm", w).n_params == 4 * w * w + 30 * w + 10  # 16w + 4w^2 + 4w lstm, 10w + 10 dense
    with pytest.raises(ValueError, match=r"`model` must be one of 'cnn', 'lstm', 'mlp'; got 'gru'"):
        lc.model("gru", 2)


def test_the_sweep_counts_2N_evaluations_for_central_and_stops_it_above_fd_max_params():
    p = lc.LayerCostParams(cnn_widths=(1, 2), lstm_widths=(2,), repeats=1, min_seconds=1e-5, fd_max_params=200)
    s = lc.layer_cost_sweep(p)
    central = s[s["backend"] == "central"]
    assert sorted(central["n_params"]) == [86, 180]  # lstm w=2, cnn w=1; cnn w=2 (N = 350) is above
    assert (central["evaluations"] == 2 * central["n_params"]).all()
    assert (s.loc[s["backend"] == "backprop", "evaluations"] == 1).all()
    assert set(s["backend"]) == {"objective", "central", "backprop"} and (s["seconds"] > 0).all()


def synthetic(noise: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for model, sizes in (("cnn", [180, 350, 690, 1370]), ("lstm", [44, 86, 194, 506])):
        for n in sizes:
            for backend, k, c in (("central", 2.0, 1e-7), ("backprop", 1.0, 1e-6), ("objective", 1.0, 5e-7)):
                for r in range(5):
                    t = c * n**k * np.exp(noise * rng.normal())
                    rows.append(
                        {"model": model, "width": 0, "n_params": n, "backend": backend, "repeat": r, "seconds": t}
                        | {"evaluations": 2 * n if backend == "central" else 1}
                    )
    return pd.DataFrame(rows)


def test_the_summary_recovers_exact_power_laws():
    s = lc.layer_cost_summary(synthetic()).set_index(["model", "backend"])
    for model in ("cnn", "lstm"):
        assert s.loc[(model, "central"), "exponent"] == pytest.approx(2.0, abs=1e-12)
        assert s.loc[(model, "backprop"), "exponent"] == pytest.approx(1.0, abs=1e-12)
        assert s.loc[(model, "central"), "uncertainty"] == pytest.approx(0.0, abs=1e-12)
    n = 1370
    assert s.loc[("cnn", "central"), "ratio_to_baseline_at_largest_N"] == pytest.approx(1e-7 * n**2 / (1e-6 * n))


@functools.cache
def measured() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A one-bug zoo and a three-step accuracy sweep, measured once for the tests below."""
    params = lz.LayerZooParams(seeds=(0,), clean_seeds=(10,), bugs=("embedding_assign",), checkers=("default",))
    return lz.layer_zoo(params), lc.layer_accuracy((1e-2, 1e-5, 1e-8), dtypes=("float64",), models=("lstm",))


def data(noise: float = 0.0) -> dict:
    cost = synthetic(noise)
    zoo, acc = measured()
    return {
        "layer_cost": cost,
        "layer_cost_summary": lc.layer_cost_summary(cost),
        "layer_accuracy": acc,
        "layerzoo": zoo,
        "layerzoo_summary": lz.layer_zoo_summary(zoo),
    }


def test_findings_state_exponents_only_when_clear_and_the_zoo_rates():
    clear, noisy = data(), data(noise=1.0)
    config = Config.make("smoke", progress=False)
    text = " ".join(SECTION.findings(clear, config))
    assert "cnn: central differences ∝ N^2.00 ± 0.00, backprop ∝ N^1.00 ± 0.00" in text
    assert "catches 100% of 1 planted layer bugs" in text and "0% false alarms" in text
    careful = " ".join(SECTION.findings(noisy, config))
    assert "∝ N^" not in careful and "too noisy" in careful and "--repeats" in careful
    page = SECTION.text(clear, config)
    assert "embedding dW[x] = dy" in page and "![layers](layers.png)" in page


def test_the_figure_draws_the_median_rounds_and_the_sweep():
    d = data()
    fig = layers_figure(d["layer_cost"], d["layer_cost_summary"], d["layer_accuracy"])
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "layercost-lstm-central")
    x, y = line.get_data()
    assert list(x) == [44, 86, 194, 506] and np.allclose(y, 1e-7 * np.array(x, dtype=float) ** 2)
    acc = next(ln for ln in fig.axes[1].get_lines() if ln.get_gid() == "layeracc-lstm-complex_step-float64")
    h, e = acc.get_data()
    assert list(h) == [1e-8, 1e-5, 1e-2]  # no cancellation: the truncation error h^2 |f'''| / 6 down to eps
    assert e[0] < 1e-14 and e[2] / e[1] == pytest.approx(1e6, rel=1e-3)


def test_accuracy_on_the_layers_follows_the_schemes():
    acc = lc.layer_accuracy((1e-3, 1e-5), dtypes=("float64",), models=("cnn", "lstm"))
    g = acc.set_index(["function", "backend", "h"])["rel_error"]
    for function in acc["function"].unique():
        # central: truncation ~ h^2 at 1e-3, the step near eps^(1/3) gives ~ 1e-10
        assert g[(function, "central", 1e-5)] < 1e-8
        assert g[(function, "forward", 1e-3)] > g[(function, "central", 1e-3)]
