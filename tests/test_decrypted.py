"""Decrypted content is first-class (issue 10, item 2).

Over the real Delta Chat corpus (tests/data/deltachat-dev) ingested with
the users' keys, every attachment the web UI's ``/attachment`` route serves
must be byte-identical to the file Delta Chat itself stored for it (the
``blobs_backup/`` of the users' own backups in ``keys/backups/``) and never
OpenPGP data; the HTML export embeds the decrypted pictures; ``verify``
re-hashes the kept inner messages; the kept plaintext is derived: rebuilt by
``decrypt --key``, kept by a re-decode without a key, gone with its original.
The expected bytes come from Delta Chat's backups, never from our output.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sqlite3
import tarfile
from pathlib import Path

import pytest

from coi_archive.index.api import Archive, ArchiveError
from tests.cli_helpers import DC_DEV, DC_DEV_ACCOUNTS

pytest.importorskip("pysequoia")

from coi_archive.ingest.crypto import keyring_decryptor  # noqa: E402

KEYS = sorted((DC_DEV / "keys").glob("*/private-key-*.asc"))
SOURCES = [DC_DEV / "journal"] + [DC_DEV / a for a in DC_DEV_ACCOUNTS]
#: OpenPGP armour, or the first byte of a binary packet (tag 1 PKESK / 3 SKESK, old or new format)
PGP_STARTS = (b"-----BEGIN PGP", b"\x84", b"\x85", b"\x8c", b"\xc1", b"\xc3")


def backup_blobs() -> dict[str, tuple[str, bytes]]:
    """``{sha256: (blob name, bytes)}`` of every file in the users' Delta Chat backups."""
    out: dict[str, tuple[str, bytes]] = {}
    for tar in sorted((DC_DEV / "keys" / "backups").glob("*/*.tar")):
        with tarfile.open(tar) as tf:
            for member in tf.getmembers():
                if member.isfile() and "blobs_backup/" in member.name:
                    data = tf.extractfile(member).read()  # type: ignore[union-attr]
                    out[hashlib.sha256(data).hexdigest()] = (member.name.rsplit("/", 1)[-1], data)
    return out


@pytest.fixture(scope="module")
def archive_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("decrypted") / "archive"
    with Archive.open(root) as arch:
        arch.ingest([str(s) for s in SOURCES], decryptor=keyring_decryptor(KEYS))
    return root


def attachments_of(root: Path) -> list[tuple[dict, dict]]:
    """``(message, attachment)`` of every attachment listed in any chat
    (each message with its ``chat_id``)."""
    out = []
    with Archive.open(root, readonly=True) as arch:
        for chat in arch.chats():
            for msg in arch.show(chat["id"])["messages"]:
                msg["chat_id"] = chat["id"]
                out += [(msg, att) for att in msg.get("attachments") or ()]
    return out


def test_every_attachment_served_is_the_blob_delta_chat_stored(archive_dir):
    from coi_archive.webui import create_app

    blobs = backup_blobs()
    listed = attachments_of(archive_dir)
    encrypted = [(m, a) for m, a in listed if m["encrypted"]]
    assert len(encrypted) >= 8, "the corpus sends images, stickers, voice and files encrypted"
    client = create_app(archive_dir).test_client()
    for msg, att in listed:
        resp = client.get("/attachment", query_string={"m": msg["message_id"], "part": att["part"], "download": 1})
        assert resp.status_code == 200, (msg["message_id"], att)
        data = resp.get_data()
        assert not data.startswith(PGP_STARTS), att
        digest = hashlib.sha256(data).hexdigest()
        assert digest in blobs, f"{att['filename']} ({len(data)} B) is no file of Delta Chat's backups"
        assert len(blobs[digest][1]) == att["size"] == len(data)
        # the hash show --json gives (and the Parquet attachments table) is the plaintext's
        assert att["sha256"] == digest


def test_html_export_embeds_decrypted_pictures(archive_dir):
    from coi_archive.export.html import write_html
    from coi_archive.export.selection import select_chat

    blobs = backup_blobs()
    images = [
        (m, a)
        for m, a in attachments_of(archive_dir)
        if m["encrypted"] and a["mime"] in ("image/jpeg", "image/png", "image/webp")
    ]
    assert images
    with Archive.open(archive_dir, readonly=True) as arch:
        for chat_id in sorted({m["chat_id"] for m, _a in images}):
            out = io.BytesIO()
            write_html(arch, select_chat(arch, chat_id), out)
            page = out.getvalue()
            for msg, att in images:
                if msg["chat_id"] == chat_id:
                    embedded = [
                        name
                        for name, data in blobs.values()
                        if len(data) == att["size"] and b"base64," + base64.b64encode(data)[:200] in page
                    ]
                    assert embedded, f"{att['filename']} is not embedded as Delta Chat stored it"


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_verify_rehashes_the_kept_plaintext(archive_dir, tmp_path):
    root = _copy(archive_dir, tmp_path / "a")
    with Archive.open(root) as arch:
        assert arch.verify() == []
    with sqlite3.connect(root / "catalog.sqlite") as db:
        sha, inner = db.execute("SELECT sha256, inner_sha256 FROM decrypted ORDER BY sha256 LIMIT 1").fetchone()
        db.execute("UPDATE decrypted SET data=?, compression='none' WHERE sha256=?", (b"tampered", sha))
    with Archive.open(root) as arch:
        bad = arch.verify()
    assert [b["sha256"] for b in bad] == [inner]
    assert bad[0]["actual"] == hashlib.sha256(b"tampered").hexdigest()


def test_plaintext_is_derived_rebuilt_by_a_key_and_gone_with_its_original(archive_dir, tmp_path):
    root = _copy(archive_dir, tmp_path / "a")
    msg, att = next((m, a) for m, a in attachments_of(root) if m["encrypted"])
    with Archive.open(root) as arch:
        want = arch.attachment(msg["message_id"], att["part"])[2]
        arch.redecode()  # without a key: what was opened stays open
        assert arch.attachment(msg["message_id"], att["part"])[2] == want
    with sqlite3.connect(root / "catalog.sqlite") as db:  # as an earlier version left it
        kept = db.execute("SELECT count(*) FROM decrypted").fetchone()[0]
        db.execute("DELETE FROM decrypted")
    with Archive.open(root) as arch:
        with pytest.raises(ArchiveError, match="decrypt --key"):
            arch.attachment(msg["message_id"], att["part"])
        arch.decrypt_stored(keyring_decryptor(KEYS))
        assert arch.attachment(msg["message_id"], att["part"])[2] == want
    with sqlite3.connect(root / "catalog.sqlite") as db:
        assert db.execute("SELECT count(*) FROM decrypted").fetchone()[0] == kept
        sha = db.execute("SELECT sha256 FROM decrypted LIMIT 1").fetchone()[0]
        db.execute("DELETE FROM originals WHERE sha256=?", (sha,))  # as purge does
        assert db.execute("SELECT count(*) FROM decrypted WHERE sha256=?", (sha,)).fetchone()[0] == 0


def test_without_key_nothing_is_kept_in_clear(tmp_path):
    root = tmp_path / "a"
    with Archive.open(root) as arch:
        arch.ingest([str(s) for s in SOURCES])
    with sqlite3.connect(root / "catalog.sqlite") as db:
        assert db.execute("SELECT count(*) FROM decrypted").fetchone()[0] == 0


def test_eml_export_adds_decrypted_copies_on_request_only(archive_dir, tmp_path):
    import json
    import zipfile
    from email import message_from_bytes

    from tests.cli_helpers import cli

    chat_id = next(m["chat_id"] for m, _a in attachments_of(archive_dir) if m["encrypted"])
    for flag, name in (([], "plain.zip"), (["--decrypted"], "with.zip")):
        res = cli(
            archive_dir, "export", chat_id, "--format", "eml", "--out", str(tmp_path / name), *flag, inprocess=True
        )
        assert res.returncode == 0, res.describe()
    with zipfile.ZipFile(tmp_path / "plain.zip") as zf:
        assert not [n for n in zf.namelist() if n.endswith(".decrypted.eml")]
    with zipfile.ZipFile(tmp_path / "with.zip") as zf:
        files = json.loads(zf.read("manifest.json"))["files"]
        copies = [f for f in files if f["source"] == "decrypted copy"]
        assert copies
        for entry in copies:
            outer = message_from_bytes(zf.read(entry["of"]))
            inner = zf.read(entry["file"])
            assert outer.get_content_type() == "multipart/encrypted"  # the original stays as it arrived
            assert message_from_bytes(inner).get_content_type() != "multipart/encrypted"
            assert b"BEGIN PGP MESSAGE" not in inner
            assert hashlib.sha256(inner).hexdigest() == entry["sha256"]
