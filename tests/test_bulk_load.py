"""A first ingest builds the indexes the intake never reads once, at its end
(``catalog.BUILT_AFTER_LOAD``); a killed one leaves them missing until the
next writable open builds them; an ingest into a catalog with copies keeps
them throughout."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from coi_archive.index import catalog
from coi_archive.index.api import Archive
from tests.golden import sources
from tests.test_crash_safety import run_killed

SAMPLES = sources("samples")
PROVENANCE_BY_SHA = "SELECT source, folder, key FROM provenance WHERE sha256=? ORDER BY source, folder, key"


def indexes(archive: Path) -> set[str]:
    """The catalog's index names, read without the program (which would build missing ones)."""
    with closing(sqlite3.connect(archive / "catalog.sqlite")) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}


def statements_of_ingest(archive: Path, paths: list[str]) -> list[str]:
    seen: list[str] = []
    with Archive.open(archive) as arch:
        arch.conn.set_trace_callback(seen.append)
        arch.ingest(paths)
        arch.conn.set_trace_callback(None)
        settings = [arch.conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("cache_size", "temp_store")]
        assert settings == [-catalog.CACHE_KIB, 2], "the index build's settings are undone (2: MEMORY)"
    return seen


def test_first_ingest_drops_then_builds_the_indexes(tmp_path):
    seen = statements_of_ingest(tmp_path / "a", SAMPLES)
    dropped = [s for s in seen if s.startswith("DROP INDEX")]
    assert dropped == [f"DROP INDEX IF EXISTS {name}" for name in catalog.BUILT_AFTER_LOAD]
    assert set(catalog.BUILT_AFTER_LOAD) <= indexes(tmp_path / "a")


def test_ingest_into_a_catalog_with_copies_keeps_its_indexes(tmp_path):
    statements_of_ingest(tmp_path / "a", [f"{SAMPLES[0]}/deltachat"])
    seen = statements_of_ingest(tmp_path / "a", [f"{SAMPLES[0]}/coi"])
    assert not [s for s in seen if s.startswith("DROP INDEX")]
    assert any("INTO originals" in s for s in seen), "the second ingest stored copies"
    assert set(catalog.BUILT_AFTER_LOAD) <= indexes(tmp_path / "a")


def test_killed_first_ingest_gets_its_indexes_back_at_the_next_open(tmp_path):
    archive = tmp_path / "a"
    run_killed(archive, "coi_archive.index.intake:Intake._commit", 2, "after", "ingest", *SAMPLES)
    assert not set(catalog.BUILT_AFTER_LOAD) & indexes(archive), "the kill fell inside the load"
    with closing(sqlite3.connect(archive / "catalog.sqlite")) as conn:  # by scanning: what the index must give
        shas = [r[0] for r in conn.execute("SELECT DISTINCT sha256 FROM provenance")]
        scanned = {sha: conn.execute(PROVENANCE_BY_SHA, (sha,)).fetchall() for sha in shas}
    with Archive.open(archive, readonly=True) as reader:  # a reader copes without them
        assert reader.conn.execute("SELECT count(*) FROM provenance").fetchone()[0] == len(
            [k for rows in scanned.values() for k in rows]
        )
    Archive.open(archive).close()
    assert set(catalog.BUILT_AFTER_LOAD) <= indexes(archive)
    with closing(sqlite3.connect(archive / "catalog.sqlite")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + PROVENANCE_BY_SHA, (shas[0],)))
        assert "provenance_sha" in plan
        assert {sha: conn.execute(PROVENANCE_BY_SHA, (sha,)).fetchall() for sha in shas} == scanned
