"""gradlab.plot.error_map: a block's per-entry error map, drawn with matplotlib's Agg backend.

The planted bug fixes which entries fail (from the math: a 1% error in two named entries of W), and
the errors are compared with the exact gradient, computed here by hand.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gradlab  # noqa: E402
import gradlab.plot  # noqa: E402

V = np.arange(1.0, 5.0)
rng = np.random.default_rng(11)
POINT = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=3), "K": rng.normal(size=(2, 3, 4))}
BUGS = [(1, 2), (2, 0)]


def f(p):
    return float(np.sum(np.sin(p["W"] @ V + p["b"])) + 0.5 * np.sum(p["K"] ** 2))


def exact(p):
    s = np.cos(p["W"] @ V + p["b"])
    return {"W": np.outer(s, V), "b": s, "K": p["K"].copy()}


def planted(p):
    g = exact(p)
    for i, j in BUGS:
        g["W"][i, j] *= 1.01
    return g


@pytest.fixture(scope="module")
def result():
    res = gradlab.gradcheck(f, POINT, grad=planted)
    assert res.status == "failed"
    return res


@pytest.fixture(autouse=True)
def _no_show(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("gradlab.plot must never call plt.show()")

    monkeypatch.setattr(plt, "show", refuse)
    yield
    plt.close("all")


def test_the_error_map_of_a_planted_bug(result):
    ratio, failing, unverified, block = gradlab.plot.error_ratio(result, "W")
    assert block["shape"] == (3, 4) and ratio.shape == (3, 4)
    # exactly the planted entries fail, and they are the ones beyond the failure line (3 tolerances)
    assert sorted(map(tuple, np.argwhere(failing))) == BUGS
    assert (ratio[failing] > 3).all() and (ratio[~failing] < 1).all() and not unverified.any()
    # |analytic - reference| is the planted 1% of the exact gradient, computed independently
    g = exact(POINT)["W"]
    abs_error = result.abs_error.reshape(-1)[block["offset"] : block["offset"] + 12].reshape(3, 4)
    for i, j in BUGS:
        assert abs_error[i, j] == pytest.approx(0.01 * abs(g[i, j]), rel=1e-5)
    ax = gradlab.plot.error_map(result, "W")
    drawn = np.asarray(ax.images[0].get_array())
    assert drawn.shape == (3, 4)
    norm = ax.images[0].norm
    np.testing.assert_allclose(drawn, np.clip(ratio, norm.vmin, norm.vmax))
    assert type(norm).__name__ == "LogNorm"
    # one red outline per failing entry, at its cell
    outlined = sorted(
        (round(p.get_y() + 0.5), round(p.get_x() + 0.5)) for p in ax.patches if p.get_edgecolor()[:3] == (1.0, 0.0, 0.0)
    )
    assert outlined == BUGS
    assert ax.get_title().startswith("W (3x4)") and "2 of 12 entries failed" in ax.get_title()


def test_default_block_is_the_failing_one_and_ax_is_drawn_into(result):
    fig, (left, right) = plt.subplots(1, 2)
    assert gradlab.plot.error_map(result, ax=right) is right
    assert right.get_title().startswith("W (3x4)") and not left.images


def test_a_bias_is_a_row_and_a_3d_block_is_reshaped_and_says_so(result):
    ax = gradlab.plot.error_map(result, "b", colorbar=False)
    assert np.asarray(ax.images[0].get_array()).shape == (1, 3)
    ax = gradlab.plot.error_map(result, "K")
    assert np.asarray(ax.images[0].get_array()).shape == (2, 12)
    assert "reshaped from 2x3x4 to 2x12" in ax.get_title()


def test_without_per_entry_data_it_says_what_it_needs():
    fast = gradlab.gradcheck(f, POINT, grad=exact, fast=True)
    assert fast.status == "passed" and fast.abs_error is None
    with pytest.raises(ValueError, match=r"per-entry errors.*fast=False"):
        gradlab.plot.error_map(fast)


def test_a_block_that_is_not_there_is_named(result):
    with pytest.raises(ValueError, match=r"`block` must be one of the result's blocks, \['W', 'b', 'K'\]; got 'W2'"):
        gradlab.plot.error_map(result, "W2")
    with pytest.raises(TypeError, match="`block` must be a block name"):
        gradlab.plot.error_map(result, 0)


def test_the_module_docstring_example_draws_what_it_says():
    net = gradlab.MLP([3, 4, 2], activation="tanh", output="softmax", loss="cross_entropy")
    X = np.random.default_rng(0).normal(size=(5, 3))
    Y = np.eye(2)[[0, 1, 1, 0, 1]]
    obj, theta = net.objective(X, Y), net.init(seed=0)
    bug = lambda t: obj.gradient(t) * np.where(np.arange(t.size) == 3, 1.01, 1.0)  # noqa: E731
    ax = gradlab.plot.error_map(gradlab.gradcheck(obj, theta, grad=bug))
    assert ax.get_title() == "W1 (4x3): |analytic - reference| / tolerance\n1 of 12 entries failed (outlined)"
    assert ax.get_title() in gradlab.plot.__doc__.replace("\\n", "\n")


@pytest.mark.slow  # a fresh interpreter
def test_import_gradlab_does_not_import_matplotlib():
    import os
    import subprocess
    import sys

    code = "import sys, gradlab; assert 'matplotlib' not in sys.modules; gradlab.plot.error_map; "
    code += "assert 'matplotlib.pyplot' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "MPLBACKEND": "Agg"})
