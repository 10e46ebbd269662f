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
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from itertools import chain
from pathlib import Path

from . import derived, repack
from .catalog import smaller_cache
from .docs import search_docs
from .engines import engine_of, fulltext_dir
from .ftsfeed import FulltextFeed
from .fulltext import SearchDoc, SearchEngine
from .heap import Trimmer, hand_back, keep_freed_heap
from .pageout import PageOut
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
    if derived.is_owed_kind(conn, derived.FTS_SENT):  # handed to an indexing child that did not finish
        derived.unsend(conn)
        conn.commit()
    if derived.is_owed(conn, derived.REDECODE):
        redecode(conn)
        derived.paid(conn, derived.REDECODE, [derived.ALL])
        conn.commit()
    _wire(conn)
    if derived.is_owed(conn, derived.FTS_CLEAR):
        engine().clear()
        derived.paid(conn, derived.FTS_CLEAR, [derived.ALL])
        conn.commit()
    with smaller_cache(conn) if derived.is_owed_kind(conn, derived.FOLD) else nullcontext():
        feed = _fold(conn, root, drop_engine)
        try:
            _contacts(conn)  # while the indexing child, if any, catches up with the fold
        finally:
            _finish(conn, feed)
    _repack(conn)
    _index(conn, engine(), fulltext_dir(root))


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


def _fold(conn: sqlite3.Connection, root: Path, drop_engine: Callable[[], None]) -> FulltextFeed | None:
    """Fold the owed chats; the feed of the indexing child that indexes
    them meanwhile, if one was started (many chats), still running."""
    chats = derived.owed(conn, derived.FOLD)
    if not chats:
        return None
    keep_freed_heap()
    feed: FulltextFeed | None = None
    if len(chats) >= PARALLEL_FTS_CHATS:
        drop_engine()
        fts = fulltext_dir(root)
        feed = FulltextFeed(conn, root / "catalog.sqlite", fts, engine_of(conn, fts))
    refold(conn, largest_first(conn, chats), on_folded=feed.offer if feed else None, after_piece=Trimmer())
    conn.commit()
    if feed is not None:
        feed.flush()
    return feed


def largest_first(conn: sqlite3.Connection, chats: list[str]) -> list[str]:
    """The chats owed a fold, the largest (most wire rows) first. The fold's
    working set grows with the chat it folds and the indexing child's with
    the index, so the largest chats are folded while the index is small,
    and the run does not end on one long chat while the others wait."""
    sizes = dict(
        conn.execute(
            "SELECT chat_id, count(*) FROM wire WHERE chat_id IN (SELECT key FROM owed WHERE kind=?) GROUP BY chat_id",
            (derived.FOLD,),
        )
    )
    return sorted(chats, key=lambda chat: (-sizes.get(chat, 0), chat))


def _finish(conn: sqlite3.Connection, feed: FulltextFeed | None) -> None:
    """Wait for the indexing child; what it did not index is owed again."""
    if feed is None:
        return
    hand_back(conn)  # what the fold and the contacts held, while the child works on
    if feed.finish():
        conn.execute("DELETE FROM owed WHERE kind=?", (derived.FTS_SENT,))
    else:
        derived.unsend(conn)
    conn.commit()


def _contacts(conn: sqlite3.Connection) -> None:
    if derived.is_owed(conn, derived.CONTACTS):
        rebuild_contacts(conn)
        derived.paid(conn, derived.CONTACTS, [derived.ALL])
        conn.commit()


def _repack(conn: sqlite3.Connection) -> None:
    """After a purge, and after its chats were folded again (the new
    dictionary of folded messages must not learn a purged one)."""
    if derived.is_owed(conn, derived.REPACK):
        repack.after_purge(conn)
        derived.paid(conn, derived.REPACK, [derived.ALL])
        conn.commit()


def _index(conn: sqlite3.Connection, engine: SearchEngine, fts_path: Path) -> None:
    """Index what is owed in this process (a reindex, a run with few chats
    to fold, what a failed indexing child left), handing back the index
    pages its merges read (:mod:`.pageout`) as the indexing child does."""
    if not derived.is_owed_kind(conn, derived.FTS):
        return
    docs = _owed_docs(conn)
    first = next(docs, None)
    if first is not None:
        with PageOut(fts_path):
            engine.add(chain([first], docs))
    gone = [
        r[0]
        for r in conn.execute(
            "SELECT key FROM owed WHERE kind=? AND key NOT IN (SELECT message_id FROM messages)", (derived.FTS,)
        )
    ]
    if gone:
        engine.delete(gone)
    conn.execute("DELETE FROM owed WHERE kind=?", (derived.FTS,))
    conn.commit()


def _owed_docs(conn: sqlite3.Connection, page: int = 2000) -> Iterator[SearchDoc]:
    """The documents of the messages owed to the index, in Message-ID
    order, a page of ids at a time (all of them after ``reindex``)."""
    last = ""
    while True:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT o.key FROM owed o JOIN messages m ON m.message_id=o.key WHERE o.kind=? AND o.key>?"
                " ORDER BY o.key LIMIT ?",
                (derived.FTS, last, page),
            )
        ]
        if not ids:
            return
        yield from search_docs(conn, ids)
        last = ids[-1]
