"""Each distinct member list of the wire messages is stored once, in
``wire_members`` (issue 11, archive size): a wire row names its list, a
message's placement reads the same list as before, a purge leaves no list
only purged messages used, and an archive that kept a list per row and the
unread column ``chat_hint`` (schema 16) is converted in place with the same answers."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import pytest

from coi_archive.index import envelopes, wire
from coi_archive.index.api import Archive as Api
from tests.cli_helpers import Archive, inprocess_available, make_maildir
from tests.webui_support import SAMPLES, build_archive

NOW = datetime(2025, 5, 21, 12, 0, tzinfo=timezone.utc)


def _mail(sender: str, to: str, n: int, date: str) -> bytes:
    return (
        f"From: {sender} <{sender}@example.org>\r\nTo: {to}\r\nDate: {date}\r\n"
        f"Message-ID: <{sender}{n}@example.org>\r\nSubject: note {n}\r\n\r\nnote {n}\r\n"
    ).encode()


MAILS = {
    "ann1": _mail("ann", "Bob <bob@example.org>, Zed <zed.only@example.org>", 1, "Mon, 03 Mar 2025 10:00:00 +0000"),
    "ann2": _mail("ann", "Bob <bob@example.org>, Zed <zed.only@example.org>", 2, "Tue, 04 Mar 2025 10:00:00 +0000"),
    "cyd1": _mail("cyd", "Bob <bob@example.org>", 1, "Mon, 02 Jun 2025 10:00:00 +0000"),
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_archive(tmp_path_factory.mktemp("members") / "archive", SAMPLES)


def _lists_by_message(path: Path) -> dict[str, str | None]:
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        rows = conn.execute(
            "SELECT w.message_id, l.members FROM wire w LEFT JOIN wire_members l ON l.id=w.members_id"
        ).fetchall()
    return dict(rows)


def _decoded_lists(path: Path) -> dict[str, str]:
    """Each wire message's member list as its decoder gives it (``wire.facts_of``)."""
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        rows = conn.execute(
            "SELECT w.message_id, o.envelope FROM wire w JOIN originals o ON o.sha256=w.sha256"
        ).fetchall()
    return {mid: wire.facts_of(env, env.date).members for mid, blob in rows for env in [envelopes.load(blob)]}


def test_each_list_is_stored_once_and_is_the_decoders(pristine: Path) -> None:
    stored = _lists_by_message(pristine)
    assert stored == _decoded_lists(pristine)
    with closing(sqlite3.connect(pristine / "catalog.sqlite")) as conn:
        (lists,) = conn.execute("SELECT count(*) FROM wire_members").fetchone()
    assert lists == len(set(stored.values())) < len(stored)  # the groups' lists repeat


def _as_schema_16(path: Path) -> None:
    """What schema 16 stored: the member list (JSON) in each wire row, and
    the chat its decoder named (``chat_hint``)."""
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn, conn:
        conn.execute("ALTER TABLE wire ADD COLUMN members TEXT")
        conn.execute("ALTER TABLE wire ADD COLUMN chat_hint TEXT")
        conn.execute("UPDATE wire SET chat_hint=chat_id")
        conn.execute("UPDATE wire SET members=(SELECT l.members FROM wire_members l WHERE l.id=wire.members_id)")
        conn.execute("ALTER TABLE wire DROP COLUMN members_id")
        conn.execute("DROP TABLE wire_members")
        conn.execute("UPDATE meta SET value='16' WHERE key='schema'")


def test_a_schema_16_archive_is_converted_with_the_same_answers(pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "archive"
    shutil.copytree(pristine, path)
    _as_schema_16(path)
    with Api.open(path):  # a writing open climbs the ladder
        pass
    assert _lists_by_message(path) == _lists_by_message(pristine)
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        assert {"members", "chat_hint"}.isdisjoint(r[1] for r in conn.execute("PRAGMA table_info(wire)"))
        conn.row_factory = sqlite3.Row
        for mid, members in _lists_by_message(pristine).items():
            assert wire._parent_members(conn, (mid,)) == json.loads(members or "null")
    with Api.open(path, readonly=True) as a, Api.open(pristine, readonly=True) as b:
        assert a.contacts() == b.contacts()
        assert a.chats() == b.chats()


def test_a_purge_drops_the_lists_only_purged_messages_used(tmp_path: Path) -> None:
    box = make_maildir(tmp_path / "md", {f"1795000000.{name}": raw for name, raw in MAILS.items()})
    arch = Archive(tmp_path / "archive", inprocess=inprocess_available())
    assert arch.ingest(box, check=False).returncode == 0
    assert any("zed.only" in (m or "") for m in _lists_by_message(arch.path).values())
    with Api.open(arch.path) as a:
        a.set_retention("1d", "mail", "tester")
        report = a.purge("tester", now=NOW)
    assert set(report["message_ids"]) == {"ann1@example.org", "ann2@example.org"}
    with closing(sqlite3.connect(arch.path / "catalog.sqlite")) as conn:
        lists = [r[0] for r in conn.execute("SELECT members FROM wire_members")]
    assert lists == list(_lists_by_message(arch.path).values())
    assert not any("zed.only" in m for m in lists)
