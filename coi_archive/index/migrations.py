"""The catalog's schema ladder: one function per step, applied in order.

An archive remembers its schema version in ``meta``; opening it for
writing climbs the ladder from there, each step in its own transaction and
recorded in ``migrations`` (sqlite-utils' migrations are the model). A
read-only open never changes the file: it refuses an older or newer schema
with a sentence that says what to do.

Rule for whoever changes ``catalog.SCHEMA``: a new *table* needs nothing
here (``CREATE TABLE IF NOT EXISTS`` runs on every writable open), but a new
*column* or index on an existing table, or a change of meaning of stored
data, is a new step here. So is a decoder change that alters stored
envelopes: its step owes ``derived.REDECODE``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone

from . import derived, engines, envelopes, messagedata, originaldata

Step = Callable[[sqlite3.Connection], None]


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _v2_format_and_owed(conn: sqlite3.Connection) -> None:
    """``originals.format`` (added to release 0.1 without a bump, so early
    archives lack it); the ``owed`` table of derived work; the originals
    decoded again (structured defects, quotes and HTML read anew) and every
    derived layer recomputed (copies of one Message-ID are now grouped into versions,
    group changes need a member, dates are held to delivery evidence); and
    the search index, whose pickled schema named the old top-level ``index``
    package, rebuilt from the catalog with the default engine (the old
    Whoosh files are removed after the upgrade, see ``catalog``)."""
    if "format" not in _columns(conn, "originals"):
        conn.execute("ALTER TABLE originals ADD COLUMN format TEXT NOT NULL DEFAULT 'rfc822'")
    conn.execute(derived.DDL)
    derived.owe(conn, derived.REDECODE, [derived.ALL])
    derived.owe(conn, derived.WIRE, [derived.ALL])
    derived.owe_all_fts(conn)
    # the old index cannot be read anyway: rebuild it with the engine a new archive gets
    engines.record(conn, engines.DEFAULT)


def _v3_delivery_reports(conn: sqlite3.Connection) -> None:
    """Bounces and delay notices (RFC 3464 reports, a mailer daemon's plain
    bounce) now decode to ``DeliveryReport`` events aimed at the message
    they report on: the originals are decoded again."""
    derived.owe(conn, derived.REDECODE, [derived.ALL])


def _v4_chat_order(conn: sqlite3.Connection) -> None:
    """Chats are in Delta Chat's order, also within one second (the reply
    graph, then the arrival evidence: ``order.py``): every chat is folded
    again, so ``seq`` means the same in an upgraded archive as in a new one."""
    derived.owe(conn, derived.FOLD, [r[0] for r in conn.execute("SELECT chat_id FROM chats")])


def _v5_real_world_mail(conn: sqlite3.Connection) -> None:
    """Real-world mail read as Delta Chat core reads it (issue 10, item 3:
    hidden chat headers, mailing-list names, read receipts in other shapes,
    reactions without Chat-Version, format=flowed, protected headers of
    signed-then-encrypted mail, HTML quotes, inline forwards, webxdc, vCard
    addresses...): the originals are decoded again; and every chat is
    folded again, as a COI ``groupleft`` is now a system line (a fold
    change: its envelope is the same)."""
    derived.owe(conn, derived.REDECODE, [derived.ALL])
    derived.owe(conn, derived.FOLD, [r[0] for r in conn.execute("SELECT chat_id FROM chats")])


def _v8_signed_mail_and_image_sizes(conn: sqlite3.Connection) -> None:
    """Signed mail is a fact of the envelope (``signature``, also for a
    plain ``multipart/signed`` message, its detached signature checked) and
    its signature part no attachment, nor a readable attached public key
    (``attached_keys``); an image attachment carries its ``width`` and
    ``height``: the originals are decoded again (a chat whose messages
    changed is folded and its search documents rebuilt with them)."""
    derived.owe(conn, derived.REDECODE, [derived.ALL])


def _v9_edit_rule_and_reaction_order(conn: sqlite3.Connection) -> None:
    """Edits and deletes follow Delta Chat core's rule (a message with a
    padlock is changed only by a request with one; a refused request is
    kept under ``rejected``), and the reactions, edits... aimed at a
    message are taken in the chat order (date, then arrival evidence):
    every chat is folded again."""
    derived.owe(conn, derived.FOLD, [r[0] for r in conn.execute("SELECT chat_id FROM chats")])


def _v10_packed_envelopes(conn: sqlite3.Connection) -> None:
    """Envelopes compressed with a preset dictionary, their event types and
    defect kinds in two new columns beside them (:mod:`.envelopes`): the
    catalog's largest part shrinks to a third. The JSON text is kept as
    written; rows are read in batches, so memory stays flat. The catalog
    is rewritten afterwards to free the space (``catalog``)."""
    for column, ddl in (("event_types", "TEXT NOT NULL DEFAULT ''"), ("defect_kinds", "TEXT NOT NULL DEFAULT '[]'")):
        if column not in _columns(conn, "originals"):
            conn.execute(f"ALTER TABLE originals ADD COLUMN {column} {ddl}")
    last = -1
    while batch := conn.execute(
        "SELECT rowid, envelope FROM originals WHERE rowid > ? ORDER BY rowid LIMIT 1000", (last,)
    ).fetchall():
        last = batch[-1][0]
        stored = [(envelopes.pack_text(text), rowid) for rowid, text in batch if isinstance(text, str)]
        conn.executemany(
            "UPDATE originals SET envelope=?, event_types=?, defect_kinds=? WHERE rowid=?",
            ((s.blob, s.event_types, s.defect_kinds, rowid) for s, rowid in stored),
        )


def _v11_word_forms_forwards_replies(conn: sqlite3.Connection) -> None:
    """Search finds other forms of a word (a stem twin of each text field)
    and ``is:forwarded``/``is:reply`` (flags in every document): the search
    index is rebuilt; and a mail forwarding another (inline
    ``message/rfc822``, or below a client's forward line) is now recorded
    as forwarded: the originals are decoded again."""
    derived.owe(conn, derived.REDECODE, [derived.ALL])
    derived.owe_all_fts(conn)


def _v13_unmeasured_images_are_files(conn: sqlite3.Connection) -> None:
    """A Delta Chat image or sticker whose size cannot be read (not an
    image, cut short, over 50 megapixels) is the message kind ``file``, as
    core shows it: the originals are decoded again."""
    derived.owe(conn, derived.REDECODE, [derived.ALL])


def _v12_packed_messages(conn: sqlite3.Connection) -> None:
    """Folded messages (``messages.data``) stored as compact JSON compressed
    with a preset dictionary (:mod:`.messagedata`): 15.7 MB became 5.0 MB
    at N = 20,000. Rows are read in batches; the catalog is rewritten
    afterwards to free the space (``catalog``)."""
    last = -1
    while batch := conn.execute(
        "SELECT rowid, data FROM messages WHERE rowid > ? ORDER BY rowid LIMIT 1000", (last,)
    ).fetchall():
        last = batch[-1][0]
        conn.executemany(
            "UPDATE messages SET data=? WHERE rowid=?",
            ((messagedata.pack(json.loads(text)), rowid) for rowid, text in batch if isinstance(text, str)),
        )


def _v14_originals_with_dictionary(conn: sqlite3.Connection) -> None:
    """Originals compressed with a preset dictionary: header boilerplate and
    the copy's own ``Autocrypt:`` header, stored once for every copy that
    carries it (:mod:`.originaldata`): 20.7 MB became 10.6 MB (and 0.7 MB of
    headers) at N = 20,000.
    Rows are read in batches; the catalog is rewritten afterwards."""
    conn.execute(originaldata.DDL)
    last = -1
    while batch := conn.execute(
        "SELECT rowid, data, compression FROM originals WHERE rowid > ? AND compression IN ('zlib', 'none')"
        " ORDER BY rowid LIMIT 1000",
        (last,),
    ).fetchall():
        last = batch[-1][0]
        for rowid, data, method in batch:
            packed = originaldata.pack(originaldata.unpack(conn, data, method))
            if packed.method != method:
                stored = originaldata.keep(conn, packed.method, packed.header)
                conn.execute("UPDATE originals SET data=?, compression=? WHERE rowid=?", (packed.data, stored, rowid))


def _v15_revisions_view(conn: sqlite3.Connection) -> None:
    """The ``revisions`` table repeated what each folded message keeps
    (``messages.data``, its ``revisions``): it is a view of them now
    (the catalog 5.3 MB smaller at N = 20,000). The catalog is rewritten afterwards."""
    if conn.execute("SELECT type FROM sqlite_master WHERE name='revisions'").fetchone() == ("table",):
        conn.execute("DROP TABLE revisions")
    conn.execute(
        "CREATE VIEW IF NOT EXISTS revisions AS SELECT m.message_id, m.chat_id, j.key AS seq,"
        " json_extract(j.value, '$.text') AS text, json_extract(j.value, '$.date') AS date,"
        " json_extract(j.value, '$.message_id') AS revision_message_id, j.key = json_array_length(j.json) - 1 AS last"
        " FROM messages m, json_each(json_extract(message_json(m.data), '$.revisions')) j"
    )


def _v16_no_wire_sender_index(conn: sqlite3.Connection) -> None:
    """The index of ``wire.sender`` served no query (its two readers look
    for ``lower(sender)`` and ``sender != ''``, which scan): 3.5 MB less
    at N = 100,000. The catalog is rewritten afterwards."""
    conn.execute("DROP INDEX IF EXISTS wire_sender")


def _v17_member_lists_once(conn: sqlite3.Connection) -> None:
    """Each distinct member list of ``wire`` is stored once, in
    ``wire_members``, and a wire row names it (``members_id``): a group's
    list was repeated in every message of it (2.8 MB in 1,309 distinct
    lists at N = 20,000). The catalog is rewritten afterwards."""
    conn.execute("CREATE TABLE IF NOT EXISTS wire_members(id INTEGER PRIMARY KEY, members TEXT NOT NULL UNIQUE)")
    if "members" not in _columns(conn, "wire"):
        return
    conn.execute("INSERT OR IGNORE INTO wire_members(members) SELECT members FROM wire WHERE members IS NOT NULL")
    conn.execute("ALTER TABLE wire ADD COLUMN members_id INTEGER")
    conn.execute("UPDATE wire SET members_id=(SELECT l.id FROM wire_members l WHERE l.members=wire.members)")
    conn.execute("ALTER TABLE wire DROP COLUMN members")


def _v18_no_wire_chat_hint(conn: sqlite3.Connection) -> None:
    """``wire.chat_hint`` (the chat a message's decoder named) was written
    and never read: placement takes it from the decoded facts (0.4 MB at
    N = 20,000). The catalog is rewritten afterwards."""
    if "chat_hint" in _columns(conn, "wire"):
        conn.execute("ALTER TABLE wire DROP COLUMN chat_hint")


def _v19_source_ids(conn: sqlite3.Connection) -> None:
    """Each copy's provenance names its source by an id (``source_ids``)
    instead of repeating the source's name (an absolute path or an IMAP
    URL) in its row and in the table's primary key, and leaves
    ``last_seen`` empty while it equals ``first_seen`` (the flags never
    changed): 2.3 MB less at N = 20,000. The rows move to ``provenance_rows``
    in their order; the view ``provenance`` gives readers the same columns
    and values as before. The catalog is rewritten afterwards."""
    if conn.execute("SELECT type FROM sqlite_master WHERE name='provenance'").fetchone() != ("table",):
        return
    conn.execute("CREATE TABLE source_ids(id INTEGER PRIMARY KEY, source TEXT NOT NULL UNIQUE)")
    conn.execute("INSERT INTO source_ids(source) SELECT DISTINCT source FROM provenance ORDER BY source")
    conn.execute(
        "CREATE TABLE provenance_rows(source_id INTEGER NOT NULL, folder TEXT NOT NULL, key TEXT NOT NULL,"
        " sha256 TEXT NOT NULL, flags TEXT NOT NULL DEFAULT '', internaldate TEXT, mtime REAL, size INTEGER,"
        " gone INTEGER NOT NULL DEFAULT 0, first_seen TEXT NOT NULL, last_seen TEXT,"
        " PRIMARY KEY(source_id, folder, key))"
    )
    conn.execute(
        "INSERT INTO provenance_rows(rowid, source_id, folder, key, sha256, flags, internaldate, mtime, size, gone,"
        " first_seen, last_seen) SELECT p.rowid, s.id, p.folder, p.key, p.sha256, p.flags, p.internaldate, p.mtime,"
        " p.size, p.gone, p.first_seen, nullif(p.last_seen, p.first_seen) FROM provenance p"
        " JOIN source_ids s ON s.source=p.source"
        " ORDER BY p.rowid"
    )
    conn.execute("DROP TABLE provenance")  # and its index provenance_sha
    conn.execute("CREATE INDEX provenance_sha ON provenance_rows(sha256)")
    conn.execute(
        "CREATE VIEW provenance AS SELECT s.source AS source, p.folder, p.key, p.sha256, p.flags,"
        " p.internaldate, p.mtime, p.size, p.gone, p.first_seen, coalesce(p.last_seen, p.first_seen) AS last_seen"
        " FROM provenance_rows p JOIN source_ids s ON s.id=p.source_id"
    )


def _v20_packing_dicts(conn: sqlite3.Connection) -> None:
    """The table of zstd dictionaries an archive trains on its own first
    copies (``packing``): envelopes, originals and folded messages stored
    from then on are zstd frames that name their dictionary. Nothing stored
    changes (the zlib formats stay readable), so nothing is owed."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS packing_dicts(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, data BLOB NOT NULL)"
    )


#: The steps after which the catalog file is rewritten (``VACUUM``).
REWRITES_FILE = {10, 12, 14, 15, 16, 17, 18, 19}


#: version reached -> (what it does, the step). Never edit a released step.
#: 6 and 7 were never used (numbers reserved by work that landed as 8 and 11):
#: ``upgrade`` climbs the steps present, so a gap costs nothing.
LADDER: dict[int, tuple[str, Step]] = {
    2: ("originals.format, owed derived work, search index rebuilt", _v2_format_and_owed),
    3: ("delivery reports decoded: originals decoded again", _v3_delivery_reports),
    4: ("chats in Delta Chat's order within one second: every chat folded again", _v4_chat_order),
    5: ("real-world mail read as Delta Chat core reads it: originals decoded, chats folded again", _v5_real_world_mail),
    8: ("signed mail, attached keys, image sizes: originals decoded again", _v8_signed_mail_and_image_sizes),
    9: ("core's edit/delete rule, reactions in arrival order: chats folded again", _v9_edit_rule_and_reaction_order),
    10: ("envelopes compressed, their event types and defect kinds beside them", _v10_packed_envelopes),
    11: (
        "search: word forms, is:forwarded, is:reply: mail decoded again, search index rebuilt",
        _v11_word_forms_forwards_replies,
    ),
    12: ("folded messages compressed", _v12_packed_messages),
    13: ("an image core cannot measure is a file: originals decoded again", _v13_unmeasured_images_are_files),
    14: ("originals compressed with header boilerplate and their Autocrypt header", _v14_originals_with_dictionary),
    15: ("revisions read from the folded messages (a view)", _v15_revisions_view),
    16: ("the unused index of wire senders dropped", _v16_no_wire_sender_index),
    17: ("each distinct member list of wire messages stored once", _v17_member_lists_once),
    18: ("the unread column wire.chat_hint dropped", _v18_no_wire_chat_hint),
    19: ("provenance names its source by an id", _v19_source_ids),
    20: ("zstd dictionaries trained per archive (envelopes, originals, messages)", _v20_packing_dicts),
}

LATEST = max(LADDER)

_TRACK = """CREATE TABLE IF NOT EXISTS migrations(
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)"""


def version_of(conn: sqlite3.Connection) -> int | None:
    """The schema version stored in the catalog; None for an empty file."""
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
    if not has_meta:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    return int(row[0]) if row else None


def upgrade(conn: sqlite3.Connection, found: int) -> list[int]:
    """Apply every step above ``found``; returns the versions applied."""
    applied = []
    conn.commit()
    conn.execute(_TRACK)
    for version in sorted(v for v in LADDER if v > found):
        name, step = LADDER[version]
        # one explicit transaction per step (DDL included): a crash leaves the previous version
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(conn)
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('schema', ?)", (str(version),))
            conn.execute(
                "INSERT OR REPLACE INTO migrations VALUES(?, ?, ?)",
                (version, name, datetime.now(timezone.utc).isoformat(timespec="seconds")),
            )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        applied.append(version)
    return applied
