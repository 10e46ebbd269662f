"""The copies a source's earlier scans stored, as a scan needs them.

A scan compares what it finds with what is stored: a copy stored with the
same flags is not read again, one with other flags has them updated, and a
stored copy the scan did not find is marked gone.  For most sources the
intake reads the stored copies into a dict keyed by (folder, key).  For a
Maildir that dict was most of a re-scan's memory (~450 bytes a copy: 481 MB
at a million files), so a Maildir source gets a :class:`WalkedCopies`
instead: the reader walks each folder's stored copies in key order beside
its own sorted listing (``walk``) and names the stored copies its listing
lacks (``miss``); nothing proportional to the source is held.

Readers see only the ``state["known"]`` object, never this module
(``ingest`` imports nothing of ``index``): a reader that finds ``walk``
on it walks, any other uses the mapping methods both kinds share
(``get``, ``pop``, ``del``, iteration over what was not found).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from coi_archive.ingest.events import storable

#: Stored copies read by one statement of a walk: each page is a finished
#: statement, so the writes of the scan never meet an open cursor.
PAGE = 1024
#: A source's id in ``source_ids``, found by its name.
_SOURCE_ID = "(SELECT id FROM source_ids WHERE source=?)"
#: What the intake keeps of a stored copy: its flags and size.
Stored = tuple[str, int | None]


def known_copies(conn: sqlite3.Connection, source: str, kind: str) -> dict | WalkedCopies:
    """What the intake hands a reader as ``state["known"]`` for ``source``."""
    if kind == "maildir":
        return WalkedCopies(conn, source)
    rows = conn.cursor()
    rows.row_factory = None  # plain tuples: this reads every copy of the source
    rows.execute("SELECT folder, key, flags, size FROM provenance WHERE source=?", (source,))
    return {(folder, key): (flags, size) for folder, key, flags, size in rows}


class WalkedCopies:
    """The stored copies of one source, read a folder at a time in key order.

    :meth:`walk` gives a folder's (key, flags) by key (SQLite's ``BINARY``
    order, which for UTF-8 text is Python's order of ``str``); the reader
    reports each stored key its listing lacks with :meth:`miss`.  The intake
    asks :meth:`pop` about each copy the reader yields, and iterates what
    was missed (and every copy of a folder never walked) to mark it gone.
    A copy reported missed and then yielded anyway (listing and catalog
    disagreeing on order) is taken back by :meth:`pop`: it is not gone."""

    def __init__(self, conn: sqlite3.Connection, source: str) -> None:
        self._conn = conn
        self._source = source
        self._walked: set[str] = set()
        self._missed: set[tuple[str, str]] = set()
        self.empty = not conn.execute(
            f"SELECT EXISTS(SELECT 1 FROM provenance_rows WHERE source_id={_SOURCE_ID})", (source,)
        ).fetchone()[0]

    def walk(self, folder: str) -> Iterator[tuple[str, str]]:
        """(key, flags) of the copies stored for ``folder``, by key (a folder
        named as the file system gives it: stored names are ``storable``)."""
        folder = storable(folder)
        self._walked.add(folder)
        if self.empty:
            return
        after = ""
        while True:
            rows = self._conn.execute(
                f"SELECT key, flags FROM provenance_rows WHERE source_id={_SOURCE_ID} AND folder=? AND key>?"
                " ORDER BY key LIMIT ?",
                (self._source, folder, after, PAGE),
            ).fetchall()
            yield from ((key, flags) for key, flags in rows)
            if len(rows) < PAGE:
                return
            after = rows[-1][0]

    def keep(self, folder: str) -> None:
        """``folder`` is unchanged since the last complete scan (the reader
        did not list it): every copy stored for it is still there."""
        self._walked.add(storable(folder))

    def miss(self, folder: str, key: str) -> None:
        """The reader's listing of ``folder`` lacks the stored ``key``."""
        self._missed.add((storable(folder), key))

    def get(
        self, copy: tuple[str, str], default: tuple[str, int | None] | None = None
    ) -> tuple[str, int | None] | None:
        """(flags, size) of a stored copy, else ``default``."""
        if self.empty:
            return default
        row = self._conn.execute(
            f"SELECT flags, size FROM provenance_rows WHERE source_id={_SOURCE_ID} AND folder=? AND key=?",
            (self._source, *copy),
        ).fetchone()
        return default if row is None else (row[0], row[1])

    def pop(
        self, copy: tuple[str, str], default: tuple[str, int | None] | None = None
    ) -> tuple[str, int | None] | None:
        """:meth:`get`, and the copy was found (not gone)."""
        self._missed.discard(copy)
        return self.get(copy, default)

    def __delitem__(self, copy: tuple[str, str]) -> None:
        self._missed.discard(copy)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """The stored copies not found: those reported missed, and every
        copy of a folder that was not walked (a folder gone as a whole)."""
        yield from sorted(self._missed)
        if self.empty:
            return
        for folder in self._folders():
            if folder not in self._walked:
                yield from ((folder, key) for key, _ in self.walk(folder))

    def _folders(self) -> list[str]:
        """The folders with stored copies: one index seek per folder (a
        ``DISTINCT`` would visit every copy)."""
        rows = self._conn.execute(
            f"""WITH RECURSIVE f(folder) AS (
                SELECT min(folder) FROM provenance_rows WHERE source_id={_SOURCE_ID}
                UNION ALL
                SELECT (SELECT min(folder) FROM provenance_rows WHERE source_id={_SOURCE_ID} AND folder>f.folder)
                FROM f WHERE f.folder IS NOT NULL)
            SELECT folder FROM f WHERE folder IS NOT NULL""",
            (self._source, self._source),
        )
        return [r[0] for r in rows]
