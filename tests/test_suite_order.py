"""The plain run's own settings: which files start first (the root conftest.py)."""

from pathlib import Path
from types import SimpleNamespace

import conftest

ROOT = Path(__file__).resolve().parents[1]


def test_every_file_listed_longest_first_exists_once():
    names = conftest.LONGEST_FIRST
    assert len(set(names)) == len(names)
    missing = [n for n in names if not (ROOT / n).is_file()]
    assert not missing, f"LONGEST_FIRST names files that are gone: {missing}"


def test_the_listed_files_come_first_in_their_order_and_each_file_keeps_its_own():
    first, second = conftest.LONGEST_FIRST[:2]
    files = ["tests/test_a.py", second, "tests/test_a.py", first, second, "/elsewhere/test_x.py", "gradlab/cli.py"]
    items = [SimpleNamespace(path=ROOT / f if not f.startswith("/") else Path(f), n=i) for i, f in enumerate(files)]
    conftest.pytest_collection_modifyitems(None, SimpleNamespace(rootpath=ROOT), items)
    assert [it.n for it in items] == [3, 1, 4, 0, 2, 5, 6]


def test_xdist_hands_out_files_in_collection_order():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"--dist", "loadfile", "--no-loadscope-reorder"' in text
