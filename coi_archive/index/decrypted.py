"""The decrypted inner message of each encrypted original that a key opened.

The archive keeps what arrived (for an encrypted message: ciphertext), but
a photo, voice message, vCard or HTML body of a decrypted chat must be
served, exported and hashed from its plaintext. Decrypting again at every
read would need the key at every read (the web UI has none), so the inner
MIME message the decoder read is stored beside the original, in the same
transaction as its envelope:

``decrypted(sha256, inner_sha256, data, compression)``
    ``sha256`` names the stored (encrypted) original; ``data`` is the inner
    message as the decoder parsed it (the outer headers put in front when
    the inner part has none of its own), compressed like an original;
    ``compression`` is ``zlib``, ``none`` or ``zstd`` (the archive's
    dictionary of originals, once it has one: :mod:`.packing`);
    ``inner_sha256`` is the SHA-256 of those bytes, which ``verify`` checks.

The table is derived: a key rebuilds every row (``decrypt --key``), a row
follows its envelope (a re-decode that seals a copy deletes it) and a
trigger deletes it with its original (purge). It is plaintext at rest; the
archive directory is private (0700/0600), see README "Encrypted chats".
"""

from __future__ import annotations

import hashlib
import sqlite3

from coi_archive.ingest.events import Quality

from . import packing
from .catalog import compress, decompress

#: ``(inner_sha256, compressed data, compression)`` as a decoder worker makes it.
Packed = tuple[str, bytes, str]


def pack(inner: bytes, ident: int | None = None) -> Packed:
    """Hash and compress an inner message (in the decoder worker): with
    zstd and the archive's dictionary of originals ``ident`` when it has
    one (:mod:`.packing`; a decrypted message is mail as an original is)."""
    digest = hashlib.sha256(inner).hexdigest()
    if ident is not None and len(data := packing.compress(inner, ident)) < len(inner):
        return digest, data, "zstd"
    data, method = compress(inner)
    return digest, data, method


def store(conn: sqlite3.Connection, sha256: str, packed: Packed | None) -> None:
    """Keep (or, for ``None``: forget) the inner message of one original;
    call in the transaction that writes its envelope."""
    if packed is None:
        conn.execute("DELETE FROM decrypted WHERE sha256=?", (sha256,))
        return
    conn.execute(
        "INSERT OR REPLACE INTO decrypted(sha256, inner_sha256, data, compression) VALUES(?,?,?,?)", (sha256, *packed)
    )


def opened(conn: sqlite3.Connection, message_id: str) -> bytes | None:
    """The decrypted inner message of a message's canonical copy, or None
    when that copy is not one a key opened (or was opened before this
    table existed: ``decrypt --key`` fills it)."""
    row = conn.execute(
        "SELECT d.data, d.compression FROM wire w JOIN decrypted d ON d.sha256=w.sha256 WHERE w.message_id=?",
        (message_id.strip("<>"),),
    ).fetchone()
    return decompress(row[0], row[1]) if row else None


def verify(conn: sqlite3.Connection) -> list[dict[str, str]]:
    """Re-hash every stored inner message; returns the mismatches in the
    form of :func:`.read_originals.verify` (``sha256``: the inner hash)."""
    bad = []
    for row in conn.execute(
        "SELECT d.inner_sha256, d.data, d.compression, o.message_id FROM decrypted d"
        " LEFT JOIN originals o ON o.sha256=d.sha256"
    ):
        try:
            digest = hashlib.sha256(decompress(row[1], row[2])).hexdigest()
        except Exception as exc:  # zlib.error and friends: damaged storage
            digest = f"unreadable: {type(exc).__name__}"
        if digest != row[0]:
            bad.append({"message_id": row[3] or "", "sha256": row[0], "actual": digest})
    return bad


def missing(conn: sqlite3.Connection) -> int:
    """How many opened originals lack their inner message (opened by a
    version that did not keep it); a run with the key fills them."""
    return conn.execute(
        "SELECT count(*) FROM originals WHERE quality=? AND sha256 NOT IN (SELECT sha256 FROM decrypted)",
        (int(Quality.DECRYPTED),),
    ).fetchone()[0]
