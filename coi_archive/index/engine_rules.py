"""What both full-text engines share: field names, weights and dates.

Kept apart from :mod:`index.whoosh_query` and :mod:`index.whoosh_schema` so
that an archive searched with tantivy never imports Whoosh (importing is
much of what a short command costs, issue 11).
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from datetime import time as dtime
from zoneinfo import ZoneInfo

from .tokens import stem

__all__ = ["FIELD_BOOST", "NO_DATE", "STEM_BOOST", "day_start", "stem_alternatives", "stem_field"]

#: The date of an undated message: below every real one, so no date range
#: matches it.
NO_DATE = -(2**62)

#: Weight of a match per text field: a word the author quoted or signed
#: with counts, but less than one the author wrote (BM25 scores are summed
#: over the fields of the Or).
FIELD_BOOST = {"content": 1.0, "quoted": 0.4, "hist": 1.0}
#: Weight of a match by another form of the word (``train`` for ``trains``),
#: on top of the field's: the form typed counts more.
STEM_BOOST = 0.5


def day_start(d: date, zone: str = "UTC") -> int:
    """Epoch seconds of the first moment of ``d`` in ``zone`` (00:00 UTC
    by default; a zone's own midnight otherwise, DST included)."""
    if zone == "UTC":
        return calendar.timegm(d.timetuple())
    return int(datetime.combine(d, dtime(), ZoneInfo(zone)).timestamp())


def stem_field(name: str) -> str:
    """The name of the stem twin of text field ``name`` (both engines)."""
    return f"{name}_stem"


def stem_alternatives(field: str, term: str) -> list[tuple[str, str]]:
    """``(field, term)`` pairs that find the other forms of a one-term word
    in text field ``field``: its stem in the field's stem twin (words whose
    stem it is) and, when the stem differs from the word, the stem itself as
    a word (a word already in stem form has no entry in the twin)."""
    root = stem(term)
    pairs = [(stem_field(field), root)]
    if root != term:
        pairs.append((field, root))
    return pairs
