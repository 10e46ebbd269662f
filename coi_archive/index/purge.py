"""Purge: the one place where stored originals are deleted, on an explicit
command only, for messages the retention policy says have expired and no
hold covers.

What a purged Message-ID loses: every stored copy (``originals``), where
each copy was read (``provenance``), its wire rows (``wire``,
``wire_targets``, ``wire_refs``, ``wire_conflicts``), and, through the
owed-work queue (:mod:`.derived`), its place in the folded chats and its
search document; cached files named by the content hash of one of its
attachments (thumbnails under ``<archive>/cache/``) are removed too, and
so is every cached file made per archive version (analytics pages). What
stays: a row in ``tombstones`` per copy (Message-ID, SHA-256, date, first
seen, chat, why, when, by whom), so the deletion itself is on record and a
later ingest of the same bytes does not bring the message back.

Deleted pages are overwritten (``PRAGMA secure_delete``), the archive's
packing dictionaries, trained on its first copies, are replaced by ones
trained on what is left (:mod:`.repack`), the WAL is checkpointed and the
search index is compacted afterwards, so the bytes do not linger in free
pages, dictionaries or deleted-document segments.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import derived, messagedata, originaldata
from .errors import ArchiveError
from .holds import Searcher, expired, held_ids, now_iso
from .read_messages import attachment

CACHE_DIR = "cache"
#: The name of a content-addressed cached file: the SHA-256 of what it was made from.
_CONTENT_KEY = re.compile(r"[0-9a-f]{64}")


@dataclass
class PurgePlan:
    """What a purge would do: ``expired`` ids with why, and those of them
    kept because a hold covers them."""

    expired: dict[str, str]
    held: set[str]

    @property
    def doomed(self) -> list[str]:
        return sorted(set(self.expired) - self.held)


@dataclass
class PurgeReport:
    dry_run: bool
    purged: list[str]
    held: list[str]
    originals: int = 0
    chats: list[str] = field(default_factory=list)
    cache_files: int = 0

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "purged": len(self.purged),
            "held": len(self.held),
            "originals": self.originals,
            "chats": self.chats,
            "cache_files": self.cache_files,
            "message_ids": self.purged,
            "held_message_ids": self.held,
        }


def plan(conn: sqlite3.Connection, now: datetime, search: Searcher) -> PurgePlan:
    """Which messages have expired and which of those are held (nothing changes)."""
    gone = expired(conn, now)
    return PurgePlan(gone, held_ids(conn, search) & set(gone) if gone else set())


def _json(ids: list[str]) -> str:
    return json.dumps(ids)


def _affected_chats(conn: sqlite3.Connection, ids: str) -> list[str]:
    """Chats that show one of these messages or a message they aim at."""
    rows = conn.execute(
        "SELECT chat_id FROM wire WHERE chat_id IS NOT NULL AND message_id IN (SELECT value FROM json_each(?))"
        " UNION SELECT chat_id FROM messages WHERE message_id IN (SELECT value FROM json_each(?))"
        " UNION SELECT m.chat_id FROM wire_targets t JOIN messages m ON m.message_id=t.target"
        " WHERE t.message_id IN (SELECT value FROM json_each(?))",
        (ids, ids, ids),
    )
    return sorted({r[0] for r in rows})


def _attachment_hashes(conn: sqlite3.Connection, doomed: list[str]) -> set[str]:
    """SHA-256 of each attachment of these messages (the key of a cached file)."""
    out: set[str] = set()
    for mid, data in conn.execute(
        "SELECT message_id, data FROM messages WHERE has_attachment=1"
        " AND message_id IN (SELECT value FROM json_each(?))",
        (_json(doomed),),
    ):
        for att in messagedata.load(data).get("attachments", []):
            try:
                out.add(hashlib.sha256(attachment(conn, mid, att.get("part", ""))[2]).hexdigest())
            except (ArchiveError, ValueError, LookupError):
                continue
    return out


def _remove_cached(root: Path, hashes: set[str]) -> int:
    """Remove the cached files that may hold purged content: a file named
    by a content hash (``<sha256>.<ext>``, a thumbnail) when the hash is one
    of ``hashes``; any other cached file (made per archive version, such as
    the analytics pages, all stale once the archive changed) always."""
    count = 0
    for folder, _dirs, files in os.walk(root / CACHE_DIR):
        for name in files:
            stem = name.split(".", 1)[0]
            if stem in hashes or not _CONTENT_KEY.fullmatch(stem):
                os.unlink(os.path.join(folder, name))
                count += 1
    return count


def _bury(conn: sqlite3.Connection, the_plan: PurgePlan, by: str) -> None:
    """Tombstone each stored copy of the doomed messages, then delete the
    copies, their provenance, their wire rows, and the member lists and
    Autocrypt headers nothing left uses (in the caller's transaction)."""
    ids = _json(the_plan.doomed)
    conn.execute("PRAGMA secure_delete=ON")  # deleted pages are zeroed, not left in the free list
    conn.execute(
        "INSERT INTO tombstones(message_id, sha256, date, first_seen, chat_id, why, purged_at, purged_by)"
        " SELECT o.message_id, o.sha256, w.date, o.first_seen, w.chat_id, j.value, ?, ?"
        " FROM originals o JOIN json_each(?) j ON j.key=o.message_id LEFT JOIN wire w ON w.message_id=o.message_id",
        (now_iso(), by, json.dumps({m: the_plan.expired[m] for m in the_plan.doomed})),
    )
    in_ids = "IN (SELECT value FROM json_each(?))"
    conn.execute(
        f"DELETE FROM provenance_rows WHERE sha256 IN (SELECT sha256 FROM originals WHERE message_id {in_ids})", (ids,)
    )
    for table in ("originals", "wire", "wire_targets", "wire_refs", "wire_conflicts"):
        conn.execute(f"DELETE FROM {table} WHERE message_id {in_ids}", (ids,))
    conn.execute("DELETE FROM wire_members WHERE id NOT IN (SELECT members_id FROM wire WHERE members_id IS NOT NULL)")
    originaldata.drop_unused(conn)


def purge(
    conn: sqlite3.Connection, root: Path, the_plan: PurgePlan, by: str, dry_run: bool, settle: Callable[[], None]
) -> PurgeReport:
    """Carry out ``the_plan`` (or only report it with ``dry_run``);
    ``settle`` pays the owed derived work afterwards."""
    doomed = the_plan.doomed
    ids = _json(doomed)
    report = PurgeReport(dry_run, doomed, sorted(the_plan.held))
    report.chats = _affected_chats(conn, ids)
    report.originals = conn.execute(
        "SELECT count(*) FROM originals WHERE message_id IN (SELECT value FROM json_each(?))", (ids,)
    ).fetchone()[0]
    if dry_run or not doomed:
        return report
    hashes = _attachment_hashes(conn, doomed)
    _bury(conn, the_plan, by)
    derived.owe(conn, derived.FOLD, report.chats)
    derived.owe(conn, derived.FTS, doomed)
    derived.owe(conn, derived.CONTACTS, [derived.ALL])
    derived.owe(conn, derived.REPACK, [derived.ALL])
    report.cache_files = _remove_cached(root, hashes)  # derived files: removing early is harmless
    conn.commit()
    settle()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return report


def tombstones(conn: sqlite3.Connection) -> list[dict]:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name='tombstones'").fetchone() is None:
        return []
    return [dict(r) for r in conn.execute("SELECT * FROM tombstones ORDER BY purged_at, message_id, sha256")]
