"""Login sessions of the web UI: what the cookie set after a token login
stands for.

The cookie carries a random session id (``secrets``, 256 bits), never the
token or anything derived from it, so a stolen cookie dies with its session
and a restart of the server ends every session.  A session is forgotten
after ``idle`` seconds without a request (default 12 hours, the
``SESSION_IDLE_SECONDS`` setting; ``serve --session-idle``).  The store is
in memory: the server is one process, and sessions need not survive it.

A session started by an account login carries the account's name
(``user``); every session carries its own CSRF token (``csrf``), which
each form posts back (:mod:`webui.security`).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field

__all__ = ["DEFAULT_IDLE_SECONDS", "Session", "Sessions"]

DEFAULT_IDLE_SECONDS = 12 * 3600
#: More live sessions than this drops the least recently used one.
MAX_SESSIONS = 1000


@dataclass
class Session:
    last_seen: float
    cookie_set: float
    user: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))


def _key(session_id: str) -> str:
    """Sessions are looked up by a hash of their id, so the time a dict
    lookup takes says nothing about a valid id."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


class Sessions:
    """Random session ids that expire after ``idle`` seconds of disuse."""

    def __init__(self, idle: float = DEFAULT_IDLE_SECONDS) -> None:
        self.idle = float(idle)
        self._live: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new(self, user: str | None = None) -> str:
        """Start a session (of account ``user``, if any); returns its id (the cookie value)."""
        session_id = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            self._live[_key(session_id)] = Session(now, now, user)
        return session_id

    def touch(self, session_id: str) -> Session | None:
        """The live session ``session_id`` (kept alive), or None."""
        now = time.monotonic()
        with self._lock:
            session = self._live.get(_key(session_id))
            if session is None:
                return None
            if now - session.last_seen > self.idle:
                del self._live[_key(session_id)]
                return None
            session.last_seen = now
            return session

    def end(self, session_id: str) -> None:
        """Forget a session (log out)."""
        with self._lock:
            self._live.pop(_key(session_id), None)

    def end_user(self, user: str) -> None:
        """Forget every session of account ``user`` (it was removed)."""
        with self._lock:
            for key in [k for k, s in self._live.items() if s.user == user]:
                del self._live[key]

    def cookie_due(self, session_id: str) -> bool:
        """True when the cookie's own lifetime (``Max-Age`` = idle) should
        be renewed: half of it has passed since it was last sent."""
        now = time.monotonic()
        with self._lock:
            session = self._live.get(_key(session_id))
            if session is None or now - session.cookie_set < self.idle / 2:
                return False
            session.cookie_set = now
            return True

    def _prune(self, now: float) -> None:
        for key in [k for k, s in self._live.items() if now - s.last_seen > self.idle]:
            del self._live[key]
        while len(self._live) >= MAX_SESSIONS:
            del self._live[min(self._live, key=lambda k: self._live[k].last_seen)]
