"""Index search documents in other processes while chats are folded.

After a large ingest, folding chats and writing the search index are the
two long steps.  The feed starts a child that owns the one index writer
(of the archive's engine, :func:`.engines.open_engine`); the folding
process commits each few thousand folded messages and sends their ids on.
Reading a document from the committed catalog (SQLite WAL lets it read
while the parent writes) and analysing it (:func:`.engines.preparer`) is
most of indexing, so on a machine with a core to spare helpers do that
and send the child documents ready to write (:func:`helpers`): at 100,000
messages the child alone was the last step to end, while the folding
process waited for it.  Small updates stay in-process: a process costs more.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from . import derived, packing
from .cores import DOCUMENT_HELPER, INDEX_WRITER, cores, start_worker, started_without_ctrl_c
from .docs import search_docs
from .engines import open_engine, preparer
from .fulltext import SearchDoc, SearchEngine
from .heap import Trimmer, return_freed_memory, ticking
from .pageout import PageOut

#: Message ids sent to the child at once.  The folding process commits
#: before each chunk (a reader sees only what is committed), and each
#: commit writes every page it dirtied: at 300,000 messages, 8,000 wrote
#: 1.1 GiB to the disk in the fold instead of 2.4, for no CPU saved, and
#: the ids held ahead made the ingest's peak at 100,000 ~5 MB higher.
CHUNK = 2000
#: The child's writer memory (Whoosh's pool, tantivy's heap): smaller than
#: the default, because the child runs beside the folding process (more,
#: smaller segments cost searches little).  The writer's memory is most of
#: the child's, and the child is most of a large ingest's peak: 64 made the
#: peak at 100,000 messages 318 MB.
CHILD_LIMITMB = 32


#: Chunks of ids a reader takes from the folding process ahead of its
#: work.  A chunk (:data:`CHUNK` ids, 100-150 kB pickled) does not fit in a
#: pipe's buffer, so unread it held the folding process in its ``send``
#: until the reader had finished the chunk before: at 100,000 messages the
#: fold took 22 s of wall time for 13 s of its own CPU.
AHEAD = 4


#: Prepared documents a helper sends at once: a batch is held whole at both
#: ends of the pipe (pickled and built again), and 2,000 documents
#: (a chunk of ids) made the helper and the child ~35 MB larger each.
HELPER_BATCH = 100
#: ... and characters of text: a hostile mail's text is indexed up to
#: ``docs.MAX_INDEXED_TEXT`` (1 Mi characters) per field, and a hundred such
#: documents, analysed, would hold gigabytes.
HELPER_BATCH_CHARS = 1 << 20


def batches(docs: Iterable[SearchDoc], prepare: Callable[[SearchDoc], Any]) -> Iterator[list]:
    """The prepared ``docs`` in batches of at most :data:`HELPER_BATCH`
    documents, cut early once a batch holds :data:`HELPER_BATCH_CHARS`
    characters of text."""
    batch: list = []
    chars = 0
    for doc in docs:
        batch.append(prepare(doc))
        chars += len(doc.subject) + len(doc.text) + len(doc.quoted) + len(doc.history)
        if len(batch) >= HELPER_BATCH or chars >= HELPER_BATCH_CHARS:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def helpers() -> int:
    """Processes that prepare documents for the indexing child: the cores
    left next to the folding process and the child (at most two; none on
    one core, where a helper would only add a pipe)."""
    return max(0, min(2, cores() - 1))


def _helper(parent: int, engine_name: str, db_path: str, ids, out) -> None:
    """Read and prepare the documents of the ids from ``ids`` (the folding
    process), send them to ``out`` (the indexing child): most of indexing
    (:func:`.engines.preparer`), beside the process that writes the index.
    A failure ends the process; the child then reads the end of ``out``
    and fails, and the documents stay owed."""
    start_worker(DOCUMENT_HELPER, parent)
    return_freed_memory()
    with _ends_quietly():
        for batch in batches(_read(db_path, ids), preparer(engine_name)):
            out.send(batch)
        out.send(None)


@contextmanager
def _ends_quietly() -> Iterator[None]:
    """A pipe's other end is gone (the folding process was killed, or a
    helper died and said why): end with status 1 and no traceback; the
    documents stay owed and the next writer indexes them."""
    try:
        yield
    except (EOFError, BrokenPipeError):
        sys.exit(1)


def _ids(pipe) -> Iterator[list[str]]:
    """The chunks of ids from ``pipe`` until its end (None), received by a
    thread up to :data:`AHEAD` chunks ahead of the caller; the pipe's
    failure is raised where the caller reaches it."""
    chunks: queue.Queue = queue.Queue(AHEAD)

    def receive() -> None:
        try:
            while (mids := pipe.recv()) is not None:
                chunks.put(mids)
        except (EOFError, OSError) as exc:
            chunks.put(exc)
            return
        chunks.put(None)

    threading.Thread(target=receive, name="ids", daemon=True).start()
    while (item := chunks.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item


def _merged(conns: list) -> Iterator:
    """Everything the helpers send, as it comes, until each sent its end
    (None); a helper that died (its pipe closed without the end) raises
    :class:`EOFError`."""
    open_ = list(conns)
    while open_:
        for conn in wait(open_):
            batch = conn.recv()  # type: ignore[union-attr,call-arg]  # wait() returns the pipes it was given
            if batch is None:
                open_.remove(conn)
            else:
                yield from batch


def _catalog(db_path: str) -> sqlite3.Connection:
    """The catalog, read-only, with its packing dictionaries (and, when a
    blob needs one, those the ingest trains later: :func:`.packing.learn`)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    packing.learn(conn)
    return conn


def _read(db_path: str, pipe) -> Iterator[SearchDoc]:
    """The documents of the ids from ``pipe``, read from the catalog."""
    conn = _catalog(db_path)
    try:
        for mids in _ids(pipe):
            yield from search_docs(conn, mids)
    finally:
        conn.close()


def _child(parent: int, engine_name: str, db_path: str, fts_path: str, pipe, helped_by: list) -> None:
    """Write the index: the documents of the ids from ``pipe``, or, when
    ``helped_by`` holds the helpers' pipes, what they prepared."""
    start_worker(INDEX_WRITER, parent)
    return_freed_memory()
    with _ends_quietly():
        with PageOut(Path(fts_path)):
            engine = open_engine(engine_name, Path(fts_path), memory_mb=CHILD_LIMITMB)
            try:
                written = _write(engine, db_path, pipe, helped_by)
            finally:
                engine.close()
        pipe.send((written, written if helped_by else 0))


def _write(engine: SearchEngine, db_path: str, pipe, helped_by: list) -> int:
    """Write what the helpers prepared (or the documents of the ids from
    ``pipe``), trimming the C heap once a second meanwhile (:class:`.heap.Trimmer`).
    tantivy frees its whole buffer after each segment it writes, yet glibc
    kept ~18 MB of it, in blocks too small to be mapped on their own: at
    300,000 messages the child's anonymous memory fell back to ~62 MB after
    each segment, to ~44 MB with the trim, and its peak went 83 -> 74 MB."""
    trim = Trimmer()
    if helped_by:
        return engine.add_prepared(ticking(_merged(helped_by), trim))
    return engine.add(ticking(_read(db_path, pipe), trim))


class FulltextFeed:
    """``offer(chat_id)`` as each chat is folded, then ``finish()``; returns
    False from ``finish`` if the child failed (the caller then indexes
    itself).  The ids in flight are held by the catalog, not here: an
    offered chat's ``fts`` debts become ``fts-sent`` (:func:`.derived.send`)."""

    def __init__(
        self, conn: sqlite3.Connection, db_path: Path, fts_path: Path, engine_name: str, workers: int | None = None
    ):
        self.conn = conn
        #: helper processes the child prepares documents in (:func:`helpers`)
        self.workers = helpers() if workers is None else workers
        #: documents the child wrote, and of them those its helpers
        #: prepared, once :meth:`finish` returned True
        self.written = self.helped = 0
        self._chats: list[str] = []  # offered, not yet sent
        self._waiting = 0  # documents of those chats
        # a fresh interpreter, not a fork: a forked child keeps every page of
        # the parent's heap that the parent writes to later (the whole heap,
        # over a long fold), which doubled the memory of a large ingest
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child_end = ctx.Pipe()
        conn.commit()
        from_helpers: list = []  # the child reads these
        theirs = [child_end]  # ends the other processes hold: closed here once they run
        self._helpers: list = []
        self._targets: list = []  # where ids go: the helpers, or the child itself
        for _ in range(self.workers):
            ids_in, ids_out = ctx.Pipe(duplex=False)
            docs_in, docs_out = ctx.Pipe(duplex=False)
            self._helpers.append(
                ctx.Process(
                    target=_helper, args=(os.getpid(), engine_name, str(db_path), ids_in, docs_out), daemon=True
                )
            )
            self._targets.append(ids_out)
            from_helpers.append(docs_in)
            theirs += [ids_in, docs_in, docs_out]
        self._proc = ctx.Process(
            target=_child,
            args=(os.getpid(), engine_name, str(db_path), str(fts_path), child_end, from_helpers),
            daemon=True,
        )
        with started_without_ctrl_c():
            for proc in (self._proc, *self._helpers):
                proc.start()
        for end in theirs:
            end.close()
        self._targets = self._targets or [self._pipe]
        self._next = 0
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
        ids: list[str] = []  # the small chats' ids go together: fewer, fuller chunks
        try:
            for chat_id in self._chats:
                rows = self.conn.execute(  # CROSS JOIN: from the chat's messages, not from every sent debt
                    "SELECT o.key FROM messages m CROSS JOIN owed o ON o.kind=? AND o.key=m.message_id"
                    " WHERE m.chat_id=?",
                    (derived.FTS_SENT, chat_id),
                )
                while page := rows.fetchmany(CHUNK - len(ids)):
                    ids += [r[0] for r in page]
                    if len(ids) >= CHUNK:
                        self._hand(ids)
                        ids = []
            if ids:
                self._hand(ids)
        except (BrokenPipeError, OSError):
            self._failed = True
        self._chats, self._waiting = [], 0

    def _hand(self, ids: list[str]) -> None:
        """Send a chunk of ids to the next helper in turn (or to the child)."""
        self._targets[self._next % len(self._targets)].send(ids)
        self._next += 1

    def flush(self) -> None:
        """Send what was offered and not yet sent (the fold is over: the
        child need not wait for what the caller does next)."""
        self._send()

    def finish(self) -> bool:
        self._send()
        ok = not self._failed
        try:
            for target in self._targets:
                target.send(None)
        except (BrokenPipeError, OSError):
            ok = False
        try:
            self.written, self.helped = self._pipe.recv()
        except (EOFError, OSError):
            ok = False
        for proc in (self._proc, *self._helpers):
            proc.join()
        return ok and all(p.exitcode == 0 for p in (self._proc, *self._helpers))
