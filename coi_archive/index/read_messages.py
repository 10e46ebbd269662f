"""Reading messages from the catalog: where a message sits in its chat and
the wire messages folded into it.  :class:`index.api.Archive` delegates
here."""

from __future__ import annotations

import json
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
