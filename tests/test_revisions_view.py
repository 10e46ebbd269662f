"""``revisions`` is a view of the texts each folded message keeps (issue 11,
archive size): it lists what the table of schema 14 and before held, row for
row, and an archive with that table is converted in place with the same answers."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from coi_archive.index import messagedata
from coi_archive.index.api import Archive
from tests.webui_support import SAMPLES, build_archive

pytest.importorskip("pandas")

#: The table schema 14 wrote, one row per revision of a message.
OLD_TABLE = """CREATE TABLE revisions(
    message_id TEXT NOT NULL, chat_id TEXT NOT NULL, seq INTEGER NOT NULL, text TEXT,
    date TEXT, revision_message_id TEXT);
CREATE INDEX revisions_mid ON revisions(message_id);
CREATE INDEX revisions_chat ON revisions(chat_id);"""


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_archive(tmp_path_factory.mktemp("revisions") / "archive", SAMPLES)


def _from_messages(path: Path) -> list[tuple]:
    """Each message's revisions as its folded message keeps them (what the table held)."""
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        rows = conn.execute("SELECT message_id, chat_id, data FROM messages").fetchall()
    return sorted(
        (mid, chat, seq, rev["text"], rev["date"], rev["message_id"])
        for mid, chat, data in rows
        for seq, rev in enumerate(messagedata.load(data)["revisions"])
    )


def _view_rows(path: Path) -> list[tuple]:
    with Archive.open(path, readonly=True) as a:
        return sorted(tuple(r)[:6] for r in a.conn.execute("SELECT * FROM revisions"))


def test_the_view_lists_every_revision_a_folded_message_keeps(pristine: Path) -> None:
    rows = _from_messages(pristine)
    assert any(seq > 0 for _, _, seq, *_ in rows)  # the samples have edited messages
    assert _view_rows(pristine) == rows
    with closing(sqlite3.connect(pristine / "catalog.sqlite")) as conn:
        kinds = dict(conn.execute("SELECT name, type FROM sqlite_master WHERE name LIKE 'revisions%'").fetchall())
    assert kinds == {"revisions": "view"}


def test_an_archive_with_the_revisions_table_is_converted_with_the_same_answers(pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "archive"
    shutil.copytree(pristine, path)
    with Archive.open(pristine, readonly=True) as a:
        before = a.frames.revisions()
    rows = _from_messages(path)
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn, conn:
        conn.execute("DROP VIEW revisions")
        conn.executescript(OLD_TABLE)
        conn.executemany("INSERT INTO revisions VALUES(?,?,?,?,?,?)", rows)
        conn.execute("UPDATE meta SET value='14' WHERE key='schema'")
    with Archive.open(path):  # a writing open climbs the ladder
        pass
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        assert conn.execute("SELECT type FROM sqlite_master WHERE name='revisions'").fetchone() == ("view",)
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'revisions_%'").fetchone() == (0,)
    assert _view_rows(path) == rows
    with Archive.open(path, readonly=True) as a:
        assert a.frames.revisions().equals(before)
