"""Reading the stored originals: the bytes of a message (or the mail
rebuilt from a backup record), its HTML body, its copies and where they
were read, what a migration copies, and the re-hash that verifies them.
:class:`index.api.Archive` delegates here."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from coi_archive.ingest.mime import leaves, parse_bytes, part_text

from .dates import format_iso, parse_iso
from .decrypted import opened
from .decrypted import verify as verify_decrypted
from .errors import ArchiveError
from .originaldata import unpack
from .read_chats import chat
from .recordmail import MailCopy, mail_from_record

__all__ = [
    "copies",
    "count_originals",
    "html_body",
    "mail",
    "originals_to_copy",
    "raw",
    "raw_format",
    "readable",
    "verify",
]


def raw(conn: sqlite3.Connection, message_id: str) -> bytes:
    """The original bytes of the canonical copy of a message."""
    row = conn.execute(
        "SELECT o.data, o.compression FROM wire w JOIN originals o ON o.sha256=w.sha256 WHERE w.message_id=?",
        (message_id.strip("<>"),),
    ).fetchone()
    if row is None:
        raise ArchiveError(f"no message with id {message_id}")
    return unpack(conn, row["data"], row["compression"])


def raw_format(conn: sqlite3.Connection, message_id: str) -> str:
    """How ``raw(message_id)`` is stored: ``rfc822`` (a mail message) or a
    record format such as ``dcbackup-json`` (a message known only from a
    Delta Chat backup): exporters of mail write :func:`mail` instead."""
    row = conn.execute(
        "SELECT o.format FROM wire w JOIN originals o ON o.sha256=w.sha256 WHERE w.message_id=?",
        (message_id.strip("<>"),),
    ).fetchone()
    if row is None:
        raise ArchiveError(f"no message with id {message_id}")
    return row[0]


def readable(conn: sqlite3.Connection, message_id: str) -> bytes:
    """The bytes to read a message's parts from: for a copy a key opened,
    the decrypted inner message kept beside it (:mod:`.decrypted`); else
    the stored original."""
    return opened(conn, message_id) or raw(conn, message_id)


def mail(conn: sqlite3.Connection, message_id: str) -> MailCopy:
    """A message as mail, for the mbox, EML and IMAP exports: the stored
    original when it is mail; for a message known only from a backup
    record, an RFC 5322 message rebuilt from the record (``rebuilt``,
    see :mod:`.recordmail`) -- the record itself is never a mail body."""
    data = raw(conn, message_id)
    fmt = raw_format(conn, message_id)
    if fmt == "rfc822":
        return MailCopy(data)
    return MailCopy(mail_from_record(data, fmt), rebuilt=True)


def html_body(conn: sqlite3.Connection, message_id: str) -> str | None:
    """The HTML body of a message (the first inline ``text/html`` part),
    unsanitised: callers that display it must sanitise it."""
    for leaf in leaves(parse_bytes(readable(conn, message_id))):
        if leaf.mime == "text/html" and leaf.is_body_text():
            return part_text(leaf.part)
    return None


def copies(conn: sqlite3.Connection, message_id: str) -> list[dict[str, Any]]:
    """Every stored copy of a message with its provenances."""
    out = []
    for o in conn.execute(
        "SELECT sha256, size, dialect FROM originals WHERE message_id=? ORDER BY sha256", (message_id,)
    ):
        provs = [
            dict(p)
            for p in conn.execute(
                "SELECT source, folder, key, flags, internaldate, gone, first_seen FROM provenance"
                " WHERE sha256=? ORDER BY source, folder, key",
                (o["sha256"],),
            )
        ]
        out.append({"sha256": o["sha256"], "size": o["size"], "dialect": o["dialect"], "provenance": provs})
    return out


#: The wire messages of some chats and every message aimed at them, directly
#: or through other such messages, however long the chain; UNION (not
#: UNION ALL) drops a row seen before, so a cycle ends.
_WITH_CONTROLS = """
WITH RECURSIVE chain(message_id) AS (
    SELECT message_id FROM wire WHERE chat_id IN (SELECT value FROM json_each(?))
    UNION
    SELECT t.message_id FROM chain JOIN wire_targets t ON t.target=chain.message_id
)
SELECT message_id FROM chain
"""


def originals_to_copy(
    conn: sqlite3.Connection, chat_ids: Iterable[str] | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """What a migration copies: one entry per wire message (every
    Message-ID, its canonical original) of these chats -- the listed
    messages and everything folded into them (edits, deletes, reactions,
    receipts) -- or of the whole archive.  ``since`` (aware datetime)
    keeps messages dated at or after it.  Each entry: ``message_id``,
    ``sha256``, ``date``, ``flags`` (IMAP flag names of the canonical
    copy's own provenances -- IMAP flags as stored, Maildir letters
    translated -- never those of another version of the message) and
    ``internaldate`` (ISO: the message's own date; without one, its
    delivery time: the earliest IMAP INTERNALDATE of the canonical copy,
    else the time a Maildir deliverer wrote into the file's name; else
    None).  A file's modification time is never used: it is the time of a
    copy or checkout.  Read bytes with :func:`raw`."""
    if chat_ids is None:
        mids = {r[0] for r in conn.execute("SELECT message_id FROM wire")}
    else:
        wanted = sorted(set(chat_ids))
        for cid in wanted:
            chat(conn, cid)  # ArchiveError for an unknown chat
        mids = {r[0] for r in conn.execute(_WITH_CONTROLS, (json.dumps(wanted),))}
    out: list[dict[str, Any]] = []
    ids = sorted(mids)
    for i in range(0, len(ids), 900):
        chunk = json.dumps(ids[i : i + 900])
        meta: dict[str, dict[str, Any]] = {}
        for r in conn.execute(
            "SELECT w.message_id, p.flags, p.internaldate, p.key, s.kind FROM wire w"
            " JOIN provenance p ON p.sha256=w.sha256 LEFT JOIN sources s ON s.source=p.source"
            " WHERE w.message_id IN (SELECT value FROM json_each(?))",
            (chunk,),
        ):
            m = meta.setdefault(r["message_id"], {"flags": set(), "delivered": []})
            m["flags"] |= _imap_flags(r["flags"], r["kind"])
            delivered = r["internaldate"] or (_maildir_time(r["key"]) if r["kind"] == "maildir" else None)
            if delivered:
                m["delivered"].append(delivered)
        for r in conn.execute(
            "SELECT message_id, sha256, date FROM wire WHERE message_id IN (SELECT value FROM json_each(?))"
            " ORDER BY date IS NULL, date, message_id",
            (chunk,),
        ):
            if since is not None:
                d = parse_iso(r["date"])
                if d is None or d < since:  # parse_iso: aware, naive taken as UTC
                    continue
            m = meta.get(r["message_id"], {"flags": set(), "delivered": []})
            idate = (
                r["date"] if parse_iso(r["date"]) else (min(m["delivered"], key=_date_key) if m["delivered"] else None)
            )
            out.append(
                {
                    "message_id": r["message_id"],
                    "sha256": r["sha256"],
                    "date": r["date"],
                    "flags": sorted(m["flags"]),
                    "internaldate": idate,
                }
            )
    out.sort(key=lambda e: (e["date"] is None, e["date"] or "", e["message_id"]))
    return out


def _maildir_time(key: str | None) -> str | None:
    """The delivery time a Maildir file's unique name starts with
    (``1575356400.M400140P2231.host:2,S``), as ISO; None for other names."""
    name = (key or "").rsplit("/", 1)[-1]
    stamp = name.split(".", 1)[0]
    if not stamp.isdigit() or not 9 <= len(stamp) <= 11:
        return None
    return format_iso(datetime.fromtimestamp(int(stamp), timezone.utc))


def verify(conn: sqlite3.Connection) -> list[dict[str, str]]:
    """Re-hash every stored original and every kept decrypted inner
    message; returns the mismatches."""
    bad = []
    for row in conn.execute("SELECT sha256, data, compression, message_id FROM originals"):
        try:
            data = unpack(conn, row["data"], row["compression"])
            digest = hashlib.sha256(data).hexdigest()
        except Exception as exc:  # zlib.error and friends: damaged storage
            digest = f"unreadable: {type(exc).__name__}"
        if digest != row["sha256"]:
            bad.append({"message_id": row["message_id"], "sha256": row["sha256"], "actual": digest})
    return bad + verify_decrypted(conn)


def count_originals(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM originals").fetchone()[0]


_MAILDIR_FLAGS = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "D": "\\Draft"}


def _imap_flags(flags: str | None, kind: str | None) -> set[str]:
    """Provenance flags as IMAP flag names (Maildir letters translated;
    ``\\Deleted``/trashed and ``\\Recent`` are never carried over)."""
    if not flags:
        return set()
    if kind == "maildir":
        return {_MAILDIR_FLAGS[c] for c in flags if c in _MAILDIR_FLAGS}
    if kind == "imap":
        return {f for f in flags.split() if f.lower() not in ("\\deleted", "\\recent")}
    return set()


def _date_key(value: str) -> datetime:
    return parse_iso(value) or datetime.max.replace(tzinfo=timezone.utc)
