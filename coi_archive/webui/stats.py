"""The completeness report (``/stats``), the same numbers as
``coi-archive stats``: every message read is in exactly one bucket.  The
page says each number in words; the keys and role codes stay in the JSON
twin (``/api/stats``) and in a "details" disclosure."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template

from .state import archive, chat_index

bp = Blueprint("stats", __name__)

#: What each number of the report means, in words.
LABELS = {
    "messages_seen": "Messages read (every copy)",
    "unique_messages": "Different messages",
    "duplicates": "Further copies of a message already read",
    "chat_messages": "Chat messages",
    "mail_messages": "E-mails",
    "encrypted_undecrypted": "Encrypted messages that could not be read (no key)",
    "parse_errors": "Files that could not be read as mail",
    "chats": "Chats",
    "originals": "Original files kept",
    "copies_gone_from_source": "Kept here but gone from their source",
    "messages_with_defects": "Messages with defects (the original is kept as it was)",
    "defects_by_kind": "Defects by kind",
    "orphan_actions": "Edits, deletions or reactions whose message is not in the archive",
    "conflicting_messages": "Messages with conflicting copies",
    "by_role": "What the messages are",
    "by_dialect": "Written by",
    "sources": "Sources read",
    "incomplete_sources": "Sources not read completely",
    "skipped_files": "Files skipped",
    "messages_truncated": "Messages cut at the size limit",
    "decrypted": "Messages decrypted",
    "undecryptable_by_reason": "Messages that could not be decrypted, by reason",
    "signatures": "Signatures",
}

#: Values inside the breakdowns, in words.
VALUE_LABELS = {
    "post": "messages shown in chats",
    "control": "edits, deletions, reactions and receipts",
    "system": "member and name changes",
    "contact": "contact and profile updates",
    "state": "group state updates",
    "hidden": "protocol messages (not shown)",
    "coi": "COI",
    "coi-early": "early COI",
    "deltachat": "Delta Chat",
    "mail": "ordinary e-mail",
    "not-mail": "not mail",
    "valid": "valid",
    "invalid": "invalid",
    "unknown": "key unknown",
    "unsigned": "unsigned",
}


def readable(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """The report as rows of ``{label, value, parts}``: ``parts`` lists a
    breakdown as ``(words, count)``."""
    rows = []
    for key, value in stats.items():
        label = LABELS.get(key, key.replace("_", " ").capitalize())
        if isinstance(value, dict):
            parts = [
                (VALUE_LABELS.get(str(k), str(k).replace("_", " ").replace("-", " ")), v)
                for k, v in sorted(value.items(), key=lambda kv: (-kv[1] if isinstance(kv[1], int) else 0, str(kv[0])))
            ]
            rows.append({"key": key, "label": label, "value": None, "parts": parts})
        elif isinstance(value, list):
            rows.append({"key": key, "label": label, "value": ", ".join(map(str, value)) or "none", "parts": []})
        else:
            rows.append({"key": key, "label": label, "value": value, "parts": []})
    return rows


@bp.get("/stats")
def stats():
    report = archive().stats()
    return render_template("stats.html", rows=readable(report), stats=report, chats=len(chat_index()))


@bp.get("/api/stats")
def api_stats():
    return jsonify(archive().stats())
