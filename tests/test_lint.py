"""The house rules that tools check: ruff (lint and format) and mypy, as
configured in pyproject.toml, run with the test suite so CI enforces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PATHS = ["coi_archive", "tests", "benchmarks", "scripts"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("args", [("check",), ("format", "--check")], ids=["lint", "format"])
def test_ruff(args):
    res = _run(str(BIN / "ruff"), *args, *PATHS)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def test_mypy():
    res = _run(str(BIN / "mypy"))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "Success: no issues found" in res.stdout
