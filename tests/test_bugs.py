"""The bug zoo: every bug is a real change, and the default gradcheck catches all of them."""

import numpy as np
import pytest

import gradlab
from gradlab.backends import references
from gradlab.backends.complex_step import CROSS_CHECK_EVALUATIONS
from gradlab.check.directional import PROJECTION_EVALUATIONS
from gradlab.check.probe import FAST_PROBE_EVALUATIONS, PROBE_EVALUATIONS
from gradlab.experiments import bugzoo as bugs
from gradlab.nn.activations import ACTIVATIONS

CASES = [(name, act, seed) for name in bugs.BUGS for act in ("tanh", "relu") for seed in (0, 1)]


@pytest.mark.parametrize("name, act, seed", CASES)
def test_the_default_check_catches_every_bug_and_names_a_block(name, act, seed):
    objective, theta = bugs.zoo_network(act, seed)
    bug = bugs.BUGS[name]
    if not bug.applies(objective.net):
        pytest.skip(f"{name} does not apply to a {act} network")
    wrong = bug.gradient(objective, theta)
    right = gradlab.gradient(objective, theta, backend="backprop")
    assert not np.array_equal(wrong, right)  # the bug changes the gradient
    r = gradlab.gradcheck(objective, theta, grad=lambda th: bug.gradient(objective, th))
    if name.endswith("1e-7)"):
        # below central differences' resolution (never a false "failed" there), not the complex step's,
        # which the default check uses for an MLP
        assert gradlab.gradcheck(objective, theta, grad=lambda th: wrong, reference="central").status != "failed"
        assert r.status == "failed" and r.reference == "complex_step"
        return
    assert r.status == "failed" and (~r.table["passed"]).any()
    if name == "last_layer_0.1pct":
        assert list(r.table.loc[~r.table["passed"], "block"]) == ["W3"]
    if name == "one_entry_slip":
        row = r.table.set_index("block").loc["W2"]
        assert row["n_failed"] == 1 and row["worst_index"] == (0, 0)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_no_false_alarm_of_the_default_check_on_correct_gradients(act):
    for seed in (10, 11, 12):
        objective, theta = bugs.zoo_network(act, seed)
        assert gradlab.gradcheck(objective, theta).passed


def test_zoo_table_reports_rates_and_costs():
    zoo = bugs.run(
        bugs.BugZooParams(
            activations=("tanh",),
            seeds=(0,),
            clean_activations=("relu",),
            clean_seeds=(1,),
            bugs=("missing_batch_mean", "last_layer_0.1pct", "bp2_missing_fprime", "probe: dW[L] x (1 + 1e-7)"),
        )
    )
    s = bugs.summary(zoo)
    assert list(s.columns) == list(bugs.checkers())
    assert {f"{name} reference" for name in references()} <= set(s.columns)  # every registered reference
    assert s.loc["ALL BUGS (probes aside)", "default"] == 1.0
    assert s.loc["FALSE ALARMS (correct gradient)", "default"] == 0.0
    n = bugs.zoo_network("relu", 1)[0].n_params
    cost = s.loc["evaluations (correct gradient)"]
    # what the check learns of f first (its noise too); the complex step's real cross-check; a ReLU network's
    # entries whose stencil crosses a kink cost one complex evaluation more each
    assert cost["default"] == cost["complex_step reference"] == n + PROBE_EVALUATIONS + CROSS_CHECK_EVALUATIONS
    assert 2 * n + PROBE_EVALUATIONS <= cost["central reference"] <= 2 * n + PROBE_EVALUATIONS + 10
    assert n + 1 + PROBE_EVALUATIONS <= cost["forward reference"]
    most = FAST_PROBE_EVALUATIONS + PROJECTION_EVALUATIONS * 7  # the projection and one direction per block
    assert cost["fast, 1 direction"] <= most and cost["fast, 4 directions"] <= most  # O(1) in n
    assert s.loc["probe: dW[L] x (1 + 1e-7)", "complex_step reference"] == 1.0


def test_bugs_made_after_backprop_touch_only_their_entries():
    objective, theta = bugs.zoo_network("tanh", 0)
    right = objective.net.params(objective.gradient(theta))
    scaled = objective.net.params(bugs.BUGS["last_layer_0.1pct"].gradient(objective, theta))
    for name in right:
        np.testing.assert_array_equal(scaled[name], right[name] * 1.001 if name == "W3" else right[name])
    slip = objective.net.params(bugs.BUGS["one_entry_slip"].gradient(objective, theta))
    assert slip["W2"][0, 0] == 0 and right["W2"][0, 0] != 0 and (slip["W2"] != right["W2"]).sum() == 1


def test_the_forgotten_batch_mean_multiplies_the_data_term_by_m():
    objective, theta = bugs.zoo_network("relu", 1)
    m, l2 = objective.X.shape[0], objective.net.l2
    right = objective.net.params(objective.gradient(theta))
    wrong = objective.net.params(bugs.BUGS["missing_batch_mean"].gradient(objective, theta))
    w = objective.net.params(theta)
    for name in right:
        penalty = l2 * w[name] if name.startswith("W") else 0.0  # the L2 term is not a mean over samples
        np.testing.assert_allclose(wrong[name], m * (right[name] - penalty) + penalty, rtol=1e-10, atol=1e-14)
