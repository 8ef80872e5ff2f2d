"""The suite's own scheduling (tests/conftest.py): the files it starts first exist, and
``-n auto`` means two workers per core. Times are in CONTRIBUTING.md, not asserted."""

from __future__ import annotations

import os
from pathlib import Path

import conftest
import pytest


def test_every_file_scheduled_first_exists() -> None:
    """A renamed file would silently fall back to the ordinary order: the list must follow."""
    here = Path(__file__).resolve().parent
    assert len(set(conftest.LONGEST_FILES)) == len(conftest.LONGEST_FILES)
    assert [name for name in conftest.LONGEST_FILES if not (here / name).is_file()] == []


def test_the_longest_files_come_first_in_the_listed_order() -> None:
    class Item:
        def __init__(self, name: str) -> None:
            self.path = Path("tests") / name

    names = ["test_a.py", conftest.LONGEST_FILES[1], "test_b.py", conftest.LONGEST_FILES[0],
             conftest.LONGEST_FILES[1]]
    items = [Item(name) for name in names]
    conftest.pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [item.path.name for item in items] == [
        conftest.LONGEST_FILES[0], conftest.LONGEST_FILES[1], conftest.LONGEST_FILES[1],
        "test_a.py", "test_b.py"]


def test_auto_starts_two_workers_per_usable_core(pytestconfig: pytest.Config) -> None:
    cores = len(os.sched_getaffinity(0))
    assert conftest.pytest_xdist_auto_num_workers(pytestconfig) == 2 * cores


def test_the_suite_still_runs_without_xdist() -> None:
    """`-p no:xdist` (a serial run, a debugger) must not meet an unknown-hook error from the
    conftest's xdist hook."""
    import subprocess
    import sys

    here = Path(__file__).resolve()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
         f"{here}::test_every_file_scheduled_first_exists"],
        capture_output=True, text=True, timeout=120, cwd=here.parent.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
