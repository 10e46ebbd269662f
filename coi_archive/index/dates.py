"""Dates and times: the one place that reads them from text and writes them.

The catalog stores every date as ISO 8601 in UTC (``2025-04-06T18:00:00+00:00``,
:func:`format_iso`).  People write dates coarser than that: ``2025``,
``2025-04``, ``2025-04-06`` mean a whole calendar period, so every reader of
a user's date (the CLI's ``--since``/``--until``, the query language's
``date:``/``before:``/``after:``, exports, the analytics frames) asks
:func:`parse_span` for the half-open UTC interval the text covers and takes
its start, its stop or its days.  A full ISO timestamp covers one instant
(a naive one is UTC).  RFC 5322 ``Date:`` headers are mail, not user input:
``coi_archive.ingest.mime`` reads those.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

#: The smallest step of a ``datetime``: a timestamp's span is one tick long.
TICK = timedelta(microseconds=1)

_PERIOD_RE = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?\Z")


@dataclass(frozen=True)
class Span:
    """The half-open UTC interval ``[start, stop)`` a date text covers."""

    start: datetime
    stop: datetime

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.stop - TICK).date()


def parse_iso(value: str | None) -> datetime | None:
    """An aware datetime (a naive value is taken as UTC); ``None`` for
    missing or malformed values, never an exception."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def parse_period(text: str) -> Span | None:
    """The UTC calendar period ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``
    covers; ``None`` for anything else (including full timestamps)."""
    m = _PERIOD_RE.match(text.strip())
    if not m:
        return None
    year = int(m.group(1))
    month, day = (int(g) if g else None for g in m.groups()[1:])
    try:
        if month is None:
            first, last = date(year, 1, 1), date(year, 12, 31)
        elif day is None:
            first = date(year, month, 1)
            last = date(year, month, calendar.monthrange(year, month)[1])
        else:
            first = last = date(year, month, day)
    except ValueError:
        return None
    try:
        stop = _midnight(last) + timedelta(days=1)
    except OverflowError:  # the last day of year 9999
        stop = datetime.max.replace(tzinfo=timezone.utc)
    return Span(_midnight(first), stop)


def parse_span(text: str | None) -> Span | None:
    """A calendar period (:func:`parse_period`) or one instant (a full ISO
    timestamp); ``None`` for empty or malformed text, never an exception."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    span = parse_period(text)
    if span is not None:
        return span
    if _PERIOD_RE.match(text):
        return None  # an impossible day such as 2025-02-30 is not an instant either
    instant = parse_iso(text)
    if instant is None:
        return None
    try:
        return Span(instant, instant + TICK)
    except OverflowError:
        return Span(instant, instant)


def format_iso(dt: datetime) -> str:
    """The catalog's form of an instant: ISO 8601 in UTC with ``+00:00``
    (a naive value is taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat()


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
