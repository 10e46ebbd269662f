"""Exports carry mail, only mail: a message known only from a Delta Chat
backup record (its stored original is the record, ``dcbackup-json``) is
exported as a real RFC 5322 message rebuilt from the record, never as the
record's JSON.

The attack: ingest one account's backup alone (so every message is a
record), export its chats as mbox and EML, and read the files with the
stdlib ``mailbox`` and ``email`` packages.  Expected values come from the
records themselves, read as JSON here (``coi-archive raw``), not from the
archive's decoder.  The IMAP migration is checked to append the same bytes.
"""

from __future__ import annotations

import base64
import email
import hashlib
import io
import json
import mailbox
import zipfile
from email import policy
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

import pytest

from tests.cli_helpers import DC_DEV, Archive, norm_mid

BACKUP = next((DC_DEV / "keys" / "backups" / "frank").glob("*.tar"))
REBUILT = "rebuilt from backup record"


@pytest.fixture(scope="module")
def backup_archive(tmp_path_factory) -> Archive:
    arch = Archive(tmp_path_factory.mktemp("records") / "archive", inprocess=True)
    res = arch.ingest(BACKUP)
    assert res.returncode == 0, res.describe()
    return arch


@pytest.fixture(scope="module")
def group(backup_archive: Archive) -> dict:
    """The group chat with the most messages (it has files, a sticker, a
    quote, reactions, a rename and member changes)."""
    groups = [c for c in backup_archive.chats if c["kind"] == "group"]
    return max(groups, key=lambda c: c["message_count"])


def _record(arch: Archive, mid: str) -> dict:
    return json.loads(arch.raw(mid).decode("utf-8"))


def _export(arch: Archive, chat_id: str, fmt: str, out: Path) -> bytes:
    res = arch.run("export", chat_id, "--format", fmt, "--out", out)
    assert res.returncode == 0, res.describe()
    return out.read_bytes()


def _mbox_messages(path: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.as_bytes(), policy=policy.default) for m in mailbox.mbox(path)]


def _eml_messages(data: bytes) -> tuple[list[email.message.EmailMessage], list[dict]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        files = [(f, zf.read(f["file"])) for f in manifest["files"]]
    for entry, raw in files:
        assert hashlib.sha256(raw).hexdigest() == entry["sha256"]
    return [email.message_from_bytes(raw, policy=policy.default) for _, raw in files], manifest["files"]


def _is_post(rec: dict) -> bool:
    """A record of a posted message (not an edit, delete, reaction or
    group change): what the checks of text and files apply to."""
    p = rec["param"]
    return not ({"I", "M", "S"} & p.keys()) and p.get("x") != "1" and "reaction" not in rec["facts"]


def _assert_real_mail(msg: email.message.EmailMessage, rec: dict) -> None:
    """From, Date and Message-ID are the record's; no part is the record."""
    row, facts = rec["row"], rec["facts"]
    assert not msg.defects, msg.defects
    assert norm_mid(msg["Message-ID"]) == norm_mid(row["rfc724_mid"])
    name, address = parseaddr(str(msg["From"]))
    assert address == facts["sender"]["addr"]
    if facts["sender"].get("name"):
        assert name == facts["sender"]["name"]
    when = int(row.get("timestamp_sent") or 0) or int(row["timestamp"])
    assert parsedate_to_datetime(str(msg["Date"])).timestamp() == when
    assert msg["Chat-Version"] == "1.0"
    assert REBUILT in str(msg["X-Coi-Archive-Rebuilt"])
    for part in msg.walk():
        assert part.get_content_type() != "application/json"
        payload = part.get_payload(decode=True) or b""
        assert b'"rfc724_mid"' not in payload, "the backup record became a mail body"


def _assert_post_content(msg: email.message.EmailMessage, rec: dict) -> None:
    """The text is the record's text; each file is the record's bytes."""
    row, p, facts = rec["row"], rec["param"], rec["facts"]
    body = msg.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    expected = facts.get("text_before_edits", row["txt"] or "").strip()
    assert text.strip().endswith(expected)
    if p.get("q"):
        assert "> " + p["q"].splitlines()[0] in text
    files = {part.get_filename(): part.get_payload(decode=True) for part in msg.iter_attachments()}
    blob = facts.get("blob")
    if blob and not blob.get("missing"):
        assert files.get(p.get("v") or blob["name"]) == base64.b64decode(blob["base64"])


def test_mbox_export_of_backup_records_is_mail(backup_archive: Archive, group: dict, tmp_path: Path):
    raw = _export(backup_archive, group["id"], "mbox", tmp_path / "chat.mbox")
    assert b'"rfc724_mid"' not in raw
    messages = _mbox_messages(tmp_path / "chat.mbox")
    shown = {norm_mid(m["message_id"]) for m in backup_archive.show(group["id"])["messages"]}
    assert shown <= {norm_mid(m["Message-ID"]) for m in messages}
    posts = files = 0
    for msg in messages:
        rec = _record(backup_archive, norm_mid(msg["Message-ID"]))
        _assert_real_mail(msg, rec)
        if _is_post(rec) and not rec["row"]["hidden"]:
            _assert_post_content(msg, rec)
            posts += 1
            files += bool(list(msg.iter_attachments()))
    assert posts >= 5 and files >= 2, "the chat chosen must exercise texts and files"


def test_eml_export_of_backup_records_is_mail_and_says_rebuilt(backup_archive: Archive, group: dict, tmp_path: Path):
    messages, manifest = _eml_messages(_export(backup_archive, group["id"], "eml", tmp_path / "chat.zip"))
    assert manifest and all(entry["source"] == REBUILT for entry in manifest)
    for msg, entry in zip(messages, manifest):
        assert norm_mid(msg["Message-ID"]) == entry["message_id"]
        rec = _record(backup_archive, entry["message_id"])
        _assert_real_mail(msg, rec)
        if _is_post(rec) and not rec["row"]["hidden"]:
            _assert_post_content(msg, rec)


def test_eml_manifest_marks_stored_mail_as_stored(samples: Path, tmp_path: Path):
    arch = Archive(samples, inprocess=True)
    chat = next(c for c in arch.chats if c["kind"] == "group")
    _, manifest = _eml_messages(_export(arch, chat["id"], "eml", tmp_path / "chat.zip"))
    assert manifest and all(entry["source"] == "stored original" for entry in manifest)


def _texts(arch: Archive, chat_id: str) -> list[tuple]:
    return [
        (m["sender"], m["kind"], m["text"], m["deleted"], sorted(a["filename"] for a in m["attachments"]))
        for m in arch.show(chat_id)["messages"]
    ]


@pytest.mark.parametrize("fmt", ["mbox", "eml"])
def test_reingested_export_gives_the_same_chat(backup_archive: Archive, fmt: str, tmp_path: Path):
    for chat in backup_archive.chats:
        out = tmp_path / f"{chat['id']}.{fmt}"
        _export(backup_archive, chat["id"], fmt, out)
        sources = [out]
        if fmt == "eml":
            with zipfile.ZipFile(out) as zf:
                zf.extractall(tmp_path / chat["id"])
            (tmp_path / chat["id"] / "manifest.json").unlink()
            sources = [tmp_path / chat["id"]]
        again = Archive(tmp_path / f"again-{chat['id']}", inprocess=True)
        assert again.ingest(*sources).returncode == 0
        assert [c["id"] for c in again.chats] == [chat["id"]]
        assert _texts(again, chat["id"]) == _texts(backup_archive, chat["id"])


def test_imap_migration_appends_the_rebuilt_mail(backup_archive: Archive, group: dict, monkeypatch):
    """The migration path uses the same builder: what it APPENDs is the
    rebuilt mail (CRLF), never the record."""
    from coi_archive.export import imap_append
    from coi_archive.index.api import Archive as Api

    appended: dict[str, bytes] = {}

    class FakeSession:
        def __init__(self, *args, **kwargs): ...
        def connect(self): ...
        def close(self): ...
        def call(self, fn):
            return fn(None)

    class FakeTarget:
        def __init__(self, session, folder):
            self.ids: set[str] = set()
            self.hashes: set[str] = set()

        def prepare(self): ...
        def has(self, mid, digest):
            return False

        def append(self, data, mid, flags, when):
            appended[mid] = data

    monkeypatch.setattr(imap_append, "Session", FakeSession)
    monkeypatch.setattr(imap_append, "Target", FakeTarget)
    monkeypatch.setenv("COI_IMAP_PASSWORD", "unused")
    with Api.open(backup_archive.path, readonly=True) as api:
        report = imap_append.migrate(api, "imap://frank@127.0.0.1/Archive", {"insecure": True}, chat_ids=[group["id"]])
        assert report.copied == len(appended) == report.rebuilt > 0
        for mid, data in appended.items():
            assert data == imap_append.crlf(api.mail(mid).data)
            msg = email.message_from_bytes(data, policy=policy.default)
            _assert_real_mail(msg, json.loads(api.raw(mid)))
