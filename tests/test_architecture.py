"""The arrows of the house, checked on every test run: the import contracts
of ``[tool.importlinter]`` in pyproject.toml (ingest imports nothing of
ours, webui and export use only the index's public API, the layers) and no
import cycle among the modules of ``coi_archive``, imports inside functions
included (a circle hidden in a function-level import is still a circle)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def import_cycles(package: str) -> list[tuple[str, str]]:
    """The direct imports ``(importer, imported)`` of ``package`` that lie on
    a cycle: those whose imported module leads back to the importer."""
    graph = grimp.build_graph(package, cache_dir=None)
    return sorted(
        (a, b)
        for a in graph.modules
        for b in graph.find_modules_directly_imported_by(a)
        if graph.chain_exists(importer=b, imported=a)
    )


def test_import_contracts_hold():
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the test extra (pip install -e '.[test]')")
    res = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout


def test_no_import_cycle_in_the_project():
    assert import_cycles("coi_archive") == []


def test_a_cycle_through_a_function_level_import_is_found(tmp_path, monkeypatch):
    """The check itself: two modules, one importing the other at the top
    and the other importing it back inside a function."""
    pkg = tmp_path / "coi_cycle_probe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "sources.py").write_text("def read():\n    from . import maildir\n    return maildir\n")
    (pkg / "maildir.py").write_text("from .sources import read\n")
    (pkg / "events.py").write_text("from . import sources\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("coi_cycle_probe") == [
        ("coi_cycle_probe.maildir", "coi_cycle_probe.sources"),
        ("coi_cycle_probe.sources", "coi_cycle_probe.maildir"),
    ]
