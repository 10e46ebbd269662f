"""Feedback on a search query: what the parser quietly changed.

:mod:`.query` never refuses a query: an unknown ``field:``, a bad date or a
stray quote degrade to plain words, because a search box that answers
"syntax error" is worse than one that searches a little more broadly.  But
silently searching ``form:frank`` as a word and finding nothing leaves the
user guessing, so this module says what happened, one specific sentence per
problem, as mail search tools such as notmuch and mu do.  It judges each
``field:value`` by asking the parser itself (:func:`.query.parse` of that
term alone), so what it reports never disagrees with what is searched.
"""

from __future__ import annotations

import difflib
import re

from . import query as q

__all__ = ["query_warnings"]

#: Fields the parser knows besides its text fields.
_FILTER_FIELDS = ("kind", "date", "before", "after", "has", "is")
#: URL schemes and the like: ``https://…`` in a query is a word, not a mistyped field.
_NOT_FIELDS = frozenset({"http", "https", "mailto", "ftp", "geo", "tel", "xmpp", "openpgp4fpr", "file"})
#: Values offered when a ``has:``/``is:`` value is not known (kept if the parser accepts them).
_HAS_TRY = (
    "attachment",
    "image",
    "audio",
    "video",
    "file",
    "location",
    "contact",
    "sticker",
    "poll",
    "signature",
    "key",
)
_IS_TRY = ("edited", "deleted", "encrypted", "mail", "chat", "forwarded", "reply")
_KINDS = (
    "text image audio video file sticker location contact system mail poll webxdc direct group self mailinglist"
).split()

_PHRASE = re.compile(r'(?<![\w:])"[^"]*"')
_TERM = re.compile(r'(?:^|(?<=[\s(\-]))([A-Za-z]+):("[^"]*"?|[^\s()"]*)')


def _known_fields() -> list[str]:
    return sorted(q.TEXT_FIELDS) + list(_FILTER_FIELDS)


def _accepted(name: str, value: str) -> bool:
    """Whether the parser reads ``name:value`` as a filter (not as words)."""
    try:
        node = q.parse(f"{name}:{value}")
    except q.QueryError:
        return False
    return not isinstance(node, (q.Word, q.And, q.Empty))


def _supported(name: str, values: tuple[str, ...]) -> list[str]:
    return [f"{name}:{v}" for v in values if _accepted(name, v)]


def _field_warning(name: str, value: str) -> str | None:
    """One sentence about a ``name:value`` term the parser did not take as
    a filter, or None when it did (or it is not meant as a field)."""
    low = name.lower()
    shown = f"{name}:{value}"
    if low in _NOT_FIELDS:
        return None
    known = _known_fields()
    if low not in known:
        close = difflib.get_close_matches(low, known, n=1, cutoff=0.6)
        hint = f" Did you mean “{close[0]}:”?" if close else f" Known fields: {', '.join(f + ':' for f in known)}."
        return f"“{name}:” is not a search field, so “{shown}” was searched as words.{hint}"
    bare = value.strip('"')
    if not bare.strip():
        return f"“{name}:” needs a value (for example {name}:{_example(low)}), so it was searched as a word."
    if _accepted(low, value):
        return None
    if low in ("date", "before", "after"):
        return (
            f"“{shown}” is not a date, so it was searched as words: write a year (2026), a month "
            f"(2026-11), a day (2026-11-27) or, for date:, a range (2026-01..2026-03)."
        )
    if low == "kind":
        return f"“{shown}” is not a kind, so it was searched as words. Kinds: {', '.join(_KINDS)}."
    if low in ("has", "is"):
        offered = _supported(low, _HAS_TRY if low == "has" else _IS_TRY)
        return f"“{shown}” is not a supported filter, so it was searched as words. Supported: {', '.join(offered)}."
    return f"“{shown}” could not be used as a filter, so it was searched as words."


def _example(field: str) -> str:
    return {
        "date": "2026-11",
        "before": "2026-01-01",
        "after": "2026-01-01",
        "kind": "image",
        "has": "attachment",
        "is": "edited",
    }.get(field, "anna")


def _bracket_warnings(text: str) -> list[str]:
    depth = surplus = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth:
                depth -= 1
            else:
                surplus += 1
    out = []
    if depth:
        out.append("A “(” is not closed; the query was read as if it were closed at the end.")
    if surplus:
        out.append("A “)” has no matching “(”; it was ignored.")
    return out


def query_warnings(query: str) -> list[str]:
    """Specific, readable sentences about the parts of ``query`` that were
    not searched the way they look (empty when it is read as written)."""
    query = query or ""
    if len(query) > q.MAX_QUERY_LENGTH:
        return []  # the parser refuses it with its own message (QueryError)
    out: list[str] = []
    if query.count('"') % 2:
        out.append('A quote mark (") is not closed, so it was ignored and the words after it were searched one by one.')
    outside = _PHRASE.sub(" ", query)
    for m in _TERM.finditer(outside):
        warning = _field_warning(m.group(1), m.group(2))
        if warning and warning not in out:
            out.append(warning)
    out += _bracket_warnings(outside)
    return out
