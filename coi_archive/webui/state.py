"""Per-application state: the pool of read-only archive handles and small
caches of archive-wide facts (chat list, names, owner ranking) that every
page needs."""

from __future__ import annotations

import threading
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import current_app, g, has_request_context, request

from coi_archive import present
from coi_archive.index.api import EVERYTHING, Archive, Scope


class ArchivePool:
    """Read-only :class:`Archive` handles, one per concurrent request.

    ``index.api`` opens SQLite with ``check_same_thread=False``, but one
    connection used by two threads at once can interleave cursors, and the
    search engine keeps a searcher per handle.  Instead of a global lock
    (which would serialise slow exports with quick page views) each request
    borrows a handle of its own; up to ``keep`` idle handles are kept open so
    that a request does not pay for opening the catalog and the search
    index."""

    def __init__(self, root: Path, keep: int = 8):
        self.root = root
        self.keep = keep
        self._idle: list[Archive] = []
        self._lock = threading.Lock()
        self.opened = 0
        self.release(self.acquire())  # fail early (CatalogError) when there is no archive

    def acquire(self) -> Archive:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self.opened += 1
        return Archive.open(self.root, readonly=True)

    def release(self, archive: Archive) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(archive)
                return
        archive.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for a in idle:
            a.close()


class UIState:
    """The pool plus caches that are refreshed whenever the catalog changes
    (:meth:`Archive.generation`: another process may ingest while the UI
    runs)."""

    def __init__(self, root: Path):
        self.root = root
        self.pool = ArchivePool(root)
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._cache: dict[Any, Any] = {}
        self._jobs: dict[tuple, threading.Thread] = {}

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per catalog version and per reader's scope
        (a member's chat list is not an auditor's)."""
        key = (key, scope().chats)  # type: ignore[assignment]
        stamp = Archive.generation(self.root)
        with self._lock:
            if stamp != self._stamp:
                self._cache.clear()
                self._stamp = stamp
            if key in self._cache:
                return self._cache[key]
        value = compute()
        with self._lock:
            if self._stamp == stamp:
                self._cache[key] = value
        return value

    def background(self, key: str, compute: Callable[[Archive], Any], wait: float = 0.1) -> Any:
        """A slow archive-wide fact, computed once per catalog version in a
        thread with its own archive handle.  Waits up to ``wait`` seconds
        for it; returns None while it is still being computed (pages then
        show it on a later request)."""
        stamp = Archive.generation(self.root)
        with self._lock:
            if stamp != self._stamp:
                self._cache.clear()
                self._stamp = stamp
            if key in self._cache:
                return self._cache[key]
            job = self._jobs.get((key, stamp))
            if job is None:

                def run() -> None:
                    archive = self.pool.acquire()
                    try:
                        value = compute(archive)
                    finally:
                        self.pool.release(archive)
                    with self._lock:
                        if self._stamp == stamp:
                            self._cache[key] = value

                job = threading.Thread(target=run, name=f"coi-webui-{key}", daemon=True)
                self._jobs = {k: v for k, v in self._jobs.items() if v.is_alive()}
                self._jobs[(key, stamp)] = job
                job.start()
        job.join(wait)
        with self._lock:
            return self._cache.get(key) if self._stamp == stamp else None


def scope() -> Scope:
    """What the current request's reader may see (``g.actor``, set by the
    login guard: :mod:`webui.permissions`); everything outside a request."""
    who = g.get("actor") if has_request_context() else None
    return who.scope if who is not None else EVERYTHING


def state() -> UIState:
    return current_app.extensions["coi"]


def archive() -> Archive:
    """The archive handle of the current request."""
    if "archive" not in g:
        g.archive = state().pool.acquire()
    return g.archive


def all_chats() -> list[dict[str, Any]]:
    """Every chat the reader may see (``Archive.chats``), kept for the
    catalog version, with tuples for the lists in each record (members).

    Why tuples: Python's cyclic garbage collector stops watching a tuple of
    strings, and then a dict holding only such values, so the cached list
    costs nothing in its full collections.  As lists, the 27,368 chats of a
    1,000,000-message archive were 82,000 watched objects, and every ~40th
    chat page paid a full collection of ~70 ms CPU for them."""
    return state().cached("chats", lambda: [_settled(c) for c in archive().chats(scope=scope())])


def _settled(chat: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if type(v) is list else v for k, v in chat.items()}


def chat_index() -> dict[str, dict[str, Any]]:
    return state().cached("chat_index", lambda: {c["id"]: c for c in all_chats()})


def names() -> dict[str, str]:
    return state().cached("names", lambda: present.name_map(archive().contacts(scope())))


#: Contacts the landing page offers while typing (the rest are one Enter away).
LANDING_CONTACTS = 1000


def contact_rows() -> list[dict[str, str]]:
    """Contacts for the landing page's live filter: address, name and the
    casefolded text a typed name is looked for in."""

    def build() -> list[dict[str, str]]:
        rows = [
            {
                "address": c["address"],
                "name": c.get("name") or "",
                "haystack": f"{c.get('name') or ''} {c['address']}".casefold(),
            }
            for c in archive().contacts(scope())
        ]
        rows.sort(key=lambda r: (not r["name"], r["name"].casefold() or r["address"]))
        return rows[:LANDING_CONTACTS]

    return state().cached("contact_rows", build)


def ranking() -> dict[str, int]:
    return state().cached("ranking", lambda: present.owner_ranking(all_chats()))


def unread(wait: float = 0.1) -> dict[str, int] | None:
    """Unread counts per chat (Maildir and IMAP flags), or None while the first
    computation after a start or an ingest is still running (seconds on a
    100,000-message archive) after ``wait`` seconds."""
    return state().background("unread", lambda a: a.unread_counts(), wait=wait)


def display_name(address: str | None, fallback: str | None = None) -> str:
    if not address:
        return fallback or "unknown"
    return names().get(address.lower()) or fallback or address


def viewer_zone() -> str | None:
    """The reader's time zone as the page's script sent it (``tz``, an IANA
    name such as ``Europe/Berlin``), or None for UTC (no script, or a name
    this machine's zone database does not know)."""
    name = (request.args.get("tz") or "").strip()
    if not name or name == "UTC" or len(name) > 64:
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return None
    return name
