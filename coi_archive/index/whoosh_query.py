"""Queries in the language of :mod:`index.query` as Whoosh queries, and the
date filter Whoosh lacks.

Design choice (numbers from ``benchmarks/bench_fulltext.py``, 100,000
synthetic chat messages, CPU time on a shared 2-core machine):

* **Dates**: epoch seconds in a numeric column, filtered by
  :class:`TimeRange`, which bisects a cached sorted copy of each segment's
  column.  An indexed NUMERIC day field with ``NumericRange`` was measured
  first: ``from:x date:2024`` took 2.9 s; now about 20 ms.

Words and phrases are looked up with the terms of
:func:`index.tokens.query_terms`; a one-term word also by its stem
(:func:`stem_alternatives`), phrases and quoted words only exactly; fields and facets as the prefixed terms
of :func:`index.tokens.meta_terms`, so a query finds what was indexed.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from datetime import timedelta

from whoosh import query as wq
from whoosh.matching import AndNotMatcher, ListMatcher, NullMatcher

from coi_archive.index import query as q

from .chatids import ChatKind
from .engine_rules import FIELD_BOOST, NO_DATE, STEM_BOOST, day_start, stem_alternatives
from .tokens import TOKEN_RE, normalize, query_terms

__all__ = ["FIELD_BOOST", "STEM_BOOST", "TimeRange", "day_start", "stem_alternatives", "to_whoosh"]


# --------------------------------------------------------------------------
# Date filter on the ts column
# --------------------------------------------------------------------------


class _SortedIdsMatcher(ListMatcher):
    """A sorted docnum list that skips by bisection and scores a constant,
    so a date filter never changes the ranking."""

    def skip_to(self, id):
        if self._i < len(self._ids) and id > self._ids[self._i]:
            self._i = bisect_left(self._ids, id, self._i)

    def score(self):
        return 1.0

    def copy(self):
        return _SortedIdsMatcher(self._ids, position=self._i, all_weights=1.0)


_TS_CACHE: OrderedDict[tuple, tuple[list[int], list[int]]] = OrderedDict()
_TS_CACHE_SEGMENTS = 64
_TS_LOCK = threading.Lock()


def _ts_sorted(reader) -> tuple[list[int], list[int]]:
    """(sorted timestamps, docnums in that order) of one segment.

    Segments are immutable, so this is computed once per segment and kept
    (a few segments at a time); deletions are applied by the caller."""
    storage = reader.storage()
    key = (getattr(storage, "folder", None) or id(storage), reader.segment().segment_id())
    with _TS_LOCK:
        if key in _TS_CACHE:
            _TS_CACHE.move_to_end(key)
            return _TS_CACHE[key]
    values = reader.column_reader("ts", translate=False).load()
    order = sorted(range(len(values)), key=values.__getitem__)
    result = ([values[i] for i in order], order)
    with _TS_LOCK:
        _TS_CACHE[key] = result
        while len(_TS_CACHE) > _TS_CACHE_SEGMENTS:
            _TS_CACHE.popitem(last=False)
    return result


class TimeRange(wq.Query):
    """Documents with ``start <= ts < end`` (epoch seconds; None = open).

    Whoosh's NumericRange over a per-document numeric term turned a
    ``from:x date:2024`` query into a union of hundreds of posting lists
    (seconds at 100k docs); bisecting a cached, sorted copy of the
    timestamp column costs about a millisecond per query.  Undated
    messages never match."""

    def __init__(self, start: int | None, end: int | None) -> None:
        self.start = start
        self.end = end
        self.boost = 1.0

    def __eq__(self, other) -> bool:
        return isinstance(other, TimeRange) and (self.start, self.end) == (other.start, other.end)

    def __hash__(self) -> int:
        return hash((TimeRange, self.start, self.end))

    def __repr__(self) -> str:
        return f"TimeRange({self.start!r}, {self.end!r})"

    __str__ = __repr__

    def estimate_size(self, ixreader) -> int:
        return ixreader.doc_count()

    def matcher(self, searcher, context=None):
        reader = searcher.reader()
        if not reader.has_column("ts") or reader.doc_count_all() == 0:
            return NullMatcher()
        keys, order = _ts_sorted(reader)
        lo = bisect_right(keys, NO_DATE) if self.start is None else bisect_left(keys, self.start)
        hi = len(keys) if self.end is None else bisect_left(keys, self.end)
        ids = sorted(order[lo:hi])
        if reader.has_deletions():
            ids = [i for i in ids if not reader.is_deleted(i)]
        return _SortedIdsMatcher(ids, all_weights=1.0) if ids else NullMatcher()


class _AndNotMatcher(AndNotMatcher):
    """Whoosh 2.7's AndNotMatcher checks the first document of the positive
    side only when the excluded side happens to start on the same one, so
    ``list:x -has:attachment`` returned an excluded first document whenever
    an earlier document was excluded too.  Check it always."""

    def _find_first(self) -> None:
        if self.a.is_active() and self.b.is_active():
            self._find_next()


class Or(wq.Or):
    """Whoosh's Or, matched by its tree of union matchers in every segment.
    In a segment under 5,000 documents Whoosh otherwise preloads the
    matches into arrays of scores, and that matcher bounds a document's
    score by its best single term, though it sums them: a word is looked up
    with its other forms (``kaffee``: also ``kaffe`` and the stem), so once a
    page of hits was full, a segment's best matches were dropped from it
    (at 100,000 messages the best hit of ``спасибо`` scored 12.6, the page's
    first 10.4).  An ingest writes segments of 1,000-4,000 documents (the
    indexing child's 32 MB pool); there the union matchers are also twice
    as fast (``kaffee`` 139 -> 65 ms, ``from:joerg date:... danke`` 131 -> 58 ms)."""

    matcher_type = wq.Or.DEFAULT_MATCHER


class AndNot(wq.AndNot):
    """``a`` without the documents of ``b``, through :class:`_AndNotMatcher`."""

    def matcher(self, searcher, context=None):
        return _AndNotMatcher(self.a.matcher(searcher, context), self.b.matcher(searcher, searcher.boolean_context()))


# --------------------------------------------------------------------------
# AST -> Whoosh query
# --------------------------------------------------------------------------


def _text_query(tokens: list[str], prefix: bool, fieldnames: Sequence[str], forms: bool = False) -> wq.Query:
    """Match ``tokens`` (a phrase if several) in any of ``fieldnames``; with
    ``forms`` a single token also by its other forms, weighted lower."""
    per_field: list[wq.Query] = []
    for f in fieldnames:
        boost = FIELD_BOOST.get(f, 1.0)
        if forms and len(tokens) == 1 and not prefix:
            exact = wq.Term(f, tokens[0], boost=boost)
            others = [wq.Term(g, t, boost=boost * STEM_BOOST) for g, t in stem_alternatives(f, tokens[0])]
            per_field.append(Or([exact, *others]))
        elif prefix and len(tokens) == 1:
            per_field.append(wq.Prefix(f, tokens[0], boost=boost))
        elif prefix:
            parts = [wq.Term(f, t) for t in tokens[:-1]] + [wq.Prefix(f, tokens[-1])]
            per_field.append(wq.And(parts, boost=boost))
        elif len(tokens) == 1:
            per_field.append(wq.Term(f, tokens[0], boost=boost))
        else:
            per_field.append(wq.Phrase(f, tokens, boost=boost))
    return per_field[0] if len(per_field) == 1 else Or(per_field)


def _meta(name: str, value: str) -> wq.Query:
    return wq.ConstantScoreQuery(wq.Term("meta", f"{name}:{value}"))


def _field_query(node: q.Field) -> wq.Query:
    """The exact value as one term, or all of its words."""
    if node.name == "group":
        chat = _field_query(q.Field("chat", node.value, node.prefix))
        return wq.And([chat, _meta("ckind", ChatKind.GROUP.value)])
    value = normalize(node.value).strip()
    tokens = TOKEN_RE.findall(value)
    name = f"{node.name}:"
    last = wq.Prefix if node.prefix else wq.Term
    alts: list[wq.Query] = [last("meta", name + value)]
    if tokens and tokens != [value]:
        words = [wq.Term("meta", name + t) for t in tokens[:-1]]
        alts.append(wq.And(words + [last("meta", name + tokens[-1])]))
    return wq.ConstantScoreQuery(alts[0] if len(alts) == 1 else Or(alts))


def _date_query(node: q.DateRange) -> wq.Query:
    """Inclusive days of the node's zone -> half-open range of epoch seconds."""
    start = day_start(node.start, node.zone) if node.start else None
    end = day_start(node.end + timedelta(days=1), node.zone) if node.end else None
    return TimeRange(start, end)


def _bool_query(node: q.And | q.Or, history: bool, quotes: bool) -> wq.Query | None:
    """And/Or with untranslatable children dropped; And with negated
    children becomes AndNot so pure negations work."""
    if isinstance(node, q.Or):
        kids = [k for k in (to_whoosh(c, history, quotes) for c in node.children) if k is not None]
        return None if not kids else kids[0] if len(kids) == 1 else Or(kids)
    pos: list[wq.Query] = []
    neg: list[wq.Query] = []
    for child in node.children:
        target, inner = (neg, child.child) if isinstance(child, q.Not) else (pos, child)
        translated = to_whoosh(inner, history, quotes)
        if translated is not None:
            target.append(translated)
    if not pos and not neg:
        return None
    positive = wq.Every() if not pos else pos[0] if len(pos) == 1 else wq.And(pos)
    if not neg:
        return positive
    return AndNot(positive, neg[0] if len(neg) == 1 else Or(neg))


def to_whoosh(node: q.Node, history: bool = False, quotes: bool = True) -> wq.Query | None:
    """Translate an AST to a Whoosh query; ``None`` means "matches nothing"
    (e.g. a word made only of punctuation).  Words are looked for in the
    text, in quoted text unless ``quotes`` is False, and in earlier
    revisions with ``history``."""
    text_fields = ("content", *(("quoted",) if quotes else ()), *(("hist",) if history else ()))
    if isinstance(node, (q.Word, q.Phrase)):
        tokens = query_terms(node.text)
        prefix = isinstance(node, q.Word) and node.prefix
        return _text_query(tokens, prefix, text_fields, isinstance(node, q.Word)) if tokens else None
    if isinstance(node, q.Field):
        return _field_query(node)
    if isinstance(node, q.MessageKind):
        return _meta("kind", node.value)
    if isinstance(node, q.ChatKind):
        return _meta("ckind", node.value)
    if isinstance(node, q.Flag):
        return _meta("is", node.name)
    if isinstance(node, q.DateRange):
        return _date_query(node)
    if isinstance(node, (q.And, q.Or)):
        return _bool_query(node, history, quotes)
    if isinstance(node, q.Not):
        return _bool_query(q.And((node,)), history, quotes)
    return None
