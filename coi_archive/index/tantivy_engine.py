"""The full-text engine on tantivy: :class:`TantivyEngine`.

tantivy (a Rust library, through its official Python binding) indexes and
searches several times faster than Whoosh (numbers in ``BENCHMARKS.md``),
so it is the default for new archives; Whoosh stays for platforms without
a tantivy wheel (see the README).  Both read the same query AST and the
same tokens, and give the same hits and snippets.

Design choices:

* **Writing**: one writer per :meth:`TantivyEngine.add` call (it holds the
  index's writer lock file; a second writer, also in another process,
  waits up to ``lock_timeout``), one indexing thread (the machine is shared
  with folding), a heap of ``heap_mb`` after which tantivy writes a segment
  by itself, so memory stays bounded however many documents stream in.
  Upsert is "delete the id term, add": a delete applies to every earlier
  operation, so repeating an id within one call keeps its last version.
* **Reading**: the reader is reloaded by hand before each search (no
  watcher thread, which would not survive the indexing child's fork);
  a reload and a fresh searcher cost about 60 us (measured at 20,000
  documents), so every search sees the latest commit of any process.
* **Order**: relevance is tantivy's BM25; ties, and the date orders, follow
  :mod:`index.ranking`, the same rules as the Whoosh engine's.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import tantivy
from tantivy import Occur, Query

from coi_archive.index import query as q

from .fulltext import ORDERS, Hit, SearchDoc, SearchEngine
from .ranking import complete
from .snippets import HighlightTerms, highlight_terms, make_hit
from .tantivy_query import to_tantivy
from .tantivy_schema import NO_DATE, Prepared, build_schema, doc_of, document_from, document_of, epoch, prepare

__all__ = ["SeenIds", "TantivyEngine"]

log = logging.getLogger(__name__)

_LOCK_POLL = 0.05


class SeenIds:
    """The ids one :meth:`TantivyEngine.add` wrote, in bounded memory: a
    set of their hashes up to :attr:`SMALL` ids, then a Bloom filter of
    :attr:`BITS` bits and :attr:`PROBES` bits per id (a set holds ~80 bytes
    per id: 80 MB of the indexing child at a million messages).  A repeated
    id is never missed; an id wrongly taken for a repeat costs one needless
    delete of its term (0.04 % of a million ids were, 0.2 % of the last
    ones).  The filter is 2 MiB: the child's peak carries all of it once a
    segment is written, and 8 MiB with two bits per id (0.09 % wrong at a
    million) made that peak ~5 MB higher at 300,000 messages."""

    SMALL = 1 << 12
    BITS = 1 << 24  # 2 MiB
    PROBES = 4

    def __init__(self) -> None:
        self.repeats = 0
        self._small: set[int] | None = set()
        self._bits = bytearray()

    def add(self, message_id: str) -> bool:
        """Record ``message_id``; True if it may have been added before."""
        key = hash(message_id)
        if self._small is not None:
            seen = key in self._small
            self._small.add(key)
            if len(self._small) > self.SMALL:
                self._bits = bytearray(self.BITS // 8)
                for old in self._small:
                    self._set(old)
                self._small = None
        else:
            seen = self._set(key)
        self.repeats += seen
        return seen

    def _set(self, key: int) -> bool:
        """Set the bits of ``key`` (double hashing of its two halves); True
        if all were set before."""
        was = True
        step = (key >> 32) | 1
        bits = self._bits
        for i in range(self.PROBES):
            bit = (key + i * step) & (self.BITS - 1)
            byte, mask = bit >> 3, 1 << (bit & 7)
            if not bits[byte] & mask:
                was = False
                bits[byte] |= mask
        return was


class TantivyEngine(SearchEngine):
    """:class:`SearchEngine` on a tantivy index in ``path/INDEX_NAME``.

    ``created`` is True when this instance had to create an empty index
    (missing, unreadable or of an older layout): the caller rebuilds it."""

    INDEX_NAME = "tantivy_3"

    def __init__(self, path: Path, *, heap_mb: int = 64, lock_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.dir = self.path / self.INDEX_NAME
        self.heap_mb = heap_mb
        self.lock_timeout = lock_timeout
        self.created = False
        self._lock = threading.RLock()
        self._schema = build_schema()
        self._ix: tantivy.Index | None = self._open_or_create()
        self._ix.config_reader(reload_policy="manual")

    # -- lifecycle ----------------------------------------------------------

    def _open_or_create(self) -> tantivy.Index:
        for stale in self.path.glob("tantivy_*"):
            if stale.is_dir() and stale.name != self.INDEX_NAME:
                shutil.rmtree(stale, ignore_errors=True)  # an older layout: derived, rebuilt
        try:
            if self.dir.is_dir() and tantivy.Index.exists(str(self.dir)):
                ix = tantivy.Index.open(str(self.dir))
                ix.searcher()
                return ix
        except Exception as exc:  # any unreadable index: it is derived, so it is rebuilt from the catalog
            log.warning(
                "full-text index at %s is unreadable (%s: %s); rebuilding it", self.dir, type(exc).__name__, exc
            )
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.created = True
        return tantivy.Index(self._schema, path=str(self.dir), reuse=False)

    def close(self) -> None:
        with self._lock:
            self._ix = None

    def _index(self) -> tantivy.Index:
        if self._ix is None:
            raise ValueError("the full-text engine is closed")
        return self._ix

    def _writer(self) -> tantivy.IndexWriter:
        """The index's one writer, waiting up to ``lock_timeout`` seconds
        while another holds it."""
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                return self._index().writer(heap_size=self.heap_mb * 1_000_000, num_threads=1)
            except ValueError as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(_LOCK_POLL)

    @staticmethod
    def _finish(writer: tantivy.IndexWriter) -> None:
        writer.commit()
        writer.wait_merging_threads()  # also drops the writer and its lock

    def _searcher(self) -> tantivy.Searcher:
        index = self._index()
        index.reload()
        return index.searcher()

    def clear(self) -> None:
        with self._lock:
            writer = self._writer()
            writer.delete_all_documents()
            self._finish(writer)

    def _deleted_count(self) -> int:
        """Deleted documents still in the segment files (tantivy's own
        ``meta.json`` says how many per segment)."""
        try:
            meta = json.loads((self.dir / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0
        return sum((seg.get("deletes") or {}).get("num_deleted_docs", 0) for seg in meta.get("segments", []))

    def optimize(self) -> None:
        """Let pending merges finish; when deleted documents remain in the
        files, write the live ones again into fresh segments, so a purged
        message's text leaves the disk (the binding offers no forced merge)."""
        with self._lock:
            if self._deleted_count():
                live = [doc_of(self._searcher().doc(addr)) for addr in self._addresses()]
                writer = self._writer()
                writer.delete_all_documents()
                for doc in live:
                    writer.add_document(document_of(doc))
                self._finish(writer)
            else:  # nothing to rewrite: an empty commit lets tantivy collect unused segment files
                self._finish(self._writer())

    def count(self) -> int:
        with self._lock:
            return self._searcher().num_docs

    def _addresses(self) -> list[tantivy.DocAddress]:
        searcher = self._searcher()
        if not searcher.num_docs:
            return []
        return [addr for _, addr in searcher.search(Query.all_query(), limit=searcher.num_docs, count=False).hits]

    def ids(self) -> set[str]:
        """The Message-IDs of every live document (for ``verify``)."""
        with self._lock:
            searcher = self._searcher()
            return {doc_of(searcher.doc(addr)).message_id for addr in self._addresses()}

    # -- writing ------------------------------------------------------------

    def add(self, docs: Iterable[SearchDoc]) -> int:
        """Upsert documents by ``message_id``; return how many distinct ids
        were written (in an add of a million, a few more ids than repeat
        may be taken for repeats: :class:`SeenIds`).  Streams: ``docs`` may
        be a generator over the whole catalog (tantivy writes a segment
        whenever its heap is full)."""
        return self.add_prepared(map(prepare, docs))

    def add_prepared(self, items: Iterable[Prepared]) -> int:
        """:meth:`add` of documents :func:`~.tantivy_schema.prepare` made."""
        with self._lock:
            replace = self._searcher().num_docs > 0
            written = 0
            seen = SeenIds()
            writer = self._writer()
            try:
                for item in items:
                    if seen.add(item[0]) or replace:
                        writer.delete_documents_by_term("id", item[0])
                    writer.add_document(document_from(item))
                    written += 1
            except BaseException:
                writer.rollback()
                writer.wait_merging_threads()
                raise
            self._finish(writer)
            return written - seen.repeats

    def delete(self, message_ids: Iterable[str]) -> int:
        """Remove documents by id; return how many existed."""
        ids = sorted(set(message_ids))
        if not ids:
            return 0
        with self._lock:
            existing = self._count(Query.term_set_query(self._schema, "id", ids))
            if not existing:
                return 0
            writer = self._writer()
            for mid in ids:
                writer.delete_documents_by_term("id", mid)
            self._finish(writer)
            return existing

    # -- searching ----------------------------------------------------------

    def _count(self, query: Query) -> int:
        return self._searcher().search(query, limit=1, count=True).count  # type: ignore[attr-defined]  # the stub omits it

    def search(
        self,
        query: str | q.Node,
        limit: int = 50,
        history: bool = False,
        *,
        order: str = "relevance",
        quotes: bool = True,
    ) -> list[Hit]:
        """Run a query (string or parsed AST); see :meth:`SearchEngine.search`.
        A query without words is ordered newest first."""
        if order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
        node = q.parse(query) if isinstance(query, str) else query
        tquery = to_tantivy(self._schema, node, history, quotes)
        if tquery is None or limit <= 0:
            return []
        hl = highlight_terms(node)
        if order == "relevance" and not hl:
            order = "newest"
        with self._lock:
            searcher = self._searcher()
            if not searcher.num_docs:
                return []
            hits = self._run(searcher, tquery, min(limit, searcher.num_docs), order, hl, history)

            def same_date(when: datetime | None) -> list[Hit]:
                ts = NO_DATE if when is None else int(when.timestamp())
                tied = Query.boolean_query(
                    [
                        (Occur.Must, tquery),
                        (
                            Occur.Must,
                            Query.range_query(
                                self._schema,
                                "ts",
                                tantivy.FieldType.Integer,
                                ts,
                                ts,
                                include_lower=True,
                                include_upper=True,
                            ),
                        ),
                    ]
                )
                return self._run(searcher, tied, searcher.num_docs, order, hl, history)

            return complete(hits, limit, order, same_date)

    def _run(
        self, searcher: tantivy.Searcher, tquery: Query, limit: int, order: str, hl: HighlightTerms, history: bool
    ) -> list[Hit]:
        """The first ``limit`` hits of ``tquery`` by score or by date."""
        if order == "relevance":
            found = searcher.search(tquery, limit=limit, count=False).hits
        else:
            found = searcher.search(
                tquery,
                limit=limit,
                count=False,
                order_by_field="ts",
                order=tantivy.Order.Desc if order == "newest" else tantivy.Order.Asc,
            ).hits
        return [
            self._hit(doc_of(searcher.doc(addr)), score if order == "relevance" else 0.0, hl, history)
            for score, addr in found
        ]

    def matches(self, query: str | q.Node, history: bool = False) -> int:
        """Count every match without ranking or reading stored fields."""
        node = q.parse(query) if isinstance(query, str) else query
        tquery = to_tantivy(self._schema, node, history)
        if tquery is None:
            return 0
        with self._lock:
            return self._count(tquery)

    @staticmethod
    def _hit(doc: SearchDoc, score: float, hl: HighlightTerms, history: bool) -> Hit:
        texts = (doc.text, doc.subject, doc.attachments, doc.history if history else None, doc.quoted)
        return make_hit(hl, doc.message_id, doc.chat_id, doc.sender, epoch(doc.date), texts, score)
