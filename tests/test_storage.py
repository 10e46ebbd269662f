"""How the catalog stores what it keeps (issue 11, archive size): originals
come back byte for byte and verify, tampering is found, envelopes are stored
compressed beside their event types and defect kinds, folded messages are
stored compressed, and an archive written before schema 10 is converted in
place (``migrations``)."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import shutil
import sqlite3
import zlib
from contextlib import closing
from pathlib import Path

import pytest

from coi_archive.index import catalog, envelopes, messagedata
from coi_archive.ingest.events import envelope_from_json, envelope_to_json
from tests.cli_helpers import DATA_DIR, Archive, inprocess_available, make_maildir

HEAD = "From: Ann <ann@example.org>\r\nTo: Bob <bob@example.org>\r\nDate: Mon, 03 Mar 2025 10:00:00 +0000\r\n"


def _attachment_mail(blob: bytes) -> bytes:
    """A mail with a large attachment of random (incompressible) bytes."""
    body = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    return (
        HEAD.encode() + b"Message-ID: <big@example.org>\r\nSubject: the scans\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n'
        b'--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="scan.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body + b"--b1--\r\n"
    )


def _eight_bit_mail() -> bytes:
    """8-bit body bytes that are no valid UTF-8, a NUL, a lone CR and a line without its end."""
    return (
        HEAD.encode() + b"Message-ID: <latin1@example.org>\r\nSubject: =?iso-8859-1?q?Gr=FC=DFe?=\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"Gr\xfc\xdfe aus K\xf6ln \xff\xfe\x00 \r mixed\nline ends\r\nno final newline"
    )


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[Archive, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("storage")
    mails = {
        "big@example.org": _attachment_mail(random.Random(7).randbytes(3_000_000)),
        "latin1@example.org": _eight_bit_mail(),
    }
    box = make_maildir(root / "md", {f"1795000000.{mid}": raw for mid, raw in mails.items()})
    arch = Archive(root / "archive", inprocess=inprocess_available())
    res = arch.ingest(box, check=False)
    assert res.returncode == 0, res.describe()
    return arch, mails


def test_originals_come_back_byte_exact_and_verify(stored):
    arch, mails = stored
    for mid, raw in mails.items():
        assert arch.raw(mid) == raw
    with closing(sqlite3.connect(arch.path / "catalog.sqlite")) as conn:
        hashes = {r[0] for r in conn.execute("SELECT sha256 FROM originals")}
    assert hashes == {hashlib.sha256(raw).hexdigest() for raw in mails.values()}
    assert arch.verify().returncode == 0


def test_envelopes_are_stored_packed_beside_what_sql_filters_on(stored):
    arch, _ = stored
    with closing(catalog.connect(arch.path / "catalog.sqlite", readonly=True)) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == catalog.PAGE_SIZE
        rows = conn.execute("SELECT envelope, event_types, defect_kinds FROM originals").fetchall()
        via_sql = {r[0] for r in conn.execute("SELECT envelope_json(envelope) FROM originals")}
    texts = set()
    for blob, types, kinds in rows:
        assert isinstance(blob, bytes)
        text = envelopes.unpack(blob)
        texts.add(text)
        env = envelope_from_json(text)
        assert envelope_to_json(env) == text
        assert types.split() == [type(e).__name__ for e in env.events] and types.startswith(" ")
        assert json.loads(kinds) == [d.kind for d in env.defects]
    assert via_sql == texts
    with closing(catalog.connect(arch.path / "catalog.sqlite", readonly=True)) as conn:
        docs = conn.execute("SELECT message_id, data, message_json(data) FROM messages").fetchall()
    assert docs
    for mid, blob, text in docs:
        assert isinstance(blob, bytes) and messagedata.load(blob) == json.loads(text)
        assert messagedata.load(blob)["message_id"] == mid
    # the field names come from the dictionary: far smaller than plain zlib would make them
    big = max(texts, key=len)
    assert len(envelopes.pack_text(big).blob) < len(zlib.compress(big.encode(), 9))


def test_a_changed_or_damaged_original_fails_verify(stored, tmp_path):
    arch, mails = stored
    copy = Archive(tmp_path / "archive", inprocess=arch.inprocess)
    shutil.copytree(arch.path, copy.path)
    sha_of = {mid: hashlib.sha256(raw).hexdigest() for mid, raw in mails.items()}
    changed = mails["latin1@example.org"].replace(b"K\xf6ln", b"Bonn")
    with closing(sqlite3.connect(copy.path / "catalog.sqlite")) as conn, conn:
        data, method = catalog.compress(changed)
        conn.execute(
            "UPDATE originals SET data=?, compression=? WHERE sha256=?", (data, method, sha_of["latin1@example.org"])
        )
        (blob,) = conn.execute("SELECT data FROM originals WHERE sha256=?", (sha_of["big@example.org"],)).fetchone()
        flipped = blob[:1000] + bytes([blob[1000] ^ 0xFF]) + blob[1001:]
        conn.execute("UPDATE originals SET data=? WHERE sha256=?", (flipped, sha_of["big@example.org"]))
    res = copy.verify()
    assert res.returncode == 1, res.describe()
    assert "Traceback" not in res.stderr
    assert all(sha in res.text + res.stderr for sha in sha_of.values()), res.describe()


def _as_schema_9(path: Path) -> dict[str, tuple[str, str, str]]:
    """Turn a fresh catalog into what schema 9 stored (envelopes and
    messages as JSON text, no event_types/defect_kinds); returns what the
    envelope columns hold now."""
    with closing(catalog.connect(path)) as conn, conn:
        before = {
            r[0]: (envelopes.unpack(r[1]), r[2], r[3])
            for r in conn.execute("SELECT sha256, envelope, event_types, defect_kinds FROM originals")
        }
        conn.execute("UPDATE originals SET envelope=envelope_json(envelope)")
        for mid, blob in conn.execute("SELECT message_id, data FROM messages").fetchall():
            old = json.dumps(messagedata.load(blob), ensure_ascii=False)
            conn.execute("UPDATE messages SET data=? WHERE message_id=?", (old, mid))
        conn.execute("ALTER TABLE originals DROP COLUMN event_types")
        conn.execute("ALTER TABLE originals DROP COLUMN defect_kinds")
        conn.execute("UPDATE meta SET value='9' WHERE key='schema'")
    return before


def test_schema_9_archive_is_packed_in_place_with_the_same_answers(stored, tmp_path):
    arch, mails = stored
    copy = Archive(tmp_path / "archive", inprocess=arch.inprocess)
    shutil.copytree(arch.path, copy.path)
    chats = arch.chats
    before = _as_schema_9(copy.path / "catalog.sqlite")
    with closing(sqlite3.connect(copy.path / "catalog.sqlite")) as conn:
        assert {r[0] for r in conn.execute("SELECT typeof(envelope) FROM originals")} == {"text"}
        assert {r[0] for r in conn.execute("SELECT typeof(data) FROM messages")} == {"text"}
    assert "up to date" in copy.run("repair").text
    with closing(sqlite3.connect(copy.path / "catalog.sqlite")) as conn:
        after = {
            r[0]: (envelopes.unpack(r[1]), r[2], r[3])
            for r in conn.execute("SELECT sha256, envelope, event_types, defect_kinds FROM originals")
        }
        assert conn.execute("SELECT max(version) FROM migrations").fetchone()[0] >= 12
        assert {r[0] for r in conn.execute("SELECT typeof(data) FROM messages")} == {"blob"}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert after == before  # the JSON text byte for byte, and the same columns a fresh ingest writes
    copy = Archive(copy.path, inprocess=arch.inprocess)  # nothing cached from before the upgrade
    assert copy.chats == chats
    assert {c["id"]: copy.show(c["id"]) for c in chats} == {c["id"]: arch.show(c["id"]) for c in chats}
    for mid, raw in mails.items():
        assert copy.raw(mid) == raw
    assert copy.verify().returncode == 0


def test_release_0_1_archive_gets_the_new_page_size(tmp_path):
    """An old 4 kB-page catalog is rewritten with 16 kB pages after the
    upgrade that packs its envelopes, and nothing in it is lost."""
    target = tmp_path / "archive"
    shutil.copytree(DATA_DIR / "old-archives" / "release-0.1-schema1", target)
    with closing(sqlite3.connect(target / "catalog.sqlite")) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
        originals = {r[0] for r in conn.execute("SELECT sha256 FROM originals")}
    copy = Archive(target)
    assert "up to date" in copy.run("repair").text
    with closing(sqlite3.connect(target / "catalog.sqlite")) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == catalog.PAGE_SIZE
        assert {r[0] for r in conn.execute("SELECT sha256 FROM originals")} == originals
        assert {r[0] for r in conn.execute("SELECT typeof(envelope) FROM originals")} == {"blob"}
        assert {r[0] for r in conn.execute("SELECT typeof(data) FROM messages")} == {"blob"}
    assert copy.verify().returncode == 0
