"""Work the derived layers still owe, kept in the catalog itself.

The chats (layer 3) and the full-text index are derived from the stored
originals. A run that was killed after committing originals but before
folding their chats used to leave them hidden for good: the dirty set lived
only in memory. Now the debt is a row in ``owed``, written in the same
transaction as its cause, and paid in the same transaction as the work
(for the full-text index, right after the engine's commit; paying twice is
harmless because indexing is an upsert by Message-ID). Every writing run
starts and ends by paying what is owed, so a run killed at any point and
run again gives the archive one clean run would have given.

Kinds of debt:

``redecode``  every stored original is to be decoded again (this program
              reads mail differently from the one that stored it; key: ``*``).
``wire``      the whole wire layer must be recomputed from the originals, and
              with it everything below (``reindex --full``, an upgrade that
              changed how copies are read; key: ``*``).
``fold``      a chat whose messages changed: refold it (key: chat id).
``contacts``  the contact list must be recomputed (key: ``*``).
``fts``       a message whose search document may differ (key: Message-ID;
              deleted from the index if the message no longer exists).
``fts-clear`` the whole index must be emptied before the ``fts`` debts are
              paid (``reindex``; key: ``*``).
``fts-sent``  an ``fts`` debt handed to the child that indexes while a large
              fold runs (:mod:`.ftsfeed`), paid when the child has committed;
              a run killed before that owes it as ``fts`` again (key: Message-ID).
``repack``    the packing dictionaries are to be replaced by ones trained on
              the copies left, every blob packed again (a purge; key: ``*``;
              paid after the fold, so no purged message is trained on).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from . import inlists

REDECODE = "redecode"
WIRE = "wire"
FOLD = "fold"
CONTACTS = "contacts"
FTS = "fts"
FTS_CLEAR = "fts-clear"
FTS_SENT = "fts-sent"
REPACK = "repack"
KINDS = (REDECODE, WIRE, FOLD, CONTACTS, FTS, FTS_CLEAR, FTS_SENT, REPACK)
ALL = "*"

DDL = "CREATE TABLE IF NOT EXISTS owed(kind TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY(kind, key)) WITHOUT ROWID"


def owe(conn: sqlite3.Connection, kind: str, keys: Iterable[str]) -> None:
    """Record work still to do; call inside the transaction that caused it."""
    conn.executemany("INSERT OR IGNORE INTO owed(kind, key) VALUES(?, ?)", ((kind, k) for k in keys))


def owe_all_fts(conn: sqlite3.Connection) -> None:
    """Every message's search document is owed, and the index is to be cleared first."""
    owe(conn, FTS_CLEAR, [ALL])
    conn.execute("INSERT OR IGNORE INTO owed(kind, key) SELECT ?, message_id FROM messages", (FTS,))


def owed(conn: sqlite3.Connection, kind: str) -> list[str]:
    """The keys of one kind still owed, sorted (a deterministic order)."""
    return [r[0] for r in conn.execute("SELECT key FROM owed WHERE kind=? ORDER BY key", (kind,))]


def is_owed(conn: sqlite3.Connection, kind: str, key: str = ALL) -> bool:
    return conn.execute("SELECT 1 FROM owed WHERE kind=? AND key=?", (kind, key)).fetchone() is not None


def is_owed_kind(conn: sqlite3.Connection, kind: str) -> bool:
    """Whether any debt of this kind is left."""
    return conn.execute("SELECT 1 FROM owed WHERE kind=? LIMIT 1", (kind,)).fetchone() is not None


def paid(conn: sqlite3.Connection, kind: str, keys: Iterable[str]) -> None:
    """Forget debts that were paid; call in the transaction that did the work."""
    for marks, chunk in inlists.chunks(list(keys)):
        conn.execute(f"DELETE FROM owed WHERE kind=? AND key IN ({marks})", (kind, *chunk))


def send(conn: sqlite3.Connection, chat_id: str) -> int:
    """Hand the ``fts`` debts of one chat's messages to the indexing child:
    they become ``fts-sent``; returns how many."""
    return conn.execute(
        "UPDATE OR REPLACE owed SET kind=? WHERE kind=? AND key IN (SELECT message_id FROM messages WHERE chat_id=?)",
        (FTS_SENT, FTS, chat_id),
    ).rowcount


def unsend(conn: sqlite3.Connection) -> None:
    """The ``fts-sent`` debts are owed as ``fts`` again (the child failed,
    or a run was killed before it committed)."""
    conn.execute("UPDATE OR IGNORE owed SET kind=? WHERE kind=?", (FTS, FTS_SENT))
    conn.execute("DELETE FROM owed WHERE kind=?", (FTS_SENT,))


def outstanding(conn: sqlite3.Connection) -> dict[str, int]:
    """``{kind: count}`` of what is owed (empty when the archive is settled)."""
    return {r[0]: r[1] for r in conn.execute("SELECT kind, count(*) FROM owed GROUP BY kind ORDER BY kind")}
