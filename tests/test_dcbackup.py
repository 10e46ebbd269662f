"""Delta Chat backups (tests/data/deltachat-dev/keys/backups/<user>/*.tar)
as a source.

* Each account's backup alone reproduces that account's chats as
  ``final_state_per_account`` in GROUND_TRUTH.json lists them: names,
  members, past members, message texts, system lines, reactions, quotes,
  files, locations.
* Backup plus mail gives no duplicates: one Message-ID is one message, the
  mail copy stays canonical.
* Hostile or broken tars (path traversal, absolute paths, links, truncation,
  an unknown database version) are handled with a clear message; nothing is
  written outside the archive and nothing else is lost; the tar is never
  modified.

Expected values come from GROUND_TRUTH.json, the Maildirs (stdlib
``email``) and the backup's own database read with ``sqlite3``.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import tarfile
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.cli_helpers import (
    DC_DEV,
    Archive,
    assert_clean_error,
    load_ground_truth,
    maildir_files,
    message_id_of,
    norm_mid,
    parse_file,
)

GT = load_ground_truth()
BACKUPS = {p.parent.name: p for p in sorted((DC_DEV / "keys" / "backups").glob("*/*.tar"))}
USERS = sorted(BACKUPS)
DB_NAME = "dc_database_backup.sqlite"


def test_backups_are_in_the_repository():
    dc_users = sorted(a.split("@")[0] for a, v in GT["accounts"].items() if v.get("delta_chat"))
    assert dc_users == USERS


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def key_args(*users: str) -> list[str]:
    out: list[str] = []
    for u in users:
        out += ["--key", str(next((DC_DEV / "keys" / u).glob("private-key-*.asc")))]
    return out


def mids_in(maildir: Path) -> set[str]:
    return {message_id_of(parse_file(p)) for p in maildir_files(maildir)}


def backup_db(tar_path: Path, tmp: Path) -> sqlite3.Connection:
    with tarfile.open(tar_path) as tar:
        data = tar.extractfile(DB_NAME).read()
    db = tmp / f"{tar_path.parent.name}.sqlite"
    db.write_bytes(data)
    return sqlite3.connect(db)


def wire_mids_of_backup(tar_path: Path, tmp: Path) -> set[str]:
    """Message-IDs of the rows that were messages on the wire: not Delta
    Chat's local notices (special contacts 2 'info' and 5 'device', the
    device chat) and not the content-less rows in the trash chat (3)."""
    conn = backup_db(tar_path, tmp)
    device = {r[0] for r in conn.execute("SELECT id FROM chats WHERE param LIKE '%D=1%'")}
    out = set()
    for mid, chat, from_id, txt, param in conn.execute(
        "SELECT rfc724_mid, chat_id, from_id, txt, param FROM msgs WHERE id > 9 AND rfc724_mid != ''"
    ):
        if from_id in (2, 5) or chat in device or (chat == 3 and not txt and not param):
            continue
        out.add(norm_mid(mid))
    return out


def receipts_of_backup(tar_path: Path, tmp: Path) -> list[tuple[str, str]]:
    """(target Message-ID, reader) of each read receipt (``msgs_mdns``): core
    keeps no MDN message, so the reader makes one record of each."""
    conn = backup_db(tar_path, tmp)
    return [
        (norm_mid(mid), addr.lower())
        for mid, addr in conn.execute(
            "SELECT m.rfc724_mid, c.addr FROM msgs_mdns r JOIN msgs m ON m.id=r.msg_id"
            " JOIN contacts c ON c.id=r.contact_id"
        )
    ]


# ==========================================================================
# Each backup alone against the account's final state
# ==========================================================================


@pytest.fixture(scope="module", params=USERS)
def alone(request, tmp_path_factory):
    user = request.param
    tar = BACKUPS[user]
    before = sha(tar)
    arch = Archive(tmp_path_factory.mktemp(f"dcb-{user}") / "archive", inprocess=True)
    res = arch.ingest(tar)
    assert res.returncode == 0, res.describe()
    assert sha(tar) == before, "the backup must never be modified"
    return user, arch


#: the text each message was sent with (GROUND_TRUTH events)
SENT_TEXT = {norm_mid(e["message_id"]): e.get("text") or "" for e in GT["events"] if e.get("message_id")}


def final_chats(user: str) -> list[dict]:
    """The account's chats with messages sent over the wire (the device chat
    and local notices such as 'Messages are end-to-end encrypted' have no
    sender and never were messages)."""
    out = []
    for chat in GT["final_state_per_account"][f"{user}@example.org"]:
        real = [m for m in chat["messages"] if m["from"]]
        if not chat["is_device_chat"] and real:
            out.append((chat, real))
    return out


def test_backup_chats_match_final_state(alone):
    user, arch = alone
    me = f"{user}@example.org"
    chats = final_chats(user)
    assert chats
    seen_ids = set()
    for chat, real in chats:
        ids = {arch.chat_of(m["message_id"])["id"] for m in real}
        assert len(ids) == 1, f"{chat['name']}: messages spread over {ids}"
        ours = arch.chat_of(real[0]["message_id"])
        assert ours["id"] not in seen_ids, f"two client chats merged into {ours['id']}"
        seen_ids.add(ours["id"])
        if chat["chat_type"] == "Single":
            expected = {me, *chat["members"]}
            assert set(ours["members"]) == expected, (chat["name"], ours["members"])
        elif chat["chat_type"] != "Mailinglist":
            assert ours["name"] == chat["name"]
            assert set(ours["members"]) == set(chat["members"])
            assert set(ours["past_members"]) == set(chat["past_members"])
        else:
            assert ours["kind"] == "mailinglist" and ours["name"] == chat["name"]
        listed = {norm_mid(m["message_id"]) for m in arch.show(ours["id"])["messages"]}
        assert {norm_mid(m["message_id"]) for m in real} <= listed


def test_backup_messages_match_final_state(alone):
    user, arch = alone
    for chat, real in final_chats(user):
        for m in real:
            ours = arch.message(m["message_id"])
            where = f"{chat['name']} / {m['message_id']}"
            assert ours["sender"] == m["from"], where
            if m["is_info"]:
                assert ours["kind"] == "system", where
                continue
            shown = m["text"].strip()
            if shown.endswith("[...]"):  # core shows the start of a long message: we read it whole
                assert ours["text"].strip() == SENT_TEXT[norm_mid(m["message_id"])].strip(), where
                assert ours["text"].startswith(shown[:-5].strip()), where
            else:
                assert ours["text"].strip() == shown, where
            assert dict(Counter(ours["reactions"].values())) == m["reactions"], where
            quote = m["quote"]["text"] if isinstance(m["quote"], dict) else m["quote"]
            if quote:
                assert (ours["quote"] or "").strip() == quote.strip(), where
            if m["file_name"]:
                assert m["file_name"] in [a["filename"] for a in ours["attachments"]], where
            if m["has_location"]:
                assert ours["location"], where
            if m["view_type"] == "Vcard":
                assert ours["kind"] == "contact", where
            assert ours["forwarded"] is bool(m["is_forwarded"]), where


def test_backup_read_receipts(alone, tmp_path):
    """Who read an own message (``msgs_mdns``) is read_by, as the wire's MDNs say."""
    user, arch = alone
    receipts = receipts_of_backup(BACKUPS[user], tmp_path)
    for target, reader in receipts:
        assert reader in arch.message(target)["read_by"], (target, reader)
    if user == "frank":  # the corpus: heidi read frank's welcome in the hike group
        assert ("73bbaf76-3348-46cc-bee5-3c0e6205bf7e@localhost", "heidi@example.org") in receipts


def test_own_reaction_without_its_message_row(tmp_path):
    """The owner's reaction kept only in ``reactions`` (contact 1: the row
    of the reaction message is gone) is still the owner's reaction."""
    src = BACKUPS["frank"]
    db = backup_db(src, tmp_path)
    db.execute("DELETE FROM msgs WHERE from_id=1 AND param LIKE '%x=1%'")
    db.commit()
    own = {
        norm_mid(mid): emoji
        for mid, emoji in db.execute(
            "SELECT m.rfc724_mid, r.reaction FROM reactions r JOIN msgs m ON m.id=r.msg_id WHERE r.contact_id=1"
        )
    }
    db.close()
    assert own
    out = tmp_path / "in" / "delta-chat-backup-frank.tar"
    out.parent.mkdir()
    with tarfile.open(src) as old, tarfile.open(out, "w") as new:
        for member in old.getmembers():
            data = (
                (tmp_path / "frank.sqlite").read_bytes() if member.name == DB_NAME else old.extractfile(member).read()
            )
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))
    arch = Archive(tmp_path / "archive", inprocess=True)
    assert arch.ingest(out).returncode == 0
    for target, emoji in own.items():
        assert arch.message(target)["reactions"].get("frank@example.org") == emoji


def test_group_image_named_as_its_mail_copy(alone):
    """Core 2.x sends a group image inline and keeps it under a hash: the
    backup names it as the mail copy does, not by the hash; an older
    core's blob keeps the file's own name."""
    from coi_archive.ingest.dcbackup import INLINE_AVATAR, avatar_name

    assert avatar_name("$BLOBDIR/9ec0eeeb59b9bdb226b05656cee1f23.png") == INLINE_AVATAR
    assert avatar_name("$BLOBDIR/team-photo.jpg") == "team-photo.jpg"
    user, arch = alone
    hike = [c for c in arch.chats if c.get("group_id") == GT["chats"]["hike"]["chat_group_id"]]
    if hike and hike[0].get("avatar"):
        assert hike[0]["avatar"] == INLINE_AVATAR
        values = [
            m["system"]["value"]
            for m in arch.show(hike[0]["id"])["messages"]
            if (m["system"] or {}).get("action") == "group-avatar"
        ]
        assert values and all(v in (INLINE_AVATAR, "group image") for v in values)


def test_backup_group_history(alone):
    """Renames, removals and re-adds in the backup become the same system
    lines as on the wire."""
    user, arch = alone
    for key in ("hike", "koch"):
        info = GT["chats"][key]
        found = [c for c in arch.chats if c.get("group_id") == info["chat_group_id"]]
        if not found:
            continue
        chat = found[0]
        systems = [m["system"] for m in arch.show(chat["id"])["messages"] if m["system"]]
        renames = [(s["old_name"], s["new_name"]) for s in systems if s["action"] == "group-renamed"]
        expected = [
            (e["old_name"], e["new_name"]) for e in GT["events"] if e["type"] == "group_renamed" and e["chat"] == key
        ]
        assert renames == expected[-len(renames) :] if renames else True


def test_backup_attachment_bytes_are_kept(alone, tmp_path):
    """The attachment of a backup record is stored byte-exact in the archive."""
    from coi_archive.index.api import Archive as Api

    user, arch = alone
    with tarfile.open(BACKUPS[user]) as tar:
        blobs = {
            Path(m.name).name: tar.extractfile(m).read()
            for m in tar
            if m.isreg() and m.name.startswith("blobs_backup/")
        }
    checked = 0
    with Api.open(arch.path, readonly=True) as api:
        for _chat, msg in arch.messages.values():
            for att in msg["attachments"]:
                name, mime, data = api.attachment(msg["message_id"], att["part"])
                assert hashlib.sha256(data).hexdigest() == att["sha256"]
                assert data in blobs.values()
                checked += 1
    assert checked or user == "grace" and not any(m[1]["attachments"] for m in arch.messages.values())


def test_backup_reingest_reads_nothing_new(alone):
    user, arch = alone
    before = arch.json("stats")
    res = arch.ingest(BACKUPS[user])
    assert res.returncode == 0
    assert arch.json("stats")["messages_seen"] == before["messages_seen"]


def test_backup_verify(alone):
    assert alone[1].verify().returncode == 0


# ==========================================================================
# Backup + mail: no duplicates
# ==========================================================================


def test_all_backups_add_no_message_to_the_journal(tmp_path):
    """The journal holds every message that went over the wire: adding all
    five backups changes no count but the copies -- and the read receipts,
    which a backup keeps without their MDN's Message-ID (one record each)."""
    arch = Archive(tmp_path / "archive", inprocess=True)
    assert arch.ingest(DC_DEV / "journal", *key_args(*USERS)).returncode == 0
    before = arch.json("stats")
    shown_before = {mid: (c["id"], m["dialect"]) for mid, (c, m) in arch.messages.items()}
    hashes = {u: sha(t) for u, t in BACKUPS.items()}
    res = arch.ingest(*BACKUPS.values())
    assert res.returncode == 0, res.describe()
    after = arch.json("stats")
    receipts = [r for t in BACKUPS.values() for r in receipts_of_backup(t, tmp_path)]
    assert receipts
    for key in ("unique_messages", "chat_messages"):
        assert after[key] == before[key] + len(set(receipts)), key
    for key in ("mail_messages", "chats", "encrypted_undecrypted"):
        assert after[key] == before[key], key
    records = sum(len(wire_mids_of_backup(t, tmp_path)) for t in BACKUPS.values())
    assert after["messages_seen"] == before["messages_seen"] + records + len(receipts)
    fresh = Archive(arch.path, inprocess=True)
    assert {mid: (c["id"], m["dialect"]) for mid, (c, m) in fresh.messages.items()} == shown_before
    assert {u: sha(t) for u, t in BACKUPS.items()} == hashes


@pytest.mark.parametrize("user", ["frank", "heidi"])
def test_maildir_plus_backup(tmp_path, user):
    maildir = DC_DEV / user
    arch = Archive(tmp_path / "archive", inprocess=True)
    assert arch.ingest(maildir, *key_args(user)).returncode == 0
    before = arch.json("stats")
    held = mids_in(maildir)
    assert before["unique_messages"] == len(held)
    assert arch.ingest(BACKUPS[user]).returncode == 0
    after = Archive(arch.path, inprocess=True)
    backup_mids = wire_mids_of_backup(BACKUPS[user], tmp_path)
    receipts = set(receipts_of_backup(BACKUPS[user], tmp_path))
    assert after.stats["unique_messages"] == len(held | backup_mids) + len(receipts)
    # what the server had expunged comes back from the backup, each once
    for _chat, real in final_chats(user):
        for m in real:
            ours = after.message(m["message_id"])
            if norm_mid(m["message_id"]) in held:
                assert ours["dialect"] != "dcbackup"  # the mail copy stays canonical
    from coi_archive.index.api import Archive as Api

    with Api.open(arch.path, readonly=True) as api:
        for mid in sorted(backup_mids)[:20]:
            assert api.raw_format(mid) == ("rfc822" if mid in held else "dcbackup-json")


# ==========================================================================
# Hostile and broken tars
# ==========================================================================


def _tar_with(src: Path, dst: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]] = ()) -> Path:
    with tarfile.open(src) as old, tarfile.open(dst, "w", format=tarfile.GNU_FORMAT) as new:
        for m in old:
            new.addfile(m, old.extractfile(m) if m.isreg() else None)
        for info, data in extra:
            new.addfile(info, io.BytesIO(data) if data is not None else None)
    return dst


def _temp_leftovers() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("coi-dcbackup-")}


def test_path_traversal_absolute_and_link_members(tmp_path):
    token = uuid.uuid4().hex
    up = f"../../coi-traversal-{token}"
    absolute = f"{tempfile.gettempdir()}/coi-absolute-{token}"
    extra = []
    for name in (up, absolute, f"blobs_backup/../../{token}"):
        info = tarfile.TarInfo(name)
        info.size = 5
        extra.append((info, b"evil\n"))
    link = tarfile.TarInfo(f"blobs_backup/link-{token}")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    extra.append((link, None))
    hard = tarfile.TarInfo(f"blobs_backup/hard-{token}")
    hard.type, hard.linkname = tarfile.LNKTYPE, DB_NAME
    extra.append((hard, None))
    evil = _tar_with(BACKUPS["frank"], tmp_path / "evil.tar", extra)
    digest = sha(evil)
    leftovers = _temp_leftovers()
    arch = Archive(tmp_path / "archive", inprocess=True)
    res = arch.ingest(evil, check=False)
    assert res.returncode == 1, res.describe()  # imported, but reported incomplete
    assert "unsafe" in res.stderr and "Traceback" not in res.stderr
    assert not any(token in p.name for p in Path("/").iterdir())
    assert not any(token in p for p in os.listdir(tempfile.gettempdir()))
    assert not any(token in str(p) for p in tmp_path.parent.rglob(f"*{token}*"))
    assert _temp_leftovers() == leftovers
    assert sha(evil) == digest
    # everything safe was imported, as from the clean backup
    clean = Archive(tmp_path / "clean", inprocess=True)
    assert clean.ingest(BACKUPS["frank"]).returncode == 0
    assert set(Archive(arch.path, inprocess=True).messages) == set(clean.messages)


def test_truncated_database_is_refused_and_nothing_is_lost(tmp_path):
    arch = Archive(tmp_path / "archive", inprocess=True)
    assert arch.ingest(DC_DEV / "mallory").returncode == 0
    before = arch.json("stats")
    data = BACKUPS["frank"].read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: 512 + 4096])  # the header and a bit of the database
    res = arch.run("ingest", cut, check=False)
    assert_clean_error(res)
    assert "truncated" in res.stderr or "cut short" in res.stderr
    after = arch.json("stats")
    assert after == before


def test_truncated_blobs_import_the_messages(tmp_path):
    with tarfile.open(BACKUPS["frank"]) as tar:
        members = tar.getmembers()
    db = next(m for m in members if m.name == DB_NAME)
    blob = next(m for m in members if m.name.startswith("blobs_backup/") and m.offset_data > db.offset_data)
    cut = tmp_path / "cut.tar"
    cut.write_bytes(BACKUPS["frank"].read_bytes()[: blob.offset_data + blob.size // 2])
    arch = Archive(tmp_path / "archive", inprocess=True)
    res = arch.ingest(cut, check=False)
    assert res.returncode == 1, res.describe()
    assert "truncated" in res.stderr and "Traceback" not in res.stderr
    clean = Archive(tmp_path / "clean", inprocess=True)
    assert clean.ingest(BACKUPS["frank"]).returncode == 0
    assert set(Archive(arch.path, inprocess=True).messages) == set(clean.messages)


def test_unknown_database_version_is_refused(tmp_path):
    conn = backup_db(BACKUPS["judy"], tmp_path)
    conn.execute("UPDATE config SET value='999' WHERE keyname='dbversion'")
    conn.commit()
    conn.close()
    db_bytes = (tmp_path / "judy.sqlite").read_bytes()
    out = tmp_path / "future.tar"
    with tarfile.open(BACKUPS["judy"]) as old, tarfile.open(out, "w") as new:
        for m in old:
            if m.name == DB_NAME:
                m.size = len(db_bytes)
                new.addfile(m, io.BytesIO(db_bytes))
            else:
                new.addfile(m, old.extractfile(m) if m.isreg() else None)
    arch = Archive(tmp_path / "archive", inprocess=True)
    res = arch.run("ingest", out, check=False)
    assert_clean_error(res)
    assert "999" in res.stderr and "version" in res.stderr
