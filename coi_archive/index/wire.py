"""Layer 2 of the catalog: one canonical wire row per Message-ID, and where
it is placed.

The copies of a Message-ID are grouped into versions and one version is
shown (see :mod:`.versions`: authenticity first, then the earliest delivery
evidence, never a hash an attacker can grind); the other versions are kept
in ``wire_conflicts`` and shown beside it.  The wire row carries the shown
version's best copy and its effective date (the sender's Date held to the
delivery evidence).  All of it depends only on the set of copies, never on
their order.
Placement follows the decoder's :class:`ChatRef`, except for mail replies
(``follow_refs``) that join the chat of the message they answer and legacy
replies (``fallback``) that did not reach every member.  When a message
arrives, the replies that point at it are placed again, so the result is
the same whichever came first.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, replace

from coi_archive.ingest.events import (
    CONTROL_TYPES,
    GROUP_TYPES,
    ContactState,
    Envelope,
    GroupInfo,
    Post,
)

from . import envelopes
from .chatids import chat_id as chat_id_of
from .chatids import kind_of
from .versions import Copy, describe, versions


def role_of(env: Envelope) -> str:
    """What a wire message is, for placement and the completeness report."""
    if env.dialect == "unparseable":
        return "unparseable"
    if env.dialect == "encrypted":
        return "encrypted"
    types = {type(e) for e in env.events}
    if Post in types:
        return "post"
    if types & set(GROUP_TYPES):
        return "system"
    if GroupInfo in types:
        return "state"
    if types & set(CONTROL_TYPES):
        return "control"
    if ContactState in types:
        return "contact"
    return "hidden"


PLACED_ROLES = ("post", "system", "state")
#: Every role ``role_of`` gives to a message that could be read.
READABLE_ROLES = (*PLACED_ROLES, "control", "contact", "hidden")


@dataclass(frozen=True)
class Choice:
    """What the wire row of one Message-ID holds: the shown version's best
    copy, its envelope with the effective date, and the other versions (JSON,
    ``None`` when every copy is the same message)."""

    sha256: str
    env: Envelope
    conflicts: str | None


def canonical(conn: sqlite3.Connection, message_id: str) -> Choice | None:
    rows = conn.execute("SELECT sha256, format, envelope FROM originals WHERE message_id=?", (message_id,)).fetchall()
    if not rows:
        return None
    found = versions(Copy(r["sha256"], r["format"], envelopes.load(r["envelope"])) for r in rows)
    shown = found[0]
    others = [describe(v, role_of(v.best.env)) for v in found[1:]]
    conflicts = json.dumps(others, ensure_ascii=False, sort_keys=True) if others else None
    return Choice(shown.best.sha256, replace(shown.best.env, date=shown.date), conflicts)


def _stored_conflicts(conn: sqlite3.Connection, mid: str) -> str | None:
    row = conn.execute("SELECT versions FROM wire_conflicts WHERE message_id=?", (mid,)).fetchone()
    return row[0] if row else None


def _write_conflicts(conn: sqlite3.Connection, mid: str, conflicts: str | None) -> None:
    if conflicts is None:
        conn.execute("DELETE FROM wire_conflicts WHERE message_id=?", (mid,))
    else:
        conn.execute("INSERT OR REPLACE INTO wire_conflicts VALUES(?,?)", (mid, conflicts))


def load_envelope(conn: sqlite3.Connection, sha256: str) -> Envelope:
    row = conn.execute("SELECT envelope FROM originals WHERE sha256=?", (sha256,)).fetchone()
    return envelopes.load(row["envelope"])


def refresh(conn: sqlite3.Connection, message_ids: Iterable[str]) -> set[str]:
    """Recompute the wire rows of these Message-IDs; returns dirty chat ids."""
    dirty: set[str] = set()
    moved: list[str] = []
    for mid in message_ids:
        found = canonical(conn, mid)
        if found is None:
            _write_conflicts(conn, mid, None)
            continue
        sha, env = found.sha256, found.env
        old = conn.execute("SELECT sha256, chat_id, date FROM wire WHERE message_id=?", (mid,)).fetchone()
        if old is not None and (old["sha256"], old["date"], _stored_conflicts(conn, mid)) == (
            sha,
            env.date,
            found.conflicts,
        ):
            continue
        if old is not None:  # the chats of what it targeted before
            dirty |= target_chats(conn, mid)
        _write_wire(conn, mid, sha, env)
        _write_conflicts(conn, mid, found.conflicts)
        new_chat = place(conn, mid, env)
        conn.execute("UPDATE wire SET chat_id=? WHERE message_id=?", (new_chat, mid))
        if old is not None and old["chat_id"]:
            dirty.add(old["chat_id"])
        if new_chat:
            dirty.add(new_chat)
        if any(isinstance(e, CONTROL_TYPES) for e in env.events):  # its targets, as just written
            dirty |= target_chats(conn, mid)
        moved.append(mid)
    dirty |= replace_dependents(conn, moved)
    return dirty


def _write_wire(conn: sqlite3.Connection, mid: str, sha: str, env: Envelope) -> None:
    role = role_of(env)
    hint = chat_id_of(env.chat) if env.chat is not None else None
    members = json.dumps(list(env.chat.members) if env.chat else [])
    conn.execute(
        "INSERT OR REPLACE INTO wire(message_id, sha256, dialect, role, date, sender, sender_name,"
        " members, chat_hint, chat_id, encrypted) VALUES(?,?,?,?,?,?,?,?,?,NULL,?)",
        (mid, sha, env.dialect, role, env.date, env.sender, env.sender_name, members, hint, int(env.encrypted)),
    )
    conn.execute("DELETE FROM wire_targets WHERE message_id=?", (mid,))
    conn.execute("DELETE FROM wire_refs WHERE message_id=?", (mid,))
    targets = {e.target for e in env.events if isinstance(e, CONTROL_TYPES)}
    conn.executemany("INSERT INTO wire_targets VALUES(?,?)", [(mid, t) for t in sorted(targets)])
    if env.chat is not None and (env.chat.follow_refs or env.chat.fallback is not None):
        refs = _ref_order(env)
        conn.executemany("INSERT INTO wire_refs VALUES(?,?)", [(mid, r) for r in refs])


def _ref_order(env: Envelope) -> list[str]:
    """Parent first, then the thread from the newest to the root."""
    out: list[str] = []
    for ref in ([env.in_reply_to] if env.in_reply_to else []) + list(reversed(env.references)):
        if ref and ref not in out and ref != env.message_id:
            out.append(ref)
    return out


def place(conn: sqlite3.Connection, mid: str, env: Envelope) -> str | None:
    """The chat a wire message belongs to (``None`` for controls etc.)."""
    if role_of(env) not in PLACED_ROLES or env.chat is None:
        return None
    ref = env.chat
    if ref.follow_refs:
        for parent in _ref_order(env):
            row = conn.execute("SELECT chat_id, role FROM wire WHERE message_id=?", (parent,)).fetchone()
            if row and row["chat_id"] and row["role"] in PLACED_ROLES and kind_of(row["chat_id"]) != "mail":
                return row["chat_id"]
    if ref.fallback is not None:
        parent_members = _parent_members(conn, env)
        reached = {env.sender, *env.recipients}
        if parent_members is not None and not set(parent_members) <= reached:
            return chat_id_of(ref.fallback)
    return chat_id_of(ref)


def _parent_members(conn: sqlite3.Connection, env: Envelope) -> list[str] | None:
    for parent in ([env.references[0]] if env.references else []) + ([env.in_reply_to] if env.in_reply_to else []):
        row = conn.execute("SELECT members FROM wire WHERE message_id=?", (parent,)).fetchone()
        if row is not None:
            return json.loads(row["members"])
    return None


#: From a control message down its targets, through targets that are
#: themselves unplaced controls (an edit of an edit ...), however long the
#: chain; UNION (not UNION ALL) drops a row seen before, so a cycle ends.
_TARGET_CHATS = """
WITH RECURSIVE chain(message_id) AS (
    SELECT target FROM wire_targets WHERE message_id=?
    UNION
    SELECT t.target FROM chain JOIN wire w ON w.message_id=chain.message_id AND coalesce(w.chat_id, '')=''
    JOIN wire_targets t ON t.message_id=chain.message_id
)
SELECT DISTINCT w.chat_id FROM chain JOIN wire w ON w.message_id=chain.message_id WHERE w.chat_id<>''
"""


def target_chats(conn: sqlite3.Connection, mid: str) -> set[str]:
    """Chats holding what a control message targets (following chains)."""
    return {row[0] for row in conn.execute(_TARGET_CHATS, (mid,))}


def replace_dependents(conn: sqlite3.Connection, arrived: list[str]) -> set[str]:
    """Place again every floating reply that references a message which just
    arrived or moved; cascades through reply chains."""
    dirty: set[str] = set()
    work = list(arrived)
    seen: set[str] = set()
    while work:
        mid = work.pop()
        for row in conn.execute(
            "SELECT DISTINCT r.message_id, w.sha256, w.chat_id FROM wire_refs r"
            " JOIN wire w ON w.message_id=r.message_id WHERE r.ref=?",
            (mid,),
        ).fetchall():
            child = row["message_id"]
            if child in seen:
                continue
            seen.add(child)
            env = load_envelope(conn, row["sha256"])
            new_chat = place(conn, child, env)
            if new_chat != row["chat_id"]:
                conn.execute("UPDATE wire SET chat_id=? WHERE message_id=?", (new_chat, child))
                for c in (row["chat_id"], new_chat):
                    if c:
                        dirty.add(c)
                work.append(child)
    return dirty
