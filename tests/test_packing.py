"""Per-archive zstd dictionaries (coi_archive/index/packing.py): an archive
past ``packing.SAMPLES`` copies trains one per kind of blob and packs later
envelopes, originals and folded messages with it; zlib rows stay readable."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

from coi_archive.index import catalog, decodepool, decrypted, envelopes, intake, messagedata, originaldata, packing
from coi_archive.index.api import Archive as Api
from coi_archive.index.errors import ArchiveError
from tests.cli_helpers import Archive, make_maildir

NOW = datetime(2025, 9, 1, 12, 0, tzinfo=timezone.utc)
#: the threshold in these tests (the real one, 2,000, would make them slow)
SAMPLES = 40
SENDERS = ["ann", "bob", "cyd", "dee", "eve", "fay"]


def _key(seed: int) -> bytes:
    data = base64.b64encode(random.Random(seed).randbytes(520))
    lines = [data[i : i + 76] for i in range(0, len(data), 76)]
    head = b"Autocrypt: addr=k%d@example.org; prefer-encrypt=mutual;\r\n keydata=" % seed
    return head + b"\r\n ".join(lines) + b"\r\n"


def _mail(n: int) -> bytes:
    """Delta Chat-like mail in a few chats; every other sender carries a key."""
    sender = SENDERS[n % len(SENDERS)]
    words = random.Random(n).choices(["tomorrow", "coffee", "garden", "train", "caf\u00e9", "see", "you", "soon"], k=12)
    return (
        f"From: {sender} <{sender}@example.org>\r\nTo: Bob <bob@example.org>\r\n"
        f"Date: Mon, {1 + n % 28:02d} Mar 2025 10:{n % 60:02d}:00 +0000\r\n"
        f"Message-ID: <m{n}@example.org>\r\nSubject: Message from {sender}\r\n"
        f"Chat-Version: 1.0\r\nChat-Group-ID: grp{n % 3}\r\nChat-Group-Name: group {n % 3}\r\n".encode()
        + (_key(n % len(SENDERS)) if n % 2 else b"")
        + b'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\n'
        + " ".join(words).encode()
        + f" ({n})\r\n".encode()
    )


MAILS = {f"m{n}": _mail(n) for n in range(120)}


def _ingest(root: Path, samples: int) -> Archive:
    box = make_maildir(root / "md", {f"17950{n:05d}.m{n}": MAILS[f"m{n}"] for n in range(120)})
    arch = Archive(root / "archive", inprocess=True)
    with _small_batches(samples):
        res = arch.ingest(box, check=False)
    assert res.returncode == 0, res.describe()
    return arch


@contextmanager
def _small_batches(samples: int) -> Iterator[None]:
    """Train after ``samples`` copies, decode in batches of 16 (as a large
    load does in batches of ``intake.DECODE_BATCH``)."""
    old = packing.SAMPLES, intake.DECODE_BATCH
    packing.SAMPLES, intake.DECODE_BATCH = samples, 16
    try:
        yield
    finally:
        packing.SAMPLES, intake.DECODE_BATCH = old


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Archive:
    return _ingest(tmp_path_factory.mktemp("trained"), SAMPLES)


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Archive:
    return _ingest(tmp_path_factory.mktemp("plain"), packing.SAMPLES)


@pytest.fixture
def arch(trained: Archive, tmp_path: Path) -> Archive:
    copy = Archive(tmp_path / "archive", inprocess=True)
    shutil.copytree(trained.path, copy.path)
    return copy


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process forgets the dictionaries it read (as another process would not know them)."""
    monkeypatch.setattr(packing, "_known", {})
    monkeypatch.setattr(packing, "_damaged", set())
    monkeypatch.setattr(packing, "_catalogs", set())
    monkeypatch.setattr(packing, "_local", threading.local())


def _zstd_rows(path: Path) -> dict[str, tuple[int, int]]:
    """(zstd rows, all rows) of each kind of blob."""
    queries = {
        "original": "SELECT data FROM originals",
        "envelope": "SELECT envelope FROM originals",
        "message": "SELECT data FROM messages",
    }
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        out = {}
        for kind, sql in queries.items():
            blobs = [r[0] for r in conn.execute(sql)]
            out[kind] = (sum(b[:4] == b"\x28\xb5\x2f\xfd" for b in blobs), len(blobs))
        return out


def _dicts(path: Path) -> list[tuple[int, str, bytes]]:
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        return conn.execute("SELECT id, kind, data FROM packing_dicts ORDER BY kind").fetchall()


def _mid(name: str) -> str:
    return f"{name}@example.org"


def test_an_ingest_past_the_threshold_writes_zstd_rows_and_old_rows_stay_zlib(trained: Archive) -> None:
    counts = _zstd_rows(trained.path)
    for kind, (zstd, total) in counts.items():
        assert total >= 100 and 0 < zstd < total, (kind, counts)  # the first copies kept zlib
    assert [k for _, k, _ in _dicts(trained.path)] == ["envelope", "message", "original"]
    for ident, _kind, data in _dicts(trained.path):
        assert int.from_bytes(data[4:8], "little") == ident  # the dictionary names its row


def test_a_small_ingest_stays_on_zlib(plain: Archive) -> None:
    assert all(zstd == 0 for zstd, _ in _zstd_rows(plain.path).values())
    assert _dicts(plain.path) == []


def test_a_mixed_archive_reads_as_one_without_dictionaries(trained: Archive, plain: Archive) -> None:
    assert trained.chats == plain.chats
    shown = {c["id"]: trained.show(c["id"]) for c in trained.chats}
    assert shown == {c["id"]: plain.show(c["id"]) for c in plain.chats}
    assert trained.json("search", "coffee") == plain.json("search", "coffee")
    for name, raw in MAILS.items():
        assert trained.raw(_mid(name)) == raw
    assert trained.verify().returncode == 0


def test_the_autocrypt_header_of_a_zstd_copy_is_stored_once(trained: Archive) -> None:
    with closing(sqlite3.connect(trained.path / "catalog.sqlite")) as conn:
        rows = conn.execute("SELECT data, compression FROM originals WHERE compression LIKE 'zstd:%'").fetchall()
        headers = [r[0] for r in conn.execute("SELECT header FROM autocrypt_headers")]
    assert rows and sorted(headers) == sorted({_key(s) for s in range(1, len(SENDERS), 2)})
    key_data = _key(1).split(b"keydata=")[1][:60]
    assert not any(key_data in data for data, _ in rows)


def test_a_new_reader_process_reads_zstd_rows(trained: Archive, fresh_registry: None) -> None:
    with Api.open(trained.path, readonly=True) as a:
        assert a.raw(_mid("m119")) == MAILS["m119"]
        chat = a.chats()[0]["id"]
        assert a.show(chat)["messages"]


def test_a_purge_of_every_chat_message_leaves_no_dictionary(arch: Archive) -> None:
    """The dictionaries were trained on copies a purge may remove: with
    fewer copies left than a dictionary needs, what is left goes back to
    zlib and no dictionary stays."""
    assert _dicts(arch.path)
    with Api.open(arch.path) as a:
        a.set_retention("1d", "chat", "tester")
        report = a.purge("tester", now=NOW)
    assert len(report["message_ids"]) == len(MAILS)
    assert _dicts(arch.path) == [] and _zstd_blobs(arch.path) == []
    assert arch.verify().returncode == 0


def test_no_purged_word_stays_in_a_dictionary(tmp_path: Path) -> None:
    """Old messages (the first copies, so the training samples) carry words
    no kept message has; after their purge the catalog file holds none of
    them, though the first dictionaries learnt them."""
    old = {f"17000{n:05d}.old{n}": _secret_mail(n) for n in range(60)}
    new = {f"17950{n:05d}.m{n}": MAILS[f"m{n}"] for n in range(60)}
    arch = Archive(tmp_path / "archive", inprocess=True)
    with _small_batches(SAMPLES):
        assert arch.ingest(make_maildir(tmp_path / "md", {**old, **new}), check=False).returncode == 0
    assert any(b"zebrasecret" in data for _, _, data in _dicts(arch.path))
    with Api.open(arch.path) as a, _small_batches(SAMPLES):
        a.set_retention("400d", "chat", "tester")
        report = a.purge("tester", now=NOW)
    assert len(report["message_ids"]) == 60
    after = _dicts(arch.path)
    assert [k for _, k, _ in after] == ["envelope", "message", "original"]
    assert {_frame_dict(blob) for blob in _zstd_blobs(arch.path)} <= {d[0] for d in after}
    assert b"zebrasecret" not in (arch.path / "catalog.sqlite").read_bytes()
    assert all(arch.raw(_mid(f"m{n}")) == MAILS[f"m{n}"] for n in range(60))
    assert arch.verify().returncode == 0


def test_a_purge_killed_before_the_new_dictionaries_gets_them_at_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replacement is a debt recorded with the purge's deletions: a purge
    that stops after them (here: the training fails as a kill would end it)
    leaves the debt, and the next writing run pays it."""
    from coi_archive.index import repack

    old = {f"17000{n:05d}.old{n}": _secret_mail(n) for n in range(60)}
    new = {f"17950{n:05d}.m{n}": MAILS[f"m{n}"] for n in range(60)}
    arch = Archive(tmp_path / "archive", inprocess=True)
    with _small_batches(SAMPLES):
        assert arch.ingest(make_maildir(tmp_path / "md", {**old, **new}), check=False).returncode == 0

    def killed(conn: sqlite3.Connection) -> int:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(repack, "after_purge", killed)
        with Api.open(arch.path) as a, _small_batches(SAMPLES), pytest.raises(KeyboardInterrupt):
            a.set_retention("400d", "chat", "tester")
            a.purge("tester", now=NOW)
    assert any(b"zebrasecret" in data for _, _, data in _dicts(arch.path))
    with _small_batches(SAMPLES):
        assert arch.ingest(tmp_path / "md", check=False).returncode == 0
    assert [k for _, k, _ in _dicts(arch.path)] == ["envelope", "message", "original"]
    with closing(sqlite3.connect(arch.path / "catalog.sqlite")) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert b"zebrasecret" not in (arch.path / "catalog.sqlite").read_bytes()


def _secret_mail(n: int) -> bytes:
    return (
        f"From: Old <old@example.org>\r\nTo: Bob <bob@example.org>\r\n"
        f"Date: Mon, {1 + n % 28:02d} Mar 2021 10:{n % 60:02d}:00 +0000\r\n"
        f"Message-ID: <old{n}@example.org>\r\nSubject: Message from Old\r\n"
        f"Chat-Version: 1.0\r\nChat-Group-ID: oldgrp\r\nChat-Group-Name: zebrasecret group\r\n"
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\n'
        f"the zebrasecret plan, part {n}\r\n"
    ).encode()


def _zstd_blobs(path: Path) -> list[bytes]:
    with closing(sqlite3.connect(path / "catalog.sqlite")) as conn:
        rows = conn.execute(
            "SELECT envelope FROM originals UNION ALL SELECT data FROM originals UNION ALL SELECT data FROM messages"
        ).fetchall()
    return [r[0] for r in rows if isinstance(r[0], bytes) and packing.is_zstd(r[0])]


def _frame_dict(blob: bytes) -> int:
    import zstandard

    return int(zstandard.get_frame_parameters(blob).dict_id)


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_blob_without_its_dictionary_is_a_clear_error(arch: Archive, damage: str, fresh_registry: None) -> None:
    with closing(sqlite3.connect(arch.path / "catalog.sqlite")) as conn, conn:
        if damage == "missing":
            conn.execute("DELETE FROM packing_dicts WHERE kind='original'")
        else:
            (data,) = conn.execute("SELECT data FROM packing_dicts WHERE kind='original'").fetchone()
            conn.execute(
                "UPDATE packing_dicts SET data=? WHERE kind='original'", (data[:100] + bytes(50) + data[150:],)
            )
    with Api.open(arch.path, readonly=True) as a, pytest.raises(ArchiveError, match="packing dictionary"):
        a.raw(_mid("m119"))
    res = arch.verify()
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert hashlib.sha256(MAILS["m119"]).hexdigest() in res.text + res.stderr
    assert arch.raw(_mid("m0")) == MAILS["m0"]  # packed before the dictionary: zlib


def test_a_schema_19_archive_upgrades_and_trains_on_the_next_ingest(plain: Archive, tmp_path: Path) -> None:
    arch = Archive(tmp_path / "archive", inprocess=True)
    shutil.copytree(plain.path, arch.path)
    with closing(sqlite3.connect(arch.path / "catalog.sqlite")) as conn, conn:
        conn.execute("DROP TABLE packing_dicts")
        conn.execute("UPDATE meta SET value='19' WHERE key='schema'")
    with pytest.raises(catalog.CatalogError, match="older"):
        catalog.connect(arch.path / "catalog.sqlite", readonly=True)
    assert "up to date" in arch.run("repair").text
    with closing(sqlite3.connect(arch.path / "catalog.sqlite")) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("20",)
    assert _dicts(arch.path) == []
    assert {c["id"]: arch.show(c["id"]) for c in arch.chats} == {c["id"]: plain.show(c["id"]) for c in plain.chats}
    extra = {f"18000{n:05d}.x{n}": _mail(n) for n in range(120, 140)}
    with _small_batches(SAMPLES):
        assert arch.ingest(make_maildir(tmp_path / "more", extra), check=False).returncode == 0
    assert _zstd_rows(arch.path)["original"] == (20, 140)  # trained before the first new copy
    assert arch.raw(_mid("m139")) == _mail(139)
    assert arch.verify().returncode == 0


def _catalog(tmp_path: Path) -> sqlite3.Connection:
    return catalog.connect(tmp_path / "catalog.sqlite")


@pytest.mark.parametrize(
    "raw",
    [
        MAILS["m1"],
        MAILS["m1"].replace(b"\r\n", b"\n"),
        MAILS["m2"],
        _key(3) + b"Subject: the header first, no body",
        b"Autocrypt: addr=x; keydata=" + b"A" * (originaldata.MAX_HEADER + 1) + b"\r\n\r\nbody",
        random.Random(5).randbytes(4000),
        b"",
    ],
)
def test_an_original_round_trips_with_and_without_a_dictionary(raw: bytes, tmp_path: Path) -> None:
    with closing(_catalog(tmp_path)) as conn:
        ident = packing.train(conn, "original", [originaldata.sample(m) for m in MAILS.values()])
        assert ident is not None
        for dictionary in (None, ident):
            packed = originaldata.pack(raw, dictionary)
            method = originaldata.keep(conn, packed.method, packed.header)
            assert originaldata.unpack(conn, packed.data, method) == raw
            assert (packed.data[:4] == packing.MAGIC) == (dictionary is not None and method != "none")


def test_envelopes_and_messages_round_trip_with_and_without_a_dictionary(trained: Archive, tmp_path: Path) -> None:
    with closing(sqlite3.connect(trained.path / "catalog.sqlite")) as conn:
        texts = [envelopes.unpack(r[0]) for r in conn.execute("SELECT envelope FROM originals")]
        docs = [messagedata.load(r[0]) for r in conn.execute("SELECT data FROM messages")]
    with closing(_catalog(tmp_path)) as conn:
        env_dict = packing.train(conn, "envelope", [t.encode() for t in texts])
        msg_dict = packing.train(conn, "message", [json.dumps(d).encode() for d in docs])
        assert env_dict is not None and msg_dict is not None and env_dict != msg_dict
        for dictionary in (None, env_dict):
            blob = envelopes.pack_text(texts[-1], ident=dictionary).blob
            assert envelopes.unpack(blob) == texts[-1]
            assert conn.execute("SELECT envelope_json(?)", (blob,)).fetchone()[0] == texts[-1]
        for dictionary in (None, msg_dict):
            blob = messagedata.pack(docs[-1], dictionary)
            assert messagedata.load(blob) == docs[-1]
            assert json.loads(conn.execute("SELECT message_json(?)", (blob,)).fetchone()[0]) == docs[-1]


def test_a_damaged_zstd_blob_is_an_archive_error() -> None:
    with pytest.raises(ArchiveError, match="damaged"):
        envelopes.unpack(packing.MAGIC + b"\x00\x01garbage")


def test_decoder_workers_pack_with_a_dictionary_trained_after_they_started(tmp_path: Path) -> None:
    jobs = [(raw, "rfc822", len(raw)) for raw in MAILS.values()]  # enough for worker processes
    with closing(_catalog(tmp_path)) as conn:
        original = packing.train(conn, "original", [originaldata.sample(m) for m in MAILS.values()])
        texts = [envelopes.unpack(d.envelope.blob).encode() for d in decodepool.DecodePool(None, 1).decode(jobs)]
        envelope = packing.train(conn, "envelope", texts)
    pool = decodepool.DecodePool(None, workers=2)
    try:
        before = pool.decode(jobs)
        pool.use(envelope, original)
        after = pool.decode(jobs)
    finally:
        pool.close()
    assert not any(packing.is_zstd(d.data) or packing.is_zstd(d.envelope.blob) for d in before)
    assert all(packing.is_zstd(d.data) and packing.is_zstd(d.envelope.blob) for d in after)
    assert [envelopes.unpack(d.envelope.blob) for d in after] == [envelopes.unpack(d.envelope.blob) for d in before]


def test_a_decrypted_inner_message_round_trips_with_the_dictionary_of_originals(tmp_path: Path) -> None:
    inner = MAILS["m2"].replace(b"grp", b"secret-grp")
    with closing(_catalog(tmp_path)) as conn:
        ident = packing.train(conn, "original", [originaldata.sample(m) for m in MAILS.values()])
        for dictionary, method in ((None, "zlib"), (ident, "zstd")):
            packed = decrypted.pack(inner, dictionary)
            assert packed[0] == hashlib.sha256(inner).hexdigest() and packed[2] == method
            assert catalog.decompress(packed[1], packed[2]) == inner
            decrypted.store(conn, f"outer-{method}", packed)
        assert decrypted.verify(conn) == []
        conn.execute("UPDATE decrypted SET data=? WHERE compression='zstd'", (packing.MAGIC + b"\x00\x01",))
        assert [bad["actual"] for bad in decrypted.verify(conn)] == ["unreadable: ArchiveError"]
