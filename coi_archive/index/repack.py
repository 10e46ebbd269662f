"""Packing dictionaries trained on an archive's copies, and replaced after a purge.

A dictionary trained on an archive's first copies (:mod:`.packing`) holds
strings that were frequent in them: addresses, chat names, header values,
words of the messages.  A purge promises that what it removed leaves the
archive, so after one every dictionary is replaced (:func:`after_purge`,
a debt a purge records with its deletions and ``settle`` pays):
new ones are trained on the copies left, the same samples an ingest takes
(:func:`train_copies`, :func:`.messagedata.dictionary`), every blob packed
with an old one is packed again, and the old rows are deleted with
``secure_delete`` on, all in one transaction.  When fewer
copies are left than a dictionary needs, their blobs go back to the zlib
formats (which know nothing of any archive).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from . import decrypted, envelopes, messagedata, originaldata, packing
from .state import fts_hash

#: Rows read by one statement while re-packing (no cursor stays open across the writes).
PAGE = 1000
#: A zstd blob's first bytes, as SQL writes them.
_ZSTD = f"X'{packing.MAGIC.hex()}'"


def train_copies(
    conn: sqlite3.Connection, envelope_dict: int | None, original_dict: int | None
) -> tuple[int | None, int | None]:
    """The dictionaries of envelopes and originals: the given ones, and for
    a missing one a new one trained on the archive's first
    ``packing.SAMPLES`` copies when it holds that many (in the caller's
    transaction); None: that kind stays on zlib."""
    rows = conn.execute(
        "SELECT data, compression, envelope FROM originals ORDER BY rowid LIMIT ?", (packing.SAMPLES,)
    ).fetchall()
    if len(rows) < packing.SAMPLES:
        return envelope_dict, original_dict
    if envelope_dict is None and packing.trainable(conn, "envelope"):
        envelope_dict = packing.train(conn, "envelope", [envelopes.unpack(r[2]).encode() for r in rows])
    if original_dict is None and packing.trainable(conn, "original"):
        samples = [originaldata.sample(originaldata.unpack(conn, r[0], r[1])) for r in rows]
        original_dict = packing.train(conn, "original", samples)
    return envelope_dict, original_dict


def after_purge(conn: sqlite3.Connection) -> int:
    """Replace every packing dictionary of the archive (see the module), in
    the caller's transaction; returns how many blobs were packed again."""
    if not conn.execute("SELECT 1 FROM packing_dicts LIMIT 1").fetchone():
        return 0
    packing.learn(conn)  # the old ones stay readable in this process until every blob is packed again
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("DELETE FROM packing_dicts")
    envelope_dict, original_dict = train_copies(conn, None, None)
    message_dict = messagedata.dictionary(conn)
    count = _envelopes(conn, envelope_dict) + _originals(conn, original_dict)
    count += _decrypted(conn, original_dict) + _messages(conn, message_dict)
    originaldata.drop_unused(conn)
    return count


def _rows(conn: sqlite3.Connection, sql: str) -> Iterator[tuple]:
    """The rows of ``sql`` (selecting ``rowid`` first, with a ``rowid > ?``
    condition and a ``LIMIT ?``), a page per statement."""
    after = 0
    while page := conn.execute(sql, (after, PAGE)).fetchall():
        yield from page
        after = page[-1][0]


def _envelopes(conn: sqlite3.Connection, ident: int | None) -> int:
    count = 0
    for rowid, blob in _rows(
        conn,
        f"SELECT rowid, envelope FROM originals WHERE rowid>? AND substr(envelope, 1, 4)={_ZSTD}"
        " ORDER BY rowid LIMIT ?",
    ):
        data = envelopes.unpack(blob).encode()
        new = envelopes.pack_blob(data, envelopes.DICTIONARY, ident)
        conn.execute("UPDATE originals SET envelope=? WHERE rowid=?", (new, rowid))
        count += 1
    return count


def _originals(conn: sqlite3.Connection, ident: int | None) -> int:
    count = 0
    for rowid, data, method in _rows(
        conn,
        "SELECT rowid, data, compression FROM originals WHERE rowid>? AND compression LIKE 'zstd%'"
        " ORDER BY rowid LIMIT ?",
    ):
        packed = originaldata.pack(originaldata.unpack(conn, data, method), ident)
        stored = originaldata.keep(conn, packed.method, packed.header)
        conn.execute("UPDATE originals SET data=?, compression=? WHERE rowid=?", (packed.data, stored, rowid))
        count += 1
    return count


def _decrypted(conn: sqlite3.Connection, ident: int | None) -> int:
    count = 0
    for rowid, data in _rows(
        conn, "SELECT rowid, data FROM decrypted WHERE rowid>? AND compression='zstd' ORDER BY rowid LIMIT ?"
    ):
        _, new, method = decrypted.pack(packing.decompress(data), ident)
        conn.execute("UPDATE decrypted SET data=?, compression=? WHERE rowid=?", (new, method, rowid))
        count += 1
    return count


def _messages(conn: sqlite3.Connection, ident: int | None) -> int:
    """Folded messages, with the hash the index compares kept in step (the
    document did not change, only its packing)."""
    count = 0
    for rowid, blob in _rows(
        conn, f"SELECT rowid, data FROM messages WHERE rowid>? AND substr(data, 1, 4)={_ZSTD} ORDER BY rowid LIMIT ?"
    ):
        text = messagedata.unpack(blob)
        new = envelopes.pack_blob(text.encode(), messagedata.DICTIONARY, ident)
        conn.execute("UPDATE messages SET data=?, fts_hash=? WHERE rowid=?", (new, fts_hash(new), rowid))
        count += 1
    return count
