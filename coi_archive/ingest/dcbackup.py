"""Delta Chat backups (``delta-chat-backup-*.tar``) as a source.

A backup is an uncompressed tar holding ``dc_database_backup.sqlite`` (the
client's database) and ``blobs_backup/`` (the files of attachments and
avatars).  Delta Chat expunges messages from the server, so the backup is
often the only complete record of an account.

Reading is strictly read-only and never trusts the tar:

* nothing is ever extracted by a member's name: the database is copied
  into a fresh temporary directory under a fixed name, opened with
  ``mode=ro&immutable=1`` and deleted afterwards; blobs are read into
  memory.  Members with absolute paths, ``..`` components, links or
  devices are skipped and reported (the scan then ends "incomplete");
* a truncated tar is reported: if the database itself is cut short the
  backup is refused (:class:`SourceError` at discovery), if only blobs are
  missing the messages are imported and the missing files are named;
* an unknown database version (``config.dbversion``) is refused with a
  clear message rather than guessed at (:data:`TESTED_DBVERSIONS`).

Each message row becomes one :class:`Candidate` of format
``dcbackup-json``: a canonical JSON document (sorted keys, UTF-8) with the
row itself (every column; BLOB columns as base64), the facts needed to
decode it on its own (account, chat, members over time, the sender,
location, the current reaction, rename/timer sequence facts) and the
attachment's bytes (base64, with their SHA-256).  That document *is* the
stored original: content-addressed like a mail, so an attachment from a
backup is kept byte-exact inside the archive and ``verify`` covers it.

The record is decoded into events by its dialect,
:mod:`coi_archive.ingest.dialects.dcbackup`, like a mail by its own.

Read receipts (``msgs_mdns``) and reactions that only the ``reactions``
table holds (the owner's own when its reaction message is gone, any in a
backup coi-archive wrote) become records of their own: the contact is the
sender, the Message-ID is derived from what they say (core keeps no wire
Message-ID for them).  A long message, shortened by core to ``[...]``, is
read whole from ``mime_headers``.

Not recoverable from a backup (documented limits): the history of others'
reactions (only the current one per person is stored), the text before an
edit made by someone else, the HTML of long messages, and a group image's
own file name (core 2.x keeps it under a hash).
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import re
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .decode import decode_parsed
from .dialects.dcbackup import FORMAT, RECORD_VERSION, norm_mid
from .dialects.dcconst import (
    CONTACT_DEVICE,
    CONTACT_INFO,
    CONTACT_SELF,
    SYS_ADDED,
    SYS_AVATAR,
    SYS_REMOVED,
    SYS_RENAMED,
    SYS_TIMER,
    TRASH_CHAT,
    Param,
)
from .events import Post, Provenance
from .mime import ParsedMail
from .safeio import limits_of
from .sources import Candidate, Source, SourceError

DB_NAME = "dc_database_backup.sqlite"
BLOB_DIR = "blobs_backup/"
#: Delta Chat database versions this reader was tested with (core 2.65).
TESTED_DBVERSIONS = frozenset({169})


# --------------------------------------------------------------------------
# The tar
# --------------------------------------------------------------------------


def looks_like_backup(path: Path) -> bool:
    """A ``.tar`` whose first regular member is the Delta Chat database."""
    if not path.name.lower().endswith(".tar"):
        return False
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if member.isreg():
                    return member.name == DB_NAME
    except (tarfile.TarError, OSError, EOFError):
        return path.name.lower().startswith("delta-chat-backup")
    return False


def _safe_name(name: str) -> bool:
    if not name or "\0" in name or name.startswith(("/", "\\")) or "\\" in name:
        return False
    if len(name) > 1 and name[1] == ":":  # a drive letter
        return False
    return ".." not in name.split("/")


@dataclass
class TarIndex:
    """The members of a backup tar that may be used, and what is wrong."""

    db: tarfile.TarInfo | None = None
    blobs: dict[str, tarfile.TarInfo] = field(default_factory=dict)
    unsafe: list[str] = field(default_factory=list)
    truncated: bool = False


def index_tar(tar: tarfile.TarFile) -> TarIndex:
    idx = TarIndex()
    try:
        for member in tar:
            name = member.name
            if not _safe_name(name) or member.issym() or member.islnk() or member.isdev() or member.isfifo():
                idx.unsafe.append(name)
                continue
            if not member.isreg():
                continue
            if name == DB_NAME:
                idx.db = member
            elif name.startswith(BLOB_DIR):
                idx.blobs.setdefault(posixpath.basename(name), member)
    except (tarfile.TarError, EOFError, OSError):
        idx.truncated = True
    return idx


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes | None:
    """The bytes of a regular member, or None if the tar is cut short."""
    try:
        fh = tar.extractfile(member)
        data = fh.read() if fh is not None else None
    except (tarfile.TarError, EOFError, OSError):
        return None
    if data is None or len(data) != member.size:
        return None
    return data


def _copy(fh, db_path: Path, path: Path) -> int:
    """Copy the database member to the temporary file; returns the bytes
    read.  A failure to write there (a full temporary disk) raises
    SourceError saying so, instead of passing for a damaged backup."""
    copied = 0
    out = open(db_path, "wb")  # noqa: SIM115 - closed below, where a failed close is a write error
    try:
        while chunk := fh.read(1 << 20):  # read errors: the caller's (a damaged tar)
            _written(lambda: out.write(chunk), path)
            copied += len(chunk)
    finally:
        _written(out.close, path)
    return copied


def _written(write, path: Path) -> None:
    try:
        write()
    except OSError as exc:
        raise SourceError(
            f"{path}: cannot copy its database to a temporary directory ({exc.strerror or exc})"
        ) from None


class _OpenBackup:
    """An opened backup: the tar, its index and the database copied into a
    private temporary directory (removed on close)."""

    def __init__(self, path: Path):
        self.path = path
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.tar: tarfile.TarFile | None = None
        self.conn: sqlite3.Connection | None = None
        try:
            self.tar = tarfile.open(path, "r:")  # noqa: SIM115 - held open for the reader's life, closed by close()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SourceError(f"{path}: not a readable tar file ({_why(exc)})") from None
        self.index = index_tar(self.tar)
        if self.index.db is None:
            self.close()
            what = "cut short before its database" if self.index.truncated else f"has no {DB_NAME}"
            raise SourceError(f"{path}: not a Delta Chat backup: the tar {what}")
        self._tmp = tempfile.TemporaryDirectory(prefix="coi-dcbackup-")
        db_path = Path(self._tmp.name) / "backup.sqlite"
        try:
            fh = self.tar.extractfile(self.index.db)
            copied = _copy(fh, db_path, path) if fh is not None else -1
        except (tarfile.TarError, EOFError, OSError):
            copied = -1
        if copied != self.index.db.size:
            self.close()
            raise SourceError(f"{path}: truncated Delta Chat backup: its database is incomplete")
        try:
            self.conn = sqlite3.connect(f"file:{db_path}?mode=ro&immutable=1", uri=True)
            self.conn.row_factory = sqlite3.Row
            row = self.conn.execute("SELECT value FROM config WHERE keyname='dbversion'").fetchone()
        except sqlite3.Error as exc:
            self.close()
            raise SourceError(f"{path}: damaged Delta Chat backup database ({exc})") from None
        self.dbversion = int(row[0]) if row and str(row[0]).isdigit() else None
        if self.dbversion not in TESTED_DBVERSIONS:
            self.close()
            tested = ", ".join(str(v) for v in sorted(TESTED_DBVERSIONS))
            raise SourceError(
                f"{path}: Delta Chat database version {self.dbversion} is not supported "
                f"(tested: {tested}); refusing to guess its schema"
            )

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.tar is not None:
            self.tar.close()
            self.tar = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _why(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def check(path: Path) -> None:
    """Raise :class:`SourceError` unless ``path`` is a usable backup."""
    _OpenBackup(path).close()


# --------------------------------------------------------------------------
# Candidates: one canonical JSON record per message row
# --------------------------------------------------------------------------


def parse_params(text: str | None) -> dict[str, str]:
    """Delta Chat's ``param`` column: ``k=v`` lines; a newline inside a
    value is written as an empty line followed by the continuation."""
    out: dict[str, str] = {}
    lines = (text or "").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        while i < len(lines) and lines[i] == "":
            value += "\n" + (lines[i + 1] if i + 1 < len(lines) else "")
            i += 2
        out[key] = value
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    return value


class _Db:
    """The tables a record needs, loaded once per backup."""

    def __init__(self, conn: sqlite3.Connection):
        q = conn.execute
        config = {r["keyname"]: r["value"] for r in q("SELECT keyname, value FROM config")}
        self.self_addr = (config.get("configured_addr") or config.get("addr") or "").lower()
        self.self_name = config.get("displayname") or ""
        self.contacts: dict[int, dict[str, str]] = {}
        for r in q("SELECT id, name, addr, authname FROM contacts"):
            if r["id"] == CONTACT_SELF:
                self.contacts[r["id"]] = {"addr": self.self_addr, "name": self.self_name}
            else:
                self.contacts[r["id"]] = {"addr": (r["addr"] or "").lower(), "name": r["authname"] or r["name"] or ""}
        self.descriptions = (
            {r[0]: r[1] for r in q("SELECT chat_id, description FROM chats_descriptions")}
            if _has_table(conn, "chats_descriptions")
            else {}
        )
        self.chats: dict[int, dict[str, Any]] = {}
        for r in q("SELECT id, type, name, grpid, param, ephemeral_timer FROM chats"):
            self.chats[r["id"]] = {
                "id": r["id"],
                "type": r["type"],
                "name": r["name"] or "",
                "grpid": r["grpid"] or "",
                "param": parse_params(r["param"]),
                "ephemeral_timer": r["ephemeral_timer"] or 0,
                "description": self.descriptions.get(r["id"]),
            }
        self.members: dict[int, list[dict[str, Any]]] = {}
        for r in q(
            "SELECT chat_id, contact_id, add_timestamp, remove_timestamp FROM chats_contacts"
            " ORDER BY chat_id, contact_id"
        ):
            c = self.contacts.get(r["contact_id"], {"addr": "", "name": ""})
            self.members.setdefault(r["chat_id"], []).append(
                {
                    "addr": c["addr"],
                    "name": c["name"],
                    "add_ts": r["add_timestamp"] or 0,
                    "remove_ts": r["remove_timestamp"] or 0,
                }
            )
        self.locations = {
            r["id"]: {"lat": r["latitude"], "lon": r["longitude"], "ts": r["timestamp"]}
            for r in q("SELECT id, latitude, longitude, timestamp FROM locations")
        }
        self.reactions = {
            (r["msg_id"], r["contact_id"]): r["reaction"]
            for r in q("SELECT msg_id, contact_id, reaction FROM reactions")
        }
        self.id_of_mid: dict[str, int] = {}
        self.mid_of_id: dict[int, tuple[str, int]] = {}  # row id -> (Message-ID, timestamp)
        self.own_reactions: set[str] = set()  # targets of the owner's reaction rows
        self.receipts = (
            [
                (r["msg_id"], r["contact_id"], r["timestamp_sent"] or 0)
                for r in q("SELECT msg_id, contact_id, timestamp_sent FROM msgs_mdns ORDER BY rowid")
            ]
            if _has_table(conn, "msgs_mdns")
            else []
        )
        rows = q(
            "SELECT id, rfc724_mid, chat_id, from_id, timestamp, hidden, txt, param,"
            " mime_in_reply_to, ephemeral_timer, subject FROM msgs ORDER BY timestamp, id"
        ).fetchall()
        self.renames: dict[int, list[tuple[int, int, str, str]]] = {}
        self.timers: dict[int, list[tuple[int, int]]] = {}
        self.timer_values: dict[int, list[tuple[int, int]]] = {}
        self.edit_quotes: dict[str, str] = {}
        self.avatar_changes: dict[int, list[int]] = {}
        self.subjects: dict[int, list[tuple[int, int, str]]] = {}
        self.last_reaction_row: dict[tuple[int, str], int] = {}
        for r in rows:
            if r["rfc724_mid"]:
                self.id_of_mid.setdefault(r["rfc724_mid"], r["id"])
                self.mid_of_id[r["id"]] = (r["rfc724_mid"], r["timestamp"] or 0)
            p = parse_params(r["param"])
            if p.get(Param.REACTION) == "1" and r["from_id"] == CONTACT_SELF:
                self.own_reactions.add(norm_mid(r["mime_in_reply_to"]))
            cmd = int(p.get(Param.CMD, "0") or 0) if p.get(Param.CMD, "0").isdigit() else 0
            if cmd == SYS_RENAMED:
                self.renames.setdefault(r["chat_id"], []).append(
                    (r["timestamp"], r["id"], p.get(Param.ARG, ""), _subject_name(r["subject"]))
                )
            elif cmd == SYS_TIMER:
                self.timers.setdefault(r["chat_id"], []).append((r["timestamp"], r["id"]))
            elif cmd == SYS_AVATAR:
                self.avatar_changes.setdefault(r["chat_id"], []).append(r["id"])
            if r["subject"]:
                self.subjects.setdefault(r["chat_id"], []).append(
                    (r["timestamp"], r["id"], _subject_name(r["subject"]))
                )
            if r["ephemeral_timer"]:
                self.timer_values.setdefault(r["chat_id"], []).append((r["timestamp"], r["ephemeral_timer"]))
            if Param.TEXT_EDIT_FOR in p and Param.QUOTE in p:  # an own edit: its quote is the text before it
                self.edit_quotes.setdefault(norm_mid(p[Param.TEXT_EDIT_FOR]), p[Param.QUOTE])
            if (
                r["hidden"]
                and r["from_id"] != CONTACT_SELF
                and not r["txt"]
                and r["chat_id"] != TRASH_CHAT
                and r["mime_in_reply_to"]
                and not cmd
                and Param.TEXT_EDIT_FOR not in p
                and Param.DELETE_REQUEST_FOR not in p
            ):
                self.last_reaction_row[(r["from_id"], norm_mid(r["mime_in_reply_to"]))] = r["id"]

    # facts about one row ------------------------------------------------

    def rename_names(self, chat_id: int) -> dict[int, tuple[str, str]]:
        """row id -> (old name, new name) of each rename of a chat.  Outgoing
        renames keep the old name (``E``), incoming ones do not; the new
        name is the next rename's old name, the chat's name after the last
        rename, else the group name in the row's subject (``Re: <name>``)."""
        cache = self.__dict__.setdefault("_rename_cache", {})
        if chat_id in cache:
            return cache[chat_id]
        seq = self.renames.get(chat_id, [])
        final = self.chats.get(chat_id, {}).get("name", "")
        news: list[str] = []
        for i, (_, _, _, subj) in enumerate(seq):
            if i + 1 == len(seq):
                news.append(final)
            else:
                news.append(seq[i + 1][2] or subj)
        out: dict[int, tuple[str, str]] = {}
        for i, (ts, rid, old, _) in enumerate(seq):
            if not old and i:
                old = news[i - 1]
            if not old:  # the group name in the last subject before the first rename
                before = [
                    n
                    for t, r, n in self.subjects.get(chat_id, [])
                    if (t, r) < (ts, rid) and n and r not in {x[1] for x in seq}
                ]
                old = before[-1] if before else ""
            out[rid] = (old, news[i])
        cache[chat_id] = out
        return out

    def name_at(self, chat_id: int, ts: int, row_id: int) -> str:
        chat = self.chats.get(chat_id, {})
        names = self.rename_names(chat_id)
        for rts, rid, _, _ in self.renames.get(chat_id, []):
            if (rts, rid) > (ts, row_id):
                return names[rid][0] or chat.get("name", "")
        return chat.get("name", "")

    def avatar_after(self, chat_id: int, row_id: int, value: str) -> str | None:
        """The group image after a change: named in outgoing changes (``E``);
        for incoming ones the chat's current image if it is the last change
        (none now = removed), else only that an image was set."""
        if value:
            return avatar_name(value)
        seq = self.avatar_changes.get(chat_id, [])
        if seq and seq[-1] == row_id:
            return avatar_name(self.chats.get(chat_id, {}).get("param", {}).get(Param.PROFILE_IMAGE, ""))
        return "group image"

    def timer_after(self, chat_id: int, row_id: int, ts: int) -> int:
        seq = self.timers.get(chat_id, [])
        for i, (_, rid) in enumerate(seq):
            if rid == row_id:
                if i + 1 == len(seq):
                    return int(self.chats.get(chat_id, {}).get("ephemeral_timer") or 0)
                nxt = seq[i + 1][0]
                vals = [v for t, v in self.timer_values.get(chat_id, []) if ts <= t <= nxt]
                return max(vals) if vals else 0
        return 0


#: a blob core 2.x named by its content hash (the file's own name is not kept)
_HASHED_BLOB = re.compile(r"[0-9a-f]{31}(\.[A-Za-z0-9]{1,8})?")
#: what the mail copy of a group-image change calls an image sent inline (core 2.x)
INLINE_AVATAR = "avatar (inline image)"


def avatar_name(blob_ref: str) -> str | None:
    """A group image's name as the wire gave it: core 2.x sends group
    images inline (no file name) and keeps them under a hash, so such a
    blob is named as its mail copy is; an older core's blob keeps the
    original file name."""
    name = posixpath.basename((blob_ref or "").replace("$BLOBDIR/", ""))
    if not name:
        return None
    return INLINE_AVATAR if _HASHED_BLOB.fullmatch(name) else name


def _subject_name(subject: str | None) -> str:
    """The group name in a group message's subject (``Re: <name>``)."""
    text = (subject or "").strip()
    while text[:3].lower() in ("re:", "aw:") or text[:4].lower() == "fwd:":
        text = text.split(":", 1)[1].strip()
    return text


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def _is_local_only(row: sqlite3.Row, chat: dict[str, Any] | None) -> bool:
    """Client-side notices that never were messages on the wire, and rows
    in the trash chat without content (messages deleted or protocol
    messages consumed: the database keeps only their Message-ID)."""
    if row["from_id"] in (CONTACT_INFO, CONTACT_DEVICE):
        return True
    if row["chat_id"] == TRASH_CHAT and not row["txt"] and not row["param"]:
        return True
    return bool(chat and chat["param"].get(Param.DEVICETALK) == "1")


def _record(db: _Db, backup: _OpenBackup, row: sqlite3.Row, missing: list[str], limit: int) -> dict[str, Any]:
    p = parse_params(row["param"])
    chat = db.chats.get(row["chat_id"])
    sender = db.contacts.get(row["from_id"], {"addr": "", "name": ""})
    facts: dict[str, Any] = {
        "account": {"addr": db.self_addr, "name": db.self_name},
        "sender": sender,
        "chat": None,
    }
    if chat is not None and row["chat_id"] != TRASH_CHAT and row["chat_id"] > 9:
        facts["chat"] = dict(
            chat,
            members=db.members.get(row["chat_id"], []),
            name_at=db.name_at(row["chat_id"], row["timestamp"], row["id"]),
        )
    cmd = int(p[Param.CMD]) if p.get(Param.CMD, "").isdigit() else 0
    if cmd == SYS_RENAMED:
        old_name, facts["rename_new"] = db.rename_names(row["chat_id"]).get(row["id"], ("", ""))
        facts["rename_old"] = old_name
    elif cmd == SYS_TIMER:  # the value, when a backup written by coi-archive names it
        facts["timer_after"] = (
            int(p[Param.ARG])
            if p.get(Param.ARG, "").isdigit()
            else db.timer_after(row["chat_id"], row["id"], row["timestamp"])
        )
    elif cmd == SYS_AVATAR:
        facts["avatar_after"] = db.avatar_after(row["chat_id"], row["id"], p.get(Param.ARG, ""))
    elif cmd in (SYS_ADDED, SYS_REMOVED) and p.get(Param.CONTACT_ADDED_REMOVED, "").isdigit():
        facts["member"] = db.contacts.get(int(p[Param.CONTACT_ADDED_REMOVED]))
    if row["location_id"] and row["location_id"] in db.locations:
        facts["location"] = db.locations[row["location_id"]]
    full = _full_text(row)
    if full:
        facts["full_text"] = full
    mid = row["rfc724_mid"]
    if mid in db.edit_quotes:
        facts["text_before_edits"] = db.edit_quotes[mid]
    target = norm_mid(row["mime_in_reply_to"])
    if db.last_reaction_row.get((row["from_id"], target)) == row["id"]:
        target_id = db.id_of_mid.get(target)
        facts["reaction"] = {
            "target": target,
            "emoji": db.reactions.get((target_id, row["from_id"]), "") if target_id else "",
        }
    blob_ref = p.get(Param.FILE, "")
    if blob_ref:
        name = posixpath.basename(blob_ref.replace("$BLOBDIR/", ""))
        member = backup.index.blobs.get(name)
        assert backup.tar is not None, "an opened backup keeps its tar until close()"
        data = _read_member(backup.tar, member) if member is not None and member.size <= limit else None
        if member is not None and member.size > limit:  # not read: memory stays bounded
            facts["blob"] = {"name": name, "over_limit": True, "size": member.size}
        elif data is None:
            missing.append(name)
            facts["blob"] = {"name": name, "missing": True}
        else:
            facts["blob"] = {
                "name": name,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "base64": base64.b64encode(data).decode("ascii"),
            }
    return {
        "format": FORMAT,
        "record_version": RECORD_VERSION,
        "dbversion": backup.dbversion,
        "row": {k: _plain(row[k]) for k in row.keys()},  # noqa: SIM118 - a sqlite3.Row iterates values
        "param": p,
        "facts": facts,
    }


def _full_text(row: sqlite3.Row) -> str | None:
    """The whole text of a long message: core shows (and keeps in ``txt``)
    its start, ending in ``[...]``, and keeps the full MIME message in
    ``mime_headers`` (brotli-compressed when ``mime_compressed``)."""
    if not (row["txt"] or "").rstrip().endswith("[...]") or not row["mime_headers"]:
        return None
    data = row["mime_headers"]
    data = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
    try:
        if row["mime_compressed"]:
            import brotli

            data = brotli.decompress(data)
        env = decode_parsed(ParsedMail(data))
    except Exception:  # brotli.error, a hostile MIME message: keep the shown text  # noqa: BLE001
        return None
    texts = [ev.text for ev in env.events if isinstance(ev, Post) and ev.text]
    return texts[0] if texts else None


#: Message-IDs of the records made from table rows (they have no wire message)
TABLE_MID = "{kind}-{digest}@dcbackup.coi-archive.invalid"


def _table_record(
    db: _Db, backup: _OpenBackup, kind: str, msg_id: int, contact_id: int, ts: int, emoji: str = ""
) -> dict[str, Any] | None:
    """A record for a reaction (``reactions``) or read receipt
    (``msgs_mdns``) that no message row carries: its sender is the contact,
    its Message-ID derived from what it says (the same fact in two backups
    is one message)."""
    target = db.mid_of_id.get(msg_id)
    sender = db.contacts.get(contact_id)
    if target is None or not sender or not sender["addr"]:
        return None
    digest = hashlib.sha256(f"{target[0]} {sender['addr']} {emoji}".encode()).hexdigest()[:32]
    facts: dict[str, Any] = {
        "account": {"addr": db.self_addr, "name": db.self_name},
        "sender": sender,
        "chat": None,
        kind: {"target": norm_mid(target[0]), "emoji": emoji},
    }
    row = {
        "rfc724_mid": TABLE_MID.format(kind=kind, digest=digest),
        "timestamp": ts or target[1],
        "timestamp_sent": ts or target[1],
        "subject": "",
        "mime_in_reply_to": target[0],
        "mime_references": "",
        "hidden": 1,
        "txt": "",
    }  # protocol data, like core's own hidden reaction rows
    return {
        "format": FORMAT,
        "record_version": RECORD_VERSION,
        "dbversion": backup.dbversion,
        "table": "reactions" if kind == "reaction" else "msgs_mdns",
        "row": row,
        "param": {},
        "facts": facts,
    }


def _table_records(db: _Db, backup: _OpenBackup) -> Iterator[tuple[str, dict[str, Any]]]:
    """(provenance key, record) of the reactions no row carries (the
    owner's own when its reaction message is gone, and any written by
    another tool) and of every read receipt."""
    for (msg_id, contact_id), emoji in sorted(db.reactions.items()):
        target = norm_mid(db.mid_of_id.get(msg_id, ("", 0))[0])
        if (
            not emoji
            or (contact_id, target) in db.last_reaction_row
            or (contact_id == CONTACT_SELF and target in db.own_reactions)
        ):
            continue
        rec = _table_record(db, backup, "reaction", msg_id, contact_id, 0, emoji)
        if rec is not None:
            yield f"reactions/{msg_id}:{contact_id}", rec
    for msg_id, contact_id, ts in db.receipts:
        rec = _table_record(db, backup, "receipt", msg_id, contact_id, ts)
        if rec is not None:
            yield f"msgs_mdns/{msg_id}:{contact_id}", rec


def _reader(data: bytes) -> Callable[[], bytes]:
    """A candidate's ``read`` for a record already built in memory."""
    return lambda: data


def candidates(source: Source, state: dict) -> Iterator[Candidate]:
    backup = _OpenBackup(source.path)
    st = source.path.stat()
    missing: list[str] = []
    assert backup.conn is not None, "an opened backup keeps its database until close()"
    try:
        db = _Db(backup.conn)
        rows = backup.conn.execute("SELECT * FROM msgs WHERE id > 9 AND rfc724_mid != '' ORDER BY id")
        for row in rows:  # streamed: one row (and its attachment) in memory at a time
            chat = db.chats.get(row["chat_id"])
            if _is_local_only(row, chat):
                continue
            record = _record(db, backup, row, missing, limits_of(state).max_message_size)
            data = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
            prov = Provenance(source=source.id, folder="msgs", key=str(row["id"]), mtime=st.st_mtime, size=len(data))
            yield Candidate(provenance=prov, read=_reader(data), format=FORMAT)
        for key, record in _table_records(db, backup):
            data = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
            folder, _, rowkey = key.partition("/")
            prov = Provenance(source=source.id, folder=folder, key=rowkey, mtime=st.st_mtime, size=len(data))
            yield Candidate(provenance=prov, read=_reader(data), format=FORMAT)
    except sqlite3.Error as exc:
        raise SourceError(f"damaged Delta Chat backup database ({exc})") from None
    finally:
        index = backup.index
        backup.close()
    problems = []
    if index.unsafe:
        shown = ", ".join(repr(n) for n in index.unsafe[:3])
        problems.append(
            f"skipped {len(index.unsafe)} unsafe tar member(s) ({shown}): paths outside the "
            "backup, absolute paths and links are never read"
        )
    if index.truncated or missing:
        problems.append(
            f"the tar is truncated or damaged: {len(missing)} attachment file(s) missing"
            + (f" ({', '.join(missing[:3])})" if missing else "")
        )
    if problems:
        raise SourceError("; ".join(problems))


__all__ = ["TESTED_DBVERSIONS", "candidates", "check", "looks_like_backup", "parse_params"]
