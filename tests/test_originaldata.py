"""Originals compressed with a preset dictionary (issue 11, archive size):
header boilerplate and the copy's own ``Autocrypt:`` header, stored once per
header (``index.originaldata``). Every copy comes back byte for byte; a
purge leaves no header of a purged sender behind; an archive whose copies
were stored with plain zlib (schema 13) still reads and is repacked in place."""

from __future__ import annotations

import base64
import hashlib
import random
import shutil
import sqlite3
import zlib
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import pytest

from coi_archive.index import catalog, originaldata
from coi_archive.index.api import Archive as Api
from coi_archive.index.errors import ArchiveError
from tests.cli_helpers import Archive, inprocess_available, make_maildir

NOW = datetime(2025, 5, 21, 12, 0, tzinfo=timezone.utc)


def _key(seed: int) -> bytes:
    """An Autocrypt header with incompressible key data, folded as Delta Chat folds it."""
    data = base64.b64encode(random.Random(seed).randbytes(520))
    lines = [data[i : i + 76] for i in range(0, len(data), 76)]
    return (
        b"Autocrypt: addr=a%d@example.org; prefer-encrypt=mutual;\r\n keydata=" % seed + b"\r\n ".join(lines) + b"\r\n"
    )


def _mail(sender: str, n: int, date: str, header: bytes) -> bytes:
    return (
        f"From: {sender} <{sender}@example.org>\r\nTo: Bob <bob@example.org>\r\nDate: {date}\r\n"
        f"Message-ID: <{sender}{n}@example.org>\r\nSubject: note {n}\r\n".encode()
        + header
        + b'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\n'
        + f"the {n}th note from {sender}, caf\u00e9\r\n".encode()
    )


MAILS = {
    "ann1": _mail("ann", 1, "Mon, 03 Mar 2025 10:00:00 +0000", _key(1)),
    "ann2": _mail("ann", 2, "Tue, 04 Mar 2025 10:00:00 +0000", _key(1)),
    "cyd1": _mail("cyd", 1, "Mon, 02 Jun 2025 10:00:00 +0000", _key(2)),
    "dee1": _mail("dee", 1, "Mon, 02 Jun 2025 11:00:00 +0000", b""),
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Archive:
    root = tmp_path_factory.mktemp("originaldata")
    box = make_maildir(root / "md", {f"1795000000.{name}": raw for name, raw in MAILS.items()})
    arch = Archive(root / "archive", inprocess=inprocess_available())
    res = arch.ingest(box, check=False)
    assert res.returncode == 0, res.describe()
    return arch


@pytest.fixture
def arch(pristine: Archive, tmp_path: Path) -> Archive:
    copy = Archive(tmp_path / "archive", inprocess=pristine.inprocess)
    shutil.copytree(pristine.path, copy.path)
    return copy


def _mid(name: str) -> str:
    return f"{name}@example.org"


def _methods(path: Path) -> dict[str, str]:
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        return dict(conn.execute("SELECT message_id, compression FROM originals").fetchall())


def _headers(path: Path) -> list[bytes]:
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        return [r[0] for r in conn.execute("SELECT header FROM autocrypt_headers ORDER BY id")]


@pytest.mark.parametrize(
    "raw",
    [
        MAILS["ann1"],
        MAILS["ann1"].replace(b"\r\n", b"\n"),
        MAILS["dee1"],
        _key(3) + b"Subject: the header first, no body",
        b"Subject: x\r\n\r\nAutocrypt: addr=in@the.body; keydata=AAAA\r\n",
        b"Autocrypt: addr=x; keydata=" + b"A" * (originaldata.MAX_HEADER + 1) + b"\r\n\r\nbody",
        random.Random(5).randbytes(4000),
        b"",
    ],
)
def test_a_packed_copy_unpacks_byte_for_byte(raw: bytes, tmp_path: Path) -> None:
    with closing(catalog.connect(tmp_path / "catalog.sqlite")) as conn:
        packed = originaldata.pack(raw)
        method = originaldata.keep(conn, packed.method, packed.header)
        assert originaldata.unpack(conn, packed.data, method) == raw


def test_only_the_top_level_autocrypt_header_is_a_dictionary() -> None:
    assert originaldata.autocrypt_header(MAILS["ann1"]) == _key(1)
    assert originaldata.autocrypt_header(MAILS["ann1"].replace(b"\r\n", b"\n")) == _key(1).replace(b"\r\n", b"\n")
    assert originaldata.autocrypt_header(b"Subject: x\r\n\r\nAutocrypt: addr=a; keydata=AAAA\r\n") is None
    assert originaldata.autocrypt_header(b"Autocrypt-Gossip: addr=a; keydata=AAAA\r\n\r\n") is None
    too_long = b"Autocrypt: keydata=" + b"A" * originaldata.MAX_HEADER + b"\r\n\r\n"
    assert originaldata.autocrypt_header(too_long) is None


@pytest.mark.parametrize("method", ["zdict1:x", "zdict1:", "zdict9", "brotli"])
def test_a_method_this_version_does_not_know_is_an_archive_error(method: str, tmp_path: Path) -> None:
    with closing(catalog.connect(tmp_path / "catalog.sqlite")) as conn, pytest.raises(ArchiveError):
        originaldata.unpack(conn, b"x", method)


def test_the_key_data_is_stored_once_per_header(pristine: Archive) -> None:
    methods = _methods(pristine.path)
    headers = _headers(pristine.path)
    assert sorted(headers) == sorted([_key(1), _key(2)])
    assert methods[_mid("ann1")] == methods[_mid("ann2")] != methods[_mid("cyd1")]
    assert methods[_mid("dee1")] == originaldata.METHOD  # no Autocrypt header: the boilerplate alone
    with closing(sqlite3.connect(pristine.path / "catalog.sqlite")) as conn:
        stored = dict(conn.execute("SELECT message_id, length(data) FROM originals").fetchall())
    # the key data (~700 incompressible bytes) is not in the copy any more
    assert stored[_mid("ann1")] < len(zlib.compress(MAILS["ann1"], 9)) - 500
    for name, raw in MAILS.items():
        assert pristine.raw(_mid(name)) == raw
    assert pristine.verify().returncode == 0


def test_a_missing_header_row_fails_verify_and_raw_says_why(arch: Archive) -> None:
    with closing(sqlite3.connect(arch.path / "catalog.sqlite")) as conn, conn:
        conn.execute("DELETE FROM autocrypt_headers WHERE header=?", (_key(2),))
    res = arch.verify()
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert hashlib.sha256(MAILS["cyd1"]).hexdigest() in res.text + res.stderr
    with Api.open(arch.path, readonly=True) as a, pytest.raises(ArchiveError, match="Autocrypt header"):
        a.raw(_mid("cyd1"))
    assert arch.raw(_mid("ann1")) == MAILS["ann1"]


def test_a_purge_drops_the_headers_only_purged_copies_used(arch: Archive) -> None:
    with Api.open(arch.path) as a:
        a.set_retention("1d", "mail", "tester")
        report = a.purge("tester", now=NOW)
    assert set(report["message_ids"]) == {_mid("ann1"), _mid("ann2")}
    assert _headers(arch.path) == [_key(2)]
    key_data = _key(1).split(b"keydata=")[1][:60]
    on_disk = [arch.path / "catalog.sqlite", arch.path / "catalog.sqlite-wal"]
    assert sum(p.read_bytes().count(key_data) for p in on_disk if p.exists()) == 0
    assert arch.raw(_mid("cyd1")) == MAILS["cyd1"]
    assert arch.verify().returncode == 0


def _as_schema_13(path: Path) -> None:
    """What schema 13 stored: each copy zlib level 1 on its own, no header table."""
    with closing(catalog.connect(path / "catalog.sqlite")) as conn, conn:
        for sha, data, method in conn.execute("SELECT sha256, data, compression FROM originals").fetchall():
            raw = originaldata.unpack(conn, data, method)
            old, old_method = catalog.compress(raw)
            conn.execute("UPDATE originals SET data=?, compression=? WHERE sha256=?", (old, old_method, sha))
        conn.execute("DROP TABLE autocrypt_headers")
        conn.execute("UPDATE meta SET value='13' WHERE key='schema'")


def test_a_schema_13_archive_reads_and_is_repacked_in_place(arch: Archive, pristine: Archive) -> None:
    _as_schema_13(arch.path)
    with closing(sqlite3.connect(arch.path / "catalog.sqlite")) as conn:
        assert {r[0] for r in conn.execute("SELECT compression FROM originals")} == {"zlib"}
        for data, method in conn.execute("SELECT data, compression FROM originals"):
            assert originaldata.unpack(conn, data, method) in MAILS.values()  # old rows still read
    assert "up to date" in arch.run("repair").text
    assert _methods(arch.path) == _methods(pristine.path)
    assert sorted(_headers(arch.path)) == sorted(_headers(pristine.path))
    for name, raw in MAILS.items():
        assert arch.raw(_mid(name)) == raw
    assert arch.chats == pristine.chats
    assert {c["id"]: arch.show(c["id"]) for c in arch.chats} == {c["id"]: pristine.show(c["id"]) for c in arch.chats}
    assert arch.verify().returncode == 0
