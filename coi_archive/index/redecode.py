"""Decode stored originals again, without reading any source.

Two callers: ``decrypt`` (sealed originals, now with a key) and the
``redecode`` debt (:mod:`.derived`), owed when this program reads mail
differently from the one that stored it (a schema step says so). Without
a key, a copy that an earlier run decrypted is decoded again from the inner
message kept for it (:mod:`.decrypted`), with the signature verdict of that
run (``ingest.crypto.Reopened``): it is never sealed again, and a decoder
upgrade reaches it too.  A copy opened by a version that kept no inner
message keeps its envelope until a key opens it again.
"""

from __future__ import annotations

import json
import sqlite3

from coi_archive.ingest.crypto import Reopened
from coi_archive.ingest.decode import Decryptor
from coi_archive.ingest.events import Quality, envelope_to_json

from . import derived, envelopes, packing
from .catalog import decompress
from .decodepool import decode_opened
from .decrypted import pack, store
from .originaldata import unpack
from .wire import refresh


def redecode(conn: sqlite3.Connection, decryptor: Decryptor | None = None, only_sealed: bool = False) -> int:
    """Re-decode originals, replace changed envelopes, re-place their wire
    rows and owe the folds; returns how many envelopes changed. The caller
    commits and settles."""
    # a copy opened before its inner message was kept counts as sealed here
    where = (
        [
            f"(dialect='encrypted' OR (quality={int(Quality.DECRYPTED)}"
            " AND sha256 NOT IN (SELECT sha256 FROM decrypted)))"
        ]
        if only_sealed
        else []
    )
    if decryptor is None:
        where.append(f"(quality != {int(Quality.DECRYPTED)} OR sha256 IN (SELECT sha256 FROM decrypted))")
    sql = "SELECT sha256 FROM originals" + (" WHERE " + " AND ".join(where) if where else "")
    mids: set[str] = set()
    changed = 0
    ident, original_dict = packing.current(conn, "envelope"), packing.current(conn, "original")
    for (sha,) in conn.execute(sql).fetchall():
        row = conn.execute("SELECT * FROM originals WHERE sha256=?", (sha,)).fetchone()
        raw = unpack(conn, row["data"], row["compression"])
        opener = decryptor if decryptor is not None else _reopened(conn, row)
        env, inner = decode_opened(raw, row["format"], row["size"], opener)
        store(conn, sha, pack(inner, original_dict) if inner is not None else None)
        text = envelope_to_json(env)
        if text != envelopes.unpack(row["envelope"]):
            stored = envelopes.pack_text(text, env, ident)
            conn.execute(
                "UPDATE originals SET envelope=?, event_types=?, defect_kinds=?, dialect=?, quality=?, message_id=?"
                " WHERE sha256=?",
                (stored.blob, stored.event_types, stored.defect_kinds, env.dialect, env.quality, env.message_id, sha),
            )
            mids.update({env.message_id, row["message_id"]})
            changed += 1
    ids = json.dumps(sorted(mids))
    chats = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT chat_id FROM messages WHERE message_id IN (SELECT value FROM json_each(?))", (ids,)
        )
    }
    conn.execute("DELETE FROM wire WHERE message_id IN (SELECT value FROM json_each(?))", (ids,))
    dirty = refresh(conn, sorted(mids))
    derived.owe(conn, derived.FOLD, sorted(dirty | chats))
    derived.owe(conn, derived.CONTACTS, [derived.ALL])
    return changed


def _reopened(conn: sqlite3.Connection, row: sqlite3.Row) -> Reopened | None:
    """For a copy an earlier run decrypted: a decryptor giving back its kept
    inner message with the signature verdict stored then (None otherwise)."""
    if row["quality"] != Quality.DECRYPTED:
        return None
    kept = conn.execute("SELECT data, compression FROM decrypted WHERE sha256=?", (row["sha256"],)).fetchone()
    if kept is None:
        return None
    signature = envelopes.load_json(row["envelope"]).get("signature")
    verdict = (str(signature[0]), str(signature[1])) if signature else None
    return Reopened(decompress(kept[0], kept[1]), verdict)
