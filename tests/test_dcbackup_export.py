"""Delta Chat backups written by ``export --format deltachat-backup`` are
imported by the real Delta Chat core 2.65 (``deltachat-rpc-server``, over
JSON-RPC, into a fresh profile; no mail server is needed for an import) and
what core then shows is compared with the archive's ``show --json``: chat
kinds, names and members, every message in order with its sender, text,
info flag, attachment bytes, reactions, quote, edited and forwarded flags.
The dev corpus is exported as each of its five Delta Chat accounts (with
that account's own key); the COI samples as Alice, with a key made here.
The round trip (the written backup ingested by our own backup reader)
gives the same chats.

Each test starts its own rpc server and stops it when it ends.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import sys
import tarfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from coi_archive.export.dcbackup_writer import DBVERSION, BackupReport, account_chats, load_key, write_backup
from coi_archive.export.selection import ExportError
from coi_archive.index.api import Archive, parse_iso
from tests.cli_helpers import cli
from tests.webui_support import REPO

try:
    import deltachat_rpc_client as rpc_client
except ImportError:  # the test extra is not installed
    rpc_client = None
SERVER = shutil.which("deltachat-rpc-server") or str(Path(sys.executable).parent / "deltachat-rpc-server")


def need_core() -> None:
    """Skip without the real core (locally); in CI its absence is a failure."""
    if rpc_client is None or not Path(SERVER).exists():
        if os.environ.get("CI"):
            pytest.fail("deltachat-rpc-server/-client 2.65 are not installed (pip install -e '.[test]')")
        pytest.skip("deltachat-rpc-server/-client 2.65 are not installed")


DC_DEV = REPO / "tests" / "data" / "deltachat-dev"
ACCOUNTS = ("frank", "grace", "heidi", "ivan", "judy")
PAST_MEMBERS_SHOWN = 60 * 24 * 3600
SYSTEM_TYPE = {
    "group-renamed": "GroupNameChanged",
    "group-avatar": "GroupImageChanged",
    "member-added": "MemberAddedToGroup",
    "member-removed": "MemberRemovedFromGroup",
    "member-left": "MemberRemovedFromGroup",
    "ephemeral-timer": "EphemeralTimerChanged",
    "group-description": "GroupDescriptionChanged",
}
VIEW_TYPE = {
    "image": "Image",
    "gif": "Gif",
    "sticker": "Sticker",
    "audio": "Audio",
    "video": "Video",
    "file": "File",
    "contact": "Vcard",
    "text": "File",
}
CHAT_TYPE = {"self": "Single", "direct": "Single", "group": "Group", "mailinglist": "Mailinglist"}


def _key_file(user: str) -> Path:
    return next((DC_DEV / "keys" / user).glob("private-key-*.asc"))


@pytest.fixture(scope="module")
def dev_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """The dev corpus as its mailboxes and the journal hold it (encrypted),
    read with every account's key: attachments and Autocrypt keys must be
    read inside the encrypted originals again."""
    path = tmp_path_factory.mktemp("dcexport") / "archive"
    keys = [x for user in ACCOUNTS for x in ("--key", str(_key_file(user)))]
    cli(path, "ingest", *[str(DC_DEV / a) for a in (*ACCOUNTS, "mallory", "journal")], *keys, inprocess=True)
    with Archive.open(path, readonly=True) as archive:
        yield archive


@pytest.fixture(scope="module")
def coi_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    path = tmp_path_factory.mktemp("coiexport") / "archive"
    cli(path, "ingest", str(REPO / "samples" / "coi"), inprocess=True)
    with Archive.open(path, readonly=True) as archive:
        yield archive


@contextmanager
def core(tmp: Path) -> Iterator[Any]:
    """A deltachat-rpc-server of its own, stopped (and checked) on exit."""
    need_core()
    rpc = rpc_client.Rpc(accounts_dir=str(tmp / "dc-accounts"), rpc_server_path=SERVER)
    rpc.start()
    try:
        yield rpc
    finally:
        rpc.close()
        assert rpc.process.wait(timeout=10) is not None


def export(archive: Archive, me: str, key: Path, out: Path) -> BackupReport:
    with open(out, "wb") as f:
        return write_backup(archive, me, load_key(key), f)


def imported(rpc: Any, backup: Path) -> tuple[int, dict[int, dict[str, Any]]]:
    """Import into a fresh profile; ``{chat id: {chat, messages}}`` as core shows them."""
    account = rpc.add_account()
    rpc.import_backup(account, str(backup), "")
    addr = {}

    def address(contact_id: int) -> str:
        if contact_id not in addr:
            addr[contact_id] = rpc.get_contact(account, contact_id)["address"]
        return addr[contact_id]

    shown = {}
    for chat_id in rpc.get_chatlist_entries(account, 0, None, None):
        chat = rpc.get_full_chat_by_id(account, chat_id)
        ids = rpc.get_message_ids(account, chat_id, False, False)
        found = rpc.get_messages(account, ids)
        messages = [found[str(i)] for i in ids]
        for m in messages:
            info = m.get("infoContactId")
            m["info_contact"] = rpc.get_contact(account, info) if info else None
            m["receipts"] = sorted(address(r["contactId"]) for r in rpc.get_message_read_receipts(account, m["id"]))
            m["reactors"] = {
                address(int(c)): " ".join(e)
                for c, e in ((m.get("reactions") or {}).get("reactionsByContact") or {}).items()
            }
        chat["description"] = rpc.get_chat_description(account, chat_id)
        chat["members"] = sorted(address(c) for c in chat["contactIds"])
        chat["past"] = sorted(address(c) for c in chat.get("pastContactIds") or ())
        shown[chat_id] = {"chat": chat, "messages": messages}
    return account, shown


def expected_rows(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Core's rows for archive messages: deleted ones are gone, a mail with
    several attachments is one row per attachment (text, location and
    receipts on the first)."""
    rows = []
    for m in messages:
        if m.get("deleted"):
            continue
        atts = (m.get("attachments") or []) if m["kind"] != "system" else []
        for i in range(max(1, len(atts))):
            rows.append(
                dict(m, text=m.get("text") if i == 0 else "", first=i == 0, attachment=atts[i] if atts else None)
            )
    return rows


def _epoch(value: str | None) -> int:
    dt = parse_iso(value)
    return int(dt.timestamp()) if dt else 0


def compare(archive: Archive, me: str, report: BackupReport, shown: dict[int, dict[str, Any]]) -> None:
    """Every chat and message of the archive's view of ``me`` as core shows it."""
    chats = {c["id"]: c for c in account_chats(archive, me)}
    assert set(report.chat_map) == set(chats)
    assert set(report.chat_map.values()) == set(shown)
    by_backup: dict[int, list[dict[str, Any]]] = {}
    for cid, backup_id in report.chat_map.items():
        by_backup.setdefault(backup_id, []).extend(archive.show(cid)["messages"])
    for cid, backup_id in report.chat_map.items():
        _compare_chat(archive, chats[cid], shown[backup_id]["chat"], me)
    for backup_id, messages in by_backup.items():
        rows = sorted(expected_rows(messages), key=lambda m: _epoch(m.get("date")))
        got = shown[backup_id]["messages"]
        assert [(_epoch(r.get("date")), r["text"]) for r in rows] == [(g["timestamp"], g["text"]) for g in got]
        for want, have in zip(rows, got):
            _compare_message(archive, want, have, me)


def _recent_past(archive: Archive, chat: dict[str, Any]) -> list[str]:
    """Past members as core lists them: removed less than 60 days ago
    (older removals stay in ``chats_contacts`` but core no longer shows them)."""
    cutoff = time.time() - PAST_MEMBERS_SHOWN
    rows = archive.memberships(chat["id"])
    return sorted(
        p
        for p in chat.get("past_members") or ()
        if max(_epoch(r["until"]) for r in rows if r["member"] == p and r["until"]) > cutoff
    )


def _compare_chat(archive: Archive, chat: dict[str, Any], shown: dict[str, Any], me: str) -> None:
    kind = chat["kind"]
    others = [m for m in chat["members"] if m != me]
    if kind == "mail":
        kind = "direct" if len(others) == 1 else "group"
    assert shown["chatType"] == CHAT_TYPE[kind], chat["id"]
    if kind in ("direct", "group") and chat["kind"] != "mail":
        assert shown["isEncrypted"] == bool(chat.get("encrypted")), chat["id"]
    if kind == "group":
        assert shown["name"] == chat["name"]
        assert shown["members"] == sorted(chat["members"])
        assert shown["past"] == _recent_past(archive, chat)
    elif kind == "direct":
        assert shown["members"] == others
    assert not shown["isContactRequest"], chat["id"]  # accepted chats, as the account had them
    if kind == "group":
        assert not shown["isUnpromoted"] and shown["description"] == (chat.get("description") or ""), chat["id"]


def _compare_message(archive: Archive, want: dict[str, Any], have: dict[str, Any], me: str) -> None:
    label = want["message_id"]
    assert have["sender"]["address"] == (want.get("sender") or ""), label
    assert have["isInfo"] == (want["kind"] == "system"), label
    if want["kind"] == "system":
        system = want["system"]
        assert have["systemMessageType"] == SYSTEM_TYPE[system["action"]], label
        if system.get("member"):  # the member is the chat's own contact (a key-contact in an encrypted chat)
            assert have["info_contact"]["address"] == system["member"], label
            assert have["info_contact"]["isKeyContact"] == bool(want.get("encrypted") or system["member"] == me), label
    assert have["reactors"] == {(a if a != me else me): e for a, e in (want.get("reactions") or {}).items()}, label
    assert bool(have.get("isEdited")) == bool(want.get("edited")), label
    assert bool(have.get("isForwarded")) == bool(want.get("forwarded")), label
    if want.get("quote") is not None:
        assert (have.get("quote") or {}).get("text") == want["quote"], label
    own = want.get("sender") == me
    assert have["state"] == ((28 if want.get("read_by") else 26) if own else 16), label
    assert have["receipts"] == (sorted(want.get("read_by") or ()) if own and want["first"] else []), label
    assert have["hasLocation"] == bool(want.get("location") and want["first"]), label
    att = want.get("attachment")
    if att is None:
        assert not have.get("file") and have["viewType"] == "Text", label
        return
    assert have["viewType"] == (VIEW_TYPE.get(want["kind"], "File") if want["first"] else "File"), label
    data = Path(have["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == att["sha256"], label
    if re.fullmatch(r"[\w .,()+–-]+", att["filename"]):
        assert have["fileName"] == att["filename"], label
    else:  # core shows a cleaned name (no markup, no path characters): the extension stays
        assert have["fileName"].endswith(Path(att["filename"]).suffix.strip('"<>')), label


def _compare_group_images(archive: Archive, report: BackupReport, shown: dict[int, dict[str, Any]], key: Any) -> None:
    """A group with an image shows the image the last change set, byte for byte."""
    for cid, backup_id in report.chat_map.items():
        chat = archive.chat(cid)
        if chat["kind"] != "group":
            continue
        changes = [m for m in archive.show(cid)["messages"] if (m["system"] or {}).get("action") == "group-avatar"]
        image = shown[backup_id]["chat"].get("profileImage")
        if not chat.get("avatar") or not changes:
            if chat.get("encrypted"):  # core draws its own icon for unencrypted groups
                assert image is None, cid
            continue
        assert Path(image).read_bytes() == archive.group_avatar(changes[-1]["message_id"], key.decryptor), cid


# --------------------------------------------------------------------------
# The real core imports what we write
# --------------------------------------------------------------------------


@pytest.mark.parametrize("user", ACCOUNTS)
def test_core_imports_dev_account(dev_archive: Archive, tmp_path: Path, user: str) -> None:
    me = f"{user}@example.org"
    backup = tmp_path / f"{user}.tar"
    report = export(dev_archive, me, _key_file(user), backup)
    assert report.messages > 0
    if user in ("grace", "heidi", "judy"):  # the newsletter's readers: a mailing list
        assert any(dev_archive.chat(c)["kind"] == "mailinglist" for c in report.chat_map)
    with core(tmp_path) as rpc:
        account, shown = imported(rpc, backup)
        assert rpc.get_config(account, "configured_addr") == me
        compare(dev_archive, me, report, shown)
        _compare_group_images(dev_archive, report, shown, load_key(_key_file(user)))
        # the account's own key and its contacts' keys (from the Autocrypt
        # history) came across: core names both for each member of an encrypted chat
        own = _key_file(user).stem.rsplit("-", 1)[1]
        peers = {c for s in shown.values() if s["chat"]["isEncrypted"] for c in s["chat"]["contactIds"] if c > 9}
        assert peers and report.keys >= len(peers)
        for contact in peers:
            info = "".join(rpc.get_contact_encryption_info(account, contact).split())
            peer = rpc.get_contact(account, contact)["address"].split("@")[0]
            assert own in info and _key_file(peer).stem.rsplit("-", 1)[1] in info


def test_coi_samples_as_alice(coi_archive: Archive, tmp_path: Path) -> None:
    me = "alice@example.com"
    backup = tmp_path / "alice.tar"
    report = export(coi_archive, me, _made_key(tmp_path, me), backup)
    kinds = {c["kind"] for c in account_chats(coi_archive, me)}
    assert {"group", "direct"} <= kinds  # COI groups and 1:1 chats become Delta Chat chats
    with core(tmp_path) as rpc:
        _, shown = imported(rpc, backup)
        compare(coi_archive, me, report, shown)
        groups = [s["chat"] for s in shown.values() if s["chat"]["chatType"] == "Group"]
        assert any(g["name"] == "Crew Night Out" for g in groups)


def _made_key(tmp_path: Path, me: str) -> Path:
    from pysequoia import Cert

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cert = Cert.generate(f"<{me}>")
        (tmp_path / "key.asc").write_text(str(cert.secrets))
    return tmp_path / "key.asc"


@pytest.mark.parametrize("me", ["anna@example.net", "me@example.com"])
def test_other_samples_accounts(samples_archive: Archive, tmp_path: Path, me: str) -> None:
    """Every sample: anna's Delta Chat mailbox and mail, the early COI
    dialect of the FOSDEM talk."""
    backup = tmp_path / "b.tar"
    report = export(samples_archive, me, _made_key(tmp_path, me), backup)
    assert report.chats and report.messages
    with core(tmp_path) as rpc:
        _, shown = imported(rpc, backup)
        compare(samples_archive, me, report, shown)


def test_hostile_mailbox(xss: Path, tmp_path: Path) -> None:
    """Every payload in every field (names, subjects, file names, texts)
    goes into core's rows as data: the backup imports and shows the same."""
    me = "victim@home.example"
    backup = tmp_path / "b.tar"
    with Archive.open(xss, readonly=True) as archive:
        report = export(archive, me, _made_key(tmp_path, me), backup)
        assert report.messages
        with core(tmp_path) as rpc:
            _, shown = imported(rpc, backup)
            compare(archive, me, report, shown)


def test_round_trip_gives_the_same_chats(dev_archive: Archive, tmp_path: Path) -> None:
    """The written backup, read back by the backup reader: the same chats
    (group, 1:1 and self chats keep their ids), members and messages (texts,
    reactions, read receipts, quotes, locations, attachments)."""
    me = "frank@example.org"
    backup = tmp_path / "in" / "frank.tar"
    backup.parent.mkdir()
    export(dev_archive, me, _key_file("frank"), backup)
    again = tmp_path / "again"
    cli(again, "ingest", str(backup), inprocess=True)
    with Archive.open(again, readonly=True) as back:
        new = {c["id"]: c for c in back.chats()}
        for chat in account_chats(dev_archive, me):
            if chat["kind"] == "mail" or (chat["kind"] == "group" and not chat.get("encrypted")):
                continue  # unencrypted groups become ad-hoc groups (core 2.x has no group id for them)
            assert chat["id"] in new, chat["id"]
            assert new[chat["id"]]["name"] == chat["name"]
            assert sorted(new[chat["id"]]["members"]) == sorted(chat["members"])

            def texts(a: Archive, cid: str) -> list[tuple[Any, ...]]:
                return [
                    (
                        m["message_id"],
                        m["sender"],
                        m["text"],
                        m["reactions"],
                        m["read_by"] if m["sender"] == me else None,
                        m["quote"],  # receipts go to the sender
                        m["location"],
                        [x["sha256"] for x in m["attachments"]],
                    )
                    for m in a.show(cid)["messages"]
                    if not m.get("deleted")
                ]

            assert texts(back, chat["id"]) == texts(dev_archive, chat["id"])


# --------------------------------------------------------------------------
# What the backup holds, without core
# --------------------------------------------------------------------------


def test_backup_is_core_shaped_and_keeps_the_key_inside(dev_archive: Archive, tmp_path: Path) -> None:
    backup = tmp_path / "judy.tar"
    export(dev_archive, "judy@example.org", _key_file("judy"), backup)
    with tarfile.open(backup) as tar:
        names = tar.getnames()
        assert names[0] == "dc_database_backup.sqlite"
        assert all(n.startswith("blobs_backup/") for n in names[1:])
        tar.extract(names[0], tmp_path, filter="data")
    conn = sqlite3.connect(tmp_path / names[0])
    assert conn.execute("SELECT value FROM config WHERE keyname='dbversion'").fetchone()[0] == str(DBVERSION)
    secret = load_key(_key_file("judy")).secret
    assert conn.execute("SELECT private_key FROM keypairs").fetchone()[0] == secret
    conn.close()
    # the secret key is in the database and nowhere else in the tar
    with tarfile.open(backup) as tar:
        for member in tar.getmembers()[1:]:
            assert secret[:64] not in tar.extractfile(member).read()


def test_since_keeps_later_messages_only(dev_archive: Archive, tmp_path: Path) -> None:
    everything = export(dev_archive, "ivan@example.org", _key_file("ivan"), tmp_path / "all.tar")
    since = datetime.fromisoformat("2026-11-28T03:31:00+00:00")
    with open(tmp_path / "late.tar", "wb") as f:
        late = write_backup(dev_archive, "ivan@example.org", load_key(_key_file("ivan")), f, since=since)
    assert 0 < late.messages < everything.messages
    assert 0 < late.chats < everything.chats  # no chat is left empty by --since


def test_refuses_someone_elses_key_and_public_keys(dev_archive: Archive, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not heidi@example.org's"):
        export(dev_archive, "heidi@example.org", _key_file("ivan"), tmp_path / "x.tar")
    public = next((DC_DEV / "keys" / "ivan").glob("public-key-*.asc"))
    with pytest.raises(ExportError, match="no secret key"):
        load_key(public)


def test_cli_writes_a_backup_and_says_what_it_needs(dev_archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "grace.tar"
    res = cli(
        dev_archive.root,
        "export",
        "--format",
        "deltachat-backup",
        "--as",
        "grace@example.org",
        "--key",
        str(_key_file("grace")),
        "--out",
        str(out),
        inprocess=True,
    )
    assert "Delta Chat 2.65 backup of grace@example.org" in res.stderr
    assert tarfile.is_tarfile(out)
    res = cli(
        dev_archive.root,
        "export",
        "--format",
        "deltachat-backup",
        "--out",
        str(tmp_path / "y.tar"),
        check=False,
        inprocess=True,
    )
    assert res.returncode == 2 and "needs --as ADDRESS" in res.stderr


def test_shipped_template_is_what_core_creates(tmp_path: Path) -> None:
    need_core()
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from dcbackup_template import TEMPLATE, core_dump
    finally:
        sys.path.pop(0)
    assert core_dump(SERVER) == TEMPLATE.read_text(encoding="utf-8")
