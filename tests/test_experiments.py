"""The accuracy and cost experiments and the error model: the numerical-analysis properties they must show."""

import math

import numpy as np
import pandas as pd
import pytest

import gradlab
from gradlab import stats, theory
from gradlab.backends import all_backends, get, references
from gradlab.experiments import accuracy, cost
from tests.netdata import make_data


def expsin(x):
    """exp(sin(x)) summed, computed in x's own precision."""
    return np.sum(np.exp(np.sin(x)))


def expsin_grad(x):
    return np.cos(x) * np.exp(np.sin(x))


@pytest.fixture(scope="module")
def scalar_summary():
    # 16 coordinates: the error norm averages the luck of single rounding errors
    df = accuracy.accuracy_sweep(expsin, np.linspace(0.1, 2.9, 16), grad=expsin_grad, label="expsin")
    return df, accuracy.accuracy_summary(df).set_index(["backend", "dtype"])


@pytest.fixture(scope="module")
def mlp_summary():
    net = gradlab.MLP([3, 5, 2], activation="tanh", output="softmax")
    X, Y = make_data(net, 16)
    df = accuracy.accuracy_sweep(net.objective(X, Y), net.init(seed=0), label="mlp")
    return df, accuracy.accuracy_summary(df).set_index(["backend", "dtype"])


def test_sweep_is_tidy(scalar_summary):
    df, _ = scalar_summary
    assert {
        "backend",
        "dtype",
        "h",
        "abs_error",
        "rel_error",
        "predicted_rel_error",
        "evaluations",
        "underflow",
    } <= set(df.columns)
    fixed = [b for b in references() if not get(b).own_steps]
    own = [b for b in references() if get(b).own_steps]  # adaptive: one mark per precision
    assert len(df) == (len(fixed) * len(accuracy.DEFAULT_STEPS) + len(own)) * 2  # x 2 precisions
    assert set(df["backend"]) == {b.name for b in all_backends() if b.has_step}
    assert df["h"].max() >= 0.1 and df["h"].min() == pytest.approx(1e-16)
    # at least 4 steps per decade
    assert len(accuracy.DEFAULT_STEPS) >= 4 * 15


@pytest.mark.parametrize("backend, order", [("forward", 1), ("central", 2)])
def test_truncation_slope_is_the_order_and_rounding_slope_is_minus_one(scalar_summary, mlp_summary, backend, order):
    for _, s in (scalar_summary, mlp_summary):
        row = s.loc[(backend, "float64")]
        assert row["truncation_slope"] == pytest.approx(order, abs=0.15)
        assert row["rounding_slope"] == pytest.approx(-1, abs=0.2)
        row32 = s.loc[(backend, "float32")]
        assert row32["rounding_slope"] == pytest.approx(-1, abs=0.3)
    assert mlp_summary[1].loc[("forward", "float32"), "truncation_slope"] == pytest.approx(1, abs=0.2)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["forward", "central"])
def test_predicted_optimal_step_is_within_a_factor_10_of_the_measured_one(scalar_summary, mlp_summary, backend, dtype):
    for _, s in (scalar_summary, mlp_summary):
        row = s.loc[(backend, dtype)]
        assert 0.1 < row["best_h"] / row["predicted_h"] < 10
        assert 0.01 < row["best_rel_error"] / row["predicted_rel_error"] < 10


def test_float32_is_far_worse_than_float64_as_theory_says(mlp_summary):
    _, s = mlp_summary
    for backend in ("forward", "central"):
        ratio = s.loc[(backend, "float32"), "best_rel_error"] / s.loc[(backend, "float64"), "best_rel_error"]
        eps_ratio = np.finfo(np.float32).eps / np.finfo(np.float64).eps  # 2^29
        expected = eps_ratio ** (1 / 2 if backend == "forward" else 2 / 3)
        assert ratio > 1e3 and 0.05 < ratio / expected < 20


def test_central_beats_forward_at_its_best(scalar_summary):
    _, s = scalar_summary
    assert s.loc[("central", "float64"), "best_rel_error"] < 1e-2 * s.loc[("forward", "float64"), "best_rel_error"]


def test_float32_steps_below_the_spacing_are_marked_not_faked(mlp_summary):
    df, _ = mlp_summary
    f32 = df[(df["dtype"] == "float32") & (df["backend"] != "complex_step")]
    tiny = f32[f32["h"] < 1e-9]
    assert tiny["underflow"].all() and tiny["rel_error"].isna().all()
    # the complex step never adds h to x: no step is too small for it
    assert not df[df["backend"] == "complex_step"]["underflow"].any()
    f64 = df[df["dtype"] == "float64"]
    assert not f64[f64["h"] >= 1e-12]["underflow"].any()


def test_error_model_closed_forms():
    eps = np.finfo(float).eps
    fwd = theory.error_model("forward", f0=2.0, derivative=3.0)
    assert fwd.h_opt == pytest.approx(2 * math.sqrt(eps * 2.0 / 3.0))
    assert fwd.min_error == pytest.approx(2 * math.sqrt(eps * 2.0 * 3.0))
    cen = theory.error_model("central", f0=2.0, derivative=3.0, dtype="float32")
    eps32 = float(np.finfo(np.float32).eps)
    assert cen.h_opt == pytest.approx((3 * eps32 * 2.0 / 3.0) ** (1 / 3))
    grid = np.logspace(-8, 0, 20001)
    for m in (fwd, cen):
        assert m.min_error == pytest.approx(m.error(m.h_opt))
        assert m.min_error == pytest.approx(m.error(grid).min(), rel=1e-4)


def test_the_closed_forms_are_those_of_the_curve_the_chart_draws():
    h = np.logspace(-10, 0, 41)
    folded = 0
    for b in all_backends():
        try:
            m = theory.error_model(b.name, f0=-1.5, derivative=0.7, dtype="float32")
        except ValueError as e:  # the analytic and complex-step backends are not difference schemes
            assert str(e).startswith("`scheme` must be one of") and b.name not in theory.schemes()
            continue
        derivs = {b.order + 1: np.array([0.7])}
        trunc, rnd = b.error_terms(h, f0=-1.5, grad=np.zeros(1), derivs=derivs, eps=m.eps)  # what accuracy draws
        np.testing.assert_allclose(m.error(h), (trunc + rnd)[:, 0], rtol=1e-12)
        folded += 1
    assert folded >= 3  # forward, central, richardson at least
    with pytest.raises(ValueError, match=r"`scheme` must be one of .*; got 'complex_step'"):
        theory.error_model("complex_step", f0=1.0, derivative=1.0)  # its rounding does not fall as 1/h
    with pytest.raises(ValueError, match=r"`scheme` must be one of .*; got 'centre'"):
        theory.error_model("centre", f0=1.0, derivative=1.0)


def test_higher_derivatives_of_a_known_function():
    d = theory.higher_derivatives(np.sin, 0.4)
    assert d[2] == pytest.approx(-math.sin(0.4), rel=1e-3)
    assert d[3] == pytest.approx(-math.cos(0.4), rel=1e-3)
    assert d[5] == pytest.approx(math.cos(0.4), rel=1e-3)


def test_exponent_fit_recovers_a_known_exponent():
    rng = np.random.default_rng(0)
    n = np.logspace(2, 6, 12)
    y = 3e-7 * n**1.7 * np.exp(rng.normal(scale=0.05, size=n.size))
    fit = stats.loglog_fit(n, y)
    assert fit.exponent == pytest.approx(1.7, abs=0.05)
    assert 0 < fit.stderr < 0.05 and fit.n_points == 12
    tail = stats.loglog_fit(n, y, last=4)
    assert tail.n_points == 4 and tail.exponent == pytest.approx(1.7, abs=0.15)
    with pytest.raises(ValueError, match="at least 2 distinct positive points"):
        stats.loglog_fit([1.0], [1.0])


def test_cost_sweep_counts_are_exact_and_fd_stops_at_the_cap():
    df = cost.cost_sweep(cost.CostParams(widths=(2, 3, 6), repeats=2, fd_max_params=100, min_seconds=1e-4))
    assert set(df.columns) >= {
        "backend",
        "n_params",
        "repeat",
        "seconds",
        "evaluations",
        "backward_passes",
        "threads",
        "blas",
    }
    assert set(df["repeat"]) == {0, 1}  # every round kept
    batched = {cost.batched_name(b) for b in ("central", "complex_step")}  # timed a second time, batched
    assert set(df["backend"]) == {"objective", *gradlab.backends(), *batched}  # every registered backend
    for series in batched:  # the same evaluations as the loop's, in fewer calls
        loop = df[df["backend"] == cost.unbatched(series)]
        assert df[df["backend"] == series]["evaluations"].tolist() == loop["evaluations"].tolist()
    gain = cost.batching_gain(df)
    assert set(gain["series"]) == batched and (gain["ratio"] > 0).all()
    assert gain.groupby("series")["n_params"].apply(list).to_dict() == {s: [42, 64] for s in batched}
    df = df[~df["backend"].isin(batched)]
    for r in df.itertuples():
        n = r.n_params
        expected = 1 if r.backend == "objective" else get(r.backend).evaluations(n)
        assert r.jvps == (0 if r.backend == "objective" else get(r.backend).jvps(n))
        if r.backend != "objective" and get(r.backend).jvps(n):  # forward mode: JVPs, not evaluations
            assert r.evaluations == expected == 0 and r.jvps == n
        elif r.backend != "objective" and get(r.backend).order is None:  # adaptive: an upper bound
            assert 0 < r.evaluations <= expected
        else:
            assert r.evaluations == expected
        assert r.backward_passes == (r.backend == "backprop")
    assert df[df["backend"] == "central"]["evaluations"].tolist() == [2 * n for n in (42, 42, 64, 64)]
    n = sorted(df["n_params"].unique())
    assert n == [cost.ladder_network(w).n_params for w in (2, 3, 6)] == [42, 64, 154]
    assert set(df[df["n_params"] == 154]["backend"]) == {"objective", "backprop"}
    assert (df["seconds"] > 0).all() and (df["threads"] == 1).all()


def test_scaling_summary_on_synthetic_costs():
    n = np.array([100, 1_000, 10_000, 100_000])
    rows = []
    noise = np.random.default_rng(1)
    for backend, t in {"objective": 1e-8 * n**0.5, "backprop": 2e-8 * n**0.5, "central": 2 * n * 1e-8 * n**0.5}.items():
        for rep in range(5):  # noise only ever slows a round down; the fastest round is exact
            slow = 1 + (rep > 0) * noise.uniform(0, 0.5, size=n.size)
            rows += [{"backend": backend, "n_params": k, "repeat": rep, "seconds": s} for k, s in zip(n, t * slow)]
    s = cost.scaling_summary(pd.DataFrame(rows)).set_index("backend")
    assert s.loc["objective", "exponent"] == pytest.approx(0.5)
    assert s.loc["central", "exponent"] == pytest.approx(1.5)
    assert 0 < s.loc["central", "uncertainty"] < 0.2  # the noise of the rounds shows as uncertainty
    assert s.loc["central", "ratio_to_backprop_exponent"] == pytest.approx(1.0, abs=0.1)
    assert s.loc["central", "in_objective_units"] == pytest.approx(2e5)
    assert s.loc["backprop", "in_objective_units"] == pytest.approx(2.0)


def test_the_baseline_is_the_registrys_first_analytic_backend(monkeypatch):
    from gradlab.backends import Analytic, base, baseline

    assert baseline() == "backprop"
    # a registry whose analytic backend has another name: the cost ratios are taken against it
    swapped = {("reverse" if k == "backprop" else k): v for k, v in base._REGISTRY.items()}
    swapped["reverse"] = Analytic("reverse")
    monkeypatch.setattr(base, "_REGISTRY", swapped)
    assert baseline() == "reverse"
    n = np.array([100, 1_000, 10_000])
    times = {"objective": 1e-8 * n, "reverse": 3e-8 * n, "central": 6e-8 * n**2}
    rows = [
        {"backend": b, "n_params": k, "repeat": rep, "seconds": t}
        for b, ts in times.items()
        for rep in range(3)
        for k, t in zip(n, ts)
    ]
    s = cost.scaling_summary(pd.DataFrame(rows)).set_index("backend")
    assert s.loc["central", "ratio_at_largest"] == pytest.approx(2e4)  # 6e-8 N^2 / 3e-8 N at N = 10^4
    assert np.isnan(s.loc["reverse"].get("ratio_at_largest", np.nan))  # no ratio of the baseline to itself
    assert cost.ratio_samples(pd.DataFrame(rows), "central")["ratio"].tolist() == pytest.approx(
        [200] * 3 + [2e3] * 3 + [2e4] * 3
    )
    monkeypatch.setattr(base, "_REGISTRY", {k: v for k, v in swapped.items() if k != "reverse"})
    with pytest.raises(LookupError, match="no analytic backend is registered"):
        baseline()


@pytest.mark.parametrize("backend, order", [("richardson", 4), ("complex_step", 2)])
def test_higher_order_schemes_show_their_order(mlp_summary, backend, order):
    _, s = mlp_summary
    row = s.loc[(backend, "float64")]
    assert row["truncation_slope"] == pytest.approx(order, abs=0.3)
    assert row["expected_truncation_slope"] == order


def test_richardson_beats_central_and_complex_step_reaches_the_last_bits(scalar_summary, mlp_summary):
    eps = np.finfo(np.float64).eps
    for _, s in (scalar_summary, mlp_summary):
        assert (
            s.loc[("richardson", "float64"), "best_rel_error"] < 0.1 * s.loc[("central", "float64"), "best_rel_error"]
        )
        assert s.loc[("complex_step", "float64"), "best_rel_error"] < 4 * eps
        assert s.loc[("complex_step", "float64"), "rounding_slope"] == pytest.approx(0, abs=0.1)
    assert 0.1 < s.loc[("richardson", "float64"), "best_h"] / s.loc[("richardson", "float64"), "predicted_h"] < 10


def test_complex_step_is_flat_below_1e_8(scalar_summary):
    df, _ = scalar_summary
    cs = df[(df["backend"] == "complex_step") & (df["dtype"] == "float64") & (df["h"] <= 1e-8)]
    assert len(cs) > 30 and (cs["rel_error"] < 4 * np.finfo(float).eps).all()


@pytest.mark.parametrize("scheme", ["forward", "central", "richardson"])
def test_model_for_a_scalar_function_predicts_its_best_step(scheme):
    f = lambda t: math.exp(math.sin(t))  # noqa: E731
    x0 = 0.7
    exact = math.cos(x0) * math.exp(math.sin(x0))
    model = theory.model_for_function(f, x0, scheme)
    steps = np.logspace(-1, -12, 45)
    xs = np.linspace(0.65, 0.75, 21)  # several nearby points: one point's rounding is luck
    errors = []
    for h in steps:
        g = [gradlab.gradient(lambda v: f(v[0]), [x], backend=scheme, h=float(h))[0] for x in xs]
        errors.append(np.median(np.abs(np.array(g) - np.cos(xs) * np.exp(np.sin(xs))) / abs(exact)))
    best = steps[int(np.argmin(errors))]
    assert 0.1 < best / model.h_opt < 10


def test_each_experiment_describes_the_parameters_it_ran_with():
    from gradlab.experiments import bugzoo, gradcheck_zoo, training, trustzoo

    p = bugzoo.BugZooParams(width=4, classes=5, l2=0.5, batch=7, jitter=0.2, seeds=(3,))
    obj, _ = p.network("tanh", 3)
    assert obj.net.sizes == (4, 4, 4, 5) and obj.net.l2 == 0.5 and obj.X.shape == (7, 4)
    for fact in ("[4, 4, 4, 5]", "l2 = 0.5", "batch 7", "jittered by 0.2", "seeds 3;"):
        assert fact in p.describe()
    c = cost.CostParams(depth=3, n_out=7, q=0.3, threads=2, widths=(5, 9))
    for fact in ("[w, w, w, w, 7] for w in 5, 9", "30% quantile", "2 BLAS threads"):
        assert fact in c.describe()
    assert cost.ladder_network(5, depth=c.depth, n_out=c.n_out).sizes == (5, 5, 5, 5, 7)
    t = trustzoo.TrustZooParams(conditions=(trustzoo.Condition(),), sizes=(3, 4, 2), l2=0.2, bugs=("wrong_sign_bp1",))
    assert "Networks [3, 4, 2] (softmax + cross-entropy, l2 = 0.2" in t.describe()
    assert "under 1 conditions" in t.describe() and "of 1: wrong_sign_bp1" in t.describe()
    assert set(t.run()["bug"]) == {"none", "wrong_sign_bp1"}
    tr = training.TrainingParams(sizes=(2, 5, 1), activation="relu", learning_rate=0.7)
    assert tr.network().sizes == (2, 5, 1) and tr.network().activations == ("relu",)
    assert "MLP [2, 5, 1] (relu, sigmoid + cross-entropy)" in tr.describe() and "rate 0.7" in tr.describe()
    z = gradcheck_zoo.GradcheckZooParams(activations=("tanh", "relu"), heads=(("sigmoid", "mse"),), l2=0.3)
    assert "2 networks, 1 heads (output and loss) on each of 2 hidden activations" in z.describe()
    a = accuracy.AccuracyParams(decades=(-1, -9), steps_per_decade=2)
    assert max(a.steps()) == pytest.approx(0.1) and min(a.steps()) == pytest.approx(1e-9)
    assert "2 steps per decade from 0.1 to 1e-09" in a.describe()


def test_every_experiment_has_one_entry_point_shape_and_keeps_its_old_names():
    import dataclasses
    import inspect

    from gradlab.experiments import bugzoo, functions, gradcheck_zoo, training, trustzoo

    shapes = {
        accuracy: accuracy.AccuracyParams,
        bugzoo: bugzoo.BugZooParams,
        cost: cost.CostParams,
        functions: functions.FunctionsParams,
        gradcheck_zoo: gradcheck_zoo.GradcheckZooParams,
        training: training.TrainingParams,
        trustzoo: trustzoo.TrustZooParams,
    }
    for module, params in shapes.items():
        assert dataclasses.is_dataclass(params) and params.__name__.endswith("Params")
        assert isinstance(params().describe(), str)
        first = next(iter(inspect.signature(module.run).parameters.values()))
        assert first.name == "params" and type(first.default) is params, module.__name__
    assert bugzoo.bug_zoo is bugzoo.run and bugzoo.zoo_summary is bugzoo.summary and cost.cost_sweep is cost.run
    assert trustzoo.TrustZoo is trustzoo.TrustZooParams and gradcheck_zoo.ZooParams is gradcheck_zoo.GradcheckZooParams
    one = trustzoo.TrustZooParams(conditions=(trustzoo.Condition(),), bugs=("wrong_sign_bp1",))
    seen = []
    pd.testing.assert_frame_equal(one.run(), trustzoo.run(one, progress=lambda i, n: seen.append((i, n))))
    assert seen == [(1, 1)]


# -- forward against reverse mode ------------------------------------------------------------------------


def test_modes_jacobians_agree_with_each_other_and_with_differences():
    from gradlab.experiments import modes

    f = modes.LayerMap.random(5, 7, 6, seed=1)
    x = np.random.default_rng(2).normal(size=5)
    J = f.forward_jacobian(x, 2)
    np.testing.assert_allclose(f.reverse_jacobian(x, 3), J, rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(gradlab.jacobian(f, x, backend="forward_ad"), J, rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(gradlab.jacobian(f, x, backend="central"), J, rtol=1e-8, atol=1e-10)
    assert [modes.passes(m, 130, 64, 64) for m in ("forward", "reverse", "forward_ad")] == [3, 1, 3]


def test_modes_sweep_and_crossover():
    from gradlab.experiments import modes

    samples = modes.run(modes.ModesParams(n_ins=(2, 16), n_out=8, hidden=4, repeats=2, min_seconds=1e-4))
    assert set(samples["mode"]) == set(modes.MODES) and len(samples) == 3 * 2 * 2
    assert samples[samples["mode"] == "reverse"]["passes"].unique().tolist() == [1]
    table = modes.summary(samples)
    assert list(table["n_in"]) == [2, 16] and (table["ratio_low"] <= table["ratio_high"]).all()
    # the crossover, on synthetic ratios: 0.5 at 16, 2 at 64 -> 1 at 32 (log-log interpolation)
    synthetic = pd.DataFrame({"n_in": [4, 16, 64, 256], "ratio": [0.1, 0.5, 2.0, 8.0]})
    assert modes.crossover(synthetic) == pytest.approx(32.0)
    assert np.isnan(modes.crossover(synthetic.assign(ratio=[0.1, 0.2, 0.3, 0.4])))
