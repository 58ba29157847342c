"""Batched ÷ loop, and the default gradcheck ÷ torch's, measured side by side (issue 19, items 1 and 3).

For each width ``w`` of the ladder ``[w, w, w, 10]`` (tanh, softmax + cross-entropy, batch 64,
float64, one BLAS thread): central differences and the complex step timed as the textbook loop
(``batch=1``) and batched (``batch="auto"``), and with ``--gradcheck`` the default
``gradlab.gradcheck(obj, theta)`` against ``torch.autograd.gradcheck`` on the same network and
loss, all in interleaved rounds in one process; prints each ratio as the median of the rounds'
ratios, with their range.  It asserts as it goes: equal evaluation counts batched and looped,
and every check passing this correct gradient.

Run: ``PYTHONPATH=. python tools/batched_ratios.py 19 60 120 --rounds 5 --gradcheck 19 60``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

import gradlab
from gradlab.experiments.cost import ladder_problem


def _timed(call) -> float:
    t = time.perf_counter()
    call()
    return time.perf_counter() - t


def _rounds(calls: dict, rounds: int) -> dict:
    out = {name: [] for name in calls}
    for _ in range(rounds):  # interleaved: round 1 of every call, then round 2, ...
        for name, call in calls.items():
            out[name].append(_timed(call))
    return {name: np.array(ts) for name, ts in out.items()}


def _ratio(a, b) -> str:
    r = a / b
    return f"{np.median(r):.3f} (rounds {r.min():.3f}–{r.max():.3f}; {np.median(a):.3g} s ÷ {np.median(b):.3g} s)"


def torch_gradcheck(obj, theta):
    import torch
    from torch.autograd import gradcheck

    torch.set_num_threads(1)
    Xt, Yt = torch.tensor(obj.X), torch.tensor(obj.Y)
    shapes = [(b.offset, b.shape) for b in obj.net.blocks]

    def J(flat):  # the same network and loss in torch, of the flat parameter vector
        a = Xt
        layers = [flat[o : o + int(np.prod(s))].reshape(s) for o, s in shapes]
        for i in range(0, len(layers), 2):
            z = a @ layers[i].T + layers[i + 1]
            a = torch.tanh(z) if i + 2 < len(layers) else z
        return -(Yt * torch.log_softmax(a, dim=1)).sum() / Xt.shape[0]

    t = torch.tensor(theta, requires_grad=True)
    return lambda: gradcheck(J, (t,), eps=1e-6, atol=1e-5, rtol=1e-3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("widths", type=int, nargs="+")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--gradcheck", type=int, nargs="*", default=[])
    args = ap.parse_args()
    with threadpool_limits(1):
        for w in args.widths:
            obj, theta = ladder_problem(w, batch=64)
            calls = {}
            for backend in ("central", "complex_step"):
                loop = gradlab.differentiate(obj, theta, backend=backend, batch=1)
                batched = gradlab.differentiate(obj, theta, backend=backend)
                assert batched.evaluations == loop.evaluations
                calls[f"{backend} loop"] = lambda b=backend, o=obj, t=theta: gradlab.differentiate(
                    o, t, backend=b, batch=1
                )
                calls[f"{backend} batched"] = lambda b=backend, o=obj, t=theta: gradlab.differentiate(o, t, backend=b)
            if w in args.gradcheck:
                assert gradlab.gradcheck(obj, theta).passed
                check = torch_gradcheck(obj, theta)
                assert check()
                calls["gradcheck"] = lambda o=obj, t=theta: gradlab.gradcheck(o, t)
                calls["torch gradcheck"] = check
            s = _rounds(calls, args.rounds)
            print(f"N = {obj.n_params:,} (w = {w}), {args.rounds} interleaved rounds, one BLAS thread:", flush=True)
            for backend in ("central", "complex_step"):
                print(f"  {backend}: batched ÷ loop = {_ratio(s[f'{backend} batched'], s[f'{backend} loop'])}")
            if "gradcheck" in s:
                print(f"  default gradcheck ÷ torch gradcheck = {_ratio(s['gradcheck'], s['torch gradcheck'])}")
            print(flush=True)


if __name__ == "__main__":
    main()
