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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

from coi_archive.ingest.events import (
    CONTROL_TYPES,
    GROUP_TYPES,
    ContactState,
    Envelope,
    GroupInfo,
    Post,
)

from . import envelopes, inlists
from .chatids import chat_id as chat_id_of
from .chatids import kind_of
from .versions import Copy, describe, effective_date, versions


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


class Facts(NamedTuple):
    """What a wire row holds of its envelope and what placement reads of
    it (:func:`facts_of`).  A decode worker sends them beside the packed
    envelope, so a message with one copy is stored and placed without
    unpacking that envelope again; a tuple, because it is pickled once per
    message."""

    dialect: str
    role: str
    date: str | None
    sender: str
    sender_name: str
    #: the decoder's members of the chat, JSON (``wire_members.members``)
    members: str
    #: the chat the decoder names (placement starts from it), None without one
    chat: str | None
    encrypted: int
    #: what its control events target, sorted (``wire_targets``)
    targets: tuple[str, ...]
    #: parent first, then the thread (``wire_refs``); only when placement
    #: follows references or may fall back
    refs: tuple[str, ...]
    follow_refs: bool
    #: the chat to fall back to, and what that choice reads
    fallback: str | None
    parents: tuple[str, ...]
    reached: tuple[str, ...]


def facts_of(env: Envelope, date: str | None) -> Facts:
    """The facts of ``env`` listed at ``date`` (its effective date)."""
    ref = env.chat
    head = (env.dialect, role_of(env), date, env.sender, env.sender_name)
    targets = tuple(sorted({e.target for e in env.events if isinstance(e, CONTROL_TYPES)}))
    if ref is None:
        return Facts(*head, "[]", None, int(env.encrypted), targets, (), False, None, (), ())
    members, chat = json.dumps(list(ref.members)), chat_id_of(ref)
    if ref.fallback is None:
        refs = tuple(_ref_order(env)) if ref.follow_refs else ()
        return Facts(*head, members, chat, int(env.encrypted), targets, refs, ref.follow_refs, None, (), ())
    parents = ([env.references[0]] if env.references else []) + ([env.in_reply_to] if env.in_reply_to else [])
    fallback, reached = chat_id_of(ref.fallback), (env.sender, *env.recipients)
    return Facts(
        *head, members, chat, int(env.encrypted), targets, tuple(_ref_order(env)), ref.follow_refs, fallback,
        tuple(parents), reached,
    )  # fmt: skip


def sole_copy_facts(env: Envelope, fmt: str) -> Facts:
    """The facts of the wire row :func:`canonical` gives a Message-ID whose
    only copy this is (one copy is its own version; its date is held to its
    own delivery evidence)."""
    return facts_of(env, effective_date([Copy("", fmt, env)]))


def load_envelope(conn: sqlite3.Connection, sha256: str) -> Envelope:
    row = conn.execute("SELECT envelope FROM originals WHERE sha256=?", (sha256,)).fetchone()
    return envelopes.load(row["envelope"])


def refresh(
    conn: sqlite3.Connection, message_ids: Iterable[str], sole: Mapping[str, tuple[str, Facts]] | None = None
) -> set[str]:
    """Recompute the wire rows of these Message-IDs; returns dirty chat ids.

    ``sole`` maps Message-IDs that have exactly one stored copy and no wire
    row yet to that copy's SHA-256 and :func:`sole_copy_facts` (what an
    ingest just decoded): they are written without reading their copies
    back.  One that has a wire row after all takes the full path."""
    fresh = _fresh(conn, sole or {})
    dirty: set[str] = set()
    moved: list[str] = []
    for mid in message_ids:
        if mid in fresh:
            sha, facts = fresh[mid]
            _write_wire(conn, mid, sha, facts, cleared=True)
        else:
            found = canonical(conn, mid)
            if found is None:
                _write_conflicts(conn, mid, None)
                continue
            sha, facts = found.sha256, facts_of(found.env, found.env.date)
            old = conn.execute("SELECT sha256, chat_id, date FROM wire WHERE message_id=?", (mid,)).fetchone()
            if old is not None and (old["sha256"], old["date"], _stored_conflicts(conn, mid)) == (
                sha,
                facts.date,
                found.conflicts,
            ):
                continue
            if old is not None:  # the chats of what it targeted before
                dirty |= target_chats(conn, mid)
            _write_wire(conn, mid, sha, facts)
            _write_conflicts(conn, mid, found.conflicts)
            if old is not None and old["chat_id"]:
                dirty.add(old["chat_id"])
        new_chat = place_facts(conn, facts)
        if new_chat:
            conn.execute("UPDATE wire SET chat_id=? WHERE message_id=?", (new_chat, mid))
            dirty.add(new_chat)
        if facts.targets:  # its targets, as just written
            dirty |= target_chats(conn, mid)
        moved.append(mid)
    dirty |= replace_dependents(conn, moved)
    return dirty


def _fresh(conn: sqlite3.Connection, sole: Mapping[str, tuple[str, Facts]]) -> dict[str, tuple[str, Facts]]:
    """The messages of ``sole`` without a wire row, with their (empty)
    targets, references and other versions cleared a chunk at a time
    rather than one statement per message."""
    kept = inlists.matching(conn, "SELECT message_id FROM wire WHERE message_id IN ({})", list(sole))
    fresh = {mid: sole[mid] for mid in sole if mid not in kept}
    for table in ("wire_targets", "wire_refs", "wire_conflicts"):
        for marks, chunk in inlists.chunks(list(fresh)):
            conn.execute(f"DELETE FROM {table} WHERE message_id IN ({marks})", chunk)
    return fresh


def _write_wire(conn: sqlite3.Connection, mid: str, sha: str, f: Facts, cleared: bool = False) -> None:
    """Write the wire row (chat not yet placed), its targets and references;
    ``cleared``: the old targets and references are already deleted."""
    # a member list is stored once (``wire_members``): a group's list repeats in each of its messages
    conn.execute("INSERT OR IGNORE INTO wire_members(members) VALUES(?)", (f.members,))
    conn.execute(
        "INSERT OR REPLACE INTO wire(message_id, sha256, dialect, role, date, sender, sender_name,"
        " members_id, chat_id, encrypted)"
        " VALUES(?,?,?,?,?,?,?,(SELECT id FROM wire_members WHERE members=?),NULL,?)",
        (mid, sha, f.dialect, f.role, f.date, f.sender, f.sender_name, f.members, f.encrypted),
    )
    if not cleared:
        conn.execute("DELETE FROM wire_targets WHERE message_id=?", (mid,))
        conn.execute("DELETE FROM wire_refs WHERE message_id=?", (mid,))
    if f.targets:
        conn.executemany("INSERT INTO wire_targets VALUES(?,?)", [(mid, t) for t in f.targets])
    if f.refs:
        conn.executemany("INSERT INTO wire_refs VALUES(?,?)", [(mid, r) for r in f.refs])


def _ref_order(env: Envelope) -> list[str]:
    """Parent first, then the thread from the newest to the root."""
    out: list[str] = []
    for ref in ([env.in_reply_to] if env.in_reply_to else []) + list(reversed(env.references)):
        if ref and ref not in out and ref != env.message_id:
            out.append(ref)
    return out


def place(conn: sqlite3.Connection, mid: str, env: Envelope) -> str | None:
    """The chat a wire message belongs to (``None`` for controls etc.)."""
    return place_facts(conn, facts_of(env, env.date))


def place_facts(conn: sqlite3.Connection, f: Facts) -> str | None:
    """:func:`place` from a message's :class:`Facts`."""
    if f.role not in PLACED_ROLES or f.chat is None:
        return None
    if f.follow_refs:
        for parent in f.refs:
            row = conn.execute("SELECT chat_id, role FROM wire WHERE message_id=?", (parent,)).fetchone()
            if row and row["chat_id"] and row["role"] in PLACED_ROLES and kind_of(row["chat_id"]) != "mail":
                return row["chat_id"]
    if f.fallback is not None:
        parent_members = _parent_members(conn, f.parents)
        if parent_members is not None and not set(parent_members) <= set(f.reached):
            return f.fallback
    return f.chat


def _parent_members(conn: sqlite3.Connection, parents: tuple[str, ...]) -> list[str] | None:
    for parent in parents:
        row = conn.execute(
            "SELECT l.members FROM wire w LEFT JOIN wire_members l ON l.id=w.members_id WHERE w.message_id=?",
            (parent,),
        ).fetchone()
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
    work = _referenced(conn, arrived)
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


def _referenced(conn: sqlite3.Connection, mids: list[str]) -> list[str]:
    """Those of ``mids`` that a stored reference names, in their order: a
    query per chunk instead of one per message (nothing in
    :func:`replace_dependents` writes ``wire_refs``, so the others would
    find no reply to place)."""
    if len(mids) < 2:
        return list(mids)
    named = inlists.matching(conn, "SELECT DISTINCT ref FROM wire_refs WHERE ref IN ({})", mids)
    return [m for m in mids if m in named]
