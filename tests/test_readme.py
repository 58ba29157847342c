"""The README's Python examples run as written, and the failures it shows are what they print."""

import contextlib
import io
import re
from pathlib import Path

from gradlab.check.directional import PROJECTION_EVALUATIONS
from gradlab.check.probe import FAST_PROBE_EVALUATIONS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run():
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    spaces = []
    for code in blocks:
        namespace: dict = {}
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, str(README), "exec"), namespace)  # noqa: S102
        spaces.append(namespace)
    quick_start, own = spaces
    assert quick_start["r"].evaluations == 2 * quick_start["net"].n_params
    assert quick_start["result"].passed
    quick = quick_start["quick"]
    assert quick.mode == "fast" and quick.evaluations == FAST_PROBE_EVALUATIONS + PROJECTION_EVALUATIONS * len(
        quick.directions
    )
    # "Check your own backprop": one call each; the failures shown are the ones printed
    assert own["layer"].passed and own["layer"].evaluations == 49
    shown = text.split("## Check your own backprop")[1].split("## Backends")[0]
    for check in (own["net_check"], own["layer_check"]):
        assert check.status == "failed"
        worst = next(line for line in check.message().splitlines() if line.startswith("worst entry"))
        assert worst in shown
