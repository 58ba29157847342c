"""The network's own speed: the exact HVP against one backprop gradient (issue 20) and backprop
against torch autograd (issue 19), as ratios measured interleaved in one process.

Run against any checkout (the one first on the path is measured)::

    PYTHONPATH=<checkout> python tools/nn_speed.py [--rounds R] [--hvp-widths 16,64,...]
                                                   [--torch-widths 19,60,...] [--min-time S]
                                                   [--clock wall|cpu] [--baseline OTHER_CHECKOUT]

``--baseline`` measures a second checkout in the same process, interleaved with the first (its
``gradlab`` package is copied into a temporary directory as ``gradlab_baseline``: the package's
imports of itself are relative), and adds its ratios and ``now / baseline`` time ratios: a
before/after comparison that the machine's changes of speed do not blur.

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
import importlib
import os
import shutil
import sys
import tempfile
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


def hvp_calls(obj, theta, base=None):
    v = np.random.default_rng(1).standard_normal(obj.n_params)
    h = 1e-5
    ref = (obj.gradient(theta + h * v) - obj.gradient(theta - h * v)) / (2 * h)
    hv = obj.hvp(theta, v)
    assert np.abs(hv - ref).max() <= 1e-6 * np.abs(ref).max(), "the HVP disagrees with a difference of backprop"
    calls = {"grad": lambda: obj.gradient(theta), "hvp": lambda: obj.hvp(theta, v)}
    if base is not None:
        bobj, btheta = base
        np.testing.assert_allclose(bobj.hvp(btheta, v), hv, rtol=1e-10, atol=1e-12 * np.abs(hv).max())
        calls |= {"grad_base": lambda: bobj.gradient(btheta), "hvp_base": lambda: bobj.hvp(btheta, v)}
    return calls


def grad_calls(obj, theta, base=None):
    calls = {
        "grad": lambda: obj.gradient(theta),
        "api": lambda: gradlab.gradient(obj, theta, backend="backprop"),
    }
    if base is not None:
        bobj, btheta = base
        np.testing.assert_allclose(bobj.gradient(btheta), obj.gradient(theta), rtol=1e-12, atol=1e-15)
        calls["grad_base"] = lambda: bobj.gradient(btheta)
    torch = torch_call(obj, theta)
    if torch is not None:
        calls["torch"] = torch
    return calls


def baseline_module(checkout: str):
    """``gradlab.experiments.cost`` of another checkout, imported as ``gradlab_baseline``."""
    src = os.path.join(checkout, "gradlab")
    if not os.path.isfile(os.path.join(src, "__init__.py")):
        raise SystemExit(f"--baseline must be a checkout with a gradlab/ package; got {checkout!r}")
    tmp = tempfile.mkdtemp(prefix="nn_speed_")
    shutil.copytree(src, os.path.join(tmp, "gradlab_baseline"), ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, tmp)
    return importlib.import_module("gradlab_baseline.experiments.cost")


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
    p.add_argument("--baseline", help="another checkout to measure beside this one, interleaved")
    args = p.parse_args(argv)
    base = baseline_module(args.baseline) if args.baseline else None
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    widths = {
        "hvp": [int(w) for w in args.hvp_widths.split(",") if w],
        "torch": [int(w) for w in args.torch_widths.split(",") if w],
    }
    with blas_threads(1):
        problems = {}
        for kind, make in (("hvp", hvp_calls), ("torch", grad_calls)):
            for w in widths[kind]:
                other = None if base is None else base.ladder_problem(w, batch=64)
                problems[kind, w] = make(*ladder_problem(w, batch=64), other)
        info = blas_info()
        print(
            f"# {info.get('blas')}, {info.get('threads')} BLAS thread(s); {args.rounds} rounds, "
            f"{args.min_time:g} s per call per round, {args.clock} clock; median [min-max] of the per-round ratios"
        )
        times = measure(problems, args.rounds, args.min_time, clock)
    b = base is not None
    print(f"{'N':>10}  {'grad ms':>8}  {'hvp / grad':>18}" + (f"  {'baseline':>18}  {'hvp now/base':>18}" if b else ""))
    for w in widths["hvp"]:
        t = times["hvp", w]
        n = 2 * w * w + 12 * w + 10
        row = f"{n:>10,}  {1e3 * np.median(t['grad']):8.3f}  {ratio_row(t, 'hvp', 'grad'):>18}"
        if b:
            row += f"  {ratio_row(t, 'hvp_base', 'grad_base'):>18}  {ratio_row(t, 'hvp', 'hvp_base'):>18}"
        print(row)
    print(
        f"{'N':>10}  {'grad ms':>8}  {'grad / torch':>18}  {'api / torch':>18}"
        + (f"  {'baseline':>18}  {'grad now/base':>18}" if b else "")
    )
    for w in widths["torch"]:
        t = times["torch", w]
        n = 2 * w * w + 12 * w + 10
        if "torch" not in t:
            print(f"{n:>10,}  {1e3 * np.median(t['grad']):8.3f}  (torch not installed)")
            continue
        row = f"{n:>10,}  {1e3 * np.median(t['grad']):8.3f}  {ratio_row(t, 'grad', 'torch'):>18}  "
        row += f"{ratio_row(t, 'api', 'torch'):>18}"
        if b:
            row += f"  {ratio_row(t, 'grad_base', 'torch'):>18}  {ratio_row(t, 'grad', 'grad_base'):>18}"
        print(row)


if __name__ == "__main__":
    main()
