"""What an export contains: one chat (optionally limited to a date range)
or the messages a search found, grouped by chat."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coi_archive.index.api import EVERYTHING, TICK, Archive, Scope, parse_iso, parse_span


class ExportError(ValueError):
    """An export request that cannot be answered (bad date, unknown format)."""


def parse_bound(value: str | None, end: bool = False) -> datetime | None:
    """A date bound: ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` (UTC days) or a
    full ISO timestamp.  With ``end`` a period means its last instant, so
    ``--until 2025-04`` includes all of April."""
    if value is None or not str(value).strip():
        return None
    span = parse_span(value)
    if span is None:
        raise ExportError(f"not a date: {str(value).strip()!r} (use YYYY, YYYY-MM, YYYY-MM-DD or an ISO timestamp)")
    return span.stop - TICK if end else span.start


@dataclass
class Part:
    """The exported messages of one chat, in chat order."""

    chat: dict[str, Any]
    messages: list[dict[str, Any]]


@dataclass
class Selection:
    kind: str  # "chat" | "search"
    title: str
    parts: list[Part]
    query: str | None = None
    history: bool = False
    since: datetime | None = None
    until: datetime | None = None
    truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def message_count(self) -> int:
        return sum(len(p.messages) for p in self.parts)

    def messages(self):
        for part in self.parts:
            yield from part.messages

    @property
    def scope(self) -> str:
        bits = []
        if self.query is not None:
            bits.append(f"search “{self.query}”" + (" incl. history" if self.history else ""))
        if self.since:
            bits.append(f"from {self.since.date().isoformat()}")
        if self.until:
            bits.append(f"until {self.until.date().isoformat()}")
        return ", ".join(bits)


def _in_range(msg: dict[str, Any], since: datetime | None, until: datetime | None) -> bool:
    if since is None and until is None:
        return True
    dt = parse_iso(msg.get("date"))
    if dt is None:
        return False
    return (since is None or dt >= since) and (until is None or dt <= until)


def select_chat(
    archive: Archive, chat_id: str, since: datetime | None = None, until: datetime | None = None
) -> Selection:
    """One chat (raises ``ArchiveError`` for an unknown id)."""
    data = archive.show(chat_id)
    messages = [m for m in data["messages"] if _in_range(m, since, until)]
    chat = data["chat"]
    return Selection("chat", chat.get("name") or chat["id"], [Part(chat, messages)], since=since, until=until)


def select_search(
    archive: Archive,
    query: str,
    history: bool = False,
    limit: int = 1000,
    since: datetime | None = None,
    until: datetime | None = None,
    scope: Scope = EVERYTHING,
) -> Selection:
    """The messages a search finds (at most ``limit``; only in the chats
    ``scope`` allows), grouped by chat in order of each chat's best hit,
    each chat's messages in date order."""
    hits = archive.search(query, limit=limit, history=history, scope=scope)
    found = archive.messages(h["message_id"] for h in hits)
    order: list[str] = []
    by_chat: dict[str, list[dict[str, Any]]] = {}
    for h in hits:
        msg = found.get(h["message_id"])
        if msg is None or not _in_range(msg, since, until):
            continue
        cid = msg["chat_id"]
        if cid not in by_chat:
            order.append(cid)
            by_chat[cid] = []
        by_chat[cid].append(msg)
    parts = []
    for cid in order:
        msgs = sorted(by_chat[cid], key=lambda m: (m.get("date") or "", m["message_id"]))
        parts.append(Part(archive.chat(cid), msgs))
    return Selection(
        "search",
        f"Search: {query}",
        parts,
        query=query,
        history=history,
        since=since,
        until=until,
        truncated=len(hits) >= limit,
    )
