"""The order of a result page, the same for every full-text engine.

Engines differ in how they break ties (Whoosh by document number, tantivy
by segment and document address, both of which depend on the order
documents happened to be written in), so each engine asks for its best
``limit`` hits, completes the group tied at the cut (:func:`complete`) and
sorts them with :func:`ranked`:

* ``relevance``: score, then the newer message, then Message-ID;
* ``newest``: date, then Message-ID, descending (the exact reverse of ``oldest``);
* ``oldest``: date, then Message-ID, ascending.

Messages without a date sort as oldest.  Scores are compared rounded, so
two hits a float rounding apart count as tied.  For relevance the group
tied at the cut is not completed: short chat messages ("ok", "thanks") tie
by the thousand, and reading them all to choose the last few places would
cost more than the page; which of them make the page is the engine's
choice, in order within it.  Relevance scores still
differ between engines (Whoosh's BM25F and tantivy's BM25 weigh idf and
field length a little differently), so only ties are engine-independent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .fulltext import Hit

__all__ = ["complete", "ranked", "stamp"]

_UNDATED = float("-inf")


def stamp(when: datetime | None) -> float:
    """The sort value of a hit's date (undated: before everything)."""
    return _UNDATED if when is None else when.timestamp()


def ranked(hits: list[Hit], order: str) -> list[Hit]:
    """``hits`` in ``order`` with the tie rules above."""
    if order == "oldest":
        return sorted(hits, key=lambda h: (stamp(h.date), h.message_id))
    if order == "newest":
        return sorted(hits, key=lambda h: (stamp(h.date), h.message_id), reverse=True)
    return sorted(hits, key=lambda h: (-round(h.score, 4), -stamp(h.date), h.message_id))


def complete(hits: list[Hit], limit: int, order: str, same_date: Callable[[datetime | None], list[Hit]]) -> list[Hit]:
    """The first ``limit`` hits in ``order`` when ``hits`` are an engine's
    first ``limit`` by date: every hit dated like the last one (found by
    ``same_date``) competes for the places that date reaches, so the page
    does not depend on the engine's tie order."""
    if order == "relevance" or len(hits) < limit:
        return ranked(hits, order)[:limit]
    last = hits[-1].date
    before = [h for h in hits if stamp(h.date) != stamp(last)]
    return (ranked(before, order) + ranked(same_date(last), order))[:limit]
