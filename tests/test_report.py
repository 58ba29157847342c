"""The gradlab command and the report: files, figures faithful to their data, clean failures."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from gradlab import cli, sweeps
from gradlab.report import writer as report_build
from gradlab.report.figures import accuracy_figure, cost_figure, gradcheck_figure

FILES = {
    "accuracy.png",
    "cost.png",
    "gradcheck.png",
    "training.png",
    "accuracy.csv",
    "cost.csv",
    "gradcheck.csv",
    "bugzoo.csv",
    "training.csv",
    "index.md",
}
TINY = ["--smoke", "--no-progress"]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "nested" / "reports"  # a missing folder is created
    assert cli.main(["report", "--out", str(out), *TINY]) == 0
    return out


def test_report_writes_every_file_and_nothing_else(report_dir):
    assert {p.name for p in report_dir.iterdir()} == FILES
    for name in FILES:
        assert (report_dir / name).stat().st_size > 0
    acc = pd.read_csv(report_dir / "accuracy.csv")
    assert {"backend", "dtype", "h", "rel_error"} <= set(acc.columns)
    cost = pd.read_csv(report_dir / "cost.csv")
    assert {"backend", "n_params", "seconds", "evaluations"} <= set(cost.columns)
    zoo = pd.read_csv(report_dir / "gradcheck.csv")
    assert len(zoo.groupby("network")) == 9 * 6  # every activation x every head
    page = (report_dir / "index.md").read_text()
    for needle in (
        "![accuracy](accuracy.png)",
        "![cost](cost.png)",
        "![training](training.png)",
        "## Findings",
        "backprop is **",
        "## Bug zoo",
        "FALSE ALARMS",
        "## Machine",
        "torch gradcheck",
    ):
        assert needle in page


def test_findings_are_computed_from_the_data(report_dir):
    page = (report_dir / "index.md").read_text()
    acc = pd.read_csv(report_dir / "accuracy.csv")
    s = sweeps.accuracy_summary(acc).set_index(["backend", "dtype"])
    best = s.loc[("central", "float64")]
    assert f"**central, float64**: best relative error {best['best_rel_error']:.2g} at h = {best['best_h']:.2g}" in page
    cost = pd.read_csv(report_dir / "cost.csv")
    t = cost.pivot_table(index="n_params", columns="backend", values="seconds")
    speedup = t["central"].iloc[-1] / t["backprop"].iloc[-1]
    assert f"backprop is **{speedup:,.0f}× faster** at N = {t.index[-1]:,}" in page


def test_same_seed_gives_identical_accuracy_and_gradcheck_csvs(report_dir, tmp_path):
    assert cli.main(["report", "--out", str(tmp_path), *TINY]) == 0
    for name in ("accuracy.csv", "gradcheck.csv"):
        assert (tmp_path / name).read_bytes() == (report_dir / name).read_bytes()


def _lines(ax, gid):
    return next(line for line in ax.get_lines() if line.get_gid() == gid)


def test_accuracy_figure_draws_exactly_the_sweep(report_dir):
    acc = pd.read_csv(report_dir / "accuracy.csv")
    grid = acc
    fig = accuracy_figure(acc, sweeps.accuracy_summary(acc))
    for ax, dtype in zip(fig.axes, ["float64", "float32"]):
        for backend in ("forward", "central"):
            g = grid[(grid["backend"] == backend) & (grid["dtype"] == dtype)].sort_values("h")
            x, y = _lines(ax, f"measured-{backend}-{dtype}").get_data()
            np.testing.assert_array_equal(x, g["h"].to_numpy())
            np.testing.assert_array_equal(y, g["rel_error"].to_numpy())
            _, yt = _lines(ax, f"theory-{backend}-{dtype}").get_data()
            np.testing.assert_array_equal(yt, g["predicted_rel_error"].to_numpy())
    torch_marker = _lines(fig.axes[0], "tool-torch gradcheck-float64")
    row = acc[(acc["backend"] == "central") & (acc["dtype"] == "float64") & np.isclose(acc["h"], 1e-6)]
    assert torch_marker.get_ydata()[0] == row["rel_error"].iloc[0]


def test_cost_figure_draws_exactly_the_table(report_dir):
    cost = pd.read_csv(report_dir / "cost.csv")
    fig = cost_figure(cost)
    ax_t, ax_r, ax_n = fig.axes
    for backend, g in cost.groupby("backend"):
        g = g.sort_values("n_params")
        x, y = _lines(ax_t, f"time-{backend}").get_data()
        np.testing.assert_array_equal(x, g["n_params"].to_numpy())
        np.testing.assert_array_equal(y, g["seconds"].to_numpy())
        if backend != "objective":
            np.testing.assert_array_equal(_lines(ax_n, f"evals-{backend}").get_ydata(), g["evaluations"].to_numpy())
    t = cost.pivot_table(index="n_params", columns="backend", values="seconds")
    np.testing.assert_allclose(_lines(ax_r, "ratio-central").get_ydata(), (t["central"] / t["backprop"]).dropna())
    assert any("∝ N^" in text.get_text() for text in ax_t.get_legend().get_texts())


def test_gradcheck_figure_draws_every_block(report_dir):
    zoo = pd.read_csv(report_dir / "gradcheck.csv")
    fig = gradcheck_figure(zoo, 1e-6)
    ax = fig.axes[0]
    drawn = np.concatenate([line.get_ydata() for line in ax.get_lines() if (line.get_gid() or "").startswith("zoo-")])
    np.testing.assert_array_equal(np.sort(drawn), np.sort(zoo["max_rel_error"].clip(lower=1e-17).to_numpy()))


def test_benchmark_json_feeds_the_cost_chart(tmp_path):
    benchmarks = []
    for backend, evals, k in (("objective", 1, 0.6), ("backprop", 1, 0.6), ("central", None, 1.6)):
        for n in (100, 1000, 10000):
            benchmarks.append(
                {
                    "name": f"{backend}-{n}",
                    "stats": {"median": 1e-6 * n**k},
                    "extra_info": {
                        "backend": backend,
                        "n_params": n,
                        "evaluations": evals or 2 * n,
                        "backward_passes": 0,
                    },
                }
            )
    benchmarks.append(
        {"name": "acc", "stats": {"median": 1.0}, "extra_info": {"backend": "central", "n_params": 90, "h": 1e-6}}
    )  # ignored
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"benchmarks": benchmarks}))
    out = tmp_path / "rep"
    assert cli.main(["report", "--out", str(out), "--benchmark-json", str(path), *TINY]) == 0
    cost = pd.read_csv(out / "cost.csv")
    assert sorted(cost["n_params"].unique()) == [100, 1000, 10000] and len(cost) == 9
    assert "pytest-benchmark JSON" in (out / "index.md").read_text()
    assert "Its time ÷ backprop's ∝ N^1.00" in (out / "index.md").read_text()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["report", "--widths", "a,b"], "must be comma-separated integers"),
        (["report", "--bogus"], "unrecognized arguments: --bogus"),
        (["report", "--full", "--smoke"], "not allowed with argument"),
        (["report", "--benchmark-json", "/no/such/file.json"], "no such file"),
        (["check", "--activation", "swish"], "invalid choice: 'swish'"),
        (["check", "--sizes", "4"], "at least two positive widths"),
        (["check", "--l2", "-1"], "non-negative"),
        (["check", "--batch", "0"], "at least 1"),
        (["check", "--output", "identity", "--loss", "cross_entropy"], "needs output 'sigmoid' or 'softmax'"),
        ([], "the following arguments are required"),
    ],
)
def test_usage_errors_exit_2_and_say_what_was_wrong(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_benchmark_json_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(SystemExit) as info:
        cli.main(["report", "--out", str(tmp_path / "r"), "--benchmark-json", str(path), *TINY])
    assert info.value.code == 2 and "readable pytest-benchmark JSON" in capsys.readouterr().err


def test_unwritable_output_folder_fails_cleanly(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as info:
        cli.main(["report", "--out", str(blocker / "reports"), *TINY])
    assert info.value.code == 2
    assert "cannot write the report to" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_a_failure_while_writing_leaves_no_partial_file(tmp_path, monkeypatch, report_dir):
    (tmp_path / "cost.png").write_bytes(b"old")
    measured = report_build.measure(report_build.Config.make("smoke", progress=False))
    monkeypatch.setattr(report_build, "measure", lambda config: measured)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_build, "cost_figure", lambda cost: type("F", (), {"savefig": boom})())
    with pytest.raises(RuntimeError, match="disk full"):
        report_build.build(tmp_path, report_build.Config.make("smoke", progress=False))
    assert (tmp_path / "cost.png").read_bytes() == b"old"  # the old file survives whole
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_check_command_passes_and_fails(capsys):
    assert cli.main(["check", "--sizes", "3,5,2", "--activation", "tanh", "--output", "softmax"]) == 0
    out = capsys.readouterr().out
    assert "gradcheck passed" in out and "W1" in out and "b2" in out
    # a tolerance no finite difference meets: the command reports the failure with exit 1
    assert cli.main(["check", "--sizes", "3,5,2", "--reference", "forward", "--h", "0.5"]) == 1
    assert "gradcheck FAILED" in capsys.readouterr().out


def test_module_entry_point_and_help():
    run = subprocess.run([sys.executable, "-m", "gradlab", "report", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "--benchmark-json" in run.stdout and "--full" in run.stdout
    run = subprocess.run([sys.executable, "-m", "gradlab", "nonsense"], capture_output=True, text=True)
    assert run.returncode == 2 and "invalid choice" in run.stderr
