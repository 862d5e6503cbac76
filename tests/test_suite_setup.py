"""The suite itself: without `../shared` it stops with one line, never skipping quietly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.helpers import REPO


def test_a_missing_shared_folder_is_one_clear_error(tmp_path):
    clone = tmp_path / "clone"  # a clone with no `shared` beside it
    (clone / "tests").mkdir(parents=True)
    for name in ("__init__.py", "conftest.py", "helpers.py", "test_audio.py"):
        shutil.copy(REPO / "tests" / name, clone / "tests" / name)
    shutil.copy(REPO / "pyproject.toml", clone / "pyproject.toml")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "tests"],
        cwd=clone,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage error
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    shared = tmp_path / "shared"
    assert lines == [
        f"ERROR: the tests read the golden fixtures and the chart corpus from {shared}, and "
        f"{shared / 'golden' / 'genelive' / 'expected.npz'} is missing: clone the project's "
        "shared folder beside this one"
    ], done.stderr
    assert "passed" not in done.stdout and "skipped" not in done.stdout
