"""How the catalog stores a folded message (``messages.data``): compact
JSON, zlib-compressed with a preset dictionary, as envelopes are
(:mod:`.envelopes`).

The fold writes one JSON document per message, the one ``show`` and the web
UI print; beside it the ``messages`` columns hold what SQL filters and sorts
on (chat, seq, date, sender, text, flags). At N = 20,000 the documents were
15.7 MB of JSON, the second largest part of the catalog after the
originals; with the message keys as a preset dictionary they take 5.0 MB.
Packing one costs about 20 us, unpacking one 6 us, less than the JSON parse
that follows (20 us; a chat page of 50 messages: 0.3 ms more).

The dictionary is frozen, as the envelopes' one is; an archive with enough
messages packs later ones with zstd and a dictionary trained on its first
(:mod:`.packing`), told apart by zstd's magic number. SQL reads a document
through ``message_json(data)`` (:func:`register`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from coi_archive.ingest import jsontext

from . import packing
from .envelopes import deflate, pack_blob, unpack_blob

#: The keys of a folded message with empty values, as the fold wrote them
#: in schema 11. Never edit.
DICTIONARY = (
    b'{"has_html":false,"deleted_date":"","conflicts":[],"rejected":[],"message_id":"","sender":"",'
    b'"sender_name":"","date":"","subject":"","recipients":[""],"text":"","kind":"text","system":null,'
    b'"reply_to":null,"forwarded":false,"edited":false,"deleted":false,"revisions":[{"text":"","date":"",'
    b'"message_id":""}],"reactions":{},"read_by":[],"attachments":[],"location":null,"encrypted":false,'
    b'"dialect":"deltachat","quote":null,"seq":0}'
)

KIND = "message"


def pack(msg: dict[str, Any], ident: int | None = None) -> bytes:
    """The message's compact JSON (as ``json.dumps`` writes it, by orjson:
    :mod:`coi_archive.ingest.jsontext`), compressed: with zstd and the
    archive's dictionary ``ident`` (:mod:`.packing`) when it has one; the
    fold's only floats are a location's."""
    location = msg.get("location")
    floats = location.values() if isinstance(location, dict) else location if isinstance(location, list) else ()
    text = jsontext.dumps(msg, floats=floats)
    return pack_blob(text, DICTIONARY, ident)


def dictionary(conn: sqlite3.Connection) -> int | None:
    """The packing dictionary of new messages (:mod:`.packing`): trained on
    the first ``packing.SAMPLES`` messages once the archive holds so many."""
    ident = packing.current(conn, KIND)
    if ident is not None or not packing.trainable(conn, KIND):
        return ident
    sql = "SELECT count(*) FROM (SELECT 1 FROM messages LIMIT ?)"
    if conn.execute(sql, (packing.SAMPLES,)).fetchone()[0] < packing.SAMPLES:
        return None
    rows = conn.execute("SELECT data FROM messages ORDER BY rowid LIMIT ?", (packing.SAMPLES,)).fetchall()
    return packing.train(conn, KIND, [unpack(r[0]).encode() for r in rows])


def pack_text(text: str) -> bytes:
    return deflate(text.encode(), DICTIONARY)


def unpack(value: bytes | str) -> str:
    """The JSON text of a stored message; text is returned as it is (a
    document written before schema 11, read before the upgrade ran)."""
    return value if isinstance(value, str) else unpack_blob(value, DICTIONARY).decode()


def load(value: bytes | str) -> dict[str, Any]:
    return jsontext.loads(value if isinstance(value, str) else unpack_blob(value, DICTIONARY))  # type: ignore[no-any-return]


def register(conn: sqlite3.Connection) -> None:
    """Give SQL on ``conn`` the function ``message_json(data)``."""
    conn.create_function("message_json", 1, _sql_unpack, deterministic=True)


def _sql_unpack(value: bytes | str | None) -> str | None:
    return None if value is None else unpack(value)
