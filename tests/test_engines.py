"""Which full-text engine an archive uses, and switching it: new archives
record tantivy, an archive made before the choice with a Whoosh index stays
on Whoosh, ``reindex --engine`` switches (the same hits, the old files
gone), and the tantivy engine's own duties (writer lock, compaction)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from coi_archive.index.api import Archive
from coi_archive.index.engines import DEFAULT, engine_of, open_engine
from coi_archive.index.fulltext import SearchDoc
from coi_archive.index.tantivy_engine import TantivyEngine
from tests.cli_helpers import REPO_ROOT, cli

QUERIES = (
    "chalk",
    '"students pay 11"',
    "from:chiara@example.net",
    "has:attachment",
    "is:edited",
    "kind:image",
    "Kürbisse",
    "лопаты",
)


def hits(archive: Path, query: str, history: bool = False) -> list[str]:
    with Archive.open(archive, readonly=True) as reader:
        return [h["message_id"] for h in reader.search(query, limit=500, history=history)]


def recorded(archive: Path) -> str | None:
    conn = sqlite3.connect(archive / "catalog.sqlite")
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='engine'").fetchone()
    finally:
        conn.close()
    return row[0] if row else None


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    archive = tmp_path_factory.mktemp("engines") / "archive"
    cli(archive, "ingest", str(REPO_ROOT / "samples"))
    return archive


def test_a_new_archive_records_the_default_engine(built):
    assert DEFAULT == "tantivy"
    assert recorded(built) == "tantivy"
    assert [p.name for p in (built / "fulltext").iterdir()] == [TantivyEngine.INDEX_NAME]


def test_reindex_switches_engine_and_back(built, tmp_path):
    archive = tmp_path / "archive"
    cli(archive, "ingest", str(REPO_ROOT / "samples"))
    before = {q: sorted(hits(archive, q)) for q in QUERIES}
    assert all(before.values()), "every query finds something in the samples"

    res = cli(archive, "reindex", "--engine", "whoosh")
    assert "(whoosh)" in res.text
    assert recorded(archive) == "whoosh"
    assert not (archive / "fulltext" / TantivyEngine.INDEX_NAME).exists()
    assert list((archive / "fulltext").glob("*.toc"))
    assert {q: sorted(hits(archive, q)) for q in QUERIES} == before

    cli(archive, "reindex", "--engine", "tantivy")
    assert recorded(archive) == "tantivy"
    assert [p.name for p in (archive / "fulltext").iterdir()] == [TantivyEngine.INDEX_NAME]
    assert {q: sorted(hits(archive, q)) for q in QUERIES} == before
    assert "derived layers: up to date" in cli(archive, "verify").text


def test_an_archive_without_a_record_keeps_its_whoosh_index(built, tmp_path):
    """An archive made before the choice existed: no ``engine`` in the
    catalog, a Whoosh index on disk.  It is read and written as Whoosh
    (no forced rebuild), and the choice is recorded by the next writer."""
    archive = tmp_path / "archive"
    cli(archive, "ingest", str(REPO_ROOT / "samples"))
    cli(archive, "reindex", "--engine", "whoosh")
    conn = sqlite3.connect(archive / "catalog.sqlite")
    with conn:
        conn.execute("DELETE FROM meta WHERE key='engine'")
    conn.close()
    with Archive.open(archive, readonly=True) as reader:
        assert reader.engine_name == "whoosh"
        assert reader.search("chalk")
    cli(archive, "ingest", str(REPO_ROOT / "samples"))
    assert recorded(archive) == "whoosh"


def test_engine_of_an_empty_place_is_the_default(tmp_path):
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)")
    assert engine_of(conn, tmp_path / "missing") == DEFAULT
    conn.execute("INSERT INTO meta VALUES('engine', 'no-such-engine')")
    assert engine_of(conn, tmp_path / "missing") == DEFAULT


def test_an_unknown_engine_name_is_refused(tmp_path, built):
    with pytest.raises(ValueError):
        open_engine("lucene", tmp_path)
    res = cli(built, "reindex", "--engine", "lucene", check=False)
    assert res.returncode == 2
    assert recorded(built) == "tantivy"


# -- the tantivy engine's own duties ----------------------------------------------


def doc(mid: str, text: str) -> SearchDoc:
    return SearchDoc(
        message_id=mid,
        chat_id="c",
        chat_name="",
        chat_kind="direct",
        group_id="",
        sender="ann@example.org",
        sender_name="Ann",
        recipients=(),
        date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        subject="",
        text=text,
        history="",
        kind="text",
        attachments=(),
        edited=False,
        deleted=False,
        encrypted=False,
    )


def test_tantivy_optimize_rewrites_segments_holding_deleted_documents(tmp_path):
    """A purge must not leave a deleted message's text in the index files:
    tantivy keeps deleted documents until a merge, which its Python binding
    cannot force, so ``optimize`` writes the live ones again."""
    eng = TantivyEngine(tmp_path)
    eng.add([doc(f"m{i}", f"message {i}") for i in range(20)])
    eng.delete(["m3", "m4"])
    assert eng._deleted_count() == 2
    eng.optimize()
    assert eng._deleted_count() == 0
    assert eng.count() == 18
    assert eng.ids() == {f"m{i}" for i in range(20)} - {"m3", "m4"}
    assert [h.message_id for h in eng.search('"message 5"')] == ["m5"]
    eng.close()


def test_tantivy_second_writer_waits_for_the_lock_then_gives_up(tmp_path):
    first = TantivyEngine(tmp_path)
    first.add([doc("m1", "one")])
    holder = first._writer()
    second = TantivyEngine(tmp_path, lock_timeout=0.3)
    with pytest.raises(ValueError):
        second.add([doc("m2", "two")])
    holder.rollback()
    holder.wait_merging_threads()  # releases the lock
    assert second.add([replace(doc("m2", "two"))]) == 1
    assert first.count() == 2
    first.close()
    second.close()


@pytest.mark.parametrize("damage", ["meta", "segments"])
def test_an_unreadable_tantivy_index_is_recreated_empty(tmp_path, damage):
    """The index is derived: a damaged one is thrown away (and the archive
    then owes a full index) instead of failing every search."""
    eng = TantivyEngine(tmp_path)
    eng.add([doc("m1", "one")])
    eng.close()
    index_dir = tmp_path / TantivyEngine.INDEX_NAME
    if damage == "meta":
        (index_dir / "meta.json").write_text("not json")
    else:
        for f in index_dir.iterdir():
            if f.name != "meta.json" and not f.name.startswith("."):
                f.unlink()
    again = TantivyEngine(tmp_path)
    assert again.created and again.count() == 0
    again.add([doc("m2", "two")])
    assert [h.message_id for h in again.search("two")] == ["m2"]
    again.close()


def test_tantivy_results_do_not_depend_on_how_the_index_is_split(tmp_path):
    """Twenty small commits make many segments (merged in the background);
    counts, dates, upserts and deletes still see every document once."""
    eng = TantivyEngine(tmp_path)
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for batch in range(20):
        eng.add(
            [
                replace(doc(f"x{i}", f"message {'even' if i % 2 == 0 else 'odd'}"), date=base + timedelta(hours=i))
                for i in range(batch * 50, batch * 50 + 50)
            ]
        )
    assert eng.count() == 1000
    assert eng.matches("even") == 500
    assert len(eng.search("date:2026-01-02", limit=100)) == 24
    eng.add([replace(doc(f"x{i}", "rewritten")) for i in range(100, 200)])
    assert eng.count() == 1000 and eng.matches("rewritten") == 100
    assert eng.delete(f"x{i}" for i in range(0, 1000, 2)) == 500
    assert eng.count() == 500 and eng.matches("even") == 0
    eng.optimize()
    assert eng.count() == 500 and eng._deleted_count() == 0
    eng.close()


def test_an_open_reader_follows_a_switch_of_engine(tmp_path):
    """The web UI keeps read-only archives open: after another process
    switches the engine (and removes the old files), they search the new one."""
    archive = tmp_path / "archive"
    cli(archive, "ingest", str(REPO_ROOT / "samples"))
    with Archive.open(archive, readonly=True) as reader:
        before = sorted(h["message_id"] for h in reader.search("chalk"))
        assert before and reader.engine_name == "tantivy"
        cli(archive, "reindex", "--engine", "whoosh")
        assert sorted(h["message_id"] for h in reader.search("chalk")) == before
        assert reader.engine_name == "whoosh"


def test_a_full_rebuild_can_switch_engine_too(tmp_path):
    archive = tmp_path / "archive"
    cli(archive, "ingest", str(REPO_ROOT / "samples"))
    before = {q: sorted(hits(archive, q)) for q in QUERIES}
    res = cli(archive, "reindex", "--full", "--engine", "whoosh")
    assert "(whoosh)" in res.text
    assert recorded(archive) == "whoosh"
    assert not (archive / "fulltext" / TantivyEngine.INDEX_NAME).exists()
    assert {q: sorted(hits(archive, q)) for q in QUERIES} == before
    assert "derived layers: up to date" in cli(archive, "verify").text
