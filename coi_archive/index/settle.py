"""Pay what the derived layers owe (:mod:`.derived`): fold chats, rebuild
contacts, bring the search index up to date.

Called at the start and the end of every writing run, so whatever an
interrupted run left is finished by the next one. Each step pays its debt
in the transaction that does the work; the search index, a separate store,
is paid right after its own commit (indexing is an upsert, so a crash
between the two only repeats work).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from . import derived
from .docs import search_docs
from .engines import engine_of
from .ftsfeed import FulltextFeed
from .fulltext import SearchEngine
from .redecode import redecode
from .state import rebuild_contacts, refold
from .wire import refresh

#: Fold-and-index in two processes when this many chats are owed a fold.
PARALLEL_FTS_CHATS = 200


def settle(
    conn: sqlite3.Connection, root: Path, engine: Callable[[], SearchEngine], drop_engine: Callable[[], None]
) -> None:
    """Pay every debt; ``engine()`` gives the open search engine,
    ``drop_engine()`` closes it so a child process may write the index."""
    if derived.is_owed(conn, derived.REDECODE):
        redecode(conn)
        derived.paid(conn, derived.REDECODE, [derived.ALL])
        conn.commit()
    _wire(conn)
    if derived.is_owed(conn, derived.FTS_CLEAR):
        engine().clear()
        derived.paid(conn, derived.FTS_CLEAR, [derived.ALL])
        conn.commit()
    _fold(conn, root, drop_engine)
    _contacts(conn)
    _index(conn, engine())


def _wire(conn: sqlite3.Connection) -> None:
    """Recompute the wire layer from the originals; everything below it is
    then owed (one transaction: a kill leaves the debt, not half a layer)."""
    if not derived.is_owed(conn, derived.WIRE):
        return
    for table in ("wire", "wire_targets", "wire_refs", "wire_conflicts"):
        conn.execute(f"DELETE FROM {table}")
    mids = [r[0] for r in conn.execute("SELECT DISTINCT message_id FROM originals")]
    dirty = refresh(conn, mids)
    old = {r[0] for r in conn.execute("SELECT chat_id FROM chats")}
    derived.owe(conn, derived.FOLD, sorted(dirty | old))
    derived.owe(conn, derived.CONTACTS, [derived.ALL])
    derived.owe_all_fts(conn)
    derived.paid(conn, derived.WIRE, [derived.ALL])
    conn.commit()


def _fold(conn: sqlite3.Connection, root: Path, drop_engine: Callable[[], None]) -> None:
    chats = derived.owed(conn, derived.FOLD)
    if not chats:
        return
    feed: FulltextFeed | None = None
    offered: set[str] | None = None
    if len(chats) >= PARALLEL_FTS_CHATS:
        drop_engine()
        feed = FulltextFeed(conn, root / "catalog.sqlite", root / "fulltext", engine_of(conn, root / "fulltext"))
        offered = set()

    def offer(ids: set[str]) -> None:
        assert feed is not None and offered is not None
        offered.update(ids)
        feed.offer(ids)

    refold(conn, chats, on_changed=offer if feed else None)
    conn.commit()
    if feed is not None and feed.finish() and offered:
        derived.paid(conn, derived.FTS, sorted(offered))
        conn.commit()


def _contacts(conn: sqlite3.Connection) -> None:
    if derived.is_owed(conn, derived.CONTACTS):
        rebuild_contacts(conn)
        derived.paid(conn, derived.CONTACTS, [derived.ALL])
        conn.commit()


def _index(conn: sqlite3.Connection, engine: SearchEngine) -> None:
    ids = derived.owed(conn, derived.FTS)
    if not ids:
        return
    present = {
        r[0]
        for r in conn.execute(
            "SELECT message_id FROM messages WHERE message_id IN (SELECT key FROM owed WHERE kind=?)", (derived.FTS,)
        )
    }
    gone = [m for m in ids if m not in present]
    if present:
        engine.add(search_docs(conn, sorted(present)))
    if gone:
        engine.delete(gone)
    derived.paid(conn, derived.FTS, ids)
    conn.commit()
