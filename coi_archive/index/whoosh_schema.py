"""The Whoosh layout of the full-text index: field types, the schema and
the Whoosh document of a :class:`~index.fulltext.SearchDoc`.

Design choices (numbers from ``benchmarks/bench_fulltext.py``, 100,000
synthetic chat messages, CPU time on a shared 2-core machine):

* **Fields**: ``content`` = subject + text + attachment names, positional,
  with a position gap between the parts so a phrase cannot span them;
  ``quoted`` = quotes, attribution lines, signature and list footer of a
  mail, searched by default with a lower weight (``quotes=False`` skips
  it); ``hist`` = earlier revisions and deleted text, searched only with
  ``history=True``; ``meta`` = every people/place/facet term under a prefix
  (:func:`index.tokens.meta_terms`); each text field has a twin
  (``content_stem``...: :func:`stem_field`) with the stems that differ from
  their word (:func:`index.tokens.stems_of`), frequencies without positions,
  since phrases are exact.  One facet field instead of seven because
  Whoosh's per-field, per-document overhead is a large part of indexing
  time.  Terms come from :mod:`index.tokens`, handed to Whoosh directly.
* **Stored**: one tuple per document (:class:`Stored`): message id, chat id,
  sender, timestamp, and the text, subject, attachment names and history
  that snippets are cut from.  Storing the text costs disk (the 100k index
  is ~65 MB) but a result page then needs no catalog round trip, snippets
  always agree with what was indexed, and the engine does not depend on the
  catalog schema; the alternative, a per-search text callback, would push
  that coupling into every caller.
* **Dates**: epoch seconds in a numeric column (:class:`Timestamp`),
  filtered by :class:`index.whoosh_query.TimeRange`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, NamedTuple

from whoosh import columns, fields
from whoosh.analysis import Token, Tokenizer
from whoosh.formats import Existence
from whoosh.system import pack_uint

from .engine_rules import NO_DATE, stem_field
from .fulltext import SearchDoc
from .tokens import TOKEN_RE, meta_terms, normalize, stems_of, text_positions, tokenize

__all__ = ["NO_DATE", "Stored", "build_schema", "fields_of", "stem_field"]

#: Positions between the parts of a text field, so a phrase cannot span them.
POSITION_GAP = 100


class ChatTokenizer(Tokenizer):
    """Whoosh view of :func:`tokenize`.  Whoosh wants an analyzer on every
    text field, but nothing here calls it: indexing goes through
    :func:`text_positions`, queries through :func:`query_terms`."""

    def __call__(
        self,
        value,
        positions=False,
        chars=False,
        keeporiginal=False,
        removestops=True,
        start_pos=0,
        start_char=0,
        tokenize=True,
        mode="",
        **kwargs,
    ) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for pos, m in enumerate(TOKEN_RE.finditer(normalize(value))):
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
    counted directly, parts separated by a gap so phrases cannot span them."""

    def __init__(self) -> None:
        super().__init__(analyzer=ChatTokenizer(), phrase=True)

    def index(self, value, **kwargs):
        parts = (value,) if isinstance(value, str) else value
        poses: dict[str, list[int]] = defaultdict(list)
        base = 0
        for part in parts:
            if part:
                base = text_positions(part, base, poses) + POSITION_GAP
        encode = self.format.encode
        fb = self.format.field_boost
        for term, plist in poses.items():
            yield term.encode("utf-8"), len(plist), len(plist) * fb, encode(plist)


class StemText(fields.TEXT):
    """The stem twin of a :class:`ChatText`: a list of stems, counted for
    scoring, without positions."""

    def __init__(self) -> None:
        super().__init__(analyzer=ChatTokenizer(), phrase=False)

    def index(self, value, **kwargs):
        counts: dict[str, int] = defaultdict(int)
        for term in value:
            counts[term] += 1
        fb = self.format.field_boost
        for term, n in counts.items():
            yield term.encode("utf-8"), n, n * fb, pack_uint(n)


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


def build_schema() -> fields.Schema:
    """The index layout; change ``WhooshEngine.INDEX_NAME`` when it changes.

    Few fields on purpose: Whoosh's per-field, per-document overhead is a
    large part of indexing time, so all people/place/facet terms share the
    ``meta`` field under a ``name:`` prefix and everything a hit needs is one
    stored tuple (see :class:`Stored`)."""
    return fields.Schema(
        id=Key(unique=True),
        content=ChatText(),
        quoted=ChatText(),
        hist=ChatText(),
        content_stem=StemText(),
        quoted_stem=StemText(),
        hist_stem=StemText(),
        meta=TermSet(),
        ts=Timestamp(),
        doc=fields.STORED(),
    )


class Stored(NamedTuple):
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
    quoted: str


def _utc(value: datetime) -> datetime:
    """Aware UTC datetime; naive input is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _stems(parts: tuple[str, ...]) -> list[str]:
    return stems_of(t for part in parts if part for t in tokenize(part))


def fields_of(doc: SearchDoc) -> dict[str, Any]:
    """Keyword arguments for ``writer.add_document``."""
    ts = int(_utc(doc.date).timestamp()) if doc.date is not None else None
    stored = Stored(
        doc.message_id,
        doc.chat_id,
        doc.sender,
        ts,
        doc.text,
        doc.subject,
        tuple(doc.attachments),
        doc.history,
        doc.quoted,
    )
    out: dict[str, Any] = {
        "id": doc.message_id,
        "content": (doc.subject, doc.text, *doc.attachments),
        "meta": meta_terms(doc),
        "doc": tuple(stored),
    }
    if ts is not None:
        out["ts"] = ts
    if doc.history:
        out["hist"] = (doc.history,)
    if doc.quoted:
        out["quoted"] = (doc.quoted,)
    for name in ("content", "quoted", "hist"):
        if name in out and (stems := _stems(out[name])):
            out[stem_field(name)] = stems
    return out
