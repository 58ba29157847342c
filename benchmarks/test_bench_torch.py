"""gradlab against torch, side by side: the full check, the fast check and backprop against
``torch.autograd.gradcheck``, ``gradcheck(fast_mode=True)`` and torch autograd.

The network of issue 19's table: an MLP ``[w, w, w, 10]``, tanh, softmax + cross-entropy, batch
64, float64, at its seeded init plus 0.01 (no exact zeros).  At each size every pair runs in
interleaved rounds (gradlab, torch, gradlab, torch, ...) in this one process, one thread each
(BLAS by the suite's fixture, torch by ``set_num_threads(1)``), and the medians' ratio
``gradlab / torch`` goes into ``extra_info`` and the summary printed at the end
(:func:`benchmarks.summary.torch_lines`).  A full check pays N evaluations or more, so it runs at
the small sizes only, the fast check to N ~ 3e4, backprop at every size.

Backprop's row also times the bare matrix products of the pass (:meth:`Pair.gemms`), whose ratio
to torch is the floor any implementation of those products meets (``gemm_floor``).

What the benchmark asserts is what each side answered, never its time: every check passes the
correct gradient (gradlab ``passed``, torch ``True``), and gradlab's backprop agrees with torch's
autograd to 1e-10 of the largest entry (the same loss in two independent implementations).
Run: ``pytest benchmarks/test_bench_torch.py --benchmark-only -s`` (``--bench-size`` picks the ladder).
"""

import statistics
import time

import numpy as np
import pytest

import gradlab
from benchmarks.sizes import n_id, pick

torch = pytest.importorskip("torch")

BATCH = 64
#: N = 2 w^2 + 12 w + 10: 1,050, 7,930, 30,250, 324,810, 2,012,010
BACKPROP_WIDTHS = pick(quick=(20, 60), default=(20, 60, 120, 400), full=(20, 60, 120, 400, 1000))
FAST_WIDTHS = pick(quick=(20, 60), default=(20, 60, 120), full=(20, 60, 120))
FULL_WIDTHS = pick(quick=(20,), default=(20, 60), full=(20, 60))
ROUNDS = pick(quick=1, default=7, full=11)
#: backprop and a fast check take milliseconds: more rounds for the same confidence
FAST_ROUNDS = pick(quick=3, default=31, full=51)
#: the agreement required of two backprops of the same loss, relative to the largest entry
AGREEMENT = 1e-10

GROUP = "gradlab vs torch: checks and backprop, interleaved, one thread each"


def n_params(width: int) -> int:
    return 2 * width**2 + 12 * width + 10


class Pair:
    """One network in gradlab and in torch: the objective, the point, and torch's ``J(theta)``."""

    def __init__(self, width: int):
        torch.set_num_threads(1)
        self.net = gradlab.MLP([width] * 3 + [10], activation="tanh", output="softmax", loss="cross_entropy")
        X, Y = self.net.random_batch(BATCH, seed=0)
        self.obj, self.theta = self.net.objective(X, Y), self.net.init(seed=0) + 0.01
        self.X, self.labels = torch.from_numpy(X.copy()), torch.from_numpy(Y.argmax(axis=1).copy())
        self.leaves = [torch.tensor(p.copy(), requires_grad=True) for p in self.net.params(self.theta).values()]
        self.flat = torch.tensor(self.theta.copy(), requires_grad=True)
        self.layout = [(b.offset, b.size, b.shape) for b in self.net.blocks]
        self.X_np = X
        self.weights = [W for W, _ in self.net.layers(self.theta)]
        self.deltas = [np.ones((BATCH, W.shape[0])) for W in self.weights]

    def loss(self, params) -> "torch.Tensor":
        """The same loss as gradlab's: mean cross-entropy of softmax over the batch (``W`` is ``(out, in)``)."""
        a = self.X
        for i in range(0, len(params) - 2, 2):
            a = torch.tanh(torch.nn.functional.linear(a, params[i], params[i + 1]))
        z = torch.nn.functional.linear(a, params[-2], params[-1])
        return torch.nn.functional.cross_entropy(z, self.labels)

    def J(self, flat):
        """The loss of the flat parameter vector (what torch's gradcheck differentiates)."""
        return self.loss([flat[o : o + n].reshape(s) for o, n, s in self.layout])

    def torch_backprop(self) -> np.ndarray:
        for p in self.leaves:
            p.grad = None
        self.loss(self.leaves).backward()
        return np.concatenate([p.grad.numpy().reshape(-1) for p in self.leaves])

    def gemms(self):
        """The matrix products alone that any backprop of this network makes, in numpy with its own
        weights: per layer the forward ``a W^T``, the weight gradient ``delta^T a`` and, above the
        first layer, ``delta W`` (no activation, loss or bias).  Their time over torch's backprop is
        the floor of the ratio: no implementation of the same products can go below it."""
        a, deltas = self.X_np, self.deltas
        acts = []
        for W in self.weights:
            acts.append(a)
            a = a @ W.T
        for l in range(len(self.weights) - 1, -1, -1):
            deltas[l].T @ acts[l]
            if l:
                deltas[l] @ self.weights[l]

    def torch_check(self, fast: bool) -> bool:
        return torch.autograd.gradcheck(self.J, (self.flat,), fast_mode=fast)


def _interleaved(calls: dict, rounds: int) -> dict[str, float]:
    """Median seconds of each call over ``rounds`` rounds, the calls taken in turn within a round."""
    seconds = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - t0)
    return {name: statistics.median(s) for name, s in seconds.items()}


def _record(benchmark, pair: Pair, measure: str, med: dict, rounds: int, **extra) -> None:
    g, t = med["gradlab"], med["torch"]
    benchmark.group = GROUP
    benchmark.extra_info.update(
        torch_pair=measure,
        n_params=int(pair.net.n_params),
        gradlab_s=g,
        torch_s=t,
        ratio=g / t,
        rounds=rounds,
        torch_version=torch.__version__,
        **extra,
    )
    print(f"\n{measure} at N = {pair.net.n_params:,}: gradlab {g:.4g} s, torch {t:.4g} s, ratio {g / t:.3f}")


@pytest.mark.parametrize("width", BACKPROP_WIDTHS, ids=lambda w: n_id(n_params(w)))
def test_backprop_against_torch_autograd(benchmark, width):
    pair = Pair(width)
    ours = pair.obj.gradient(pair.theta)
    theirs = pair.torch_backprop()
    scale = np.abs(theirs).max()
    assert np.abs(ours - theirs).max() <= AGREEMENT * scale, np.abs(ours - theirs).max() / scale
    calls = {"gradlab": lambda: pair.obj.gradient(pair.theta), "torch": pair.torch_backprop, "gemms": pair.gemms}
    med = _interleaved(calls, FAST_ROUNDS)
    floor = med["gemms"] / med["torch"]
    _record(benchmark, pair, "backprop / torch autograd", med, FAST_ROUNDS, gemm_floor=floor, gemms_s=med["gemms"])
    print(f"  its GEMMs alone / torch autograd: {floor:.3f} (the floor of the ratio above)")
    benchmark.pedantic(calls["gradlab"], rounds=3, iterations=1)


@pytest.mark.parametrize("width", FAST_WIDTHS, ids=lambda w: n_id(n_params(w)))
def test_fast_check_against_torch_fast_mode(benchmark, width):
    pair = Pair(width)
    ours = gradlab.gradcheck(pair.obj, pair.theta, fast=True)
    assert ours.status == "passed" and ours.mode == "fast", ours.message()
    assert pair.torch_check(fast=True) is True
    calls = {
        "gradlab": lambda: gradlab.gradcheck(pair.obj, pair.theta, fast=True),
        "torch": lambda: pair.torch_check(fast=True),
    }
    med = _interleaved(calls, FAST_ROUNDS)
    _record(benchmark, pair, "fast check / torch fast_mode", med, FAST_ROUNDS, evaluations=ours.evaluations)
    benchmark.pedantic(calls["gradlab"], rounds=3, iterations=1)


@pytest.mark.parametrize("width", FULL_WIDTHS, ids=lambda w: n_id(n_params(w)))
def test_full_check_against_torch_gradcheck(benchmark, width):
    pair = Pair(width)
    ours = gradlab.gradcheck(pair.obj, pair.theta)
    assert ours.status == "passed", ours.message()
    assert ours.evaluations >= pair.net.n_params  # every entry measured
    assert pair.torch_check(fast=False) is True
    calls = {
        "gradlab": lambda: gradlab.gradcheck(pair.obj, pair.theta),
        "torch": lambda: pair.torch_check(fast=False),
    }
    med = _interleaved(calls, ROUNDS)
    _record(benchmark, pair, "full check / torch gradcheck", med, ROUNDS, evaluations=ours.evaluations)
    benchmark.pedantic(calls["gradlab"], rounds=1, iterations=1)
