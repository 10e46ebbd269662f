"""Legal holds and the retention policy: what must be kept, and what may go.

A hold names a chat, a contact (every chat the address takes or took part
in, and every message it sent) or a search query (evaluated at purge time,
so messages that arrive later and match are held too, as Google Vault's
query holds are). A released hold stays in the table with who released it
and when: the record of a hold is itself evidence.

The retention policy is a period per kind of message (``all``, ``mail`` or
``chat``: the kind of the message's chat); a message is *expired* when
it is dated before ``now - period``. A message without a date never
expires (its age cannot be shown). Nothing here deletes anything: only
:mod:`.purge`, on an explicit command, does.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from .chatids import MAIL_KINDS
from .dates import format_iso
from .errors import ArchiveError

DDL = """
CREATE TABLE IF NOT EXISTS holds(
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL, reason TEXT NOT NULL,
    created TEXT NOT NULL, created_by TEXT NOT NULL, released TEXT, released_by TEXT);
CREATE TABLE IF NOT EXISTS retention(
    kind TEXT PRIMARY KEY, period TEXT NOT NULL, set_at TEXT NOT NULL, set_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tombstones(
    message_id TEXT NOT NULL, sha256 TEXT NOT NULL, date TEXT, first_seen TEXT, chat_id TEXT,
    why TEXT NOT NULL, purged_at TEXT NOT NULL, purged_by TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tombstones_sha ON tombstones(sha256);
"""

HOLD_KINDS = ("chat", "contact", "query")
RETENTION_KINDS = ("all", "mail", "chat")
_PERIOD = re.compile(r"\s*(\d+)\s*([ymwd])\s*", re.I)
_DAYS = {"y": 365.2425, "m": 30.436875, "w": 7.0, "d": 1.0}

#: ``search(query) -> message ids``: how a query hold finds its messages.
Searcher = Callable[[str], Iterable[str]]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def parse_period(text: str) -> timedelta:
    """``7y``, ``18m``, ``6w``, ``90d`` as a timedelta (a year is 365.2425
    days, a month a twelfth of it); ArchiveError otherwise."""
    match = _PERIOD.fullmatch(text or "")
    if not match or int(match[1]) == 0:
        raise ArchiveError(f"not a retention period: {text!r} (use e.g. 7y, 18m, 6w or 90d)")
    return timedelta(days=int(match[1]) * _DAYS[match[2].lower()])


def _has_tables(conn: sqlite3.Connection) -> bool:
    """False in a read-only catalog that no writer of this version opened yet."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='holds'").fetchone() is not None


def purged_sha(conn: sqlite3.Connection, sha: str) -> bool:
    """Was a copy with these bytes purged? (ingest does not store it again)."""
    return conn.execute("SELECT 1 FROM tombstones WHERE sha256=? LIMIT 1", (sha,)).fetchone() is not None


# ------------------------------------------------------------------ holds


def add_hold(conn: sqlite3.Connection, kind: str, value: str, reason: str, by: str) -> int:
    """Record a hold; returns its id. The caller commits."""
    if kind not in HOLD_KINDS:
        raise ArchiveError(f"unknown hold kind {kind!r} (choose from {', '.join(HOLD_KINDS)})")
    value = value.strip()
    if not value or not reason.strip():
        raise ArchiveError("a hold needs what to hold and a --reason")
    if kind == "contact":
        value = value.lower()
    cur = conn.execute(
        "INSERT INTO holds(kind, value, reason, created, created_by) VALUES(?,?,?,?,?)",
        (kind, value, reason.strip(), now_iso(), by),
    )
    return int(cur.lastrowid or 0)


def release_hold(conn: sqlite3.Connection, hold_id: int, by: str) -> dict[str, Any]:
    """Mark a hold released (kept in the table); ArchiveError if there is no such active hold."""
    row = conn.execute("SELECT * FROM holds WHERE id=? AND released IS NULL", (hold_id,)).fetchone()
    if row is None:
        raise ArchiveError(f"no active hold with id {hold_id}")
    conn.execute("UPDATE holds SET released=?, released_by=? WHERE id=?", (now_iso(), by, hold_id))
    return dict(row)


def list_holds(conn: sqlite3.Connection, include_released: bool = False) -> list[dict[str, Any]]:
    if not _has_tables(conn):
        return []
    where = "" if include_released else " WHERE released IS NULL"
    return [dict(r) for r in conn.execute(f"SELECT * FROM holds{where} ORDER BY id")]


def held_ids(conn: sqlite3.Connection, search: Searcher) -> set[str]:
    """Every wire Message-ID an active hold covers, with the edits,
    reactions and receipts aimed at them (a held message keeps its history)."""
    held: set[str] = set()
    for hold in list_holds(conn):
        held |= _covered(conn, hold["kind"], hold["value"], search)
    return _with_controls(conn, held)


def _covered(conn: sqlite3.Connection, kind: str, value: str, search: Searcher) -> set[str]:
    if kind == "chat":
        return _ids(conn, "SELECT message_id FROM wire WHERE chat_id=?", (value,))
    if kind == "query":
        return set(search(value))
    chats = [
        r[0]
        for r in conn.execute("SELECT chat_id, members, past_members FROM chats")
        if value in _addresses(r[1]) | _addresses(r[2])
    ]
    ids = _ids(conn, "SELECT message_id FROM wire WHERE lower(sender)=?", (value,))
    for chat_id in chats:
        ids |= _ids(conn, "SELECT message_id FROM wire WHERE chat_id=?", (chat_id,))
    return ids


def _addresses(members_json: str | None) -> set[str]:
    try:
        items = json.loads(members_json or "[]")
    except ValueError:
        return set()
    out = set()
    for item in items if isinstance(items, list) else []:
        addr = item.get("address") if isinstance(item, dict) else item
        if isinstance(addr, str):
            out.add(addr.lower())
    return out


def _ids(conn: sqlite3.Connection, sql: str, params: tuple) -> set[str]:
    return {r[0] for r in conn.execute(sql, params)}


def _with_controls(conn: sqlite3.Connection, ids: set[str]) -> set[str]:
    """``ids`` plus every control message aimed (directly or through
    another control) at one of them."""
    out, frontier = set(ids), set(ids)
    while frontier:
        found = _ids(
            conn,
            "SELECT t.message_id FROM wire_targets t JOIN wire w ON w.message_id=t.message_id"
            " WHERE w.role='control' AND t.target IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(frontier)),),
        )
        frontier = found - out
        out |= frontier
    return out


# ------------------------------------------------------------------ retention


def set_retention(conn: sqlite3.Connection, period: str, kind: str, by: str) -> None:
    """Set (or replace) the period of one kind; the caller commits."""
    if kind not in RETENTION_KINDS:
        raise ArchiveError(f"unknown retention kind {kind!r} (choose from {', '.join(RETENTION_KINDS)})")
    parse_period(period)
    conn.execute("INSERT OR REPLACE INTO retention VALUES(?,?,?,?)", (kind, period.strip().lower(), now_iso(), by))


def clear_retention(conn: sqlite3.Connection, kind: str) -> bool:
    return conn.execute("DELETE FROM retention WHERE kind=?", (kind,)).rowcount > 0


def retention(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    if not _has_tables(conn):
        return []
    return [dict(r) for r in conn.execute("SELECT * FROM retention ORDER BY kind")]


def expired(conn: sqlite3.Connection, now: datetime) -> dict[str, str]:
    """``{message_id: why}`` of every wire message dated before its
    kind's cutoff (the shorter period wins when both ``all`` and the kind
    have one); empty without a policy."""
    cutoffs = {
        p["kind"]: ((now - parse_period(p["period"])).replace(microsecond=0), p["period"]) for p in retention(conn)
    }
    if not cutoffs:
        return {}
    out: dict[str, str] = {}
    for mid, date, chat_kind in conn.execute(_WIRE_KINDS):
        if not date:
            continue
        kind = None if chat_kind is None else "mail" if chat_kind in MAIL_KINDS else "chat"
        for rule in ("all", kind):
            if rule in cutoffs and date < format_iso(cutoffs[rule][0]):
                out[mid] = f"retention {rule} {cutoffs[rule][1]}: dated before {format_iso(cutoffs[rule][0])}"
                break
    return out


#: Each wire message with its date and the kind of its chat (a control
#: message has no chat of its own: the chat of the message it aims at).
_WIRE_KINDS = """
SELECT w.message_id, w.date,
       (SELECT c.kind FROM chats c WHERE c.chat_id = COALESCE(w.chat_id,
           (SELECT m.chat_id FROM wire_targets t JOIN messages m ON m.message_id=t.target
            WHERE t.message_id=w.message_id LIMIT 1)))
FROM wire w ORDER BY w.message_id
"""
