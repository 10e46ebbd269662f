"""Reading messages from the catalog: where a message sits in its chat and
the wire messages folded into it.  :class:`index.api.Archive` delegates
here."""

from __future__ import annotations

import sqlite3
from typing import Iterable

from .errors import ArchiveError

__all__ = ["folded", "position"]


def position(conn: sqlite3.Connection, message_id: str) -> tuple[str, int]:
    """``(chat_id, index)``: where a message sits in ``show(chat_id)``."""
    row = conn.execute(
        "SELECT chat_id, seq FROM messages WHERE message_id=?", (message_id,)).fetchone()
    if row is None:
        raise ArchiveError(f"no message with id {message_id}")
    index = conn.execute(
        "SELECT count(*) FROM messages WHERE chat_id=? AND seq<?", (row[0], row[1])).fetchone()[0]
    return row[0], index


def folded(conn: sqlite3.Connection, message_ids: Iterable[str]) -> dict[str, list[str]]:
    """The wire messages folded into these messages (edits, deletes,
    reactions, read receipts, and such messages aimed at those):
    ``{message_id: [wire message ids in date order]}``."""
    roots = sorted(set(message_ids))
    root_of = {mid: mid for mid in roots}
    found: dict[str, list[tuple[str, str]]] = {}
    frontier = roots
    for _ in range(8):  # controls of controls (a delete of an edit...)
        nxt: list[str] = []
        for i in range(0, len(frontier), 900):
            chunk = frontier[i:i + 900]
            for target, mid, date in conn.execute(
                    "SELECT t.target, t.message_id, w.date FROM wire_targets t"
                    " JOIN wire w ON w.message_id=t.message_id"
                    f" WHERE t.target IN ({','.join('?' * len(chunk))})", chunk):
                if mid in root_of:
                    continue
                root_of[mid] = root_of[target]
                found.setdefault(root_of[target], []).append((date or "", mid))
                nxt.append(mid)
        if not nxt:
            break
        frontier = sorted(set(nxt))
    return {root: [mid for _d, mid in sorted(items)] for root, items in found.items()}
