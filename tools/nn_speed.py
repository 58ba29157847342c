"""The network's own speed: the exact HVP against one backprop gradient (issue 20) and backprop
against torch autograd (issue 19), as ratios measured interleaved in one process.

Run against any checkout (the one first on the path is measured)::

    PYTHONPATH=<checkout> python tools/nn_speed.py [--rounds R] [--hvp-widths 16,64,...]
                                                   [--torch-widths 19,60,...] [--min-time S]

The networks are the cost ladder's ``[w, w, w, 10]``, tanh, softmax + cross-entropy, batch 64,
float64 (:func:`gradlab.experiments.cost.ladder_problem`); N = 2 w^2 + 12 w + 10.  BLAS and torch
run on one thread each.  Each round times every method of every size once, in turn (so a change
of the machine's speed between rounds hits both sides of a ratio alike): a call is repeated until
``--min-time`` has passed and its mean time per call recorded.  A row gives, per N, the median
over rounds of the per-round ratio, and its range.

- ``hvp / grad``: ``obj.hvp(theta, v)`` over ``obj.gradient(theta)`` (target <= 2.5);
- ``grad / torch``: ``obj.gradient(theta)`` over torch's forward + backward of the same network
  and loss, as ``benchmarks/test_bench_cost.py::test_torch_autograd`` times it (target <= 0.5);
  ``api / torch`` is the same with ``gradlab.gradient(obj, theta, backend="backprop")``, the
  public entry point and its checks.

Both results are checked before timing: the HVP against a central difference of backprop along
``v``, torch's gradient against backprop's.
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads BLAS
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import gradlab  # noqa: E402
from gradlab.experiments.cost import ladder_problem  # noqa: E402
from gradlab.timing import blas_info, blas_threads  # noqa: E402


def per_call(call, min_time: float, clock=time.perf_counter) -> float:
    """Mean seconds per call over a loop that lasts at least ``min_time`` on ``clock``."""
    call()
    n, start = 0, clock()
    while True:
        call()
        n += 1
        elapsed = clock() - start
        if elapsed >= min_time:
            return elapsed / n


def torch_call(obj, theta):
    """Torch's forward + backward of the network and loss, checked against backprop; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    params = [torch.tensor(p.copy(), requires_grad=True) for p in obj.net.params(theta).values()]
    X = torch.from_numpy(obj.X.copy())
    labels = torch.from_numpy(obj.Y.argmax(axis=1).copy())

    def call():
        for p in params:
            p.grad = None
        a = X
        for i in range(0, len(params) - 2, 2):
            a = torch.tanh(torch.nn.functional.linear(a, params[i], params[i + 1]))
        z = torch.nn.functional.linear(a, params[-2], params[-1])
        torch.nn.functional.cross_entropy(z, labels).backward()

    call()
    got = np.concatenate([p.grad.numpy().reshape(-1) for p in params])
    ref = obj.gradient(theta)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())
    return call


def hvp_calls(obj, theta):
    v = np.random.default_rng(1).standard_normal(obj.n_params)
    h = 1e-5
    ref = (obj.gradient(theta + h * v) - obj.gradient(theta - h * v)) / (2 * h)
    hv = obj.hvp(theta, v)
    assert np.abs(hv - ref).max() <= 1e-6 * np.abs(ref).max(), "the HVP disagrees with a difference of backprop"
    return {"grad": lambda: obj.gradient(theta), "hvp": lambda: obj.hvp(theta, v)}


def grad_calls(obj, theta):
    calls = {
        "grad": lambda: obj.gradient(theta),
        "api": lambda: gradlab.gradient(obj, theta, backend="backprop"),
    }
    torch = torch_call(obj, theta)
    if torch is not None:
        calls["torch"] = torch
    return calls


def measure(problems, rounds: int, min_time: float, clock=time.perf_counter):
    """``{(label, width): {method: [seconds per call, one per round]}}``, interleaved."""
    times = {key: {m: [] for m in calls} for key, calls in problems.items()}
    for _ in range(rounds):
        for key, calls in problems.items():
            for m, call in calls.items():
                times[key][m].append(per_call(call, min_time, clock))
    return times


def ratio_row(times, num: str, den: str) -> str:
    r = np.asarray(times[num]) / np.asarray(times[den])
    return f"{np.median(r):5.2f} [{r.min():.2f}-{r.max():.2f}]"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--min-time", type=float, default=0.05, help="seconds each call is looped per round")
    p.add_argument("--hvp-widths", default="16,64,128,256", help="N = 714, 8,970, 34,314, 134,154")
    p.add_argument("--torch-widths", default="19,60,120,400,1000", help="N = 960, 7,930, 30,250, 3.2e5, 2.0e6")
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: time.perf_counter (the default, what a user waits); cpu: this thread's CPU time "
        "(time.process_time, all its threads), steadier on a machine shared with other work",
    )
    args = p.parse_args(argv)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    widths = {
        "hvp": [int(w) for w in args.hvp_widths.split(",") if w],
        "torch": [int(w) for w in args.torch_widths.split(",") if w],
    }
    with blas_threads(1):
        problems = {}
        for w in widths["hvp"]:
            problems["hvp", w] = hvp_calls(*ladder_problem(w, batch=64))
        for w in widths["torch"]:
            problems["torch", w] = grad_calls(*ladder_problem(w, batch=64))
        info = blas_info()
        print(
            f"# {info.get('blas')}, {info.get('threads')} BLAS thread(s); {args.rounds} rounds, "
            f"{args.min_time:g} s per call per round, {args.clock} clock; median [min-max] of the per-round ratios"
        )
        times = measure(problems, args.rounds, args.min_time, clock)
    print(f"{'N':>10}  {'grad ms':>8}  {'hvp / grad':>18}")
    for w in widths["hvp"]:
        t = times["hvp", w]
        n = 2 * w * w + 12 * w + 10
        print(f"{n:>10,}  {1e3 * np.median(t['grad']):8.3f}  {ratio_row(t, 'hvp', 'grad'):>18}")
    print(f"{'N':>10}  {'grad ms':>8}  {'grad / torch':>18}  {'api / torch':>18}")
    for w in widths["torch"]:
        t = times["torch", w]
        n = 2 * w * w + 12 * w + 10
        if "torch" not in t:
            print(f"{n:>10,}  {1e3 * np.median(t['grad']):8.3f}  (torch not installed)")
            continue
        print(
            f"{n:>10,}  {1e3 * np.median(t['grad']):8.3f}  {ratio_row(t, 'grad', 'torch'):>18}  "
            f"{ratio_row(t, 'api', 'torch'):>18}"
        )


if __name__ == "__main__":
    main()
