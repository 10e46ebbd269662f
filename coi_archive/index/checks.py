"""``verify``'s check of the derived layers: is what the archive *shows*
what its stored originals say?

Re-hashing the originals proves nothing was damaged; this proves nothing
is stale: every stored Message-ID has its wire row, every placed wire its
chat, every chat message its search document and no document outlives its
message, and no derived work is still owed. Each finding names what is
stale and the command that repairs it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from . import derived

REPAIR = "run 'coi-archive repair' (or any ingest) to finish it"


def _count(conn: sqlite3.Connection, sql: str) -> int:
    return int(conn.execute(sql).fetchone()[0])


def derived_problems(conn: sqlite3.Connection, indexed: set[str] | None) -> list[dict[str, Any]]:
    """Findings as ``{"layer", "count", "what", "repair"}``; empty when the
    derived layers agree with the originals. ``indexed``: the search index's
    document ids, None when the index cannot be read."""
    found: list[dict[str, Any]] = []

    def add(layer: str, count: int, what: str, repair: str) -> None:
        if count:
            found.append({"layer": layer, "count": count, "what": what, "repair": repair})

    for kind, n in derived.outstanding(conn).items():
        add("owed", n, f"{n} {kind} step(s) left by an interrupted run", REPAIR)
    add(
        "wire",
        _count(
            conn,
            "SELECT count(DISTINCT o.message_id) FROM originals o"
            " LEFT JOIN wire w ON w.message_id=o.message_id WHERE w.message_id IS NULL",
        ),
        "stored messages without a wire row",
        "run 'coi-archive reindex --full'",
    )
    add(
        "chats",
        _count(
            conn,
            "SELECT count(DISTINCT w.chat_id) FROM wire w LEFT JOIN chats c"
            " ON c.chat_id=w.chat_id WHERE w.chat_id IS NOT NULL AND w.role!='control'"
            " AND c.chat_id IS NULL",
        ),
        "chats with messages that were never folded",
        "run 'coi-archive reindex --full'",
    )
    messages = {r[0] for r in conn.execute("SELECT message_id FROM messages")}
    if indexed is None:
        add("search", len(messages) or 1, "the search index cannot be read", "run 'coi-archive reindex'")
    else:
        add("search", len(messages - indexed), "messages missing from the search index", "run 'coi-archive reindex'")
        add(
            "search",
            len(indexed - messages),
            "search documents of messages that no longer exist",
            "run 'coi-archive reindex'",
        )
    return found
