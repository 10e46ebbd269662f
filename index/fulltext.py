"""Full-text search over archived messages, behind an engine-neutral interface.

The index is *derived* from the catalog and can always be rebuilt, so the
engine is allowed to throw an unreadable or outdated index away (see
:attr:`WhooshEngine.created`) instead of failing.

Design (measured numbers are in ``benchmarks/bench_fulltext.py``):

* **Analysis** is one regex pass over ``NFKC + casefold``-ed text, written as
  plain functions (:func:`tokenize`) and fed to Whoosh through custom field
  types, which skips Whoosh's per-token object machinery (about 2x faster
  indexing than a Whoosh analyzer chain).  No stemming and no stop words:
  chats mix German, Russian, English and more in one conversation, and a
  stemmer for the wrong language does more harm than none.  Words are runs of
  letters/digits/combining marks (``_``, ``.``, ``-``, ``'`` split words; a
  query word that analyses to several tokens is searched as a phrase, so
  ``e-mail`` and ``report.pdf`` still match exactly).  Han/kana characters
  are single-character tokens (Japanese and Chinese do not separate words
  with spaces; a query like ``東京`` becomes the phrase 東 京, i.e. an exact
  substring match).  Emoji are single tokens; skin-tone modifiers and
  variation selectors are dropped so 👍 finds 👍🏽.
* **Fields.**  ``content`` = subject + text + attachment names (positions, for
  phrases; parts separated by a position gap so a phrase cannot span them),
  ``hist`` = earlier revisions and deleted text, only searched with
  ``history=True``.  People/place fields (``from``, ``to``, ``chat``,
  ``group``) and facets (``kind``, ``ckind``, ``flags``) are bare term sets.
  An address is indexed as the full address, its local part, its domain and
  each of their words, so ``from:alice``, ``from:example.org`` and
  ``from:alice@example.org`` all match ``alice@example.org``.
* **Stored fields** are what a result page needs without touching the
  catalog: message id, chat id, sender, timestamp, and the text, subject,
  attachment names and history used to build snippets.  Storing the text
  costs disk (chat messages are short) but keeps search latency independent
  of the catalog and keeps snippets consistent with what was indexed; a
  callback into SQLite per hit would couple the engine to the catalog schema.
* **Dates** are indexed as a NUMERIC day number (days since 1970-01-01, UTC)
  and filtered with ``NumericRange``: a query names whole days, and a day
  field has few distinct terms, so a year range touches at most ~365 terms.
  The exact timestamp is stored and kept in a column for date ordering.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Protocol, Sequence

from whoosh import columns, fields
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.analysis import Token, Tokenizer
from whoosh.formats import Existence, Positions
from whoosh.writing import CLEAR

from index import query as q

__all__ = [
    "SearchDoc",
    "Hit",
    "SearchEngine",
    "WhooshEngine",
    "tokenize",
    "to_whoosh",
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
_TOKEN_RE = re.compile(rf"(?:[^\W_{_CJK}]|[{_MARKS}])+|[{_CJK}]|[{_EMOJI}]")
_POSITION_GAP = 100


def normalize(text: str) -> str:
    """NFKC + casefold: fullwidth/compatibility forms and case never matter."""
    return unicodedata.normalize("NFKC", text).casefold()


def tokenize(text: str) -> list[str]:
    """The index terms of ``text`` in order (see module docs for the rules)."""
    return _TOKEN_RE.findall(normalize(text))


def address_terms(address: str) -> set[str]:
    """Terms that make an address findable by full address, local part,
    domain, or any word of them."""
    addr = normalize(address).strip()
    if not addr:
        return set()
    local, _, domain = addr.partition("@")
    terms = {addr, local, domain}
    terms.update(_TOKEN_RE.findall(addr))
    terms.discard("")
    return terms


class ChatTokenizer(Tokenizer):
    """Whoosh view of :func:`tokenize`, so Whoosh utilities that analyse
    text (e.g. ``field.process_text``) agree with our fast index path."""

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


class ChatText(fields.TEXT):
    """Positional text field; value is a sequence of parts (or one string).

    Indexing bypasses the analyzer chain: one findall per part, positions
    counted directly, parts separated by a gap."""

    def __init__(self) -> None:
        super().__init__(analyzer=ChatTokenizer(), phrase=True)

    def index(self, value, **kwargs):
        parts = (value,) if isinstance(value, str) else value
        poses: dict[str, list[int]] = defaultdict(list)
        base = 0
        for part in parts:
            terms = tokenize(part)
            for i, term in enumerate(terms):
                poses[term].append(base + i)
            base += len(terms) + _POSITION_GAP
        encode = self.format.encode
        fb = self.format.field_boost
        for term, plist in poses.items():
            yield term.encode("utf-8"), len(plist), len(plist) * fb, encode(plist)


class TermSet(fields.FieldType):
    """Unscored set of precomputed terms (addresses, ids, facets)."""

    indexed = True
    stored = False
    scorable = False

    def __init__(self) -> None:
        self.format = Existence()
        self.analyzer = ChatTokenizer()
        self.column_type = None
        self.vector = None

    def index(self, value, **kwargs):
        terms = (value,) if isinstance(value, str) else value
        return [(t.encode("utf-8"), 1, 1.0, b"") for t in set(terms)]


class Timestamp(fields.FieldType):
    """Stored epoch seconds plus a numeric column for date ordering; not
    indexed (filtering uses the coarser ``day`` field)."""

    indexed = False
    stored = True
    scorable = False

    def __init__(self) -> None:
        self.format = None
        self.analyzer = None
        self.vector = None
        self.column_type = columns.NumericColumn("q", default=0)

    def to_column_value(self, value):
        return int(value)

    def from_column_value(self, value):
        return value


def build_schema() -> fields.Schema:
    """The index layout; change ``WhooshEngine.INDEX_NAME`` when it changes."""
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        chat_id=fields.STORED(),
        sender=fields.STORED(),
        ts=Timestamp(),
        day=fields.NUMERIC(int, bits=32, signed=True, shift_step=8),
        content=ChatText(),
        hist=ChatText(),
        text=fields.STORED(),
        subject=fields.STORED(),
        attachments=fields.STORED(),
        history=fields.STORED(),
        **{"from": TermSet()},
        to=TermSet(),
        chat=TermSet(),
        group=TermSet(),
        kind=TermSet(),
        ckind=TermSet(),
        flags=TermSet(),
    )


# --------------------------------------------------------------------------
# SearchDoc -> Whoosh document
# --------------------------------------------------------------------------

_EPOCH = date(1970, 1, 1)
_MAIL_CHAT_KINDS = frozenset({"mail", "mailinglist"})


def _utc(value: datetime) -> datetime:
    """Aware UTC datetime; naive input is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def day_number(d: date) -> int:
    """Days since 1970-01-01: the value of the ``day`` field."""
    return (d - _EPOCH).days


def _id_terms(ident: str) -> set[str]:
    """An identifier as one exact term plus its words."""
    norm = normalize(ident).strip()
    terms = set(_TOKEN_RE.findall(norm))
    if norm:
        terms.add(norm)
    return terms


def _flags(doc: SearchDoc) -> list[str]:
    """Values of the ``flags`` field (``is:``/``has:`` filters)."""
    out = [name for name in ("edited", "deleted", "encrypted") if getattr(doc, name)]
    if doc.attachments:
        out.append("attachment")
    is_mail = doc.kind == "mail" or doc.chat_kind in _MAIL_CHAT_KINDS
    out.append("mail" if is_mail else "chat")
    return out


def _fields_of(doc: SearchDoc) -> dict:
    """Keyword arguments for ``writer.add_document``."""
    sender_terms = address_terms(doc.sender) | set(tokenize(doc.sender_name))
    to_terms: set[str] = set()
    for rcpt in doc.recipients:
        to_terms |= address_terms(rcpt)
    chat_terms = _id_terms(doc.chat_id) | set(tokenize(doc.chat_name))
    group_terms: set[str] = set()
    if doc.group_id or doc.chat_kind == "group":
        group_terms = _id_terms(doc.group_id) | set(tokenize(doc.chat_name))
    out = {
        "id": doc.message_id,
        "chat_id": doc.chat_id,
        "sender": doc.sender,
        "content": (doc.subject, doc.text, *doc.attachments),
        "from": sender_terms,
        "to": to_terms,
        "chat": chat_terms,
        "group": group_terms,
        "kind": (normalize(doc.kind),),
        "ckind": (normalize(doc.chat_kind),),
        "flags": _flags(doc),
    }
    if doc.date is not None:
        when = _utc(doc.date)
        out["ts"] = int(when.timestamp())
        out["day"] = day_number(when.date())
    for name in ("text", "subject", "history"):
        if getattr(doc, name):
            out[name] = getattr(doc, name)
    if doc.attachments:
        out["attachments"] = list(doc.attachments)
    if doc.history:
        out["hist"] = (doc.history,)
    return {k: v for k, v in out.items() if v or k in ("id", "ts", "day")}


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


def _field_query(node: q.Field) -> wq.Query | None:
    """Exact value as one term, or all of its words."""
    value = normalize(node.value).strip()
    tokens = _TOKEN_RE.findall(value)
    name = node.name
    if node.prefix:
        alts: list[wq.Query] = [wq.Prefix(name, value)]
        if tokens and tokens != [value]:
            words = [wq.Term(name, t) for t in tokens[:-1]] + [wq.Prefix(name, tokens[-1])]
            alts.append(wq.And(words))
    else:
        alts = [wq.Term(name, value)]
        if tokens and tokens != [value]:
            alts.append(wq.And([wq.Term(name, t) for t in tokens]))
    query = alts[0] if len(alts) == 1 else wq.Or(alts)
    return wq.ConstantScoreQuery(query)


def _date_query(node: q.DateRange) -> wq.Query:
    start = day_number(node.start) if node.start else None
    end = day_number(node.end) if node.end else None
    return wq.ConstantScoreQuery(wq.NumericRange("day", start, end))


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
        tokens = tokenize(node.text)
        prefix = isinstance(node, q.Word) and node.prefix
        return _text_query(tokens, prefix, text_fields) if tokens else None
    if isinstance(node, q.Field):
        return _field_query(node)
    if isinstance(node, q.MessageKind):
        return wq.ConstantScoreQuery(wq.Term("kind", node.value))
    if isinstance(node, q.ChatKind):
        return wq.ConstantScoreQuery(wq.Term("ckind", node.value))
    if isinstance(node, q.Flag):
        return wq.ConstantScoreQuery(wq.Term("flags", node.name))
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


def _hit_snippet(stored: dict, hl: HighlightTerms, history: bool) -> tuple[str, str]:
    """Snippet from the first stored text that contains a match: text,
    subject, attachment names, then (with ``history``) earlier revisions."""
    sources = [
        stored.get("text") or "",
        stored.get("subject") or "",
        ", ".join(stored.get("attachments") or ()),
    ]
    if history:
        sources.append(stored.get("history") or "")
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

    def __init__(self, path: Path, *, limitmb: int = 256, procs: int = 1,
                 lock_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.limitmb = limitmb
        self.procs = procs
        self.lock_timeout = lock_timeout
        self._lock = threading.RLock()
        self._searcher = None
        self.created = False
        self.path.mkdir(parents=True, exist_ok=True)
        self._ix = self._open_or_create()

    # -- lifecycle ----------------------------------------------------------

    def _open_or_create(self):
        schema = build_schema()
        if whoosh_index.exists_in(self.path, indexname=self.INDEX_NAME):
            try:
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
            self._ix.optimize()
            self._drop_searcher()

    def count(self) -> int:
        with self._lock:
            return self._get_searcher().doc_count()

    # -- writing ------------------------------------------------------------

    def _writer(self, bulk: bool = False):
        kwargs = {"limitmb": self.limitmb}
        if bulk and self.procs > 1:
            return self._ix.writer(procs=self.procs, multisegment=True, **kwargs)
        return self._ix.writer(timeout=self.lock_timeout, **kwargs)

    def add(self, docs: Iterable[SearchDoc]) -> int:
        """Upsert documents by ``message_id`` with a single writer.

        A message id repeated within one call keeps its last version."""
        with self._lock:
            was_empty = self._ix.doc_count_all() == 0
            writer = self._writer(bulk=was_empty)
            written: set[str] = set()
            again: dict[str, SearchDoc] = {}
            try:
                for chunk in _chunks(docs, _BATCH):
                    latest = {d.message_id: d for d in chunk}
                    for mid in [m for m in latest if m in written]:
                        again[mid] = latest.pop(mid)
                    if not was_empty:
                        self._delete_ids(writer, latest)
                    for doc in latest.values():
                        writer.add_document(**_fields_of(doc))
                    written.update(latest)
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
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
        with self._lock:
            writer = self._writer()
            try:
                deleted = self._delete_ids(writer, set(message_ids))
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
            self._drop_searcher()
            return deleted

    # -- searching ----------------------------------------------------------

    def _get_searcher(self):
        if self._searcher is None:
            self._searcher = self._ix.searcher()
        elif not self._searcher.up_to_date():
            self._searcher = self._searcher.refresh()
        return self._searcher

    def _drop_searcher(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None

    def search(self, query: str | q.Node, limit: int = 50, history: bool = False,
               *, order: str = "relevance") -> list[Hit]:
        """Run a query (string or parsed AST).

        ``order`` is ``relevance`` (BM25), ``newest`` or ``oldest``; messages
        without a date sort as oldest.  With ``history`` the query also
        matches earlier revisions and deleted text."""
        node = q.parse(query) if isinstance(query, str) else query
        wquery = to_whoosh(node, history)
        if wquery is None or limit <= 0:
            return []
        hl = highlight_terms(node)
        sort = {}
        if order in ("newest", "oldest"):
            sort = {"sortedby": "ts", "reverse": order == "newest"}
        with self._lock:
            results = self._get_searcher().search(wquery, limit=limit, **sort)
            return [self._hit(r.fields(), r.score, hl, history) for r in results]

    @staticmethod
    def _hit(stored: dict, score: float | None, hl: HighlightTerms, history: bool) -> Hit:
        ts = stored.get("ts")
        when = datetime.fromtimestamp(ts, tz=timezone.utc) if ts is not None else None
        snippet, snippet_html = _hit_snippet(stored, hl, history)
        return Hit(
            message_id=stored["id"],
            chat_id=stored.get("chat_id", ""),
            sender=stored.get("sender", ""),
            date=when,
            snippet=snippet,
            snippet_html=snippet_html,
            score=float(score or 0.0),
        )
