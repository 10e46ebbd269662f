"""Login sessions of the web UI: what the cookie set after a token login
stands for.

The cookie carries a random session id (``secrets``, 256 bits), never the
token or anything derived from it, so a stolen cookie dies with its session
and a restart of the server ends every session.  A session is forgotten
after ``idle`` seconds without a request (default 12 hours, the
``SESSION_IDLE_SECONDS`` setting; ``serve --session-idle``).  The store is
in memory: the server is one process, and sessions need not survive it.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

__all__ = ["DEFAULT_IDLE_SECONDS", "Sessions"]

DEFAULT_IDLE_SECONDS = 12 * 3600
#: More live sessions than this drops the least recently used one.
MAX_SESSIONS = 1000


@dataclass
class _Session:
    last_seen: float
    cookie_set: float


def _key(session_id: str) -> str:
    """Sessions are looked up by a hash of their id, so the time a dict
    lookup takes says nothing about a valid id."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


class Sessions:
    """Random session ids that expire after ``idle`` seconds of disuse."""

    def __init__(self, idle: float = DEFAULT_IDLE_SECONDS) -> None:
        self.idle = float(idle)
        self._live: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def new(self) -> str:
        """Start a session; returns its id (the cookie value)."""
        session_id = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            self._live[_key(session_id)] = _Session(now, now)
        return session_id

    def touch(self, session_id: str) -> bool:
        """True when ``session_id`` is a live session (and keep it alive)."""
        now = time.monotonic()
        with self._lock:
            session = self._live.get(_key(session_id))
            if session is None:
                return False
            if now - session.last_seen > self.idle:
                del self._live[_key(session_id)]
                return False
            session.last_seen = now
            return True

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
