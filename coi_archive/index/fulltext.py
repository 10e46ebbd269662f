"""Full-text search over archived messages, behind an engine-neutral interface.

:class:`SearchEngine` is what the rest of the archive uses; :class:`WhooshEngine`
implements it with Whoosh.  Queries arrive as strings in the language of
:mod:`index.query` (or as its AST) and are translated by :func:`to_whoosh`.
The index is *derived* from the catalog and can always be rebuilt, so the
engine throws an unreadable or outdated index away (and says so through
:attr:`WhooshEngine.created`) instead of failing.

Design choices (numbers from ``benchmarks/bench_fulltext.py``, 100,000
synthetic chat messages, CPU time on a shared 2-core machine):

* **Analysis**: ``NFKC + casefold``, then one regex pass; no stemming and no
  stop words, because chats mix German, Russian, English... in one
  conversation and a stemmer for the wrong language does more harm than
  none.  Words are runs of letters, digits and combining marks; ``_ . - '``
  and other punctuation split words.  A query word that yields several
  tokens (``e-mail``, ``report.pdf``) is searched as a phrase.  Han and kana
  are indexed per character *and* as overlapping character pairs at the
  same positions: a two-character query (``東京``) is a single term lookup,
  longer ones a phrase of pairs, and a single character still matches
  inside words.  Emoji are one token each; skin-tone modifiers and
  variation selectors are dropped, so 👍 finds 👍🏽.  Terms are produced by
  plain functions (:func:`text_positions`) that custom field types hand to
  Whoosh directly, skipping its per-token object chain.
* **Fields**: ``content`` = subject + text + attachment names, positional,
  with a position gap between the parts so a phrase cannot span them;
  ``hist`` = earlier revisions and deleted text, searched only with
  ``history=True``; ``meta`` = every people/place/facet term under a prefix
  (``from:alice``, ``to:…``, ``chat:…``, ``ckind:group``, ``kind:image``,
  ``is:edited``).  One field instead of seven because Whoosh's per-field,
  per-document overhead is a large part of indexing time.  An address is
  indexed as the full address, its local part, its domain and the words of
  its local part.
* **Stored**: one tuple per document (:class:`_Stored`): message id, chat id,
  sender, timestamp, and the text, subject, attachment names and history
  that snippets are cut from.  Storing the text costs disk (the 100k index
  is ~65 MB) but a result page then needs no catalog round trip, snippets
  always agree with what was indexed, and the engine does not depend on the
  catalog schema; the alternative, a per-search text callback, would push
  that coupling into every caller.
* **Dates**: epoch seconds in a numeric column, filtered by
  :class:`TimeRange`, which bisects a cached sorted copy of each segment's
  column.  An indexed NUMERIC day field with ``NumericRange`` was measured
  first: ``from:x date:2024`` took 2.9 s; now about 20 ms.
* **Writing**: one writer per :meth:`WhooshEngine.add` call, a codec without
  per-posting length statistics (:class:`FlushCodec`), a new segment
  whenever the posting pool is nearly full (Whoosh's spill to disk pickles
  every posting and halved throughput), and a tiered merge policy
  (:func:`tiered_merge_policy`).  Bulk load: ~5,500 docs/s; batches of 2,000
  into a growing index: ~2,900 docs/s.
"""

from __future__ import annotations

import calendar
import html
import logging
import math
import re
import threading
import unicodedata
from bisect import bisect_left, bisect_right
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple, Protocol, Sequence

from whoosh import columns, fields
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.analysis import Token, Tokenizer
from whoosh.codec.whoosh3 import W3Codec
from whoosh.formats import Existence
from whoosh.matching import ListMatcher, NullMatcher
from whoosh.reading import SegmentReader
from whoosh.writing import CLEAR, NO_MERGE, OPTIMIZE

from coi_archive.index import query as q

__all__ = [
    "SearchDoc",
    "Hit",
    "SearchEngine",
    "WhooshEngine",
    "normalize",
    "tokenize",
    "query_terms",
    "to_whoosh",
    "HighlightTerms",
    "highlight_terms",
    "make_snippet",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchDoc:
    """One message as the full-text engine sees it (built from the catalog)."""

    message_id: str
    chat_id: str
    chat_name: str
    chat_kind: str
    group_id: str
    sender: str
    sender_name: str
    recipients: tuple[str, ...]
    date: datetime | None
    subject: str
    text: str
    history: str
    kind: str
    attachments: tuple[str, ...]
    edited: bool
    deleted: bool
    encrypted: bool


@dataclass
class Hit:
    """One search result.  ``snippet`` marks matched words with ``[`` ``]``;
    ``snippet_html`` is HTML-escaped text with ``<mark>`` around matches."""

    message_id: str
    chat_id: str
    sender: str
    date: datetime | None
    snippet: str
    snippet_html: str
    score: float


class SearchEngine(Protocol):
    """What the archive needs from a full-text engine."""

    def add(self, docs: Iterable[SearchDoc]) -> int:
        """Insert or replace (by message_id) documents; return how many."""
        ...

    def delete(self, message_ids: Iterable[str]) -> int:
        """Remove documents; return how many existed."""
        ...

    def search(self, query: str, limit: int = 50, history: bool = False) -> list[Hit]:
        """Run a query in the language of :mod:`index.query`."""
        ...

    def count(self) -> int: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------

_CJK = (
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3040-\u30ff"
    "\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
)
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u06d6-\u06ed\u0900-\u0963\u0966-\u0dff\u0e00-\u0e7f\u1ab0-\u1aff"
    "\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
_EMOJI = (
    "\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\u3030\u303d"
    "\U0001f000-\U0001f3fa\U0001f400-\U0001faff"
)
_WORD = rf"(?:[^\W_{_CJK}]|[{_MARKS}])+"
_TOKEN_RE = re.compile(rf"{_WORD}|[{_CJK}]|[{_EMOJI}]")
_RUN_RE = re.compile(rf"{_WORD}|[{_CJK}]+|[{_EMOJI}]")
_CJK_RE = re.compile(rf"[{_CJK}]")
_POSITION_GAP = 100


def normalize(text: str) -> str:
    """NFKC + casefold: fullwidth/compatibility forms and case never matter."""
    return unicodedata.normalize("NFKC", text).casefold()


def tokenize(text: str) -> list[str]:
    """The words of ``text`` in order, one token per Han/kana character
    (see module docs for the rules)."""
    return _TOKEN_RE.findall(normalize(text))


def _is_cjk_run(token: str) -> bool:
    return token >= "\u2e80" and _CJK_RE.match(token) is not None


def text_positions(text: str, base: int, poses: dict[str, list[int]]) -> int:
    """Add the terms of ``text`` with their positions (from ``base``) to
    ``poses``; return the next free position.

    A Han/kana run yields each character at its position plus each
    overlapping pair at the position of its first character, so a
    two-character query is one term lookup instead of a phrase of two very
    common characters, while single characters stay findable."""
    pos = base
    for tok in _RUN_RE.findall(normalize(text)):
        if len(tok) > 1 and _is_cjk_run(tok):
            for i, ch in enumerate(tok):
                poses[ch].append(pos + i)
                if i + 1 < len(tok):
                    poses[tok[i : i + 2]].append(pos + i)
            pos += len(tok)
        else:
            poses[tok].append(pos)
            pos += 1
    return pos


def query_terms(text: str) -> list[str]:
    """Terms to look up, as a phrase, for a query word or phrase.

    A Han/kana run becomes its overlapping pairs (see
    :func:`text_positions`); when another token follows, the run's last
    character is added so that token's position lines up."""
    tokens = _RUN_RE.findall(normalize(text))
    out: list[str] = []
    for j, tok in enumerate(tokens):
        if len(tok) > 1 and _is_cjk_run(tok):
            out.extend(tok[i : i + 2] for i in range(len(tok) - 1))
            if j + 1 < len(tokens):
                out.append(tok[-1])
        else:
            out.append(tok)
    return out


@lru_cache(maxsize=65536)
def address_terms(address: str) -> frozenset[str]:
    """Terms that make an address findable by the full address, its local
    part, its domain, or a word of the local part (``alice.smith``)."""
    addr = normalize(address).strip()
    if not addr:
        return frozenset()
    local, _, domain = addr.partition("@")
    terms = {addr, local, domain, *_TOKEN_RE.findall(local)}
    terms.discard("")
    return frozenset(terms)


@lru_cache(maxsize=65536)
def _word_set(text: str) -> frozenset[str]:
    return frozenset(tokenize(text))


def _ident(ident: str) -> frozenset[str]:
    """An identifier (chat id, group id) as one exact term."""
    norm = normalize(ident).strip()
    return frozenset((norm,)) if norm else frozenset()


class ChatTokenizer(Tokenizer):
    """Whoosh view of :func:`tokenize`.  Whoosh wants an analyzer on every
    text field, but nothing here calls it: indexing goes through
    :func:`text_positions`, queries through :func:`query_terms`."""

    def __call__(self, value, positions=False, chars=False, keeporiginal=False,
                 removestops=True, start_pos=0, start_char=0, tokenize=True,
                 mode="", **kwargs) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for pos, m in enumerate(_TOKEN_RE.finditer(normalize(value))):
            t.text = m.group(0)
            t.boost = 1.0
            t.stopped = False
            if keeporiginal:
                t.original = t.text
            if positions:
                t.pos = start_pos + pos
            if chars:
                t.startchar = start_char + m.start()
                t.endchar = start_char + m.end()
            yield t


# --------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------


class ChatText(fields.TEXT):
    """Positional text field; value is a sequence of parts (or one string).

    Indexing bypasses the analyzer chain: one findall per part, positions
    counted directly, parts separated by a gap so phrases cannot span them."""

    def __init__(self) -> None:
        super().__init__(analyzer=ChatTokenizer(), phrase=True)

    def index(self, value, **kwargs):
        parts = (value,) if isinstance(value, str) else value
        poses: dict[str, list[int]] = defaultdict(list)
        base = 0
        for part in parts:
            if part:
                base = text_positions(part, base, poses) + _POSITION_GAP
        encode = self.format.encode
        fb = self.format.field_boost
        for term, plist in poses.items():
            yield term.encode("utf-8"), len(plist), len(plist) * fb, encode(plist)


class TermSet(fields.FieldType):
    """Unscored set of precomputed terms (``from:alice``, ``kind:image``)."""

    indexed = True
    stored = False
    scorable = False

    def __init__(self) -> None:
        self.format = Existence()
        self.analyzer = ChatTokenizer()
        self.column_type = None
        self.vector = None

    def index(self, value, **kwargs):
        terms = (value,) if isinstance(value, str) else set(value)
        return [(t.encode("utf-8"), 1, 1.0, b"") for t in terms]


class Key(fields.ID):
    """The unique message id."""

    def index(self, value, **kwargs):
        return [(value.encode("utf-8"), 1, 1.0, b"")]


NO_DATE = -(2**62)


class Timestamp(fields.FieldType):
    """Epoch seconds in a numeric column: date filters and date ordering.
    Not indexed, not stored (the stored ``doc`` tuple carries it)."""

    indexed = False
    stored = False
    scorable = False

    def __init__(self) -> None:
        self.format = None
        self.analyzer = None
        self.vector = None
        self.column_type = columns.NumericColumn("q", default=NO_DATE)

    def to_column_value(self, value):
        return int(value)

    def from_column_value(self, value):
        return value


class FlushCodec(W3Codec):
    """Whoosh's default codec minus per-posting length statistics.

    With them, flushing a segment reads every posting's document length back
    from disk (or stats a missing column file), about 40% of indexing time.
    They only tighten BM25's block-skipping bounds, which barely skip
    anything on short chat messages; scores are unchanged."""

    length_stats = False


def build_schema() -> fields.Schema:
    """The index layout; change ``WhooshEngine.INDEX_NAME`` when it changes.

    Few fields on purpose: Whoosh's per-field, per-document overhead is a
    large part of indexing time, so all people/place/facet terms share the
    ``meta`` field under a ``name:`` prefix and everything a hit needs is one
    stored tuple (see :class:`_Stored`)."""
    return fields.Schema(
        id=Key(unique=True),
        content=ChatText(),
        hist=ChatText(),
        meta=TermSet(),
        ts=Timestamp(),
        doc=fields.STORED(),
    )


# --------------------------------------------------------------------------
# SearchDoc -> Whoosh document
# --------------------------------------------------------------------------

_MAIL_CHAT_KINDS = frozenset({"mail", "mailinglist"})


class _Stored(NamedTuple):
    """The stored ``doc`` value: what a hit and its snippet need.  Stored as
    a plain tuple, so changing it means changing ``INDEX_NAME``."""

    message_id: str
    chat_id: str
    sender: str
    ts: int | None
    text: str
    subject: str
    attachments: tuple[str, ...]
    history: str


def _utc(value: datetime) -> datetime:
    """Aware UTC datetime; naive input is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def day_start(d: date) -> int:
    """Epoch seconds of 00:00 UTC on ``d``."""
    return calendar.timegm(d.timetuple())


def _prefixed(name: str, terms: Iterable[str]) -> tuple[str, ...]:
    return tuple(f"{name}:{t}" for t in terms)


@lru_cache(maxsize=16384)
def _sender_meta(sender: str, sender_name: str) -> tuple[str, ...]:
    return _prefixed("from", address_terms(sender) | _word_set(sender_name))


@lru_cache(maxsize=16384)
def _recipient_meta(recipients: tuple[str, ...]) -> tuple[str, ...]:
    terms: set[str] = set()
    for rcpt in recipients:
        terms |= address_terms(rcpt)
    return _prefixed("to", terms)


@lru_cache(maxsize=16384)
def _chat_meta(chat_id: str, chat_name: str, chat_kind: str, group_id: str) -> tuple[str, ...]:
    """Chat terms, the same for every message of a chat.  The group id is a
    chat term too: ``group:X`` is searched as ``chat:X`` within group chats,
    which saves indexing the chat name twice."""
    terms = _ident(chat_id) | _ident(group_id) | _word_set(chat_name)
    return _prefixed("chat", terms) + ("ckind:" + normalize(chat_kind),)


def _flags(doc: SearchDoc) -> list[str]:
    """``is:``/``has:`` values of a document."""
    out = [name for name in ("edited", "deleted", "encrypted") if getattr(doc, name)]
    if doc.attachments:
        out.append("attachment")
    is_mail = doc.kind == "mail" or doc.chat_kind in _MAIL_CHAT_KINDS
    out.append("mail" if is_mail else "chat")
    return out


def _fields_of(doc: SearchDoc) -> dict:
    """Keyword arguments for ``writer.add_document``."""
    meta = [
        *_sender_meta(doc.sender, doc.sender_name),
        *_recipient_meta(tuple(doc.recipients)),
        *_chat_meta(doc.chat_id, doc.chat_name, doc.chat_kind, doc.group_id),
        "kind:" + normalize(doc.kind),
        *_prefixed("is", _flags(doc)),
    ]
    ts = int(_utc(doc.date).timestamp()) if doc.date is not None else None
    stored = _Stored(doc.message_id, doc.chat_id, doc.sender, ts, doc.text,
                     doc.subject, tuple(doc.attachments), doc.history)
    out = {
        "id": doc.message_id,
        "content": (doc.subject, doc.text, *doc.attachments),
        "meta": meta,
        "doc": tuple(stored),
    }
    if ts is not None:
        out["ts"] = ts
    if doc.history:
        out["hist"] = (doc.history,)
    return out


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


_TS_CACHE: "OrderedDict[tuple, tuple[list[int], list[int]]]" = OrderedDict()
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
        return (isinstance(other, TimeRange)
                and (self.start, self.end) == (other.start, other.end))

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


# --------------------------------------------------------------------------
# AST -> Whoosh query
# --------------------------------------------------------------------------


def _text_query(tokens: list[str], prefix: bool, fieldnames: Sequence[str]) -> wq.Query:
    """Match ``tokens`` (a phrase if several) in any of ``fieldnames``."""
    per_field: list[wq.Query] = []
    for f in fieldnames:
        if prefix and len(tokens) == 1:
            per_field.append(wq.Prefix(f, tokens[0]))
        elif prefix:
            parts = [wq.Term(f, t) for t in tokens[:-1]] + [wq.Prefix(f, tokens[-1])]
            per_field.append(wq.And(parts))
        elif len(tokens) == 1:
            per_field.append(wq.Term(f, tokens[0]))
        else:
            per_field.append(wq.Phrase(f, tokens))
    return per_field[0] if len(per_field) == 1 else wq.Or(per_field)


def _meta(name: str, value: str) -> wq.Query:
    return wq.ConstantScoreQuery(wq.Term("meta", f"{name}:{value}"))


def _field_query(node: q.Field) -> wq.Query:
    """The exact value as one term, or all of its words."""
    if node.name == "group":
        chat = _field_query(q.Field("chat", node.value, node.prefix))
        return wq.And([chat, _meta("ckind", "group")])
    value = normalize(node.value).strip()
    tokens = _TOKEN_RE.findall(value)
    name = f"{node.name}:"
    last = wq.Prefix if node.prefix else wq.Term
    alts: list[wq.Query] = [last("meta", name + value)]
    if tokens and tokens != [value]:
        words = [wq.Term("meta", name + t) for t in tokens[:-1]]
        alts.append(wq.And(words + [last("meta", name + tokens[-1])]))
    return wq.ConstantScoreQuery(alts[0] if len(alts) == 1 else wq.Or(alts))


def _date_query(node: q.DateRange) -> wq.Query:
    """Inclusive UTC days -> half-open range of epoch seconds."""
    start = day_start(node.start) if node.start else None
    end = day_start(node.end + timedelta(days=1)) if node.end else None
    return TimeRange(start, end)


def _bool_query(node: q.And | q.Or, history: bool) -> wq.Query | None:
    """And/Or with untranslatable children dropped; And with negated
    children becomes AndNot so pure negations work."""
    if isinstance(node, q.Or):
        kids = [k for k in (to_whoosh(c, history) for c in node.children) if k is not None]
        return None if not kids else kids[0] if len(kids) == 1 else wq.Or(kids)
    pos: list[wq.Query] = []
    neg: list[wq.Query] = []
    for child in node.children:
        target, inner = (neg, child.child) if isinstance(child, q.Not) else (pos, child)
        translated = to_whoosh(inner, history)
        if translated is not None:
            target.append(translated)
    if not pos and not neg:
        return None
    positive = wq.Every() if not pos else pos[0] if len(pos) == 1 else wq.And(pos)
    if not neg:
        return positive
    return wq.AndNot(positive, neg[0] if len(neg) == 1 else wq.Or(neg))


def to_whoosh(node: q.Node, history: bool = False) -> wq.Query | None:
    """Translate an AST to a Whoosh query; ``None`` means "matches nothing"
    (e.g. a word made only of punctuation)."""
    text_fields = ("content", "hist") if history else ("content",)
    if isinstance(node, (q.Word, q.Phrase)):
        tokens = query_terms(node.text)
        prefix = isinstance(node, q.Word) and node.prefix
        return _text_query(tokens, prefix, text_fields) if tokens else None
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
        return _bool_query(node, history)
    if isinstance(node, q.Not):
        return _bool_query(q.And((node,)), history)
    return None


# --------------------------------------------------------------------------
# Snippets
# --------------------------------------------------------------------------

_SNIPPET_WIDTH = 180
_SNIPPET_LEAD = 50
_SNIPPET_SCAN = 100_000
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class HighlightTerms:
    """Index terms (and prefixes) a snippet should mark."""

    terms: frozenset[str]
    prefixes: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.terms or self.prefixes)

    def matches(self, raw_token: str) -> bool:
        for term in tokenize(raw_token):
            if term in self.terms or (self.prefixes and term.startswith(self.prefixes)):
                return True
        return False


def highlight_terms(node: q.Node) -> HighlightTerms:
    """The words of the query that count in a hit's favour (not negated)."""
    terms: set[str] = set()
    prefixes: list[str] = []
    for n, positive in q.walk(node):
        if not positive or not isinstance(n, (q.Word, q.Phrase)):
            continue
        tokens = tokenize(n.text)
        if isinstance(n, q.Word) and n.prefix and tokens:
            prefixes.append(tokens.pop())
        terms.update(tokens)
    return HighlightTerms(frozenset(terms), tuple(prefixes))


def _match_spans(text: str, hl: HighlightTerms) -> list[tuple[int, int]]:
    """Character spans of matching words in the snippet window around the
    first match; stops scanning once the window is covered."""
    spans: list[tuple[int, int]] = []
    limit = None
    for m in _TOKEN_RE.finditer(text, 0, min(len(text), _SNIPPET_SCAN)):
        if limit is not None and m.start() >= limit:
            break
        if hl.matches(m.group(0)):
            if spans and spans[-1][1] == m.start():
                spans[-1] = (spans[-1][0], m.end())
            else:
                spans.append(m.span())
            if limit is None:
                limit = max(0, m.start() - _SNIPPET_LEAD) + _SNIPPET_WIDTH
    return spans


def _window(text: str, first: int) -> tuple[int, int]:
    """Snippet bounds: a little context before the first match, snapped to
    word boundaries."""
    start = max(0, first - _SNIPPET_LEAD)
    if start > 0:
        space = text.rfind(" ", max(0, start - 15), start)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + _SNIPPET_WIDTH)
    if end < len(text):
        space = text.rfind(" ", end - 20, end)
        end = space if space > start else end
    return start, end


def make_snippet(text: str, hl: HighlightTerms) -> tuple[str, str] | None:
    """(plain, html) snippet of ``text`` around the first match of ``hl``,
    or None when nothing matches."""
    spans = _match_spans(text, hl) if hl else []
    if not spans:
        return None
    return _render(text, spans, *_window(text, spans[0][0]))


def plain_snippet(text: str) -> tuple[str, str]:
    """Unmarked snippet of the beginning of ``text`` (filter-only queries)."""
    return _render(text, [], *_window(text, 0))


def _render(text: str, spans: list[tuple[int, int]], start: int, end: int) -> tuple[str, str]:
    """Cut ``text[start:end]`` into marked/unmarked pieces and render both
    forms; whitespace runs collapse to one space."""
    plain: list[str] = ["…"] if start > 0 else []
    markup: list[str] = list(plain)
    cursor = start
    for s, e in spans:
        if s >= end:
            break
        e = min(e, end)
        gap = _SPACE_RE.sub(" ", text[cursor:s])
        word = _SPACE_RE.sub(" ", text[s:e])
        plain += [gap, f"[{word}]"]
        markup += [html.escape(gap), f"<mark>{html.escape(word)}</mark>"]
        cursor = e
    tail = _SPACE_RE.sub(" ", text[cursor:end])
    plain.append(tail)
    markup.append(html.escape(tail))
    if end < len(text):
        plain.append("…")
        markup.append("…")
    return "".join(plain).strip(), "".join(markup).strip()


def _hit_snippet(stored: _Stored, hl: HighlightTerms, history: bool) -> tuple[str, str]:
    """Snippet from the first stored text that contains a match: text,
    subject, attachment names, then (with ``history``) earlier revisions."""
    sources = [stored.text, stored.subject, ", ".join(stored.attachments)]
    if history:
        sources.append(stored.history)
    for source in sources:
        if source:
            found = make_snippet(source, hl)
            if found:
                return found
    first = next((s for s in sources[:3] if s), "")
    return plain_snippet(first)


# --------------------------------------------------------------------------
# Whoosh engine
# --------------------------------------------------------------------------

_BATCH = 2000
_ORDERS = ("relevance", "newest", "oldest")
_POOL_FILL = 0.9
_MERGE_FACTOR = 16
_DOCS_PER_POOL_MB = 150


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
        merge = [seg for seg in segments
                 if seg.doc_count() and seg.deleted_count() * 2 > seg.doc_count_all()]
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


class WhooshEngine:
    """:class:`SearchEngine` on a Whoosh index in ``path``.

    ``created`` is True when this instance had to create an empty index
    (missing, unreadable or from an older schema): the caller should then
    rebuild it from the catalog.  One writer is used per ``add``/``delete``
    call, so callers should pass large batches (a generator over the whole
    catalog is fine; memory is bounded by ``limitmb``).  Safe to share between
    threads; other processes may read concurrently, and a second writer
    waits up to ``lock_timeout`` seconds for the write lock.
    """

    INDEX_NAME = "coi_v1"

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
        except Exception:  # unreadable index: it is derived, rebuild it
            log.warning("full-text index at %s is unreadable; recreating",
                        self.path, exc_info=True)
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

    # -- writing ------------------------------------------------------------

    def _writer(self):
        """A single-process writer.  Whoosh's multiprocess writer (procs=2,
        multisegment) was measured and dropped: its workers cannot roll over
        segments, so at 100k docs their pools spill and it indexed at 1,500
        docs/s wall versus 5,500 docs/s CPU for this writer."""
        return self._ix.writer(timeout=self.lock_timeout, limitmb=self.limitmb,
                               codec=FlushCodec())

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
                        writer.add_document(**_fields_of(doc))
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

    def search(self, query: str | q.Node, limit: int = 50, history: bool = False,
               *, order: str = "relevance") -> list[Hit]:
        """Run a query (string or parsed AST).

        ``order`` is ``relevance`` (BM25), ``newest`` or ``oldest``; messages
        without a date sort as oldest.  A query without words (only filters
        such as ``from:alice date:2026``) has no relevance and is ordered
        newest first.  With ``history`` the query also matches earlier
        revisions and deleted text."""
        if order not in _ORDERS:
            raise ValueError(f"order must be one of {', '.join(_ORDERS)}, not {order!r}")
        node = q.parse(query) if isinstance(query, str) else query
        wquery = to_whoosh(node, history)
        if wquery is None or limit <= 0:
            return []
        hl = highlight_terms(node)
        if order == "relevance" and not hl:
            order = "newest"
        sort = {}
        if order in ("newest", "oldest"):
            sort = {"sortedby": "ts", "reverse": order == "newest"}
        with self._lock:
            results = self._get_searcher().search(wquery, limit=limit, **sort)
            return [self._hit(_Stored(*r.fields()["doc"]), r.score, hl, history)
                    for r in results]

    @staticmethod
    def _hit(stored: _Stored, score: float | None, hl: HighlightTerms, history: bool) -> Hit:
        ts = stored.ts
        when = datetime.fromtimestamp(ts, tz=timezone.utc) if ts is not None else None
        snippet, snippet_html = _hit_snippet(stored, hl, history)
        return Hit(
            message_id=stored.message_id,
            chat_id=stored.chat_id,
            sender=stored.sender,
            date=when,
            snippet=snippet,
            snippet_html=snippet_html,
            score=float(score or 0.0),
        )
