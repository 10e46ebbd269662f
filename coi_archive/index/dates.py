"""ISO 8601 dates as the catalog stores them."""

from __future__ import annotations

from datetime import datetime, timezone


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
