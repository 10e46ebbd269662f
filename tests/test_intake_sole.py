"""A message with one copy is placed from the facts its decoder sent
(``wire.sole_copy_facts``), not from its envelope read back; every other
message takes the full path (``wire.canonical``).  Both must give the same
archive: these tests compare them, and check which path each message took.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from coi_archive.index import decodepool, envelopes, wire
from coi_archive.index.api import Archive
from coi_archive.index.decodepool import decode_stored
from coi_archive.index.wire import facts_of, refresh, sole_copy_facts
from tests.cli_helpers import DC_DEV, DC_DEV_ACCOUNTS, make_maildir
from tests.test_trust_copies import ALICE, BOB, CAROL, MALLORY, group_mail, mail

#: what the wire layer and the chats it gives hold, in a comparable order
TABLES = {
    "wire": "SELECT * FROM wire ORDER BY message_id",
    "wire_targets": "SELECT * FROM wire_targets ORDER BY message_id, target",
    "wire_refs": "SELECT * FROM wire_refs ORDER BY message_id, rowid",
    "wire_conflicts": "SELECT * FROM wire_conflicts ORDER BY message_id",
    "messages": "SELECT message_id, chat_id, seq, date, sender, kind, text FROM messages ORDER BY message_id",
    "chats": "SELECT chat_id, name, members, message_count, first_date, last_date FROM chats ORDER BY chat_id",
}


def _accounts() -> list[Path]:
    return [DC_DEV / a for a in DC_DEV_ACCOUNTS if (DC_DEV / a).is_dir()]


def _corpus_files() -> list[Path]:
    return sorted(p for a in _accounts() for p in (a / "cur").iterdir() if p.is_file())


def _tricky(root: Path) -> Path:
    """One Maildir with what a single run must sort out: two copies of one
    message (the later-read one delivered first), the same bytes twice, a
    second version under a known Message-ID, a reply read before its
    parent, an edit of a message in the same run, and a message dated
    after its delivery."""
    first = mail("twice@x", ALICE, [BOB], "hello", received="Sat, 28 Nov 2026 10:05:00 +0000")
    early_stamp = "Sat, 28 Nov 2026 10:01:00 +0000"
    early = mail("twice@x", ALICE, [BOB], "hello", received=early_stamp)
    real = mail("real@x", ALICE, [BOB], "the real text", received="Sat, 28 Nov 2026 10:00:30 +0000")
    forged = mail("real@x", MALLORY, [BOB], "forged text", received="Sat, 28 Nov 2026 11:00:00 +0000")
    parent = group_mail("parent@x", ALICE, [BOB, CAROL], "parent")
    reply = mail("reply@x", BOB, [ALICE], "a reply", headers=("In-Reply-To: <parent@x>", "References: <parent@x>"))
    edit = mail(
        "edit@x",
        ALICE,
        [BOB],
        "hello again",
        headers=("Chat-Edit: <twice@x>", "In-Reply-To: <twice@x>"),
        date="Sat, 28 Nov 2026 10:10:00 +0000",
    )
    ahead = mail("ahead@x", BOB, [ALICE], "dated ahead", date="Sun, 29 Nov 2026 10:00:00 +0000", received=early_stamp)
    files = {"1-first": first, "2-same": first, "3-early": early, "4-real": real, "5-forged": forged}
    files["9-ahead"] = ahead  # one copy whose Date gives way to its delivery
    files |= {"6-reply": reply, "7-parent": parent, "8-edit": edit}
    return make_maildir(root, files)


def _dump(root: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(root / "catalog.sqlite")
    try:
        return {name: conn.execute(sql).fetchall() for name, sql in TABLES.items()}
    finally:
        conn.close()


def _ingest(root: Path, sources: list[Path]) -> None:
    with Archive.open(root) as archive:
        archive.ingest([str(s) for s in sources])


@pytest.fixture
def canonical_calls(monkeypatch) -> list[str]:
    """The Message-IDs the full path was taken for."""
    calls: list[str] = []
    real = wire.canonical

    def spy(conn, message_id):
        calls.append(message_id)
        return real(conn, message_id)

    monkeypatch.setattr(wire, "canonical", spy)
    return calls


def test_facts_survive_packing():
    """What the decoder sends equals what the stored envelope gives."""
    files = _corpus_files()
    assert len(files) > 100
    for path in files:
        raw = path.read_bytes()
        env = decode_stored(raw, "rfc822", len(raw), None)
        back = envelopes.load(envelopes.pack(env).blob)
        assert sole_copy_facts(env, "rfc822") == sole_copy_facts(back, "rfc822"), path


def test_sole_copies_give_the_archive_of_the_full_path(tmp_path, monkeypatch, canonical_calls):
    sources = [*_accounts(), _tricky(tmp_path / "tricky")]
    _ingest(tmp_path / "fast", sources)
    fast = _dump(tmp_path / "fast")
    took_full = set(canonical_calls)
    with monkeypatch.context() as m:
        m.setattr(decodepool, "sole_copy_facts", lambda env, fmt: None)
        _ingest(tmp_path / "full", sources)
    assert _dump(tmp_path / "full") == fast
    # the full path: exactly the messages with more than one stored copy
    conn = sqlite3.connect(tmp_path / "fast" / "catalog.sqlite")
    several = {r[0] for r in conn.execute("SELECT message_id FROM originals GROUP BY message_id HAVING count(*) > 1")}
    conn.close()
    assert {"twice@x", "real@x"} <= several
    assert took_full == several
    assert len(fast["wire"]) > len(several) + 100  # most took the short path


def test_tricky_run_is_sorted_out(tmp_path):
    """What the sole-copy path must leave to the full path, in one run."""
    _ingest(tmp_path / "a", [_tricky(tmp_path / "tricky")])
    got = _dump(tmp_path / "a")
    wires = {row[0]: row for row in got["wire"]}
    assert wires["twice@x"][4] == "2026-11-28T10:00:00+00:00"  # its Date, within the earlier delivery
    assert [row[0] for row in got["wire_conflicts"]] == ["real@x"]
    assert wires["ahead@x"][4] == "2026-11-28T10:01:00+00:00"
    assert wires["real@x"][5] == ALICE  # the first delivered version is shown
    assert ("edit@x", "twice@x") in got["wire_targets"]


def test_a_later_copy_after_the_short_path(tmp_path):
    """Read alone, a copy is its own version (the short path); a second
    copy read by a later run with earlier delivery evidence moves the date
    as if both had come together."""
    late = mail("m@x", ALICE, [BOB], "hi", date=None, received="Sat, 28 Nov 2026 10:05:00 +0000")
    early = mail("m@x", ALICE, [BOB], "hi", date=None, received="Sat, 28 Nov 2026 10:01:00 +0000")
    one = make_maildir(tmp_path / "one", {"a": late})
    two = make_maildir(tmp_path / "two", {"b": early})
    _ingest(tmp_path / "apart", [one])
    assert _dump(tmp_path / "apart")["wire"][0][4] == "2026-11-28T10:05:00+00:00"
    _ingest(tmp_path / "apart", [two])
    _ingest(tmp_path / "together", [one, two])
    assert _dump(tmp_path / "apart") == _dump(tmp_path / "together")


def test_refresh_ignores_facts_of_a_message_with_a_wire_row(tmp_path):
    """Facts offered for a Message-ID that already has a wire row are not
    trusted: it is recomputed from its stored copies."""
    _ingest(tmp_path / "a", [make_maildir(tmp_path / "box", {"a": mail("m@x", ALICE, [BOB], "hi")})])
    conn = sqlite3.connect(tmp_path / "a" / "catalog.sqlite")
    conn.row_factory = sqlite3.Row
    envelopes.register(conn)
    before = conn.execute("SELECT * FROM wire").fetchall()
    env = envelopes.load(conn.execute("SELECT envelope FROM originals").fetchone()[0])
    bogus = facts_of(env, "1999-01-01T00:00:00+00:00")._replace(sender="mallory@x", chat=None)
    refresh(conn, ["m@x"], {"m@x": ("0" * 64, bogus)})
    assert [tuple(r) for r in conn.execute("SELECT * FROM wire")] == [tuple(r) for r in before]
    conn.close()
