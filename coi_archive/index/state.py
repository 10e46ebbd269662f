"""Layer 3 of the catalog: write the fold of each dirty chat, and the
contacts derived from all wire messages."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from coi_archive.ingest.events import ContactState

from . import derived, envelopes, messagedata
from .chatids import kind_of
from .fold import ChatFold, ChatFolder, Wire
from .order import NO_ARRIVAL, Arrival, arrival, chat_order

#: A row of ``_WIRE_COLUMNS``: from SQL, or put together by :func:`load_piece`.
Row = sqlite3.Row | tuple[Any, ...]

_DERIVED = ("messages", "reactions", "receipts", "memberships", "name_history")


#: The columns ``_wires_of`` reads: the wire row, its envelope, the
#: effective date the wire layer decided (held to the delivery evidence) and
#: the other versions of its Message-ID (``wire_conflicts``).
_WIRE_COLUMNS = "SELECT w.message_id, w.role, o.envelope, w.date, c.versions FROM "
_WIRE_JOINS = " JOIN originals o ON o.sha256=w.sha256 LEFT JOIN wire_conflicts c ON c.message_id=w.message_id"


#: What of an envelope the fold and the order read (``fold``, ``order``):
#: only these are built from the stored JSON (headers, defects, addressees
#: and the rest keep their defaults; ``tests/test_fold_pieces.py`` checks
#: that the fold reads no other).
FOLDED_FIELDS = frozenset(
    ("message_id", "sha256", "dialect", "date", "sender", "sender_name", "recipients", "subject")
    + ("in_reply_to", "references", "chat", "events", "encrypted", "signature")
)


def _wires_of(rows: list[Row], arrivals: dict[str, Arrival]) -> list[Wire]:
    """The wires of these rows (``_WIRE_COLUMNS``), with their arrival
    evidence: posts and controls alike are taken in that order within one
    second."""
    out = []
    for mid, role, blob, date, conflicts in rows:
        env = envelopes.load(blob, FOLDED_FIELDS)
        if date != env.date:
            env = replace(env, date=date)
        out.append(
            Wire(
                message_id=mid,
                role=role,
                env=env,
                conflicts=json.loads(conflicts) if conflicts else [],
                arrival=arrivals.get(mid, NO_ARRIVAL),
            )
        )
    return out


def _arrivals(conn: sqlite3.Connection, mids: list[str]) -> dict[str, Arrival]:
    """Per Message-ID the earliest arrival evidence over all its copies
    (``order.arrival``: Maildir delivery time, else a container position),
    which orders messages of the same second that no reply links."""
    if not mids:  # nearly every piece: no two of its messages share a second
        return {}
    copies: dict[str, list[tuple[str, str, str, str]]] = {}
    for r in conn.execute(
        "SELECT o.message_id, s.kind, p.source, p.folder, p.key FROM originals o"
        " JOIN provenance p ON p.sha256=o.sha256 LEFT JOIN sources s ON s.source=p.source"
        " WHERE o.message_id IN (SELECT value FROM json_each(?))",
        (json.dumps(mids),),
    ):
        copies.setdefault(r[0], []).append((r[1] or "", r[2], r[3], r[4]))
    return {mid: arrival(found) for mid, found in copies.items()}


def _controls_sql(aimed_at: str) -> str:
    """The controls aimed at the messages ``aimed_at`` selects (its column
    ``id``), and those aimed at such controls (COI edits point at the
    previous edit), however long the chain; UNION (not UNION ALL) drops a
    row seen before, so a cycle ends.  The chain starts at the controls
    aimed at the messages, so the messages themselves are not looked up
    again (``_with_controls`` adds one that is itself a control)."""
    step = "JOIN wire w ON w.message_id=t.message_id AND w.role='control'"
    return f"""
WITH RECURSIVE chain(message_id) AS (
    SELECT t.message_id FROM ({aimed_at}) m JOIN wire_targets t ON t.target=m.id {step}
    UNION
    SELECT t.message_id FROM chain JOIN wire_targets t ON t.target=chain.message_id {step}
)
{_WIRE_COLUMNS}chain JOIN wire w ON w.message_id=chain.message_id
{_WIRE_JOINS} WHERE w.role='control' ORDER BY w.message_id
"""


#: The controls folded into one chat.
_CHAT_CONTROLS = _controls_sql("SELECT message_id AS id FROM wire WHERE chat_id=?")


def _with_controls(
    conn: sqlite3.Connection, posts: list[Row], controls_sql: str, key: str
) -> tuple[list[Wire], list[Wire]]:
    """The wires of these posts (rows of ``_WIRE_COLUMNS``) and of the
    controls ``controls_sql`` selects for ``key``, with the arrival
    evidence of both read in one query (of those that need it,
    :func:`_sharing_a_second`)."""
    controls = conn.execute(controls_sql, (key,)).fetchall()
    placed_controls = [r for r in posts if r[1] == "control"]  # none today: the wire layer places no control
    if placed_controls:
        controls = sorted({r[0]: r for r in controls + placed_controls}.values(), key=lambda r: r[0])
    arrivals = _arrivals(conn, _sharing_a_second(posts) + _sharing_a_second(controls))
    return _wires_of(posts, arrivals), _wires_of(controls, arrivals)


def _sharing_a_second(rows: list[Row]) -> list[str]:
    """The Message-IDs of the rows (``_WIRE_COLUMNS``) whose date another
    row of the list shares (the undated count as one date).  Only these need
    their arrival evidence: ``order.chat_order`` compares it within a second
    of one list, and reading it costs four random lookups a message
    (``originals_mid``, the original, ``provenance_sha``, the provenance
    row), which at a million messages miss the page cache."""
    seconds = Counter(r[3] or "" for r in rows)
    return [r[0] for r in rows if seconds[r[3] or ""] > 1]


def load_chat_wires(conn: sqlite3.Connection, chat_id: str) -> tuple[list[Wire], list[Wire]]:
    """The posts placed in one chat and the controls aimed at them."""
    posts = conn.execute(f"{_WIRE_COLUMNS}wire w{_WIRE_JOINS} WHERE w.chat_id=?", (chat_id,)).fetchall()
    return _with_controls(conn, posts, _CHAT_CONTROLS, chat_id)


#: Posts folded together: a chat is read from the catalog, folded and
#: written a piece at a time, so memory does not grow with the chat.
PIECE = 1000
#: ... and the addresses a piece's envelopes may carry (each wire's sender
#: and recipients): a group's every message names all its members, so a
#: piece of a large group holds many times a direct chat's (:func:`_piece_size`).
PIECE_ADDRESSES = 8000
#: ... and the posts of a chat's first piece, before any of its envelopes is read.
FIRST_PIECE = 100

#: The controls aimed at one piece's posts (``json_each`` of their ids).
_PIECE_CONTROLS = _controls_sql("SELECT value AS id FROM json_each(?)")

#: A placed wire row as :func:`_pieces` carries it through its sort:
#: Message-ID, role, the SHA-256 of the shown copy, the date.
Placed = tuple[str, str, str, str | None]
_PLACED = "SELECT message_id, role, sha256, date FROM wire"


def _pieces(conn: sqlite3.Connection, chat_id: str, size: Callable[[], int] = lambda: PIECE) -> Iterator[list[Placed]]:
    """The wire rows placed in the chat in date order (undated last), cut
    into pieces of about ``size()`` posts between two seconds (the undated
    ones are one piece): ``order.chat_order`` orders within a second.  The
    rows carry what :func:`load_piece` needs of them: looking each up again
    by its Message-ID, in date order, was a random page read a message
    once the wire table outgrew the page cache."""
    rows = conn.execute(f"{_PLACED} WHERE chat_id=? ORDER BY (date IS NULL OR date=''), date", (chat_id,))
    piece: list[Placed] = []
    last: str | None = None
    for row in rows:
        date = row[3]
        if len(piece) >= size() and date and date != last:
            yield piece
            piece = []
        piece.append(tuple(row))  # type: ignore[arg-type]  # a Row of the four columns of _PLACED
        last = date
    if piece:
        yield piece


def _piece_size(posts: list[Wire], controls: list[Wire]) -> int:
    """Posts in the next piece of a chat, after one of ``posts`` with
    ``controls``: :data:`PIECE`, fewer where the addresses in its envelopes
    would pass :data:`PIECE_ADDRESSES`.  A piece of 1,000 posts of the
    benchmark's largest group (28 addresses a message) held ~15 MB of
    envelopes while it was folded, a direct chat's a tenth of that: at
    1,000,000 messages the ingest's peak falls in that group's fold."""
    addresses = sum(len(w.env.recipients) + 1 for w in (*posts, *controls))
    per_post = addresses / max(len(posts), 1)
    return max(1, min(PIECE, int(PIECE_ADDRESSES / per_post)))


def placed(conn: sqlite3.Connection, mids: list[str]) -> list[Placed]:
    """The wire rows of these Message-IDs, as :func:`_pieces` gives them."""
    return [
        tuple(r)  # type: ignore[misc]  # a Row of the four columns of _PLACED
        for r in conn.execute(f"{_PLACED} WHERE message_id IN (SELECT value FROM json_each(?))", (json.dumps(mids),))
    ]


def load_piece(conn: sqlite3.Connection, piece: list[Placed]) -> tuple[list[Wire], list[Wire]]:
    """The wires of these placed rows, and the controls aimed at them.  The
    envelopes are read by the copies' hashes, in hash order (the index's
    order); a row whose original is gone is left out, as a join would."""
    shas = json.dumps(sorted({p[2] for p in piece}))
    mids = json.dumps([p[0] for p in piece])
    envelope_of = dict(
        conn.execute("SELECT sha256, envelope FROM originals WHERE sha256 IN (SELECT value FROM json_each(?))", (shas,))
    )
    versions = dict(
        conn.execute(
            "SELECT message_id, versions FROM wire_conflicts WHERE message_id IN (SELECT value FROM json_each(?))",
            (mids,),
        )
    )
    posts: list[Row] = [
        (mid, role, envelope_of[sha], date, versions.get(mid)) for mid, role, sha, date in piece if sha in envelope_of
    ]
    return _with_controls(conn, posts, _PIECE_CONTROLS, mids)


def refold(
    conn: sqlite3.Connection,
    chat_ids: Iterable[str],
    on_folded: Callable[[str], None] | None = None,
    after_piece: Callable[[], object] | None = None,
) -> None:
    """Recompute these chats in the order given, each in one transaction
    with the search documents it changed owed (``derived.FTS``); ``on_folded``
    is told each chat id as soon as that chat is written, ``after_piece`` is
    called after each piece is written (a chat has one or more)."""
    for chat_id in dict.fromkeys(chat_ids):
        _refold_chat(conn, chat_id, after_piece)
        derived.paid(conn, derived.FOLD, [chat_id])
        if on_folded is not None:
            on_folded(chat_id)


def _refold_chat(conn: sqlite3.Connection, chat_id: str, after_piece: Callable[[], object] | None = None) -> None:
    """Fold one chat a piece at a time.  Its old messages are marked stale
    (a negative ``seq``) and replaced as the pieces are written: a message
    whose document changed is owed to the index, and one left stale at the
    end has disappeared from the chat.  A chat without a record has no rows
    in the derived tables (they are written with the record, in one
    transaction), so a new chat costs no statement for its old state."""
    old = conn.execute("SELECT name, kind, group_id FROM chats WHERE chat_id=?", (chat_id,)).fetchone()
    stale = 0
    if old is not None:
        stale = conn.execute("UPDATE messages SET seq=-1-seq WHERE chat_id=?", (chat_id,)).rowcount
        for table in _DERIVED[1:]:
            conn.execute(f"DELETE FROM {table} WHERE chat_id=?", (chat_id,))
    folder = ChatFolder(chat_id)
    held: ChatFold | None = None  # the last piece is written with the chat record

    def write(fold: ChatFold) -> None:
        write_fold(conn, chat_id, fold, stale=stale > 0)
        if after_piece is not None:
            after_piece()

    size = [min(PIECE, FIRST_PIECE)]  # read by _pieces at each cut, set as each piece is loaded
    for rows in _pieces(conn, chat_id, lambda: size[0]):
        posts, controls = load_piece(conn, rows)
        size[0] = _piece_size(posts, controls)
        piece = folder.feed(chat_order(posts), controls)
        if held is not None:
            write(held)
        held = piece
    if held is not None:
        end = folder.finish()
        held.chat, held.memberships, held.name_history = end.chat, end.memberships, end.name_history
        write(held)
    if stale:
        gone = [r[0] for r in conn.execute("SELECT message_id FROM messages WHERE chat_id=? AND seq<0", (chat_id,))]
        derived.owe(conn, derived.FTS, gone)
        conn.execute("DELETE FROM messages WHERE chat_id=? AND seq<0", (chat_id,))
    if held is None:
        if old is not None:
            conn.execute("DELETE FROM chats WHERE chat_id=?", (chat_id,))
        return
    if stale and tuple(old) != (end.chat["name"], end.chat["kind"], end.chat["group_id"]):
        conn.execute(  # every document carries the chat's name, kind and group id
            "INSERT OR IGNORE INTO owed(kind, key) SELECT ?, message_id FROM messages WHERE chat_id=?",
            (derived.FTS, chat_id),
        )


def fts_hash(data: bytes) -> str:
    """A message's stored document (``messages.data``: ``messagedata.pack``)
    hashed: a refold owes the index only the documents whose hash changed
    (the chat's part of the document is compared once per chat, in
    ``_refold_chat``).  The fold builds a message's keys in one order and
    zlib and zstd are deterministic, so an unchanged message packs to the same bytes;
    a zlib that compresses otherwise, or the archive's first zstd
    dictionary (:mod:`.packing`), owes each document once."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def write_fold(conn: sqlite3.Connection, chat_id: str, fold: ChatFold, stale: bool = True) -> None:
    """Write one piece of a chat's fold (with the chat record when it holds
    it), and owe the index the messages whose document changed: every one
    when the chat has no ``stale`` messages (it had none before this fold)."""
    if fold.chat:
        _write_chat(conn, fold.chat)
    ident = messagedata.dictionary(conn)
    packed = {msg["message_id"]: messagedata.pack(msg, ident) for msg in fold.messages}
    hashes = {mid: fts_hash(data) for mid, data in packed.items()}
    old: dict[str, str] = {}
    if stale:
        old = dict(
            conn.execute(
                "SELECT m.message_id, m.fts_hash FROM json_each(?) j CROSS JOIN messages m ON m.message_id=j.value"
                " WHERE m.chat_id=? AND m.seq<0",
                (json.dumps(list(hashes)), chat_id),
            ).fetchall()
        )
    derived.owe(conn, derived.FTS, [mid for mid, h in hashes.items() if old.get(mid) != h])
    conn.executemany(
        "INSERT OR REPLACE INTO messages(message_id, chat_id, seq, date, sender, sender_name, kind,"
        " text, edited, deleted, encrypted, has_attachment, reply_to, data, fts_hash)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            (
                msg["message_id"],
                chat_id,
                msg["seq"],
                msg["date"],
                msg["sender"],
                msg["sender_name"],
                msg["kind"],
                msg["text"],
                int(msg["edited"]),
                int(msg["deleted"]),
                int(msg["encrypted"]),
                int(bool(msg["attachments"])),
                msg["reply_to"],
                packed[msg["message_id"]],
                hashes[msg["message_id"]],
            )
            for msg in fold.messages
        ),
    )
    for sql, rows in (
        ("INSERT INTO reactions VALUES(?,?,?,?,?,?)", fold.reactions),
        ("INSERT INTO receipts VALUES(?,?,?,?,?)", fold.receipts),
        ("INSERT INTO memberships VALUES(?,?,?,?,?,?)", fold.memberships),
        ("INSERT INTO name_history VALUES(?,?,?,?)", fold.name_history),
    ):
        if rows:
            conn.executemany(sql, rows)


def _write_chat(conn: sqlite3.Connection, chat: dict[str, Any]) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO chats(chat_id, kind, name, group_id, members, past_members,"
        " message_count, first_date, last_date, encrypted, description, avatar, last_preview, data)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            chat["id"],
            chat["kind"],
            chat["name"],
            chat["group_id"],
            json.dumps(chat["members"]),
            json.dumps(chat["past_members"]),
            chat["message_count"],
            chat["first_date"],
            chat["last_date"],
            int(chat["encrypted"]),
            chat["description"],
            chat["avatar"],
            chat["last_preview"],
            json.dumps(chat, ensure_ascii=False),
        ),
    )


# ---------------------------------------------------------------- contacts


def rebuild_contacts(conn: sqlite3.Connection) -> None:
    """Contacts from every wire message: names from From headers (newest
    wins), state from contact cards/profiles, groups from memberships."""
    people: dict[str, dict[str, Any]] = {}

    def person(addr: str) -> dict[str, Any]:
        return people.setdefault(
            addr,
            {
                "address": addr,
                "name": "",
                "name_date": "",
                "status": None,
                "blocked": False,
                "groups": set(),
                "contact_groups": None,
                "history": [],
            },
        )

    newest: dict[str, tuple[bool, str, str]] = {}  # per sender: its newest named row, in the chat's date order
    cur = conn.cursor()
    cur.row_factory = None  # plain tuples, streamed: no sort of every wire row (it held ~185 MB at 1M)
    for sender, name, date, mid in cur.execute(
        "SELECT sender, sender_name, date, message_id FROM wire WHERE sender != ''"
    ):
        p = person(sender)
        key = (date is not None, date or "", mid)  # as ORDER BY date, message_id: NULL dates first
        if name and key > newest.get(sender, (False, "", "")):
            newest[sender] = key
            p["name"], p["name_date"] = name, date or ""
    for row in conn.execute(
        "SELECT w.message_id, w.date, o.envelope FROM wire w JOIN originals o ON o.sha256=w.sha256"
        " WHERE o.event_types LIKE '% ContactState %' ORDER BY w.date, w.message_id"
    ):
        env = envelopes.load(row["envelope"])
        for ev in env.events:
            if isinstance(ev, ContactState):
                _apply_contact(person(ev.address), ev, row["date"], row["message_id"])
    for row in conn.execute(
        "SELECT m.member, c.name, c.chat_id FROM memberships m JOIN chats c ON c.chat_id=m.chat_id"
        " WHERE m.until IS NULL AND c.kind='group'"
    ):
        person(row["member"])["groups"].add(row["name"] or row["chat_id"])
    conn.execute("DELETE FROM contacts")
    rows = []
    for addr in sorted(people):
        p = people[addr]
        groups = sorted(p["groups"] | set(p["contact_groups"] or ()))
        data = {
            "address": addr,
            "name": p["name"],
            "status": p["status"],
            "blocked": p["blocked"],
            "groups": groups,
            "history": _dedupe_history(p["history"]),
        }
        rows.append(
            (addr, p["name"], p["status"], int(p["blocked"]), json.dumps(groups), json.dumps(data, ensure_ascii=False))
        )
    conn.executemany("INSERT INTO contacts VALUES(?,?,?,?,?,?)", rows)


def _apply_contact(p: dict[str, Any], ev: ContactState, date: str | None, mid: str) -> None:
    fields = dict(ev.fields)
    if "name" in fields and fields["name"] and (date or "") >= p["name_date"]:
        p["name"], p["name_date"] = fields["name"], date or ""
    if "status" in fields:
        p["status"] = fields["status"]
    if "blocked" in fields:
        p["blocked"] = fields["blocked"].lower() in ("1", "true", "yes")
    if "groups" in fields and fields["groups"]:
        p["contact_groups"] = [g.strip() for g in fields["groups"].split(",") if g.strip()]
    p["history"].append({"date": date, "message_id": mid, "fields": fields})


def _dedupe_history(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop entries that repeat the previous state (an avatar header that
    rides on every message is one fact, not hundreds)."""
    out: list[dict[str, Any]] = []
    last: dict[str, str] = {}
    for entry in history:
        fresh = {k: v for k, v in entry["fields"].items() if last.get(k) != v}
        if not fresh:
            continue
        last.update(entry["fields"])
        out.append(entry)
    return out


def chat_kind(chat_id: str) -> str:
    return kind_of(chat_id)
