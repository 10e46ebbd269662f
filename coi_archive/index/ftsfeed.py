"""Index search documents in a second process while chats are folded.

After a large ingest, folding chats and writing the search index are the
two long single-core steps.  The feed forks a child that owns the one
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

from .docs import search_docs
from .engines import open_engine

#: Message ids sent to the child at once.
CHUNK = 2000
#: The child's writer memory (Whoosh's pool, tantivy's heap): smaller than
#: the default, because the child runs beside the folding process (more,
#: smaller segments cost searches little).
CHILD_LIMITMB = 64


def _child(engine_name: str, db_path: str, fts_path: str, pipe) -> None:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row

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
    """``offer(mids)`` as chats are folded, then ``finish()``; returns False
    from ``finish`` if the child failed (the caller then indexes itself)."""

    def __init__(self, conn: sqlite3.Connection, db_path: Path, fts_path: Path, engine_name: str):
        self.conn = conn
        self._buffer: list[str] = []
        ctx = multiprocessing.get_context("fork")
        self._pipe, child_end = ctx.Pipe()
        conn.commit()
        self._proc = ctx.Process(target=_child, args=(engine_name, str(db_path), str(fts_path), child_end), daemon=True)
        self._proc.start()
        child_end.close()
        self._failed = False

    def offer(self, message_ids: set[str]) -> None:
        self._buffer.extend(message_ids)
        if len(self._buffer) >= CHUNK:
            self._send()

    def _send(self) -> None:
        if not self._buffer or self._failed:
            return
        self.conn.commit()
        try:
            self._pipe.send(self._buffer)
        except (BrokenPipeError, OSError):
            self._failed = True
        self._buffer = []

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
