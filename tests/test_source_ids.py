"""A copy's provenance names its source by an id (``source_ids``), not by
its name in every row (issue 11, archive size): readers see the same
``provenance`` rows through a view, a re-scan updates flags and marks
copies gone through the id, and an archive that kept the name in each row
(schema 18) is converted in place with the same answers."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from coi_archive.index.api import Archive as Api
from tests.cli_helpers import make_maildir
from tests.webui_support import SAMPLES, build_archive

#: The columns of ``provenance`` before schema 19, in their order.
COLUMNS = "source, folder, key, sha256, flags, internaldate, mtime, size, gone, first_seen, last_seen"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_archive(tmp_path_factory.mktemp("sources") / "archive", SAMPLES)


def _rows(path: Path) -> list[tuple]:
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        return conn.execute(f"SELECT {COLUMNS} FROM provenance ORDER BY source, folder, key").fetchall()


def test_each_source_name_is_stored_once(pristine: Path) -> None:
    with closing(sqlite3.connect(pristine / "catalog.sqlite")) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(provenance_rows)")}
        names = [r[0] for r in conn.execute("SELECT source FROM source_ids")]
        (kind,) = conn.execute("SELECT type FROM sqlite_master WHERE name='provenance'").fetchone()
    assert "source" not in columns and "source_id" in columns
    assert kind == "view"
    rows = _rows(pristine)
    assert sorted(names) == sorted({r[0] for r in rows}) and len(names) < len(rows)
    assert all(Path(r[0]).is_relative_to(SAMPLES) for r in rows)


def _as_schema_18(path: Path) -> None:
    """What schema 18 stored: the source's name in each provenance row and its primary key."""
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn, conn:
        conn.execute(
            "CREATE TABLE old(source TEXT NOT NULL, folder TEXT NOT NULL, key TEXT NOT NULL, sha256 TEXT NOT NULL,"
            " flags TEXT NOT NULL DEFAULT '', internaldate TEXT, mtime REAL, size INTEGER,"
            " gone INTEGER NOT NULL DEFAULT 0, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,"
            " PRIMARY KEY(source, folder, key))"
        )
        conn.execute(f"INSERT INTO old SELECT {COLUMNS} FROM provenance")
        conn.execute("DROP VIEW provenance")
        conn.execute("DROP TABLE provenance_rows")
        conn.execute("DROP TABLE source_ids")
        conn.execute("ALTER TABLE old RENAME TO provenance")
        conn.execute("CREATE INDEX provenance_sha ON provenance(sha256)")
        conn.execute("UPDATE meta SET value='18' WHERE key='schema'")


def test_a_schema_18_archive_is_converted_with_the_same_answers(pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "archive"
    shutil.copytree(pristine, path)
    _as_schema_18(path)
    with Api.open(path):  # a writing open climbs the ladder
        pass
    assert _rows(path) == _rows(pristine)
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        assert "source" not in {r[1] for r in conn.execute("PRAGMA table_info(provenance_rows)")}
        mids = [r[0] for r in conn.execute("SELECT message_id FROM wire ORDER BY message_id")]
    with Api.open(path, readonly=True) as a, Api.open(pristine, readonly=True) as b:
        assert a.stats() == b.stats()
        assert a.chats() == b.chats()
        assert [a.copies(m) for m in mids] == [b.copies(m) for m in mids]
    with Api.open(path) as a:  # the same sources read again: nothing new, nothing gone
        a.ingest([str(SAMPLES)])
    assert [r[:9] for r in _rows(path)] == [r[:9] for r in _rows(pristine)]


def _mail(n: int) -> bytes:
    return (
        f"From: Ann <ann@example.org>\r\nTo: bob@example.org\r\nDate: Mon, 03 Mar 2025 10:0{n}:00 +0000\r\n"
        f"Message-ID: <ann{n}@example.org>\r\nSubject: note {n}\r\n\r\nnote {n}\r\n"
    ).encode()


def test_a_rescan_updates_flags_and_marks_copies_gone_by_source_id(tmp_path: Path) -> None:
    box = make_maildir(tmp_path / "md", {"1795000001.a:2,": _mail(1), "1795000002.b:2,": _mail(2)}, sub="cur")
    other = make_maildir(tmp_path / "other", {"1795000003.c:2,": _mail(3)}, sub="cur")
    path = tmp_path / "archive"
    with Api.open(path) as a:
        a.ingest([str(box), str(other)])
    (box / "cur" / "1795000001.a:2,").rename(box / "cur" / "1795000001.a:2,S")
    (box / "cur" / "1795000002.b:2,").unlink()
    with Api.open(path) as a:
        a.ingest([str(box), str(other)])
    found = {(Path(r[0]).name, r[2], r[4], r[8]) for r in _rows(path)}
    assert found == {("md", "1795000001.a", "S", 0), ("md", "1795000002.b", "", 1), ("other", "1795000003.c", "", 0)}
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        assert conn.execute("SELECT count(*) FROM source_ids").fetchone() == (2,)
        stored = dict(conn.execute("SELECT key, last_seen FROM provenance_rows").fetchall())
    assert stored["1795000001.a"] is not None and stored["1795000002.b"] is stored["1795000003.c"] is None
    seen = {r[2]: (r[9], r[10]) for r in _rows(path)}  # first_seen, last_seen as readers see them
    assert seen["1795000001.a"][1] == stored["1795000001.a"] >= seen["1795000001.a"][0]
    assert seen["1795000002.b"][1] == seen["1795000002.b"][0] and seen["1795000003.c"][1] == seen["1795000003.c"][0]


def test_last_seen_is_stored_only_when_it_differs_from_first_seen(pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "archive"
    shutil.copytree(pristine, path)
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn, conn:
        conn.execute("UPDATE provenance_rows SET last_seen='2099-01-01T00:00:00+00:00' WHERE rowid=1")
        (key,) = conn.execute("SELECT key FROM provenance_rows WHERE rowid=1").fetchone()
    _as_schema_18(path)
    with Api.open(path):
        pass
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        stored = dict(conn.execute("SELECT key, last_seen FROM provenance_rows").fetchall())
    assert stored.pop(key) == "2099-01-01T00:00:00+00:00" and set(stored.values()) == {None}
    assert {r[2]: r[10] for r in _rows(path)}[key] == "2099-01-01T00:00:00+00:00"
