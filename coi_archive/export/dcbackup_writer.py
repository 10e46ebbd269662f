"""Write a Delta Chat backup (``export --format deltachat-backup``): the
chats of one account, as that account sees them, in the form Delta Chat
core imports with ``import_backup`` -- how a COI, mail or older Delta Chat
history moves into Delta Chat.

A backup is an uncompressed tar of ``dc_database_backup.sqlite`` (core's
database) and ``blobs_backup/`` (attachment files).  The database starts
from :data:`TEMPLATE`, the database core 2.65 itself creates for a new
account (``scripts/dcbackup_template.py`` made it; a test checks it against
the installed core), so tables, indexes and reserved rows are exactly
core's; this module only inserts rows.  Only that schema is written:
:data:`DBVERSION` (core 2.65); no other version is claimed.

What goes in, per chat of the account (a chat it is or was a member of,
and the mailing lists it may have read: see :func:`account_chats`):
contacts (key-contacts with their public key where the archive holds the
Autocrypt key of an encrypted chat's member, address-contacts otherwise,
as core itself keeps both), the chat (1:1; group with its name, image and
description, and its group id when encrypted -- core 2.x keeps unencrypted
groups as ad-hoc groups without one; mailing list with its List-Id;
members with add/remove times),
messages in order with their current text (``L`` = edited), attachments as
blobs, quotes, forwarded flags, locations, vCards, reactions (the owner's
too), read receipts of own messages (``msgs_mdns``) and states (own: delivered, or read
when someone read it; incoming: seen), system events as core's info
messages, deleted messages as core keeps them (a row in the trash chat with
only the Message-ID, so the deleted message never comes back).  The owner's
key pair is the supplied key file: it is written into this database only.

The account has its address (a ``transports`` row naming no server) but no
server login: a backup cannot know the password, so after importing the
user enters the login once in the account settings (core keeps the
imported chats and the key).  Incoming messages are written as seen: the
archive cannot tell which of several mailboxes' flags were this account's.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.parser import BytesHeaderParser
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO, cast

from coi_archive.index.api import Archive, ArchiveError, parse_iso
from coi_archive.ingest.decode import Decryptor
from coi_archive.ingest.dialects.dcconst import (
    CHAT_GROUP,
    CHAT_MAILINGLIST,
    CHAT_SINGLE,
    CONTACT_INFO,
    CONTACT_SELF,
    SYS_ADDED,
    SYS_AVATAR,
    SYS_DESCRIPTION,
    SYS_REMOVED,
    SYS_RENAMED,
    SYS_TIMER,
    TRASH_CHAT,
    VT_AUDIO,
    VT_FILE,
    VT_GIF,
    VT_IMAGE,
    VT_STICKER,
    VT_TEXT,
    VT_VCARD,
    VT_VIDEO,
    VT_VOICE,
    VT_WEBXDC,
    Param,
)

from .selection import ExportError

#: ``config.dbversion`` of the schema written: core 2.65's.
DBVERSION = 169
CORE_VERSION = "2.65"
TEMPLATE = "dcbackup_template.sql"
DB_NAME = "dc_database_backup.sqlite"
BLOB_DIR = "blobs_backup"
#: core's DCBACKUP_VERSION of 2.65 (checked by ``import_backup``)
BACKUP_VERSION = 5

# chatmail/core constants only the writer needs (src/contact.rs Origin, src/message.rs MessageState)
ORIGIN_INCOMING = 2048  # what core gives the members of chats it took part in
STATE_IN_SEEN, STATE_OUT_DELIVERED, STATE_OUT_MDN_RCVD = 16, 26, 28
#: a post's kind -> core's view type
VIEW_TYPE = {
    "text": VT_TEXT,
    "location": VT_TEXT,
    "system": VT_TEXT,
    "image": VT_IMAGE,
    "gif": VT_GIF,
    "sticker": VT_STICKER,
    "audio": VT_AUDIO,
    "voice": VT_VOICE,
    "video": VT_VIDEO,
    "file": VT_FILE,
    "webxdc": VT_WEBXDC,
    "contact": VT_VCARD,
}
#: show --json system actions -> core's SystemMessage (param ``S``)
SYSTEM_CMD = {
    "group-renamed": SYS_RENAMED,
    "group-avatar": SYS_AVATAR,
    "member-added": SYS_ADDED,
    "member-removed": SYS_REMOVED,
    "member-left": SYS_REMOVED,
    "ephemeral-timer": SYS_TIMER,
    "group-description": SYS_DESCRIPTION,
}


@dataclass
class BackupReport:
    """What was written; ``chat_map``: archive chat id -> backup chat id
    (1:1 chats of one contact share a backup chat, as in core)."""

    chats: int = 0
    messages: int = 0
    blobs: int = 0
    keys: int = 0
    chat_map: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class OwnKey:
    """The account's OpenPGP key pair, binary (core's ``keypairs`` columns),
    and a decryptor over it (to read the account's encrypted messages)."""

    fingerprint: str
    secret: bytes
    public: bytes
    user_ids: tuple[str, ...]
    decryptor: Decryptor | None = field(default=None, repr=False, compare=False)


def load_key(path: str | Path) -> OwnKey:
    """Read the owner's secret key file (ASCII-armored or binary, as Delta
    Chat exports it).  ExportError for a file without a secret key."""
    import warnings

    from pysequoia import Cert

    from coi_archive.ingest.crypto import keyring_decryptor

    try:
        cert = Cert.from_file(str(Path(path).expanduser()))
    except (OSError, ValueError, RuntimeError) as exc:  # pysequoia raises ValueError for bad data
        raise ExportError(f"cannot read key {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        secrets = cert.secrets
    if secrets is None:
        raise ExportError(f"{path} holds no secret key (give the private-key-*.asc file)")
    return OwnKey(
        cert.fingerprint.upper(),
        bytes(secrets),
        bytes(cert),
        tuple(str(u.value) if hasattr(u, "value") else str(u) for u in cert.user_ids),
        cast(Decryptor, keyring_decryptor([Path(path).expanduser()])),
    )


def _check_owner(key: OwnKey, me: str) -> None:
    """A key whose user ids name other addresses only is someone else's:
    refused, rather than giving the account a key its contacts do not know."""
    if key.user_ids and not any(me in uid.lower() for uid in key.user_ids):
        raise ExportError(f"the key {key.fingerprint} is not {me}'s (its user ids: {', '.join(key.user_ids)})")


def _view_type(kind: str | None, index: int, has_file: bool) -> int:
    """core's view type of a message row: a row without a file is text, a
    mail's further attachments are files, a text kind with a file a file."""
    if not has_file:
        return VIEW_TYPE["text"]
    if index:
        return VIEW_TYPE["file"]
    vtype = VIEW_TYPE.get(kind or "text", VIEW_TYPE["file"])
    return VIEW_TYPE["file"] if vtype == VIEW_TYPE["text"] else vtype


def _epoch(value: str | None) -> int:
    dt = parse_iso(value)
    return int(dt.timestamp()) if dt else 0


def _params(values: dict[str, Any]) -> str:
    """core's ``param`` column: sorted ``k=v`` lines; a newline inside a
    value is written as an empty line before the continuation."""
    lines = []
    for key in sorted(values):
        value = str(values[key])
        lines.append(f"{key}={value.replace(chr(10), chr(10) + chr(10))}")
    return "\n".join(lines)


class _Writer:
    """One backup database being filled, plus the blobs it refers to."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        archive: Archive,
        me: str,
        keys: dict[str, tuple[str, bytes]],
        decryptor: Decryptor | None,
        blob_dir: Path,
    ):
        self.conn = conn
        self.archive = archive
        self.me = me
        self.keys = keys  # address -> (fingerprint, public key) from the Autocrypt history
        self.used_keys: set[str] = set()
        self.decryptor = decryptor
        self.names = {c["address"]: c.get("name") or "" for c in archive.contacts()}
        self.contact_ids: dict[tuple[str, str], int] = {}
        self.single_chats: dict[int, int] = {}
        self.blob_dir = blob_dir  # the files, one per content, until they go into the tar
        self.report = BackupReport()

    # contacts ------------------------------------------------------------

    def contact(self, address: str | None, encrypted: bool) -> int:
        """The contact id of ``address``: the owner is contact 1; others are
        key-contacts in encrypted chats when their key is known, else
        address-contacts (core keeps the two apart)."""
        addr = (address or "").strip().lower()
        if not addr:
            return CONTACT_INFO
        if addr == self.me:
            return CONTACT_SELF
        fpr, key = self.keys.get(addr, ("", b"")) if encrypted else ("", b"")
        found = self.contact_ids.get((addr, fpr))
        if found is not None:
            return found
        if fpr:
            self.used_keys.add(fpr)
            self.conn.execute("INSERT OR IGNORE INTO public_keys(fingerprint, public_key) VALUES(?, ?)", (fpr, key))
        cur = self.conn.execute(
            "INSERT INTO contacts(name, addr, origin, authname, fingerprint) VALUES('', ?, ?, ?, ?)",
            (addr, ORIGIN_INCOMING, self.names.get(addr, ""), fpr),
        )
        self.contact_ids[(addr, fpr)] = int(cur.lastrowid or 0)
        return int(cur.lastrowid or 0)

    # chats ---------------------------------------------------------------

    def chat(self, chat: dict[str, Any], messages: list[dict[str, Any]]) -> int:
        """Insert one archive chat (or find the 1:1 chat it joins); its id."""
        kind, encrypted = chat["kind"], bool(chat.get("encrypted"))
        others = [m for m in chat.get("members") or () if m != self.me]
        created = _epoch(chat.get("first_date"))
        if kind == "self":
            return self._insert_chat(CHAT_SINGLE, "Saved messages", "", {Param.SELFTALK: "1"}, created)
        if kind in ("direct", "mail") and len(others) == 1:
            contact = self.contact(others[0], encrypted)
            if contact not in self.single_chats:
                name = self.names.get(others[0]) or others[0]
                chat_id = self._insert_chat(CHAT_SINGLE, name, "", {}, created)
                self.conn.execute("INSERT INTO chats_contacts(chat_id, contact_id) VALUES(?, ?)", (chat_id, contact))
                self.single_chats[contact] = chat_id
            return self.single_chats[contact]
        if kind == "mailinglist":
            grpid = self._list_id(messages) or chat.get("group_id") or chat["id"]
            return self._insert_chat(CHAT_MAILINGLIST, chat.get("name") or grpid, grpid, {}, created)
        params: dict[str, Any] = {}
        avatar = self._avatar(chat, messages)
        if avatar:
            params[Param.PROFILE_IMAGE] = f"$BLOBDIR/{avatar}"
        # core 2.x: a group with a group id is an encrypted group (key-contacts
        # only, sending needs every member's key); an unencrypted group (COI,
        # classic mail) is an ad-hoc group, matched by its members and subject
        grpid = (chat.get("group_id") or "") if encrypted else ""
        chat_id = self._insert_chat(
            CHAT_GROUP, chat.get("name") or "", grpid, params, created, chat.get("ephemeral_timer") or 0
        )
        self._members(chat_id, chat, encrypted, created)
        if chat.get("description"):
            self.conn.execute(
                "INSERT INTO chats_descriptions(chat_id, description) VALUES(?, ?)", (chat_id, chat["description"])
            )
        return chat_id

    def _list_id(self, messages: list[dict[str, Any]]) -> str | None:
        """The list's id as core keeps it (``grpid``): the ``List-Id`` of
        its mail, without the description (``Name <id>`` -> ``id``)."""
        for m in messages:
            try:
                data = self.archive.mail(m["message_id"]).data
            except ArchiveError:
                continue
            head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
            value = str(BytesHeaderParser(policy=policy.compat32).parsebytes(head + b"\n\n").get("List-Id") or "")
            value = " ".join(value.split())
            if "<" in value and ">" in value:
                value = value[value.find("<") + 1 : value.rfind(">")]
            if value.strip():
                return value.strip()
        return None

    def _insert_chat(
        self, ctype: int, name: str, grpid: str, params: dict[str, Any], created: int, timer: int = 0
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO chats(type, name, grpid, param, created_timestamp, ephemeral_timer) VALUES(?, ?, ?, ?, ?, ?)",
            (ctype, name, grpid, _params(params), created, timer),
        )
        self.report.chats += 1
        return int(cur.lastrowid or 0)

    def _members(self, chat_id: int, chat: dict[str, Any], encrypted: bool, created: int) -> None:
        """Each member with core's latest add and remove time (a current
        member's remove time is an earlier removal, if any)."""
        spans: dict[str, list[tuple[int, int | None]]] = {}
        for row in self.archive.memberships(chat["id"]):
            until = _epoch(row.get("until")) if row.get("until") else None
            spans.setdefault(row["member"], []).append((_epoch(row.get("since")) or created, until))
        for member in list(chat.get("members") or ()) + list(chat.get("past_members") or ()):
            spans.setdefault(member, [(created, None)])
        for member, rows in spans.items():
            add = max(since for since, _ in rows)
            ends = [until for _, until in rows if until is not None]
            current = any(until is None for _, until in rows)
            remove = max(ends, default=0)
            if current and remove > add:
                remove = 0
            self.conn.execute(
                "INSERT OR REPLACE INTO chats_contacts(chat_id, contact_id, add_timestamp, remove_timestamp)"
                " VALUES(?, ?, ?, ?)",
                (chat_id, self.contact(member, encrypted), add, remove),
            )

    def _avatar(self, chat: dict[str, Any], messages: list[dict[str, Any]]) -> str | None:
        """The group image: the one the last group-image change set."""
        if not chat.get("avatar"):
            return None
        for m in reversed(messages):
            if (m.get("system") or {}).get("action") == "group-avatar":
                return self._avatar_blob(m["message_id"])
        return None

    def _avatar_blob(self, mid: str) -> str | None:
        data = self.archive.group_avatar(mid, self.decryptor)
        if not data:
            return None
        ext = ".png" if data.startswith(b"\x89PNG") else ".jpg" if data.startswith(b"\xff\xd8") else ""
        return self._keep(data, ext)

    # messages ------------------------------------------------------------

    def message(self, chat_id: int, m: dict[str, Any], encrypted: bool) -> int | None:
        """Insert one message (several rows for a mail with several
        attachments, as core does); the id of its first row."""
        ts = _epoch(m.get("date"))
        mid = m["message_id"]
        if m.get("deleted"):
            self.conn.execute("INSERT INTO msgs(rfc724_mid, chat_id, timestamp) VALUES(?, ?, ?)", (mid, TRASH_CHAT, ts))
            return None
        sender = self.contact(m.get("sender"), encrypted)
        own = sender == CONTACT_SELF
        params: dict[str, Any] = {}
        if m.get("encrypted"):
            params[Param.GUARANTEE_E2EE] = "1"
        if m.get("edited"):
            params[Param.IS_EDITED] = "1"
        if m.get("forwarded"):
            params[Param.FORWARDED] = "1"
        if m.get("quote") is not None:
            params[Param.QUOTE] = m["quote"]
        system = m.get("system") or {}
        to_id = 0 if own else CONTACT_SELF
        if m.get("kind") == "system":
            self._system_params(params, system, mid, encrypted)
            if Param.CMD not in params:
                to_id = CONTACT_INFO  # an info message core has no command for
        attachments = list(m.get("attachments") or ()) if m.get("kind") != "system" else []
        location_id = self._location(chat_id, sender, ts, m.get("location"))
        state = (STATE_OUT_MDN_RCVD if m.get("read_by") else STATE_OUT_DELIVERED) if own else STATE_IN_SEEN
        first = 0
        for i in range(max(1, len(attachments))):
            row_params = dict(params)
            name = self._blob(mid, attachments[i]) if i < len(attachments) else None
            if name:
                row_params.update(
                    f=f"$BLOBDIR/{name}", m=attachments[i].get("mime") or "", v=attachments[i].get("filename") or name
                )
            cur = self.conn.execute(
                "INSERT INTO msgs(rfc724_mid, chat_id, from_id, to_id, timestamp, type, state, msgrmsg, bytes, txt,"
                " param, timestamp_sent, timestamp_rcvd, mime_in_reply_to, location_id, subject)"
                " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    mid,
                    chat_id,
                    sender,
                    to_id,
                    ts,
                    _view_type(m.get("kind"), i, bool(name)),
                    state,
                    int(m.get("dialect") != "mail"),
                    0,
                    m.get("text") or "" if i == 0 else "",
                    _params(row_params),
                    ts,
                    ts,
                    m.get("reply_to") or "",
                    location_id if i == 0 else 0,
                    m.get("subject") or "",
                ),
            )
            first = first or int(cur.lastrowid or 0)
        self.report.messages += 1
        self._reactions(first, m, encrypted)
        return first

    def _system_params(self, params: dict[str, Any], system: dict[str, Any], mid: str, encrypted: bool) -> None:
        """core's command (``S``) and its value for an info line: the member
        (``5``, the same contact as in the member list), the old name, the
        new image, the timer."""
        action = system.get("action")
        if action not in SYSTEM_CMD:
            return
        params[Param.CMD] = str(SYSTEM_CMD[action])
        if action == "group-avatar" and system.get("value") and mid:
            name = self._avatar_blob(mid)
            if name:
                params[Param.ARG] = f"$BLOBDIR/{name}"
        elif action == "ephemeral-timer":
            # the value, where core's own rows have none; not ``ephemeral_timer``,
            # which would make core delete the migrated messages once read
            params[Param.ARG] = str(int(system.get("value") or 0))
        elif action == "group-renamed" and system.get("old_name"):
            params[Param.ARG] = system["old_name"]
        elif action in ("member-added", "member-removed", "member-left") and system.get("member"):
            params[Param.CONTACT_ADDED_REMOVED] = str(self.contact(system["member"], encrypted))
            params[Param.ARG] = system["member"]

    def _location(self, chat_id: int, sender: int, ts: int, location: dict[str, Any] | None) -> int:
        if not location:
            return 0
        cur = self.conn.execute(
            "INSERT INTO locations(latitude, longitude, timestamp, chat_id, from_id, independent)"
            " VALUES(?, ?, ?, ?, ?, 1)",
            (location["lat"], location["lon"], ts, chat_id, sender),
        )
        return int(cur.lastrowid or 0)

    def _reactions(self, msg_id: int, m: dict[str, Any], encrypted: bool) -> None:
        """Reactions (everyone's, the owner's too) and, on own messages, read receipts."""
        for addr, emoji in sorted((m.get("reactions") or {}).items()):
            self.conn.execute(
                "INSERT OR REPLACE INTO reactions(msg_id, contact_id, reaction) VALUES(?, ?, ?)",
                (msg_id, self.contact(addr, encrypted), emoji),
            )
        if (m.get("sender") or "").lower() != self.me:
            return  # read receipts go to the sender only: the account never saw others'
        ts = _epoch(m.get("date"))
        for addr in m.get("read_by") or ():
            self.conn.execute(
                "INSERT INTO msgs_mdns(msg_id, contact_id, timestamp_sent) VALUES(?, ?, ?)",
                (msg_id, self.contact(addr, encrypted), ts),
            )

    def _blob(self, mid: str, att: dict[str, Any]) -> str | None:
        """The blob name of an attachment (core's style: a hash and the
        file's extension), its bytes kept for the tar; None if the archive
        cannot give the bytes."""
        try:
            filename, _mime, data = self.archive.attachment(mid, att.get("part") or "", self.decryptor)
        except ArchiveError:
            return None
        ext = posixpath.splitext(filename or "")[1].lower()
        return self._keep(data, ext if ext[1:].isalnum() and len(ext) <= 8 else "")

    def _keep(self, data: bytes, ext: str) -> str:
        name = hashlib.sha256(data).hexdigest()[:31] + ext
        path = self.blob_dir / name
        if not path.exists():
            path.write_bytes(data)
            self.report.blobs += 1
        return name


def account_chats(archive: Archive, me: str, chat_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The chats an account sees: those given, else every chat the address
    is or was a member of, and the mailing lists (a list's mail is
    addressed to the list, so its headers seldom say who received it:
    only a list whose messages name other readers but not this one is
    left out), oldest first (core's chat ids grow with time too)."""
    if chat_ids:
        return [archive.chat(cid) for cid in chat_ids]
    out = []
    for chat in archive.chats():
        people = set(chat.get("members") or ()) | set(chat.get("past_members") or ())
        if me in people or (chat["kind"] == "mailinglist" and _list_reader(archive, chat, me)):
            out.append(chat)
    return sorted(out, key=lambda c: (c.get("first_date") or "", c["id"]))


def _list_reader(archive: Archive, chat: dict[str, Any], me: str) -> bool:
    """Whether ``me`` may have read a list: named in one of its messages,
    or no message names anyone but the list's own addresses."""
    lists = set(chat.get("members") or ())
    named: set[str] = set()
    for m in archive.show(chat["id"])["messages"]:
        named |= {a for a in (m.get("recipients") or ()) if a not in lists}
        named |= {m.get("sender")} - lists - {None}
    return me in named or not named


def _new_database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.executescript(resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8"))
    version = conn.execute("SELECT value FROM config WHERE keyname='dbversion'").fetchone()
    if version is None or int(version[0]) != DBVERSION:  # a template from another core
        raise ExportError(f"the backup template is not core {CORE_VERSION}'s (dbversion {version})")
    return conn


def _transport(me: str) -> tuple[str, str]:
    """``transports`` params (entered, configured) naming the address and
    no server: core reads the account's address from here; logging in
    after the import fills in the servers."""
    server = {"server": "", "port": 0, "security": "Automatic", "user": "", "password": ""}
    entered = {
        "addr": me,
        "imap": dict(server, folder=""),
        "smtp": server,
        "certificate_checks": "Automatic",
        "oauth2": False,
    }
    configured = {
        "addr": me,
        "imap": [],
        "imap_user": "",
        "imap_password": "",
        "smtp": [],
        "smtp_user": "",
        "smtp_password": "",
        "certificate_checks": "Automatic",
        "oauth2": False,
    }
    return json.dumps(entered), json.dumps(configured)


def _configure(conn: sqlite3.Connection, me: str, name: str, key: OwnKey) -> None:
    """The account: its address (``transports`` and config), its name and
    its key pair (the given key, core's default key)."""
    now = int(time.time())
    conn.execute(
        "INSERT INTO transports(addr, entered_param, configured_param, add_timestamp) VALUES(?, ?, ?, ?)",
        (me, *_transport(me), now),
    )
    cur = conn.execute(
        "INSERT INTO keypairs(private_key, public_key, addr, is_default, created) VALUES(?, ?, '', 1, ?)",
        (key.secret, key.public, now),
    )
    conn.execute(
        "INSERT OR IGNORE INTO public_keys(fingerprint, public_key) VALUES(?, ?)", (key.fingerprint, key.public)
    )
    config = {
        "addr": me,
        "configured_addr": me,
        "configured": "1",
        "displayname": name,
        "key_id": str(cur.lastrowid),
        "backup_version": str(BACKUP_VERSION),
        "bcc_self": "1",
    }
    conn.executemany("INSERT INTO config(keyname, value) VALUES(?, ?)", sorted(config.items()))


def write_backup(
    archive: Archive,
    me: str,
    key: OwnKey,
    out: BinaryIO,
    *,
    chat_ids: Iterable[str] | None = None,
    since: datetime | None = None,
) -> BackupReport:
    """Write the backup of account ``me`` (its chats, or ``chat_ids``;
    messages dated at or after ``since``) as a tar to ``out``."""
    me = me.strip().lower()
    if "@" not in me:
        raise ExportError(f"--as needs the account's e-mail address, not {me!r}")
    _check_owner(key, me)
    shown = [(chat, archive.show(chat["id"])["messages"]) for chat in account_chats(archive, me, chat_ids)]
    # contacts' keys from the whole history, even with --since
    every = sorted((m for _, msgs in shown for m in msgs), key=lambda m: (m.get("date") or "", m["message_id"]))
    keys = archive.autocrypt_keys([m["message_id"] for m in every], key.decryptor)
    keys.pop(me, None)  # the owner's key is the one given
    chats = [(chat, _since(msgs, since)) for chat, msgs in shown]
    if since is not None:
        chats = [(chat, msgs) for chat, msgs in chats if msgs]  # no chat left empty by --since
    with tempfile.TemporaryDirectory(prefix="coi-dcbackup-out-") as tmp:
        db_path, blob_dir = Path(tmp) / DB_NAME, Path(tmp) / BLOB_DIR
        blob_dir.mkdir()
        conn = _new_database(db_path)
        try:
            writer = _Writer(conn, archive, me, keys, key.decryptor, blob_dir)
            _configure(conn, me, writer.names.get(me, ""), key)
            for chat, messages in chats:
                _write_chat(writer, chat, messages)
            conn.commit()
        finally:
            conn.close()
        _write_tar(out, db_path, blob_dir)
    writer.report.keys = len(writer.used_keys)
    return writer.report


def _since(messages: list[dict[str, Any]], since: datetime | None) -> list[dict[str, Any]]:
    if since is None:
        return messages
    return [m for m in messages if (parse_iso(m.get("date")) or since) >= since]


def _write_chat(writer: _Writer, chat: dict[str, Any], messages: list[dict[str, Any]]) -> None:
    chat_id = writer.chat(chat, messages)
    writer.report.chat_map[chat["id"]] = chat_id
    for m in messages:
        writer.message(chat_id, m, bool(chat.get("encrypted")))


def _write_tar(out: BinaryIO, db_path: Path, blob_dir: Path) -> None:
    """The database first (readers sniff it), then the blobs; owned by
    nobody in particular (uid 0, mode 0644), as core writes them."""

    def plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o644
        return info

    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.add(db_path, arcname=DB_NAME, filter=plain)
        for path in sorted(blob_dir.iterdir()):
            tar.add(path, arcname=f"{BLOB_DIR}/{path.name}", filter=plain)


__all__ = ["BackupReport", "CORE_VERSION", "DBVERSION", "OwnKey", "account_chats", "load_key", "write_backup"]
