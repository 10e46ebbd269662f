"""Reading messages from the catalog: a chat's messages, messages by id,
their attachments, where a message sits in its chat and the wire messages
folded into it.  :class:`index.api.Archive` delegates here."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from coi_archive.ingest.dialects.dcbackup import blob_bytes
from coi_archive.ingest.mime import find_part, parse_bytes, part_bytes

from . import inlists, messagedata
from .errors import ArchiveError
from .read_chats import chat
from .read_originals import raw, readable

__all__ = ["attachment", "folded", "message", "messages", "position", "show"]


def show(conn: sqlite3.Connection, chat_id: str, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    """A chat and its messages in effective-date order; with ``limit``, the
    ``limit`` messages from index ``offset`` on.

    A message's index in its chat is its ``seq``: the fold numbers a chat's
    messages 0, 1, 2 ... in this order and writes them in one transaction.
    A page is therefore a range of the ``(chat_id, seq)`` index, as cheap at
    the end of a chat of 75,000 messages as at its start (``LIMIT ...
    OFFSET`` stepped over every message before the page)."""
    info = chat(conn, chat_id)
    sql = "SELECT data FROM messages WHERE chat_id=?"
    args: tuple = (chat_id,)
    if limit is not None:
        start = max(0, offset)
        sql += " AND seq>=? AND seq<?"
        args += (start, start + max(0, limit))
    listed = [_public_message(messagedata.load(r[0]), conn) for r in conn.execute(sql + " ORDER BY seq", args)]
    return {"chat": info, "messages": listed}


def message(conn: sqlite3.Connection, message_id: str) -> dict[str, Any]:
    """One message by id, with its ``chat_id``; ArchiveError for an unknown id."""
    row = conn.execute("SELECT data, chat_id FROM messages WHERE message_id=?", (message_id,)).fetchone()
    if row is None:
        raise ArchiveError(f"no message with id {message_id}")
    msg = _public_message(messagedata.load(row[0]), conn)
    msg["chat_id"] = row[1]
    return msg


def messages(conn: sqlite3.Connection, message_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Several messages by id (unknown ids are left out), each with ``chat_id``."""
    out: dict[str, dict[str, Any]] = {}
    for marks, chunk in inlists.chunks(sorted(set(message_ids))):
        for row in conn.execute(f"SELECT data, chat_id FROM messages WHERE message_id IN ({marks})", chunk):
            msg = _public_message(messagedata.load(row[0]), conn)
            msg["chat_id"] = row[1]
            out[msg["message_id"]] = msg
    return out


def attachment(conn: sqlite3.Connection, message_id: str, part: str) -> tuple[str, str, bytes]:
    """(filename, mime, bytes) of an attachment named in a message; of a
    decrypted message, from its kept inner message (never ciphertext)."""
    msg = message(conn, message_id)
    for att in msg["attachments"]:
        if att.get("part") == part:
            if part == "blob":  # a Delta Chat backup record keeps the file itself
                found = blob_bytes(raw(conn, message_id))
                if found is None:
                    break
                return att["filename"], att["mime"], found[1]
            parsed = parse_bytes(readable(conn, message_id))
            if parsed.get_content_type() == "multipart/encrypted":
                raise ArchiveError(
                    f"{message_id} was opened by an earlier version that did not keep"
                    " its plaintext: run 'coi-archive decrypt --key FILE' once"
                )
            node = find_part(parsed, part)
            if node is None:
                break
            return att["filename"], att["mime"], part_bytes(node)
    raise ArchiveError(f"no attachment {part} in {message_id}")


def position(conn: sqlite3.Connection, message_id: str) -> tuple[str, int]:
    """``(chat_id, index)``: where a message sits in ``show(chat_id)`` (its
    ``seq``, see :func:`show`)."""
    row = conn.execute("SELECT chat_id, seq FROM messages WHERE message_id=?", (message_id,)).fetchone()
    if row is None:
        raise ArchiveError(f"no message with id {message_id}")
    return row[0], row[1]


def offset_at(conn: sqlite3.Connection, chat_id: str, iso: str) -> int:
    """The index in ``show(chat_id)`` of the first message dated at or after
    ``iso`` (the catalog's UTC form), or the number of messages when none is."""
    first = conn.execute("SELECT min(seq) FROM messages WHERE chat_id=? AND date>=?", (chat_id, iso)).fetchone()[0]
    if first is None:
        return conn.execute("SELECT count(*) FROM messages WHERE chat_id=?", (chat_id,)).fetchone()[0]
    return int(first)


#: Each root with every wire message aimed at it, directly or through other
#: such messages (a delete of an edit ...), however long the chain; UNION
#: (not UNION ALL) drops a row seen before, so a cycle ends.
_FOLDED = """
WITH RECURSIVE roots(message_id) AS (SELECT DISTINCT value FROM json_each(?)),
chain(root, message_id) AS (
    SELECT message_id, message_id FROM roots
    UNION
    SELECT chain.root, t.message_id FROM chain JOIN wire_targets t ON t.target=chain.message_id
)
SELECT chain.root, chain.message_id, w.date FROM chain JOIN wire w ON w.message_id=chain.message_id
WHERE chain.message_id NOT IN (SELECT message_id FROM roots)
"""


def folded(conn: sqlite3.Connection, message_ids: Iterable[str]) -> dict[str, list[str]]:
    """The wire messages folded into these messages (edits, deletes,
    reactions, read receipts, and such messages aimed at those):
    ``{message_id: [wire message ids in date order]}``.  A message aimed at
    several of them (one delete of two messages) is listed under each."""
    found: dict[str, list[tuple[str, str]]] = {}
    for root, mid, date in conn.execute(_FOLDED, (json.dumps(sorted(set(message_ids))),)):
        found.setdefault(root, []).append((date or "", mid))
    return {root: [mid for _d, mid in sorted(items)] for root, items in sorted(found.items())}


def _public_message(msg: dict[str, Any], conn: sqlite3.Connection) -> dict[str, Any]:
    msg.pop("seq", None)
    for version in msg.get("conflicts", ()):
        version["sources"] = _sources(conn, version.pop("copies", []))
    return msg


def _sources(conn: sqlite3.Connection, shas: list[str]) -> list[dict[str, Any]]:
    """Where the copies of a conflicting version were read (read when
    shown: a version's provenance grows without the version changing)."""
    return [
        dict(r)
        for r in conn.execute(
            "SELECT source, folder, key, sha256, gone FROM provenance WHERE sha256 IN"
            " (SELECT value FROM json_each(?)) ORDER BY source, folder, key",
            (json.dumps(shas),),
        )
    ]
