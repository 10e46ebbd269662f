"""Per-archive zstd dictionaries for the blobs the catalog stores one by one.

Envelopes (:mod:`.envelopes`), originals (:mod:`.originaldata`) and folded
messages (:mod:`.messagedata`) are compressed one row at a time, so what
repeats between rows must come from a dictionary. The frozen zlib
dictionaries shipped in code know the field names; a dictionary *trained*
on an archive's own first copies also knows its senders, chats, boundaries
and header values. Measured on the benchmark's mailbox (20,000 messages):
envelopes 10.6 MB with zlib 6 and the frozen dictionary, 5.5 MB with zstd 3
and a trained one, and packing one takes 4 us instead of 100 us.

Each kind gets one dictionary, trained from the first :data:`SAMPLES` copies
an archive stores (fewer: the archive stays on the zlib formats, which
stay readable forever). ``packing_dicts(id, kind, data)`` holds them. A
dictionary holds strings that were frequent in the copies it was trained on
(header values, addresses, chat names, words), so a purge replaces every
dictionary with one trained on what is left and packs every blob again
(:mod:`.repack`); the Autocrypt key data is in none (originals are trained
on without that header). The id is the
zstd dictionary id, written into the
dictionary and into every frame: a blob names its dictionary. It is taken
from the dictionary's SHA-256, so two archives open in one process (tests,
the web UI) cannot give one id two meanings, and a damaged dictionary is
recognised (:func:`learn`).

Readers tell a zstd blob by its magic number (:func:`is_zstd`); the
dictionaries are read into a per-process registry when a catalog
connection opens (:func:`learn`) and when an ingest trains one.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from contextlib import closing

import zstandard

from .errors import ArchiveError

#: The first bytes of every zstd frame (zlib streams start otherwise).
MAGIC = b"\x28\xb5\x2f\xfd"
#: zstd level: 3 packed the benchmark's originals within 5% of level 5 at half its time.
LEVEL = 3
#: Copies a dictionary is trained on. 2,000 originals (3.6 MB) trained in 0.2 CPU-s
#: and packed the next 8,000 to 3.57 MB; 1,000 gave 3.58, 4,000 3.42 (twice the training).
SAMPLES = 2000
#: Bytes of a dictionary, per kind: originals gained 8% more from 112 kB than from 64 kB.
SIZES = {"envelope": 65536, "original": 114688, "message": 65536}

DDL = """CREATE TABLE IF NOT EXISTS packing_dicts(
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, data BLOB NOT NULL)"""

#: dictionary id -> its bytes, every dictionary this process has read
_known: dict[int, bytes] = {}
#: ids whose bytes do not hash to the id
_damaged: set[int] = set()
#: the catalog files this process read dictionaries from
_catalogs: set[str] = set()
#: (catalog file, kind) whose training failed in this process: not tried again
_untrainable: set[tuple[str, str]] = set()
#: zstd contexts are not for concurrent use (the web UI serves from threads)
_local = threading.local()


def is_zstd(blob: bytes) -> bool:
    return blob[:4] == MAGIC


def ident_of(data: bytes) -> int:
    """The id a dictionary's content gives it: 31 bits of its SHA-256
    (bytes 4-8 hold the id itself), outside zstd's reserved 0-32767."""
    value = int.from_bytes(hashlib.sha256(data[8:]).digest()[:4], "big") & 0x7FFFFFFF
    return value if value >= 32768 else value + 32768


def learn(conn: sqlite3.Connection) -> None:
    """Read the dictionaries of ``conn``'s archive this process does not know
    yet, and remember the archive: a reader that meets a dictionary trained
    after it opened (the search indexer beside an ingest, the web UI) reads
    it from there (:func:`_relearn`)."""
    try:
        idents = [r[0] for r in conn.execute("SELECT id FROM packing_dicts")]
    except sqlite3.OperationalError:  # before schema 20: none
        return
    if path := _file(conn):
        _catalogs.add(path)
    for ident in idents:
        if ident not in _known and ident not in _damaged:
            try:
                (data,) = conn.execute("SELECT data FROM packing_dicts WHERE id=?", (ident,)).fetchone()
            except sqlite3.Error:  # not even bytes (text that is no UTF-8)
                data = b""
            _remember(ident, data)


def _remember(ident: int, data: bytes | str) -> None:
    if isinstance(data, bytes) and ident_of(data) == ident and int.from_bytes(data[4:8], "little") == ident:
        _known[ident] = data
    else:
        _damaged.add(ident)


def current(conn: sqlite3.Connection, kind: str) -> int | None:
    """The id of the dictionary new blobs of ``kind`` are packed with; None: zlib."""
    row = conn.execute("SELECT id FROM packing_dicts WHERE kind=? ORDER BY rowid LIMIT 1", (kind,)).fetchone()
    if row is None:
        return None
    if row[0] not in _known:
        learn(conn)
    return int(row[0]) if row[0] in _known else None


def trainable(conn: sqlite3.Connection, kind: str) -> bool:
    """False once training a dictionary of ``kind`` for this archive failed in this process."""
    return (_file(conn), kind) not in _untrainable


def train(conn: sqlite3.Connection, kind: str, samples: list[bytes]) -> int | None:
    """Train a dictionary of ``kind`` on ``samples`` and store it (in the
    caller's transaction); its id, or None when zstd cannot train on them."""
    size = min(SIZES[kind], max(1024, sum(map(len, samples)) // 10))
    try:
        trained = zstandard.train_dictionary(size, samples, level=LEVEL).as_bytes()
    except zstandard.ZstdError:  # too few or too alike: stay on zlib
        _untrainable.add((_file(conn), kind))
        return None
    ident = ident_of(trained)
    data = trained[:4] + ident.to_bytes(4, "little") + trained[8:]
    conn.execute("INSERT OR IGNORE INTO packing_dicts(id, kind, data) VALUES(?, ?, ?)", (ident, kind, data))
    _remember(ident, data)
    return ident


def compress(data: bytes, ident: int) -> bytes:
    """``data`` as one zstd frame made with dictionary ``ident`` (known to this process)."""
    packers = _contexts("packers")
    packer = packers.get(ident)
    if packer is None:
        dictionary = zstandard.ZstdCompressionDict(_known[ident])
        packer = packers[ident] = zstandard.ZstdCompressor(level=LEVEL, dict_data=dictionary, write_checksum=False)
    return packer.compress(data)  # type: ignore[no-any-return]


def decompress(blob: bytes) -> bytes:
    """The bytes of a zstd blob; :class:`ArchiveError` when its dictionary
    is missing or damaged or the blob is."""
    try:
        ident = zstandard.get_frame_parameters(blob).dict_id
    except zstandard.ZstdError as exc:
        raise ArchiveError(f"a stored blob is damaged ({exc})") from None
    if ident == 0:  # no dictionary named: not a blob the catalog wrote
        raise ArchiveError("a stored blob is damaged (a zstd frame without a dictionary)")
    unpackers = _contexts("unpackers")
    unpacker = unpackers.get(ident)
    if unpacker is None:
        if ident not in _known and ident not in _damaged:
            _relearn()
        if ident in _damaged:
            raise ArchiveError(f"the packing dictionary {ident} of this archive is damaged: a blob is unreadable")
        if ident not in _known:
            raise ArchiveError(f"a stored blob needs the packing dictionary {ident}, which this archive lacks")
        dictionary = zstandard.ZstdCompressionDict(_known[ident])
        unpacker = unpackers[ident] = zstandard.ZstdDecompressor(dict_data=dictionary)
    try:
        return unpacker.decompress(blob)  # type: ignore[no-any-return]
    except zstandard.ZstdError as exc:
        raise ArchiveError(f"a stored blob is damaged ({exc})") from None


def _relearn() -> None:
    """Read the dictionaries trained since this process opened its archives."""
    for path in list(_catalogs):
        try:
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
                learn(conn)
        except sqlite3.Error:  # gone or locked: the blob's error says what is missing
            continue


def _file(conn: sqlite3.Connection) -> str:
    return str(conn.execute("PRAGMA database_list").fetchone()[2])


def _contexts(name: str) -> dict:
    table = getattr(_local, name, None)
    if table is None:
        table = {}
        setattr(_local, name, table)
    return table
