"""The tantivy layout of the full-text index: the schema and the tantivy
document of a :class:`~index.fulltext.SearchDoc`.

It mirrors :mod:`index.whoosh_schema` field for field, so one query
translation rule holds for both engines:

* **Fields**: ``content`` (subject + text + attachment names), ``quoted``
  and ``hist`` are positional text fields, each with a twin
  (``content_stem``...) holding the stems that differ from their word
  (:func:`index.tokens.stems_of`), with frequencies but no positions
  (phrases are exact); ``meta`` holds every
  people/place/facet term under its ``name:`` prefix
  (:func:`index.tokens.meta_terms`); ``id`` is the Message-ID as one term;
  ``ts`` is epoch seconds in a fast integer column (undated messages carry
  :data:`NO_DATE`, so they sort as oldest and no date range reaches them);
  ``doc`` is the whole :class:`~index.fulltext.SearchDoc` as JSON: a hit
  and its snippet need its text, and :meth:`TantivyEngine.optimize` rewrites
  the live documents from it (tantivy's Python binding cannot force a merge,
  so this is how deleted text leaves the files).
* **Tokens are ours**: text goes in as our tokens (:mod:`index.tokens`),
  so CJK, diacritics and emoji behave exactly as in Whoosh: joined by
  spaces for the whitespace tokenizer when each token takes one position,
  else as a ``PreTokenizedString`` with the positions of
  :func:`index.tokens.placed_tokens` (Han and kana pairs share their first
  character's position, as in Whoosh).  Each part of a field (subject, text, each
  attachment name) is a value of its own, and tantivy leaves a gap between
  values, so a phrase cannot span two parts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime, timezone

import tantivy

from coi_archive.ingest import jsontext

from .engine_rules import NO_DATE, stem_field
from .fulltext import SearchDoc
from .tokens import meta_terms, placed_tokens, stems_of

__all__ = ["NO_DATE", "TEXT_FIELDS", "Prepared", "build_schema", "doc_of", "document_from", "document_of", "prepare"]

#: The positional text fields.
TEXT_FIELDS = ("content", "quoted", "hist")


def build_schema() -> tantivy.Schema:
    """The index layout; change ``TantivyEngine.INDEX_NAME`` when it changes."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", tokenizer_name="raw", index_option="basic")
    for name in TEXT_FIELDS:
        builder.add_text_field(name, tokenizer_name="whitespace", index_option="position")
        builder.add_text_field(stem_field(name), tokenizer_name="whitespace", index_option="freq")
    builder.add_text_field("meta", tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("ts", indexed=True, fast=True)
    builder.add_bytes_field("doc", stored=True)
    return builder.build()


#: A text field's value: our terms joined by spaces, or (terms, positions).
Text = tuple[str, str | tuple[list[str], list[int]]]
#: A document's whole content in plain values (:func:`prepare`): Message-ID,
#: epoch seconds, stored JSON, text field values in order, facet terms.
Prepared = tuple[str, int, bytes, list[Text], list[str]]


def _texts(name: str, parts: Sequence[str], out: list[Text]) -> None:
    """Each part of a text field as one value (tantivy keeps values apart,
    so a phrase cannot span two parts).  Text whose terms each take the
    next position goes in as our terms joined by spaces (the field's
    whitespace tokenizer splits them again): cheaper than a token object per
    word; text with Han/kana runs goes in pre-tokenised with its positions.
    The stems go to the field's twin, all parts as one value."""
    stems: list[str] = []
    for part in parts:
        if not part:
            continue
        terms, positions = placed_tokens(part)
        if positions is not None:
            out.append((name, (terms, positions)))
        elif terms:
            out.append((name, " ".join(terms)))
        stems += stems_of(terms)
    if stems:
        out.append((stem_field(name), " ".join(stems)))


def epoch(when: datetime | None) -> int | None:
    """Epoch seconds of ``when``; a naive datetime is taken to be UTC."""
    if when is None:
        return None
    return int((when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp())


#: The fields of :class:`SearchDoc`, in the order the stored JSON array keeps them.
_DOC_FIELDS = tuple(f.name for f in dataclasses.fields(SearchDoc))
_DATE = _DOC_FIELDS.index("date")


def _dumps(doc: SearchDoc) -> bytes:
    """``doc`` as a JSON array, as the stdlib writes it (``dataclasses.asdict``
    deep-copies every value and was half of indexing time)."""
    values = [getattr(doc, name) for name in _DOC_FIELDS]
    values[_DATE] = doc.date.isoformat() if doc.date is not None else None
    return jsontext.dumps(values)


def doc_of(document: tantivy.Document) -> SearchDoc:
    """The :class:`SearchDoc` stored with a document read back from the index."""
    raw = document.get_first("doc")
    if raw is None:  # every document is written with one; an index that lacks it is damaged
        raise ValueError("a full-text document without its stored data")
    data = dict(zip(_DOC_FIELDS, json.loads(raw)))
    date = data.pop("date")
    for name in ("recipients", "attachments", "has"):
        data[name] = tuple(data[name])
    data["addressees"] = tuple(tuple(a) for a in data["addressees"])
    return SearchDoc(date=datetime.fromisoformat(date) if date else None, **data)


def _scrubbed(value):
    """``value`` with lone surrogates (which UTF-8, and so tantivy, cannot
    carry) replaced by U+FFFD, inside tuples too."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, tuple):
        return tuple(_scrubbed(v) for v in value)
    return value


def prepare(doc: SearchDoc) -> Prepared:
    """Everything :func:`document_from` needs, in plain values that pickle:
    the analysis (tokens, stems, facet terms, the stored JSON) is most of
    indexing and can run in another process than the index writer.  Text
    that UTF-8 cannot carry (lone surrogates: hostile input that Whoosh's
    pickles would keep) is indexed with U+FFFD in its place rather than
    failing the whole batch; the stored JSON is the first to refuse it."""
    try:
        return _prepared(doc)
    except UnicodeEncodeError:
        return _prepared(
            dataclasses.replace(doc, **{f: _scrubbed(getattr(doc, f)) for f in _DOC_FIELDS if f != "date"})
        )


def _prepared(doc: SearchDoc) -> Prepared:
    stored = _dumps(doc)
    ts = epoch(doc.date)
    texts: list[Text] = []
    _texts("content", (doc.subject, doc.text, *doc.attachments), texts)
    _texts("quoted", (doc.quoted,), texts)
    _texts("hist", (doc.history,), texts)
    return doc.message_id, NO_DATE if ts is None else ts, stored, texts, list(dict.fromkeys(meta_terms(doc)))


def document_from(prepared: Prepared) -> tantivy.Document:
    """The tantivy document of a :func:`prepare` result."""
    message_id, ts, stored, texts, meta = prepared
    out = tantivy.Document()
    out.add_text("id", message_id)
    out.add_integer("ts", ts)
    out.add_bytes("doc", stored)
    for name, value in texts:
        if isinstance(value, str):
            out.add_text(name, value)
        else:
            terms, positions = value
            tokens = [tantivy.Token(t, p, 0, 0) for t, p in zip(terms, positions)]
            out.add_pre_tokenized_text(name, tantivy.PreTokenizedString("", tokens))
    for term in meta:
        out.add_text("meta", term)
    return out


def document_of(doc: SearchDoc) -> tantivy.Document:
    """The tantivy document of ``doc`` (see :func:`prepare`)."""
    return document_from(prepare(doc))
