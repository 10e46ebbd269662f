"""What ingest could not read, kept per source until it is read again.

An ingest that leaves something unread says so twice: on stderr for the
user who ran it, and in the catalog for ``stats`` (and whoever asks
later).  Each scan of a source replaces that source's rows, so the table
always describes the last scan of every source (table ``source_issues``
in ``catalog.SCHEMA``):

* a *skipped file* (``path`` set) is a file of the source that was not read,
  with a reason from ``ingest.safeio`` (``unreadable``,
  ``symlink-outside-source``...);
* an *incomplete* row means the archive may lack messages of the source
  (it broke off, or a file was unreadable): the source's cursor and
  fingerprint were not advanced, so the next ingest reads it again.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from coi_archive.ingest.safeio import INCOMPLETE_REASONS, TRUNCATED, Refused


@dataclass
class ScanIssues:
    """What one scan of one source left unread."""

    source: str
    skipped: list[Refused] = field(default_factory=list)
    #: why the scan broke off (a SourceError), if it did
    broken: str = ""

    def skip(self, refused: Iterable[Refused]) -> None:
        self.skipped.extend(refused)

    @property
    def incomplete(self) -> bool:
        return bool(self.broken) or any(r.reason in INCOMPLETE_REASONS for r in self.skipped)

    def summary(self) -> str:
        """One line: why the source is incomplete."""
        if self.broken:
            return self.broken
        unread = Counter(r.reason for r in self.skipped if r.reason in INCOMPLETE_REASONS)
        return ", ".join(f"{n} file(s) {reason}" for reason, n in sorted(unread.items()))


def record(conn: sqlite3.Connection, scan: ScanIssues, stamp: str) -> None:
    """Replace what the catalog knows of the source's unread parts (in the
    caller's transaction).  A directory that a walk could not enter is
    forgotten once a source inside it is read: it was entered this time."""
    conn.execute("DELETE FROM source_issues WHERE source=?", (scan.source,))
    conn.execute(
        "DELETE FROM source_issues WHERE source IN (SELECT source FROM source_issues WHERE path=source)"
        " AND substr(?, 1, length(source) + 1) = source || '/'",
        (scan.source,),
    )
    conn.executemany(
        "INSERT INTO source_issues(source, path, reason, detail, incomplete, seen) VALUES(?,?,?,?,?,?)",
        [(scan.source, r.path, r.reason, r.detail, int(r.reason in INCOMPLETE_REASONS), stamp) for r in scan.skipped],
    )
    if scan.incomplete:
        conn.execute(
            "INSERT INTO source_issues(source, path, reason, detail, incomplete, seen) VALUES(?,'',?,'',1,?)",
            (scan.source, scan.summary(), stamp),
        )


def stats(conn: sqlite3.Connection) -> dict[str, Any]:
    """``incomplete_sources`` ([{source, reason}]), ``skipped_files``
    ({reason: count}) and ``messages_truncated`` (stored copies kept only up
    to the size limit)."""
    incomplete = [
        {"source": r[0], "reason": r[1]}
        for r in conn.execute("SELECT source, reason FROM source_issues WHERE path='' ORDER BY source")
    ]
    skipped = dict(
        conn.execute(
            "SELECT reason, count(*) FROM source_issues WHERE path!='' GROUP BY reason ORDER BY reason"
        ).fetchall()
    )
    truncated = conn.execute(
        "SELECT count(*) FROM originals o WHERE o.defect_kinds LIKE ?"
        " AND EXISTS (SELECT 1 FROM json_each(o.defect_kinds) d WHERE d.value=?)",
        (f"%{TRUNCATED}%", TRUNCATED),
    ).fetchone()[0]
    return {"incomplete_sources": incomplete, "skipped_files": skipped, "messages_truncated": truncated}
