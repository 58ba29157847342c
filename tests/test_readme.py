"""The README's Python example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    for code in blocks:
        namespace: dict = {}
        exec(compile(code, str(README), "exec"), namespace)  # noqa: S102
    assert namespace["r"].evaluations == 2 * namespace["net"].n_params
    assert namespace["result"].passed
    assert namespace["quick"].evaluations == 2 * 2 * 6 and namespace["quick"].mode == "fast"
