"""The completeness report (``coi-archive stats``, ``/stats``): every input
copy is in exactly one bucket.  :class:`index.api.Archive` delegates here."""

from __future__ import annotations

import sqlite3
from typing import Any

from coi_archive.ingest.events import Quality

from . import issues
from .wire import READABLE_ROLES

__all__ = ["stats", "totals"]


def totals(conn: sqlite3.Connection) -> dict[str, int]:
    """The two numbers the ingest summary line prints: cheap, unlike
    :func:`stats`, whose scans of every envelope made up most of an
    unchanged re-scan (about 2 of its 3 seconds at 20,000 messages)."""
    return {
        "unique_messages": conn.execute("SELECT count(*) FROM wire").fetchone()[0],
        "chats": conn.execute("SELECT count(*) FROM chats").fetchone()[0],
    }


def stats(conn: sqlite3.Connection) -> dict[str, Any]:
    """The completeness report: every input copy is in exactly one bucket."""
    q = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    roles = dict(conn.execute("SELECT role, count(*) FROM wire GROUP BY role").fetchall())
    dialects = dict(conn.execute("SELECT dialect, count(*) FROM wire GROUP BY dialect").fetchall())
    # Each bucket is counted from its own predicate, none by subtraction,
    # so the identities in the README (seen = unique + duplicates, unique =
    # chat + mail + encrypted + errors) are checks that can fail.
    seen = q("SELECT count(*) FROM provenance")
    unique = q("SELECT count(*) FROM wire")
    duplicates = q(
        "SELECT count(*) FROM (SELECT row_number() OVER (PARTITION BY o.message_id"
        " ORDER BY p.source, p.folder, p.key) AS n FROM provenance p JOIN originals o"
        " ON o.sha256=p.sha256) WHERE n > 1"
    )
    encrypted = q("SELECT count(*) FROM wire WHERE role='encrypted'")
    errors = q("SELECT count(*) FROM wire WHERE role='unparseable'")
    readable = f"role IN ({', '.join(repr(r) for r in READABLE_ROLES)})"
    mail = q(
        f"SELECT count(*) FROM wire WHERE {readable} AND"
        " (substr(chat_id, 1, 5) IN ('mail-', 'list-') OR (chat_id IS NULL AND dialect='mail'))"
    )
    chat = q(
        f"SELECT count(*) FROM wire WHERE {readable} AND"
        " ((chat_id IS NOT NULL AND substr(chat_id, 1, 5) NOT IN ('mail-', 'list-'))"
        " OR (chat_id IS NULL AND dialect!='mail'))"
    )
    return {
        "messages_seen": seen,
        "unique_messages": unique,
        "duplicates": duplicates,
        "chat_messages": chat,
        "mail_messages": mail,
        "encrypted_undecrypted": encrypted,
        "parse_errors": errors,
        "chats": q("SELECT count(*) FROM chats"),
        "originals": q("SELECT count(*) FROM originals"),
        "copies_gone_from_source": q("SELECT count(*) FROM provenance WHERE gone=1"),
        "messages_with_defects": q(
            "SELECT count(*) FROM wire w JOIN originals o ON o.sha256=w.sha256 WHERE o.defect_kinds != '[]'"
        ),
        "defects_by_kind": _defects_by_kind(conn),
        "orphan_actions": q(
            "SELECT count(DISTINCT t.message_id) FROM wire_targets t"
            " LEFT JOIN wire w ON w.message_id=t.target WHERE w.message_id IS NULL"
        ),
        "conflicting_messages": q("SELECT count(*) FROM wire_conflicts"),
        "by_role": roles,
        "by_dialect": dialects,
        "sources": q("SELECT count(*) FROM sources"),
        **issues.stats(conn),
        **_crypto_stats(conn),
    }


def _defects_by_kind(conn: sqlite3.Connection) -> dict[str, int]:
    """Messages per defect kind (``ingest.events.Defect``), from the kinds
    stored beside each envelope (a ``Kind:detail`` string of an envelope
    stored before defects had a structure counts by its kind)."""
    return dict(
        conn.execute(
            "SELECT d.value AS kind, count(DISTINCT w.message_id)"
            " FROM wire w JOIN originals o ON o.sha256=w.sha256, json_each(o.defect_kinds) d"
            " WHERE o.defect_kinds != '[]' GROUP BY kind ORDER BY kind"
        ).fetchall()
    )


def _crypto_stats(conn: sqlite3.Connection) -> dict[str, Any]:
    """``decrypted`` (canonical copies opened with a key),
    ``undecryptable_by_reason`` and signature verdicts of the decrypted."""
    canon = "FROM wire w JOIN originals o ON o.sha256=w.sha256"
    reasons = dict(
        conn.execute(
            "SELECT coalesce(json_extract(envelope_json(o.envelope), '$.events[0].reason'), 'unknown'), count(*)"
            f" {canon} WHERE w.role='encrypted' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    sigs = {"valid": 0, "invalid": 0, "unknown": 0, "unsigned": 0}
    for status, n in conn.execute(
        "SELECT coalesce(json_extract(envelope_json(o.envelope), '$.signature[0]'), 'unsigned'), count(*)"
        f" {canon} WHERE o.quality=? GROUP BY 1",
        (Quality.DECRYPTED,),
    ):
        sigs[status] = sigs.get(status, 0) + n
    return {
        "decrypted": conn.execute(f"SELECT count(*) {canon} WHERE o.quality=?", (Quality.DECRYPTED,)).fetchone()[0],
        "undecryptable_by_reason": reasons,
        "signatures": sigs,
    }
