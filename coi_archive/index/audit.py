"""The audit trail: who searched, viewed, exported, held or purged what.

A separate SQLite file, ``<archive>/audit.sqlite``, not a table of the
catalog, for three reasons: a purge, a ``reindex --full`` or a restored
catalog can never touch it; the web server, which opens the catalog
read-only, can still append (each entry is one short ``BEGIN IMMEDIATE``
transaction, so many processes and threads append without the archive's
writer lock); and the log can be copied off the machine on its own.

Each entry is chained to the one before: ``hash`` is the SHA-256 of the
canonical JSON of the entry (``seq, time, actor, remote, action, target,
result, prev_hash``; sorted keys, no spaces, UTF-8), and ``prev_hash`` is
the previous entry's ``hash`` (64 zeros for the first). Editing an entry
breaks its own hash; removing one breaks the ``seq`` run and the next
``prev_hash``. Removing the *last* entries leaves a shorter valid chain,
so :func:`anchor` records the head (``seq`` and ``hash``) in the
``anchors`` table and prints it to be kept elsewhere; :func:`verify`
checks that every anchor, stored or given, is still on the chain.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

AUDIT_NAME = "audit.sqlite"
GENESIS = "0" * 64
#: How long an appender waits for another one's transaction (seconds).
BUSY_SECONDS = 30.0

_DDL = """
CREATE TABLE IF NOT EXISTS audit(
    seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL, remote TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, result TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS anchors(seq INTEGER NOT NULL, hash TEXT NOT NULL, time TEXT NOT NULL);
"""

_FIELDS = ("seq", "time", "actor", "remote", "action", "target", "result", "prev_hash")


class AuditError(Exception):
    """The audit log cannot be written or read."""


@dataclass(frozen=True)
class Entry:
    """One audited action, as stored."""

    seq: int
    time: str
    actor: str
    remote: str
    action: str
    target: str
    result: str
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Anchor:
    """A head of the chain kept to detect truncation: ``SEQ:HASH``."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Anchor:
        seq, sep, digest = text.strip().partition(":")
        if not sep or not seq.isdigit() or len(digest) != 64:
            raise ValueError(f"not an audit anchor: {text!r} (expected SEQ:SHA256)")
        return cls(int(seq), digest.lower())


def entry_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an entry's fields (``hash`` excluded)."""
    canonical = json.dumps({k: fields[k] for k in _FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class AuditLog:
    """The audit file of one archive. Opening never creates it; the first
    :meth:`append` does (mode 0600)."""

    def __init__(self, root: Path):
        self.path = root / AUDIT_NAME
        self._conn: sqlite3.Connection | None = None

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._conn is not None:
            return self._conn
        if not self.path.exists():
            if not create:
                return None
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            os.close(fd)
        conn = sqlite3.connect(str(self.path), timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_DDL)
        self._conn = conn
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def append(self, actor: str, action: str, target: str = "", result: str = "ok", remote: str = "") -> Entry:
        """Append one entry, chained to the current head; AuditError when
        the log cannot be written (the caller must not go on silently)."""
        try:
            conn = self._connect(create=True)
            assert conn is not None
            conn.execute("BEGIN IMMEDIATE")
            try:
                head = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
                draft = Entry(
                    seq=(head[0] + 1) if head else 1,
                    time=_now(),
                    actor=str(actor),
                    remote=str(remote or ""),
                    action=str(action),
                    target=str(target or ""),
                    result=str(result),
                    prev_hash=head[1] if head else GENESIS,
                    hash="",
                )
                entry = replace(draft, hash=entry_hash(draft.as_dict()))
                conn.execute("INSERT INTO audit VALUES(?,?,?,?,?,?,?,?,?)", tuple(entry.as_dict().values()))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except (OSError, sqlite3.Error) as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc}") from None
        return entry

    def entries(self, since: str | None = None, actor: str | None = None) -> list[Entry]:
        """Stored entries in ``seq`` order; ``since`` an ISO time (UTC)
        prefix compared as text, ``actor`` an exact actor name."""
        conn = self._read()
        if conn is None:
            return []
        sql, params = "SELECT * FROM audit WHERE 1=1", []
        if since:
            sql += " AND time >= ?"
            params.append(since)
        if actor:
            sql += " AND actor = ?"
            params.append(actor)
        return [Entry(*row) for row in conn.execute(sql + " ORDER BY seq", params)]

    def _read(self) -> sqlite3.Connection | None:
        try:
            return self._connect(create=False)
        except sqlite3.Error as exc:
            raise AuditError(f"cannot read the audit log {self.path}: {exc}") from None

    def anchor(self) -> Anchor | None:
        """Record the current head in ``anchors`` and return it (None for an empty log)."""
        conn = self._read()
        head = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone() if conn else None
        if conn is None or head is None:
            return None
        conn.execute("INSERT INTO anchors VALUES(?,?,?)", (head[0], head[1], _now()))
        return Anchor(head[0], head[1])

    def anchors(self) -> list[Anchor]:
        conn = self._read()
        if conn is None:
            return []
        return [Anchor(r[0], r[1]) for r in conn.execute("SELECT seq, hash FROM anchors ORDER BY seq")]

    def verify(self, extra: Iterable[Anchor] = ()) -> list[str]:
        """What is wrong with the chain, first bad entry first; empty when
        every entry hashes right, links to the one before, ``seq`` runs
        without a gap, and every anchor (stored and ``extra``) is on it."""
        try:
            rows = self.entries()
            anchors = [*self.anchors(), *extra]
        except (AuditError, sqlite3.Error) as exc:  # overwritten with something else
            return [f"the audit log cannot be read: {exc}"]
        problems = _chain_problems(rows)
        by_seq = {e.seq: e.hash for e in rows}
        for a in anchors:
            if a.seq not in by_seq:
                problems.append(
                    f"entry {a.seq} is missing: anchor {a} is past the end of the log"
                    f" ({len(rows)} entries); the log was truncated"
                )
            elif by_seq[a.seq] != a.hash:
                problems.append(f"entry {a.seq} does not match anchor {a}")
        return problems


def _chain_problems(rows: list[Entry]) -> list[str]:
    """Hash, link and numbering findings; stops at the first break (what
    follows a break cannot be trusted anyway)."""
    prev_hash, expected = GENESIS, 1
    for e in rows:
        if e.seq != expected:
            return [f"entry {expected} is missing (the next stored entry is {e.seq})"]
        if e.prev_hash != prev_hash:
            return [f"entry {e.seq} does not link to entry {e.seq - 1} (prev_hash differs)"]
        if entry_hash(e.as_dict()) != e.hash:
            return [f"entry {e.seq} was changed (its hash does not match its content)"]
        prev_hash, expected = e.hash, expected + 1
    return []
