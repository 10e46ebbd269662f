"""The full-text engine on Whoosh: :class:`WhooshEngine`, how it writes and
how it merges segments.

Design choices (numbers from ``benchmarks/bench_fulltext.py``, 100,000
synthetic chat messages, CPU time on a shared 2-core machine):

* **Writing**: one writer per :meth:`WhooshEngine.add` call, a codec without
  per-posting length statistics (:class:`FlushCodec`), a new segment
  whenever the posting pool is nearly full (Whoosh's spill to disk pickles
  every posting and halved throughput), and a tiered merge policy
  (:func:`tiered_merge_policy`).  Bulk load: ~5,500 docs/s; batches of 2,000
  into a growing index: ~2,900 docs/s.

The layout is in :mod:`index.whoosh_schema`, the query translation in
:mod:`index.whoosh_query`, snippets in :mod:`index.snippets`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec
from whoosh.query import And, Query
from whoosh.reading import SegmentReader
from whoosh.writing import CLEAR, NO_MERGE, OPTIMIZE

from coi_archive.index import query as q

from .fulltext import ORDERS, Hit, SearchDoc, SearchEngine
from .ranking import complete
from .snippets import HighlightTerms, highlight_terms, make_hit
from .whoosh_query import TimeRange, to_whoosh
from .whoosh_schema import NO_DATE, Stored, build_schema, fields_of

__all__ = ["FlushCodec", "WhooshEngine", "tiered_merge_policy"]

log = logging.getLogger(__name__)

_BATCH = 2000
_POOL_FILL = 0.9
_MERGE_FACTOR = 16
_DOCS_PER_POOL_MB = 150


class FlushCodec(W3Codec):
    """Whoosh's default codec minus per-posting length statistics.

    With them, flushing a segment reads every posting's document length back
    from disk (or stats a missing column file), about 40% of indexing time.
    They only tighten BM25's block-skipping bounds, which barely skip
    anything on short chat messages; scores are unchanged."""

    length_stats = False


def tiered_merge_policy(max_docs: int) -> Callable:
    """A Whoosh merge policy: merge segments only when ``_MERGE_FACTOR`` of
    them share a size tier (powers of ``_MERGE_FACTOR`` documents), never
    build a merged segment above ``max_docs`` and never merge one above
    ``max_docs / 2`` again (so merged pools fit in memory and no message is
    merged more than about twice).

    Whoosh's default policy re-merges small segments on almost every commit,
    which made ingest in batches of 2,000 messages 2.3x slower than one bulk
    load; merging re-indexes every posting in pure Python.  With this policy
    a message is merged about once or twice, and segment counts stay in the
    tens, which costs searches almost nothing (measured: 6 vs 20 segments at
    100k docs, same latency).  Segments with more deleted than live
    documents are merged regardless of tier to reclaim space, and segments
    without live documents are dropped."""

    def policy(writer, segments):
        empty = [seg for seg in segments if seg.doc_count() == 0]
        merge = [seg for seg in segments if seg.doc_count() and seg.deleted_count() * 2 > seg.doc_count_all()]
        tiers: dict[int, list] = defaultdict(list)
        for seg in segments:
            if seg not in empty and seg not in merge and seg.doc_count_all() * 2 <= max_docs:
                tiers[int(math.log(max(seg.doc_count_all(), 1), _MERGE_FACTOR))].append(seg)
        full = [tiers[t] for t in sorted(tiers) if len(tiers[t]) >= _MERGE_FACTOR]
        if full:
            budget = max_docs
            for seg in sorted(full[0], key=lambda seg: seg.doc_count_all()):
                if seg.doc_count_all() > budget:
                    break
                budget -= seg.doc_count_all()
                merge.append(seg)
        if len(merge) == 1 and not merge[0].deleted_count():
            merge = []
        for seg in merge:
            reader = SegmentReader(writer.storage, writer.schema, seg)
            writer.add_reader(reader)
            reader.close()
        gone = {id(seg) for seg in empty + merge}
        return [seg for seg in segments if id(seg) not in gone]

    return policy


def _chunks(docs: Iterable[SearchDoc], size: int) -> Iterator[list[SearchDoc]]:
    chunk: list[SearchDoc] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class WhooshEngine(SearchEngine):
    """:class:`SearchEngine` on a Whoosh index in ``path``.

    ``created`` is True when this instance had to create an empty index
    (missing, unreadable or from an older schema): the caller should then
    rebuild it from the catalog.  One writer is used per ``add``/``delete``
    call, so callers should pass large batches (a generator over the whole
    catalog is fine; memory is bounded by ``limitmb``).  Safe to share between
    threads; other processes may read concurrently, and a second writer
    waits up to ``lock_timeout`` seconds for the write lock.
    """

    INDEX_NAME = "coi_v2"

    def __init__(self, path: Path, *, limitmb: int = 128, lock_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.limitmb = limitmb
        self.lock_timeout = lock_timeout
        self._merge_policy = tiered_merge_policy(limitmb * _DOCS_PER_POOL_MB)
        self._lock = threading.RLock()
        self._searcher = None
        self.created = False
        self.path.mkdir(parents=True, exist_ok=True)
        self._ix = self._open_or_create()

    # -- lifecycle ----------------------------------------------------------

    def _open_or_create(self):
        schema = build_schema()
        try:
            if whoosh_index.exists_in(self.path, indexname=self.INDEX_NAME):
                ix = whoosh_index.open_dir(self.path, indexname=self.INDEX_NAME)
                if sorted(ix.schema.names()) == sorted(schema.names()):
                    return ix
                ix.close()
                log.warning("full-text index at %s has another schema; recreating", self.path)
        except Exception as exc:  # any unreadable index: it is derived, so it is rebuilt from the catalog
            log.warning(
                "full-text index at %s is unreadable (%s: %s); rebuilding it", self.path, type(exc).__name__, exc
            )
        self.created = True
        return whoosh_index.create_in(self.path, schema, indexname=self.INDEX_NAME)

    def close(self) -> None:
        with self._lock:
            self._drop_searcher()
            self._ix.close()

    def clear(self) -> None:
        """Delete every document (the index directory stays usable)."""
        with self._lock:
            writer = self._writer()
            writer.commit(mergetype=CLEAR)
            self._drop_searcher()

    def optimize(self) -> None:
        """Merge all segments into one (worth it after a full rebuild)."""
        with self._lock:
            self._writer().commit(mergetype=OPTIMIZE)
            self._drop_searcher()

    def count(self) -> int:
        with self._lock:
            return self._get_searcher().doc_count()

    def ids(self) -> set[str]:
        """The Message-IDs of every live document (for ``verify``)."""
        with self._lock:
            reader = self._get_searcher().reader()
            return {stored["doc"][0] for _, stored in reader.iter_docs()}

    # -- writing ------------------------------------------------------------

    def _writer(self):
        """A single-process writer.  Whoosh's multiprocess writer (procs=2,
        multisegment) was measured and dropped: its workers cannot roll over
        segments, so at 100k docs their pools spill and it indexed at 1,500
        docs/s wall versus 5,500 docs/s CPU for this writer."""
        return self._ix.writer(timeout=self.lock_timeout, limitmb=self.limitmb, codec=FlushCodec())

    def _pool_nearly_full(self, writer) -> bool:
        """True when the writer's posting pool is about to spill to disk.

        Whoosh then sorts externally, pickling every posting to temporary
        files and back, which halves indexing speed; committing a segment
        instead keeps indexing linear (a few more segments cost searches
        little)."""
        size = getattr(getattr(writer, "pool", None), "currentsize", 0)
        return size > self.limitmb * 1024 * 1024 * _POOL_FILL

    def add(self, docs: Iterable[SearchDoc]) -> int:
        """Upsert documents by ``message_id``; return how many were written.

        Streams: ``docs`` may be a generator over the whole catalog.  A new
        segment is committed whenever the in-memory pool is nearly full, so
        memory stays around ``limitmb`` and a crash loses at most the
        current segment.  A message id repeated within one call keeps its
        last version."""
        with self._lock:
            replace = self._ix.doc_count_all() > 0
            writer = self._writer()
            written: set[str] = set()
            again: dict[str, SearchDoc] = {}
            try:
                for chunk in _chunks(docs, _BATCH):
                    latest = {d.message_id: d for d in chunk}
                    for mid in [m for m in latest if m in written]:
                        again[mid] = latest.pop(mid)
                    if replace:
                        self._delete_ids(writer, latest)
                    for doc in latest.values():
                        writer.add_document(**fields_of(doc))
                        if self._pool_nearly_full(writer):
                            writer.commit(mergetype=NO_MERGE)
                            writer = self._writer()
                    written.update(latest)
            except BaseException:
                writer.cancel()
                self._drop_searcher()
                raise
            writer.commit(mergetype=self._merge_policy)
            self._drop_searcher()
        if again:
            self.add(list(again.values()))
        return len(written)

    @staticmethod
    def _delete_ids(writer, message_ids: Iterable[str]) -> int:
        """Delete committed documents with these ids through ``writer``."""
        searcher = writer.searcher()
        reader = searcher.reader()
        deleted = 0
        for mid in message_ids:
            if ("id", mid) in reader:
                deleted += writer.delete_by_term("id", mid, searcher=searcher)
        return deleted

    def delete(self, message_ids: Iterable[str]) -> int:
        """Remove documents by id; return how many existed."""
        ids = set(message_ids)
        if not ids:
            return 0
        with self._lock:
            writer = self._writer()
            try:
                deleted = self._delete_ids(writer, ids)
            except BaseException:
                writer.cancel()
                raise
            writer.commit(mergetype=self._merge_policy)
            self._drop_searcher()
            return deleted

    # -- searching ----------------------------------------------------------

    def _get_searcher(self):
        """A searcher on the latest commit (also of other processes).

        ``refresh`` reuses unchanged segment readers, but Whoosh cannot
        refresh a searcher of an empty index (and never finds one up to
        date), so that one is reopened."""
        old = self._searcher
        if old is None:
            self._searcher = self._ix.searcher()
        elif not old.up_to_date():
            if old.doc_count_all():
                self._searcher = old.refresh()
            else:
                old.close()
                self._searcher = self._ix.searcher()
        return self._searcher

    def _drop_searcher(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None

    def search(
        self,
        query: str | q.Node,
        limit: int = 50,
        history: bool = False,
        *,
        order: str = "relevance",
        quotes: bool = True,
    ) -> list[Hit]:
        """Run a query (string or parsed AST).

        ``order`` is ``relevance`` (BM25), ``newest`` or ``oldest``; messages
        without a date sort as oldest.  A query without words (only filters
        such as ``from:alice date:2026``) has no relevance and is ordered
        newest first; ties follow :mod:`index.ranking`.  With ``history``
        the query also matches earlier revisions and deleted text; without
        ``quotes`` words are not looked for in quoted text."""
        if order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
        node = q.parse(query) if isinstance(query, str) else query
        wquery = to_whoosh(node, history, quotes)
        if wquery is None or limit <= 0:
            return []
        hl = highlight_terms(node)
        if order == "relevance" and not hl:
            order = "newest"
        sort = {}
        if order in ("newest", "oldest"):
            sort = {"sortedby": "ts", "reverse": order == "newest"}
        with self._lock:
            searcher = self._get_searcher()

            def run(wq_: Query, n: int) -> list[Hit]:
                return [
                    self._hit(Stored(*r.fields()["doc"]), r.score, hl, history)
                    for r in searcher.search(wq_, limit=n, **sort)
                ]

            def same_date(when: datetime | None) -> list[Hit]:
                ts = NO_DATE if when is None else int(when.timestamp())
                return run(And([wquery, TimeRange(ts, ts + 1)]), max(searcher.doc_count(), 1))

            return complete(run(wquery, limit), limit, order, same_date)

    def matches(self, query: str | q.Node, history: bool = False) -> int:
        """Count every match without ranking or reading stored fields."""
        node = q.parse(query) if isinstance(query, str) else query
        wquery = to_whoosh(node, history)
        if wquery is None:
            return 0
        with self._lock:
            return len(self._get_searcher().search(wquery, limit=1, scored=False))

    @staticmethod
    def _hit(stored: Stored, score: float | None, hl: HighlightTerms, history: bool) -> Hit:
        texts = (stored.text, stored.subject, stored.attachments, stored.history if history else None, stored.quoted)
        return make_hit(hl, stored.message_id, stored.chat_id, stored.sender, stored.ts, texts, score)
