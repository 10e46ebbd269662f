"""Index search documents in a second process while chats are folded.

After a large ingest, folding chats and writing the search index are the
two long single-core steps.  The feed starts a child that owns the one
index writer (of the archive's engine, :func:`.engines.open_engine`); the
folding process commits each few thousand folded messages and sends their
ids through a pipe, and the child reads their
documents from the committed catalog (SQLite WAL lets it read while the
parent writes).  Small updates stay in-process: a fork costs more.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from . import derived, packing
from .docs import search_docs
from .engines import open_engine

#: Message ids sent to the child at once.
CHUNK = 2000
#: The child's writer memory (Whoosh's pool, tantivy's heap): smaller than
#: the default, because the child runs beside the folding process (more,
#: smaller segments cost searches little).  The writer's memory is most of
#: the child's, and the child is most of a large ingest's peak: 64 made the
#: peak at 100,000 messages 318 MB.
CHILD_LIMITMB = 32


#: glibc's ``mallopt`` parameters (``malloc.h``).
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8
#: Blocks from this size are mapped on their own and unmapped when freed.
CHILD_MMAP_THRESHOLD = 256 << 10
#: C heaps the child's threads share (glibc gives each thread its own, up to 8 per core).
CHILD_ARENAS = 2


def return_freed_memory() -> bool:
    """Make the C allocator give large freed blocks back to the kernel
    (glibc only; True when set).  tantivy's segment writer and merge
    threads allocate and free blocks of megabytes; glibc's default raises
    its mmap threshold to the largest block freed, after which such blocks
    come from a thread's heap and stay there once freed: ~8 % of the
    indexing child at 100,000 and 300,000 messages, for ~1 % more CPU."""
    import ctypes  # only in the indexing child

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, CHILD_MMAP_THRESHOLD)) and bool(mallopt(_M_ARENA_MAX, CHILD_ARENAS))


def _child(engine_name: str, db_path: str, fts_path: str, pipe) -> None:
    return_freed_memory()
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    packing.learn(conn)  # and the ones the ingest trains later, when a blob needs them

    def docs() -> Iterator:
        while True:
            mids = pipe.recv()
            if mids is None:
                return
            yield from search_docs(conn, mids)

    engine = open_engine(engine_name, Path(fts_path), memory_mb=CHILD_LIMITMB)
    try:
        written = engine.add(docs())
    finally:
        engine.close()
        conn.close()
    pipe.send(written)


class FulltextFeed:
    """``offer(chat_id)`` as each chat is folded, then ``finish()``; returns
    False from ``finish`` if the child failed (the caller then indexes
    itself).  The ids in flight are held by the catalog, not here: an
    offered chat's ``fts`` debts become ``fts-sent`` (:func:`.derived.send`)."""

    def __init__(self, conn: sqlite3.Connection, db_path: Path, fts_path: Path, engine_name: str):
        self.conn = conn
        self._chats: list[str] = []  # offered, not yet sent
        self._waiting = 0  # documents of those chats
        # a fresh interpreter, not a fork: a forked child keeps every page of
        # the parent's heap that the parent writes to later (the whole heap,
        # over a long fold), which doubled the memory of a large ingest
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child_end = ctx.Pipe()
        conn.commit()
        self._proc = ctx.Process(target=_child, args=(engine_name, str(db_path), str(fts_path), child_end), daemon=True)
        self._proc.start()
        child_end.close()
        self._failed = False

    def offer(self, chat_id: str) -> None:
        """A chat was just folded: its owed documents go to the child."""
        if self._failed:
            return
        waiting = derived.send(self.conn, chat_id)
        if waiting:
            self._chats.append(chat_id)
            self._waiting += waiting
        if self._waiting >= CHUNK:
            self._send()

    def _send(self) -> None:
        if not self._chats or self._failed:
            return
        self.conn.commit()
        try:
            for chat_id in self._chats:
                rows = self.conn.execute(  # CROSS JOIN: from the chat's messages, not from every sent debt
                    "SELECT o.key FROM messages m CROSS JOIN owed o ON o.kind=? AND o.key=m.message_id"
                    " WHERE m.chat_id=?",
                    (derived.FTS_SENT, chat_id),
                )
                while page := rows.fetchmany(CHUNK):
                    self._pipe.send([r[0] for r in page])
        except (BrokenPipeError, OSError):
            self._failed = True
        self._chats, self._waiting = [], 0

    def flush(self) -> None:
        """Send what was offered and not yet sent (the fold is over: the
        child need not wait for what the caller does next)."""
        self._send()

    def finish(self) -> bool:
        self._send()
        ok = not self._failed
        try:
            self._pipe.send(None)
            self._pipe.recv()
        except (BrokenPipeError, EOFError, OSError):
            ok = False
        self._proc.join()
        return ok and self._proc.exitcode == 0
