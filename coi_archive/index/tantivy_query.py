"""Queries in the language of :mod:`index.query` as tantivy queries.

The same rules as :mod:`index.whoosh_query`, so both engines find the same
messages: words and phrases are looked up with the terms of
:func:`index.tokens.query_terms` in ``content``, ``quoted`` (weighted
:data:`~index.engine_rules.FIELD_BOOST`) and, with ``history``, ``hist``,
a one-term word also by its other forms
(:func:`~index.engine_rules.stem_alternatives`, weighted
:data:`~index.engine_rules.STEM_BOOST`);
fields and facets are the prefixed ``meta`` terms of
:func:`index.tokens.meta_terms`, scored as a constant; a prefix (``tomo*``)
is a constant-score match of every term starting with it; dates are a range
over the ``ts`` column (half-open, in the node's zone), and undated messages
(:data:`~index.engine_rules.NO_DATE`) never match one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import tantivy
from tantivy import Occur, Query

from coi_archive.index import query as q

from .chatids import ChatKind
from .engine_rules import FIELD_BOOST, NO_DATE, STEM_BOOST, day_start, stem_alternatives
from .tokens import TOKEN_RE, normalize, query_terms

__all__ = ["to_tantivy"]


def _prefix_regex(prefix: str) -> str:
    """A regex for every term starting with ``prefix``: each character
    escaped as ``\\x{..}`` unless it is a letter or digit, so nothing a user
    types is read as regex syntax."""
    escaped = "".join(c if c.isalnum() else f"\\x{{{ord(c):x}}}" for c in prefix)
    return f"(?s){escaped}.*"


def _term(schema: tantivy.Schema, field: str, value: str, prefix: bool = False) -> Query:
    if prefix:
        return Query.regex_query(schema, field, _prefix_regex(value))
    return Query.term_query(schema, field, value)


def _all(queries: Sequence[Query]) -> Query:
    return queries[0] if len(queries) == 1 else Query.boolean_query([(Occur.Must, x) for x in queries])


def _any(queries: Sequence[Query]) -> Query:
    return queries[0] if len(queries) == 1 else Query.boolean_query([(Occur.Should, x) for x in queries])


def _forms(schema: tantivy.Schema, field: str, term: str) -> Query:
    """A one-term word in ``field``: the form typed, or another form of it
    (weighted :data:`STEM_BOOST`)."""
    others = [_term(schema, g, t) for g, t in stem_alternatives(field, term)]
    return _any([_term(schema, field, term), Query.boost_query(_any(others), STEM_BOOST)])


def _text_query(
    schema: tantivy.Schema, tokens: list[str], prefix: bool, fieldnames: Sequence[str], forms: bool = False
) -> Query:
    """Match ``tokens`` (a phrase if several) in any of ``fieldnames``; with
    ``forms`` a single token also by its other forms.  A prefix word, like
    Whoosh's, scores its boost as a constant and a several-token prefix word
    needs its tokens anywhere, not in order."""
    per_field: list[Query] = []
    for f in fieldnames:
        boost = FIELD_BOOST.get(f, 1.0)
        if forms and len(tokens) == 1 and not prefix:
            one = _forms(schema, f, tokens[0])
        elif prefix:
            parts = [_term(schema, f, t) for t in tokens[:-1]]
            last = Query.const_score_query(_term(schema, f, tokens[-1], prefix=True), 1.0)
            one = _all([*parts, last])
        elif len(tokens) == 1:
            one = _term(schema, f, tokens[0])
        else:
            words: list[str | tuple[int, str]] = list(tokens)
            one = Query.phrase_query(schema, f, words)
        per_field.append(one if boost == 1.0 else Query.boost_query(one, boost))
    return _any(per_field)


def _meta(schema: tantivy.Schema, name: str, value: str, prefix: bool = False) -> Query:
    return _term(schema, "meta", f"{name}:{value}", prefix)


def _field_query(schema: tantivy.Schema, node: q.Field) -> Query:
    """The exact value as one term, or all of its words."""
    if node.name == "group":
        chat = _field_query(schema, q.Field("chat", node.value, node.prefix))
        return _all([chat, Query.const_score_query(_meta(schema, "ckind", ChatKind.GROUP.value), 1.0)])
    value = normalize(node.value).strip()
    tokens = TOKEN_RE.findall(value)
    alts = [_meta(schema, node.name, value, node.prefix)]
    if tokens and tokens != [value]:
        words = [_meta(schema, node.name, t) for t in tokens[:-1]]
        alts.append(_all([*words, _meta(schema, node.name, tokens[-1], node.prefix)]))
    return Query.const_score_query(_any(alts), 1.0)


def _date_query(schema: tantivy.Schema, node: q.DateRange) -> Query:
    """Inclusive days of the node's zone -> half-open range of epoch seconds."""
    start = day_start(node.start, node.zone) if node.start else NO_DATE + 1
    end = day_start(node.end + timedelta(days=1), node.zone) if node.end else None
    return Query.const_score_query(
        Query.range_query(
            schema, "ts", tantivy.FieldType.Integer, start, end, include_lower=True, include_upper=end is None
        ),
        1.0,
    )


def _bool_query(schema: tantivy.Schema, node: q.And | q.Or, history: bool, quotes: bool) -> Query | None:
    """And/Or with untranslatable children dropped; an And of negations
    alone excludes from every document."""
    if isinstance(node, q.Or):
        kids = [k for k in (to_tantivy(schema, c, history, quotes) for c in node.children) if k is not None]
        return _any(kids) if kids else None
    pos: list[Query] = []
    neg: list[Query] = []
    for child in node.children:
        target, inner = (neg, child.child) if isinstance(child, q.Not) else (pos, child)
        translated = to_tantivy(schema, inner, history, quotes)
        if translated is not None:
            target.append(translated)
    if not pos and not neg:
        return None
    if not neg:
        return _all(pos)
    must = pos or [Query.all_query()]
    return Query.boolean_query([*((Occur.Must, x) for x in must), *((Occur.MustNot, x) for x in neg)])


def to_tantivy(schema: tantivy.Schema, node: q.Node, history: bool = False, quotes: bool = True) -> Query | None:
    """Translate an AST to a tantivy query; ``None`` means "matches nothing"
    (see :func:`index.whoosh_query.to_whoosh`, whose rules these are)."""
    text_fields = ("content", *(("quoted",) if quotes else ()), *(("hist",) if history else ()))
    if isinstance(node, (q.Word, q.Phrase)):
        tokens = query_terms(node.text)
        prefix = isinstance(node, q.Word) and node.prefix
        return _text_query(schema, tokens, prefix, text_fields, isinstance(node, q.Word)) if tokens else None
    if isinstance(node, q.Field):
        return _field_query(schema, node)
    if isinstance(node, q.MessageKind):
        return Query.const_score_query(_meta(schema, "kind", node.value), 1.0)
    if isinstance(node, q.ChatKind):
        return Query.const_score_query(_meta(schema, "ckind", node.value), 1.0)
    if isinstance(node, q.Flag):
        return Query.const_score_query(_meta(schema, "is", node.name), 1.0)
    if isinstance(node, q.DateRange):
        return _date_query(schema, node)
    if isinstance(node, (q.And, q.Or)):
        return _bool_query(schema, node, history, quotes)
    if isinstance(node, q.Not):
        return _bool_query(schema, q.And((node,)), history, quotes)
    return None
