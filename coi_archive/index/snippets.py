"""Snippets of a hit: a short window of the matching text with the matched
words marked, as plain text (``[word]``) and as HTML (``<mark>``, every
piece escaped).  Engine-neutral: they are cut from the stored text with the
query's own terms (:mod:`index.tokens`), so any engine gets the same
snippets and they always agree with what was indexed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from coi_archive.index import query as q

from .fulltext import Hit
from .tokens import TOKEN_RE, stem, tokenize

__all__ = ["HighlightTerms", "highlight_terms", "hit_snippet", "make_snippet", "plain_snippet"]

_SNIPPET_WIDTH = 180
_SNIPPET_LEAD = 50
_SNIPPET_SCAN = 100_000
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class HighlightTerms:
    """Index terms (and prefixes) a snippet should mark; ``stems`` are the
    stems of the words also found in other forms (:func:`.tokens.stem`)."""

    terms: frozenset[str]
    prefixes: tuple[str, ...]
    stems: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.terms or self.prefixes)

    def matches(self, raw_token: str) -> bool:
        for term in tokenize(raw_token):
            if term in self.terms or (self.prefixes and term.startswith(self.prefixes)):
                return True
            if self.stems and (term in self.stems or stem(term) in self.stems):
                return True
        return False


def highlight_terms(node: q.Node) -> HighlightTerms:
    """The words of the query that count in a hit's favour (not negated)."""
    terms: set[str] = set()
    prefixes: list[str] = []
    stems: set[str] = set()
    for n, positive in q.walk(node):
        if not positive or not isinstance(n, (q.Word, q.Phrase)):
            continue
        tokens = tokenize(n.text)
        if isinstance(n, q.Word) and n.prefix and tokens:
            prefixes.append(tokens.pop())
        elif isinstance(n, q.Word) and len(tokens) == 1:
            stems.add(stem(tokens[0]))
        terms.update(tokens)
    return HighlightTerms(frozenset(terms), tuple(prefixes), frozenset(stems))


def _match_spans(text: str, hl: HighlightTerms) -> list[tuple[int, int]]:
    """Character spans of matching words in the snippet window around the
    first match; stops scanning once the window is covered."""
    spans: list[tuple[int, int]] = []
    limit = None
    for m in TOKEN_RE.finditer(text, 0, min(len(text), _SNIPPET_SCAN)):
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


def hit_snippet(
    hl: HighlightTerms,
    text: str,
    subject: str,
    attachments: Sequence[str],
    history: str | None = None,
    quoted: str = "",
) -> tuple[str, str]:
    """Snippet from the first text of a hit that contains a match: text,
    subject, attachment names, quoted text (quotes, attribution lines,
    signature), then earlier revisions (``history``, given only when the
    query searched them); else the beginning of the first non-empty one of
    text, subject and attachment names."""
    sources = [text, subject, ", ".join(attachments), quoted]
    if history is not None:
        sources.append(history)
    for source in sources:
        if source:
            found = make_snippet(source, hl)
            if found:
                return found
    first = next((s for s in sources[:3] if s), "")
    return plain_snippet(first)


def make_hit(
    hl: HighlightTerms,
    message_id: str,
    chat_id: str,
    sender: str,
    ts: float | None,
    texts: tuple[str, str, Sequence[str], str | None, str],
    score: float | None,
) -> Hit:
    """A search result from what an engine stored of the document (its
    date as epoch seconds; ``texts`` as :func:`hit_snippet` takes them):
    one shape of hit whichever engine found it."""
    snippet, snippet_html = hit_snippet(hl, *texts)
    return Hit(
        message_id=message_id,
        chat_id=chat_id,
        sender=sender,
        date=datetime.fromtimestamp(ts, tz=timezone.utc) if ts is not None else None,
        snippet=snippet,
        snippet_html=snippet_html,
        score=float(score or 0.0),
    )
