"""The layer bug zoo: every planted mistake is caught by the default check and named by the
blocks it corrupts; the correct gradient of every zoo network passes."""

import numpy as np
import pytest

import gradlab
from gradlab.experiments import layerzoo as z


@pytest.mark.parametrize("bug", list(z.LAYER_BUGS))
def test_every_layer_bug_is_caught_and_named_by_its_block(bug):
    b = z.LAYER_BUGS[bug]
    for seed in (0, 1):
        objective, theta = z.LayerZooParams().problem(b.network, seed)
        buggy = b.plant(objective)
        assert not np.allclose(buggy.gradient(theta), objective.gradient(theta), rtol=1e-6)  # a real mistake
        result = gradlab.gradcheck(objective, theta, grad=buggy.gradient)
        assert result.status == "failed", result.message()
        named = z.failing_blocks(result)
        assert named and set(named) <= set(b.blocks), (named, b.blocks)


def test_planting_a_bug_leaves_the_network_correct():
    objective, theta = z.LayerZooParams().problem("cnn", 0)
    before = objective.gradient(theta)
    z.LAYER_BUGS["conv_crop_off_by_one"].plant(objective).gradient(theta)
    assert np.array_equal(objective.gradient(theta), before)


@pytest.mark.parametrize("network", list(z.NETWORKS))
def test_no_correct_layer_fails(network):
    for seed in (10, 11):
        objective, theta = z.LayerZooParams().problem(network, seed)
        result = gradlab.gradcheck(objective, theta)
        assert result.status == "passed", result.message()


def test_the_zoo_table_has_a_row_per_case_and_checker_and_its_summary_the_rates():
    params = z.LayerZooParams(
        seeds=(0,), clean_seeds=(10,), bugs=("embedding_assign", "rnn_bptt_one_step_short"), checkers=z.QUICK_CHECKERS
    )
    zoo = z.layer_zoo(params)
    assert len(zoo) == (2 + len(z.NETWORKS)) * 2
    summary = z.layer_zoo_summary(zoo)
    assert summary.loc["embedding_assign", "default"] == 1.0
    assert summary.loc[z.FALSE_ALARMS, "default"] == 0.0
    assert summary.loc[z.EVALUATIONS, z.fast_checker(1)] < summary.loc[z.EVALUATIONS, "default"]
    assert zoo.loc[zoo["bug"] != "none", "named"].all()


def test_a_rule_that_is_not_a_method_is_refused():
    with pytest.raises(ValueError, match=r"`rule` must be a local rule \(method\) of Conv2d; got 'dx'"):
        gradlab.nn.Conv2d(1, 1, 1).with_rule("dx", lambda self: None)


def test_in_float32_the_default_check_still_catches_and_passes():
    params = z.LayerZooParams(dtype="float32")
    for bug in ("batchnorm_missing_mean_terms", "lstm_forget_gate_derivative"):
        b = z.LAYER_BUGS[bug]
        objective, theta = params.problem(b.network, 0)
        assert theta.dtype == objective.net.dtype == np.float32
        result = gradlab.gradcheck(objective, theta, grad=b.plant(objective).gradient)
        assert result.status == "failed" and set(z.failing_blocks(result)) <= set(b.blocks)
        assert gradlab.gradcheck(objective, theta).status == "passed"


def test_float32_runs_only_the_checkers_that_choose_their_own_step():
    every = z.default_checkers("float64")
    assert "default, h=1e-8" in every and "default, h=1e-3" in every
    assert z.default_checkers("float32") == [c for c in every if not c.startswith("default, h=")]
