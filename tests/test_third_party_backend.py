"""A backend registered from outside flows into the experiments, the charts and the benchmarks
with no other edit: the 4th-order central stencil of the redesign issue, and a backend of a
kind gradlab has never seen (a toy of dual numbers, its own count, legend and steps)."""

import importlib

import numpy as np
import pytest

import gradlab
from gradlab import cli
from gradlab.backends import references, stencil, unregister
from gradlab.experiments import accuracy, cost, training
from gradlab.report import Config
from gradlab.report.sections.accuracy import accuracy_figure
from gradlab.report.sections.cost import cost_figure


def _central4():
    return gradlab.DifferenceScheme("central4", offsets=(-2, -1, 1, 2), weights=(1, -8, 8, -1), divisor=12, order=4)


@pytest.fixture
def central4():
    scheme = _central4()
    gradlab.register(scheme)
    try:
        yield scheme
    finally:
        unregister("central4")
    assert "central4" not in gradlab.backends()


def test_central4_appears_in_the_accuracy_sweep_and_chart(central4, dual, sweeps):
    sweep, summary = sweeps[0]
    assert "central4" in set(sweep["backend"])
    s = summary.set_index(["backend", "dtype"]).loc[("central4", "float64")]
    assert s["expected_truncation_slope"] == 4 and s["truncation_slope"] == pytest.approx(4, abs=0.5)
    assert np.isfinite(s["predicted_h"])  # its error model, derived from its stencil, is overlaid
    fig = accuracy_figure(sweep, summary)
    gids = {line.get_gid() for line in fig.axes[0].get_lines()}
    assert {"measured-central4-float64", "theory-central4-float64"} <= gids


def test_central4_appears_in_the_cost_sweep_and_chart(central4, dual, sweeps):
    samples = sweeps[1]
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


# -- a backend of a new kind ------------------------------------------------------------------------


class Dual(gradlab.Backend):
    """A toy of a kind gradlab has never seen ("dual": exact to rounding, as forward-mode AD is),
    written in one class on the evaluation kernel: ``Im f(x + i t e_i) / t`` at a step it chooses
    itself, ``t = sqrt(tiny) max(1, |x_i|)``, so small that no truncation is left; it reports its
    own error estimate and draws itself."""

    name = "dual"
    kind = "dual"
    own_steps = True
    jacobians = True
    style = gradlab.Style("dual numbers (toy)", "#000000", "8")

    def evaluations(self, n):
        return n

    def evaluations_formula(self):
        return "n complex, no step to tune"

    def legend(self):
        return "ε·|g| (exact)"

    def compute(self, objective, x, *, h):
        start = objective.evaluations
        flat = x.reshape(-1)
        t = np.sqrt(np.finfo(x.dtype).tiny) * np.maximum(1.0, np.abs(flat.astype(np.float64)))
        _, imag = stencil.complex_values(objective, x, t)
        g = imag / t.reshape(-1, *(1,) * (imag.ndim - 1))
        g = g.reshape(x.shape) if imag.ndim == 1 else np.moveaxis(g, 0, -1).reshape(imag.shape[1:] + x.shape)
        eps = float(np.finfo(x.dtype).eps)
        return gradlab.GradientResult(
            g.astype(x.dtype),
            self.name,
            h,
            objective.evaluations - start,
            step=t.reshape(x.shape),
            error=8 * eps * np.abs(g) + np.finfo(x.dtype).tiny,
        )


@pytest.fixture
def dual():
    backend = gradlab.register(Dual())
    try:
        yield backend
    finally:
        unregister("dual")


@pytest.fixture(scope="module")
def sweeps():
    """One accuracy sweep and one cost sweep with both newcomers registered, shared by the four
    tests that read them (each sweep runs every backend: a second of CPU apiece).  Registered only
    while sweeping; the tests register them again (``central4``, ``dual``) to draw the charts."""
    gradlab.register(_central4())
    gradlab.register(Dual())
    try:
        accuracy_run = accuracy.run(accuracy.AccuracyParams(sizes=(2, 3, 2), batch=4, steps_per_decade=1))
        samples = cost.cost_sweep(cost.CostParams(widths=(2, 3), repeats=2, min_seconds=1e-4))
    finally:
        unregister("central4")
        unregister("dual")
    return accuracy_run, samples


def test_a_new_kind_gives_jacobians(dual):
    A = np.random.default_rng(0).normal(size=(3, 4))
    x = np.linspace(-1, 1, 4)
    J = gradlab.jacobian(lambda p: A @ np.sin(p), x, backend="dual")
    np.testing.assert_allclose(J, A * np.cos(x), rtol=1e-15, atol=1e-16)
    with pytest.raises(TypeError, match="real array for complex input"):  # the kernel's checks hold for it too
        gradlab.jacobian(lambda p: np.abs(A @ p), x, backend="dual")


def test_a_new_kind_is_one_mark_with_its_legend_on_the_accuracy_chart(central4, dual, sweeps):
    sweep, summary = sweeps[0]
    rows = sweep[sweep["backend"] == "dual"]
    assert len(rows) == 2 and rows["own_steps"].all()  # one mark per precision, its own steps
    assert rows["rel_error"].max() < 1e-5 and (rows.loc[rows["dtype"] == "float64", "rel_error"] < 1e-14).all()
    fig = accuracy_figure(sweep, summary)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "dual numbers (toy): its own steps, error ε·|g| (exact) (one mark, its evaluation count beside it)" in labels
    assert "adaptive: its own steps (one mark, its evaluation count beside it)" in labels  # no model: as before


def test_a_new_kind_is_counted_and_drawn_on_the_cost_chart(central4, dual, sweeps):
    samples = sweeps[1]
    rows = samples[samples["backend"] == "dual"]
    assert list(rows["evaluations"].unique()) == sorted(rows["n_params"].unique())  # n: its own count
    table, scaling = cost.cost_table(samples), cost.scaling_summary(samples)
    assert "ratio_to_backprop_exponent" in scaling.set_index("backend").loc["dual"]
    fig = cost_figure(table, scaling, samples, Config.make("smoke"))
    evals = next(line for line in fig.axes[2].get_lines() if line.get_gid() == "evals-dual")
    assert evals.get_label() == "dual numbers (toy): n complex, no step to tune"
    assert evals.get_color() == "#000000"


def test_a_new_kind_is_a_reference_of_the_command_line_check(dual, capsys):
    assert "dual" in references()
    assert cli.main(["check", "--sizes", "3,4,2", "--reference", "dual"]) == 0
    assert "passed" in capsys.readouterr().out
