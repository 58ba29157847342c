"""A backend registered from outside flows into the experiments, the charts and the benchmarks
with no other edit: the 4th-order central stencil of the redesign issue."""

import importlib

import numpy as np
import pytest

import gradlab
from gradlab.backends import unregister
from gradlab.experiments import accuracy, cost, training
from gradlab.report import Config
from gradlab.report.sections.accuracy import accuracy_figure
from gradlab.report.sections.cost import cost_figure


@pytest.fixture
def central4():
    scheme = gradlab.DifferenceScheme("central4", offsets=(-2, -1, 1, 2), weights=(1, -8, 8, -1), divisor=12, order=4)
    gradlab.register(scheme)
    try:
        yield scheme
    finally:
        unregister("central4")
    assert "central4" not in gradlab.backends()


def test_central4_appears_in_the_accuracy_sweep_and_chart(central4):
    sweep, summary = accuracy.run(accuracy.AccuracyParams(sizes=(2, 3, 2), batch=4, steps_per_decade=1))
    assert "central4" in set(sweep["backend"])
    s = summary.set_index(["backend", "dtype"]).loc[("central4", "float64")]
    assert s["expected_truncation_slope"] == 4 and s["truncation_slope"] == pytest.approx(4, abs=0.5)
    assert np.isfinite(s["predicted_h"])  # its error model, derived from its stencil, is overlaid
    fig = accuracy_figure(sweep, summary)
    gids = {line.get_gid() for line in fig.axes[0].get_lines()}
    assert {"measured-central4-float64", "theory-central4-float64"} <= gids


def test_central4_appears_in_the_cost_sweep_and_chart(central4):
    samples = cost.cost_sweep(cost.CostParams(widths=(2, 3), repeats=2, min_seconds=1e-4))
    rows = samples[samples["backend"] == "central4"]
    assert list(rows["evaluations"].unique()) == [4 * n for n in sorted(rows["n_params"].unique())]
    table, scaling = cost.cost_table(samples), cost.scaling_summary(samples)
    assert "ratio_to_backprop_exponent" in scaling.set_index("backend").loc["central4"]
    fig = cost_figure(table, scaling, samples, Config.make("smoke"))
    assert any(line.get_gid() == "evals-central4" for line in fig.axes[2].get_lines())


def test_central4_trains(central4):
    h = training.run(training.TrainingParams(m=16, epochs=1, batch_size=8, repeats=1, backends=("central4",)))
    assert set(h["backend"]) == {"central4"}


def test_central4_appears_in_the_benchmarks_parametrization(central4):
    import benchmarks.test_bench_accuracy as acc
    import benchmarks.test_bench_cost as bench_cost

    for module in (acc, bench_cost):
        importlib.reload(module)  # collection reads the registry at import, as a fresh pytest run does
    accuracy_ids = [m.args[1] for m in acc.test_error_against_step.pytestmark if m.name == "parametrize"]
    assert any("central4" in list(values) for values in accuracy_ids)
    assert ("central4", 2) in bench_cost.CASES
