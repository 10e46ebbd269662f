"""The catalog: one SQLite database that is the archive.

Three layers, each derived from the one before and rebuildable:

1. ``originals`` + ``provenance`` + ``sources``: the bytes of every copy we
   ever read (compressed, see :mod:`.originaldata`; content-addressed by SHA-256) with what
   ingest decoded from them (the envelope, see :mod:`.envelopes`), and where
   each copy was found (the view ``provenance`` of ``provenance_rows``, which
   name their source by its id in ``source_ids``).  Nothing ever deletes from here.  Beside them
   ``decrypted``: the inner message of each encrypted copy a key opened
   (derived, see :mod:`.decrypted`).
2. ``wire``: one row per Message-ID, the canonical decoded copy and where
   it is placed (``chat_id``), plus ``wire_targets``/``wire_refs`` and
   ``wire_conflicts`` (the other versions of a Message-ID, see ``versions``).
3. Chat state (``chats``, ``messages``, ``reactions``,
   ``receipts``, ``memberships``, ``name_history``, ``contacts``,
   ``contact_history``): the fold of layer 2, recomputed per chat; the view
   ``revisions`` lists the texts each folded message keeps.

SQLite in WAL mode with one writer: readers (the web UI) never block ingest.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import derived, engines, envelopes, heap, holds, messagedata, migrations, originaldata, packing, private

#: Bytes per page of a new catalog. SQLite's 4 kB default left a quarter of
#: the originals table empty: a row of a compressed original and its envelope
#: (3 kB on average) fills a page alone. With 16 kB pages the catalog of the
#: 20,000-message benchmark was 15% smaller (VACUUMed copies: 138.7 MB at 4 kB,
#: 117.3 MB at 16 kB, 114.0 MB at 64 kB); a page read stays well below a millisecond.
PAGE_SIZE = 16384

#: The page cache of a connection, KiB.
CACHE_KIB = 32768
#: ... while chats are folded and contacts rebuilt (:func:`smaller_cache`).
FOLD_CACHE_KIB = 8192

#: Raised with every step of :data:`migrations.LADDER`.
SCHEMA_VERSION = migrations.LATEST

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS originals(
    sha256 TEXT PRIMARY KEY, message_id TEXT NOT NULL, size INTEGER NOT NULL,
    data BLOB NOT NULL, compression TEXT NOT NULL, dialect TEXT NOT NULL,
    quality INTEGER NOT NULL, envelope BLOB NOT NULL, first_seen TEXT NOT NULL,
    format TEXT NOT NULL DEFAULT 'rfc822', event_types TEXT NOT NULL DEFAULT '',
    defect_kinds TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS originals_mid ON originals(message_id);
CREATE TABLE IF NOT EXISTS decrypted(
    sha256 TEXT PRIMARY KEY, inner_sha256 TEXT NOT NULL,
    data BLOB NOT NULL, compression TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS decrypted_goes_with_original AFTER DELETE ON originals
BEGIN DELETE FROM decrypted WHERE sha256=OLD.sha256; END;
-- each source's name once (a ``sources`` row exists only once a scan finished, and is
-- replaced by every scan); a copy's provenance names its source by this id
CREATE TABLE IF NOT EXISTS source_ids(id INTEGER PRIMARY KEY, source TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS provenance_rows(
    source_id INTEGER NOT NULL, folder TEXT NOT NULL, key TEXT NOT NULL, sha256 TEXT NOT NULL,
    flags TEXT NOT NULL DEFAULT '', internaldate TEXT, mtime REAL, size INTEGER,
    gone INTEGER NOT NULL DEFAULT 0, first_seen TEXT NOT NULL, last_seen TEXT,
    PRIMARY KEY(source_id, folder, key));
CREATE INDEX IF NOT EXISTS provenance_sha ON provenance_rows(sha256);
-- where each copy was found, its source by name: what every reader reads (writers write
-- provenance_rows, whose last_seen is NULL until the copy's flags change after first_seen)
CREATE VIEW IF NOT EXISTS provenance AS SELECT s.source AS source, p.folder, p.key, p.sha256, p.flags,
    p.internaldate, p.mtime, p.size, p.gone, p.first_seen, coalesce(p.last_seen, p.first_seen) AS last_seen
    FROM provenance_rows p JOIN source_ids s ON s.id=p.source_id;
CREATE TABLE IF NOT EXISTS sources(
    source TEXT PRIMARY KEY, kind TEXT NOT NULL, fingerprint TEXT, last_scan TEXT, state TEXT);
CREATE TABLE IF NOT EXISTS source_issues(
    source TEXT NOT NULL, path TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
    incomplete INTEGER NOT NULL, seen TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS source_issues_source ON source_issues(source);
CREATE TABLE IF NOT EXISTS runs(
    id INTEGER PRIMARY KEY, started TEXT, finished TEXT, sources TEXT,
    copies_seen INTEGER, copies_new INTEGER, messages_new INTEGER, errors INTEGER);

CREATE TABLE IF NOT EXISTS wire(
    message_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, dialect TEXT NOT NULL,
    role TEXT NOT NULL, date TEXT, sender TEXT, sender_name TEXT, members_id INTEGER,
    chat_id TEXT, encrypted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS wire_chat ON wire(chat_id);
-- each distinct member list (JSON) a decoder saw once; wire.members_id names it
CREATE TABLE IF NOT EXISTS wire_members(id INTEGER PRIMARY KEY, members TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS wire_targets(message_id TEXT NOT NULL, target TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS wire_targets_target ON wire_targets(target);
CREATE INDEX IF NOT EXISTS wire_targets_mid ON wire_targets(message_id);
CREATE TABLE IF NOT EXISTS wire_refs(message_id TEXT NOT NULL, ref TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS wire_conflicts(message_id TEXT PRIMARY KEY, versions TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS wire_refs_ref ON wire_refs(ref);
CREATE INDEX IF NOT EXISTS wire_refs_mid ON wire_refs(message_id);

CREATE TABLE IF NOT EXISTS chats(
    chat_id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT, group_id TEXT,
    members TEXT NOT NULL, past_members TEXT NOT NULL, message_count INTEGER NOT NULL,
    first_date TEXT, last_date TEXT, encrypted INTEGER NOT NULL, description TEXT,
    avatar TEXT, last_preview TEXT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages(
    message_id TEXT PRIMARY KEY, chat_id TEXT NOT NULL, seq INTEGER NOT NULL,
    date TEXT, sender TEXT, sender_name TEXT, kind TEXT NOT NULL, text TEXT,
    edited INTEGER NOT NULL, deleted INTEGER NOT NULL, encrypted INTEGER NOT NULL,
    has_attachment INTEGER NOT NULL, reply_to TEXT, data TEXT NOT NULL, fts_hash TEXT);
CREATE INDEX IF NOT EXISTS messages_chat_seq ON messages(chat_id, seq);
CREATE INDEX IF NOT EXISTS messages_date ON messages(date);
-- every text a message had, read from its folded message (no copy is stored)
CREATE VIEW IF NOT EXISTS revisions AS SELECT m.message_id, m.chat_id, j.key AS seq,
    json_extract(j.value, '$.text') AS text, json_extract(j.value, '$.date') AS date,
    json_extract(j.value, '$.message_id') AS revision_message_id, j.key = json_array_length(j.json) - 1 AS last
    FROM messages m, json_each(json_extract(message_json(m.data), '$.revisions')) j;
CREATE TABLE IF NOT EXISTS reactions(
    message_id TEXT NOT NULL, chat_id TEXT NOT NULL, sender TEXT NOT NULL, emoji TEXT NOT NULL,
    date TEXT, reaction_message_id TEXT);
CREATE INDEX IF NOT EXISTS reactions_chat ON reactions(chat_id);
CREATE TABLE IF NOT EXISTS receipts(
    message_id TEXT NOT NULL, chat_id TEXT NOT NULL, reader TEXT NOT NULL, date TEXT,
    receipt_message_id TEXT);
CREATE INDEX IF NOT EXISTS receipts_chat ON receipts(chat_id);
CREATE TABLE IF NOT EXISTS memberships(
    chat_id TEXT NOT NULL, member TEXT NOT NULL, since TEXT, until TEXT,
    added_by TEXT, removed_by TEXT);
CREATE INDEX IF NOT EXISTS memberships_chat ON memberships(chat_id);
CREATE TABLE IF NOT EXISTS name_history(
    chat_id TEXT NOT NULL, date TEXT, name TEXT, message_id TEXT);
CREATE INDEX IF NOT EXISTS name_history_chat ON name_history(chat_id);
CREATE TABLE IF NOT EXISTS contacts(
    address TEXT PRIMARY KEY, name TEXT, status TEXT, blocked INTEGER NOT NULL DEFAULT 0,
    groups TEXT NOT NULL, data TEXT NOT NULL);
"""


#: Secondary indexes that no step of an ingest's intake reads (placement looks
#: messages up by Message-ID, reference and hash; these serve the fold, purges
#: and the readers). A load into an empty catalog drops them and builds each
#: once at its end (:func:`begin_load`, :func:`end_load`) instead of inserting
#: every row into them: on random keys such as a SHA-256, once an index outgrows
#: the page cache nearly every insert dirties a page of its own, which each
#: commit writes to the WAL and the checkpoint writes again. A load that is
#: killed leaves them missing until the next writable open, whose
#: ``CREATE INDEX IF NOT EXISTS`` (:data:`SCHEMA`) builds them before anything runs.
BUILT_AFTER_LOAD = ("provenance_sha", "wire_chat", "wire_targets_target")


def begin_load(conn: sqlite3.Connection) -> bool:
    """Drop :data:`BUILT_AFTER_LOAD` if the catalog holds no copy yet (a
    first ingest); True if they were dropped. A catalog with copies keeps
    them: building an index whole costs more than a run's inserts into it."""
    if conn.execute("SELECT EXISTS(SELECT 1 FROM originals) OR EXISTS(SELECT 1 FROM provenance)").fetchone()[0]:
        return False
    for name in BUILT_AFTER_LOAD:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    conn.commit()
    return True


def end_load(conn: sqlite3.Connection) -> None:
    """Build every index of :data:`SCHEMA` that is missing (after the load's
    last commit). The sort goes to temporary files, not memory (the index of a
    million hashes would hold ~80 MB in the in-memory temp store), and a smaller
    page cache bounds the sort's own memory, which SQLite sizes by it: building
    ``provenance_sha`` of 300,000 copies raised the peak RSS by 25 MB with the
    usual cache, by none with 8 MB (and took less CPU)."""
    conn.execute("PRAGMA temp_store=FILE")
    conn.execute("PRAGMA cache_size=-8192")
    try:
        conn.executescript(SCHEMA)
    finally:
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")


@contextmanager
def smaller_cache(conn: sqlite3.Connection, kib: int = FOLD_CACHE_KIB) -> Iterator[None]:
    """Run the block with a page cache of ``kib``, the larger one handed
    back to the kernel first (:func:`.heap.hand_back`), then restored.  The
    intake looks copies up by random keys (hashes, Message-IDs) and gains
    from the large cache; the fold reads a chat's rows in order and the
    contacts scan the wire layer once: at 300,000 messages an in-process
    fold of every chat held 73 MB with the usual cache, 49 MB with 8 MB,
    for the same CPU (2 MB cost 13 % more).

    Temporary data goes to files in the block (as in :func:`end_load`):
    the fold sorts a chat's Message-IDs by date and the index hand-off
    collects them (``IN (SELECT ...)``), and in the in-memory temp store
    both grew with the biggest chat; folding the 74,606 messages of the
    1M benchmark's biggest chat peaked at 131 MB in memory, 85 MB with
    files (the kernel's page cache holds them), and took less CPU."""
    conn.execute(f"PRAGMA cache_size=-{kib}")
    conn.execute("PRAGMA temp_store=FILE")
    heap.hand_back(conn)
    try:
        yield
    finally:
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")


class CatalogError(Exception):
    """The archive cannot be opened (wrong path, newer schema...)."""


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the catalog database; a writable open creates it or climbs the
    schema ladder (:mod:`.migrations`), a read-only one never writes."""
    if readonly:
        if not path.exists():
            raise CatalogError(f"no archive at {path.parent}")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        _check_readable(conn, path.parent)
    else:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        private.create(path)  # 0600 whatever the umask; SQLite gives -wal and -shm the same mode
        conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # takes effect only in a new file
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        _create_or_upgrade(conn, path.parent)
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    conn.execute("PRAGMA temp_store=MEMORY")
    envelopes.register(conn)
    messagedata.register(conn)
    packing.learn(conn)
    conn.row_factory = sqlite3.Row
    return conn


def _create_or_upgrade(conn: sqlite3.Connection, root: Path) -> None:
    found = migrations.version_of(conn)
    if found is not None and found > SCHEMA_VERSION:
        conn.close()
        raise CatalogError(_newer(found, root))
    applied = migrations.upgrade(conn, found) if found is not None and found < SCHEMA_VERSION else []
    if 2 in applied:
        engines.discard(engines.LEGACY, engines.fulltext_dir(root))  # unreadable since the package move
    conn.executescript(SCHEMA)
    conn.execute(derived.DDL)
    conn.executescript(holds.DDL)
    conn.execute(originaldata.DDL)
    conn.execute(packing.DDL)
    if found is None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES('schema', ?)", (str(SCHEMA_VERSION),))
    conn.commit()
    if migrations.REWRITES_FILE & set(applied):
        _compact(conn)


def _compact(conn: sqlite3.Connection) -> None:
    """Rewrite the catalog with :data:`PAGE_SIZE` pages and without the free
    pages an upgrade that rewrote every envelope or message left behind. SQLite changes
    the page size only outside WAL mode; the rewrite is atomic (journaled).
    Skipped when another process holds the catalog open: it only saves space."""
    try:
        if conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete":
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("VACUUM")
    except sqlite3.OperationalError:
        pass
    finally:
        conn.execute("PRAGMA journal_mode=WAL")


def _check_readable(conn: sqlite3.Connection, root: Path) -> None:
    """Refuse, with what to do, a schema this program cannot read as it is."""
    try:
        found = migrations.version_of(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise CatalogError(f"{root / 'catalog.sqlite'} is not a coi-archive catalog ({exc})") from None
    if found is not None and found > SCHEMA_VERSION:
        conn.close()
        raise CatalogError(_newer(found, root))
    if found is not None and found < SCHEMA_VERSION:
        conn.close()
        raise CatalogError(
            f"the archive at {root} was written by an older coi-archive (schema {found}, this one reads "
            f"{SCHEMA_VERSION}); run 'coi-archive --archive {root} repair' once to upgrade it in place "
            "(nothing is lost)"
        )


def _newer(found: int, root: Path) -> str:
    return (
        f"the archive at {root} was written by a newer coi-archive (schema {found}, this one reads "
        f"up to {SCHEMA_VERSION}); install that newer version to read it"
    )


def compress(raw: bytes) -> tuple[bytes, str]:
    """zlib without dictionary, as a decrypted inner message is kept
    (an original is packed with :func:`.originaldata.pack`)."""
    packed = zlib.compress(raw, 1)
    if len(packed) < len(raw):
        return packed, "zlib"
    return raw, "none"


def decompress(data: bytes, method: str) -> bytes:
    if method == "zstd":
        return packing.decompress(data)
    return zlib.decompress(data) if method == "zlib" else bytes(data)
