"""Reading chats from the catalog: the list, one chat, its members and
names over time, unread counts.  :class:`index.api.Archive` delegates here."""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import Any

from .errors import ArchiveError

__all__ = [
    "chat",
    "chats",
    "find_chats",
    "first_unread",
    "membership_count",
    "memberships",
    "name_history",
    "similar_chats",
    "unread_counts",
]


def chats(conn: sqlite3.Connection, kind: str | None = None) -> list[dict[str, Any]]:
    """Every chat (or every chat of one ``kind``), the most recently active first."""
    sql = "SELECT data FROM chats"
    args: tuple = ()
    if kind:
        sql += " WHERE kind=?"
        args = (kind,)
    sql += " ORDER BY last_date DESC, chat_id"
    return [json.loads(r[0]) for r in conn.execute(sql, args)]


def chat(conn: sqlite3.Connection, chat_id: str) -> dict[str, Any]:
    """One chat by id; ArchiveError for an unknown id."""
    row = conn.execute("SELECT data FROM chats WHERE chat_id=?", (chat_id,)).fetchone()
    if row is None:
        raise ArchiveError(f"no chat with id {chat_id}")
    return json.loads(row[0])


def fold(text: str | None) -> str:
    """``text`` as a person types it: case and accents ignored ("Muller"
    finds "Müller"), compatibility forms unified."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


def find_chats(conn: sqlite3.Connection, text: str) -> list[dict[str, Any]]:
    """The chats ``text`` names, as a person would name one: the chat with
    that id; else the chats whose name is ``text``; else those whose id
    starts with ``text`` or whose name contains it (case and accents
    ignored), the most recently active first.  Empty when none does."""
    text = text.strip()
    row = conn.execute("SELECT data FROM chats WHERE chat_id=?", (text,)).fetchone()
    if row is not None:
        return [json.loads(row[0])]
    needle = fold(text)
    if not needle:
        return []
    every = chats(conn)
    named = [c for c in every if fold(c.get("name")) == needle]
    if named:
        return named
    prefix = text.casefold()
    return [c for c in every if c["id"].casefold().startswith(prefix) or needle in fold(c.get("name"))]


def similar_chats(conn: sqlite3.Connection, text: str, limit: int = 5) -> list[dict[str, Any]]:
    """Chats whose name or one of its words looks like ``text`` (a typo:
    "Hkie" for "Hike & Picnic"), the closest first, for a "did you mean"."""
    needle = fold(text)
    if not needle:
        return []
    scored = []
    for c in chats(conn):
        name = fold(c.get("name"))
        score = max(SequenceMatcher(None, needle, w).ratio() for w in [name, c["id"].casefold(), *name.split()])
        if score >= 0.6:
            scored.append((-score, c["id"], c))
    return [c for _, _, c in sorted(scored, key=lambda t: t[:2])[:limit]]


def memberships(conn: sqlite3.Connection, chat_id: str, newest: int | None = None) -> list[dict[str, Any]]:
    """Members of a chat over time: ``{member, since, until, added_by,
    removed_by}`` (``until`` is None while the member is in), oldest first;
    with ``newest``, only the last ``newest`` of them (a chat page shows
    those: a group of two years had 780)."""
    order = ("since IS NULL", "since", "member", "rowid")
    sql = "SELECT member, since, until, added_by, removed_by FROM memberships WHERE chat_id=? ORDER BY "
    if newest is None:
        return [dict(r) for r in conn.execute(sql + ", ".join(order), (chat_id,))]
    backwards = ", ".join(f"{key} DESC" for key in order)
    rows = conn.execute(f"{sql}{backwards} LIMIT ?", (chat_id, max(0, newest))).fetchall()
    return [dict(r) for r in reversed(rows)]


def membership_count(conn: sqlite3.Connection, chat_id: str) -> int:
    """How many rows :func:`memberships` has for the chat."""
    return int(conn.execute("SELECT count(*) FROM memberships WHERE chat_id=?", (chat_id,)).fetchone()[0])


def name_history(conn: sqlite3.Connection, chat_id: str) -> list[dict[str, Any]]:
    """Every name a chat had: ``{date, name, message_id}``, oldest first."""
    rows = conn.execute(
        "SELECT date, name, message_id FROM name_history WHERE chat_id=? ORDER BY date IS NULL, date", (chat_id,)
    )
    return [dict(r) for r in rows]


#: A message is unread when the owner's mailbox kept a copy of it with
#: flags (Maildir, IMAP) and no such copy carries Seen: Maildir's ``S`` in
#: the info after ``:2,`` (keywords are lower-case letters there), IMAP's
#: ``\Seen`` among its flags (``$MDNSent`` must not count).  Messages only
#: known from mbox or EML have no flags and are never unread.
_UNREAD = (
    "m.kind != 'system'"
    " AND EXISTS (SELECT 1 FROM originals o JOIN provenance p ON p.sha256=o.sha256"
    "   JOIN sources s ON s.source=p.source WHERE o.message_id=m.message_id AND s.kind IN ('maildir', 'imap'))"
    " AND NOT EXISTS (SELECT 1 FROM originals o JOIN provenance p ON p.sha256=o.sha256"
    "   JOIN sources s ON s.source=p.source WHERE o.message_id=m.message_id AND CASE s.kind"
    "     WHEN 'maildir' THEN instr(p.flags, 'S') > 0"
    "     WHEN 'imap' THEN ' ' || p.flags || ' ' LIKE '% \\Seen %'"
    "     ELSE 0 END)"
)


def unread_counts(conn: sqlite3.Connection, chat_ids: Iterable[str] | None = None) -> dict[str, int]:
    """Per chat, the unread messages (:data:`_UNREAD`).  Pass ``chat_ids``
    to count only those chats (fast: the whole archive takes a few seconds
    at 100,000 messages)."""
    if chat_ids is None:
        rows = conn.execute(f"SELECT m.chat_id, count(*) FROM messages m WHERE {_UNREAD} GROUP BY m.chat_id")
        return {r[0]: r[1] for r in rows}
    out: dict[str, int] = {}
    for cid in sorted(set(chat_ids)):
        n = conn.execute(f"SELECT count(*) FROM messages m WHERE m.chat_id=? AND {_UNREAD}", (cid,)).fetchone()[0]
        if n:
            out[cid] = n
    return out


def first_unread(conn: sqlite3.Connection, chat_id: str) -> dict[str, Any] | None:
    """The chat's first unread message (:data:`_UNREAD`) as ``{message_id,
    offset, count}``: its id, its index in ``show(chat_id)`` and how many
    of the chat's messages are unread; None when none is."""
    row = conn.execute(
        f"SELECT count(*), min(m.seq) FROM messages m WHERE m.chat_id=? AND {_UNREAD}", (chat_id,)
    ).fetchone()
    if not row[0]:
        return None
    mid = conn.execute("SELECT message_id FROM messages WHERE chat_id=? AND seq=?", (chat_id, row[1])).fetchone()[0]
    return {"message_id": mid, "offset": row[1], "count": row[0]}  # seq is the index: read_messages.show
