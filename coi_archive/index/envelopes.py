"""How the catalog stores an envelope: JSON, zlib-compressed with a preset dictionary.

The envelope is what ingest decoded from an original (``ingest.events``); it
is derived data, read back at every fold and search-document build, and it
was the largest part of the catalog: 31.9 MB of JSON for 34.8 MB of mail at
N = 20,000 (the benchmark's mailbox). Envelopes are small (1.6 kB on
average) and repeat the same field names in every row, which plain zlib
cannot share between rows (15.1 MB); with the field names of every event
type as a preset dictionary they take 10.1 MB (zlib level 6, about 33 us to
pack and 10 us to unpack one on this machine; parsing its JSON takes 60 us).

The dictionary is frozen: a stored envelope can only be unpacked with the
dictionary it was packed with (zlib records its Adler-32 in the stream and
refuses another). A new dictionary needs a new constant and a migration. An archive with
enough copies packs them with zstd and a dictionary trained on its own
(:mod:`.packing`); a zstd blob starts with zstd's magic number, which no
zlib stream does, so both kinds of row are read.

What SQL must filter on without unpacking every row sits beside the blob
in plain columns (:class:`Stored`): the event types (the contact list is
rebuilt from the few copies with a ``ContactState``) and the defect kinds
(``stats``). Other SQL reads the JSON through the ``envelope_json(blob)``
function every catalog connection has (:func:`register`).
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from coi_archive.ingest import jsontext
from coi_archive.ingest.events import Envelope, envelope_from_json, envelope_to_bytes

from . import packing

#: The skeleton of an envelope and of every event type with empty values,
#: as ``envelope_to_json`` wrote them in schema 10. Never edit.
DICTIONARY = (
    b'{"address":"","fields":[],"type":"ContactState"}{"target":"","type":"Delete"}{"target":"","state":"",'
    b'"reason":"","recipient":"","type":"DeliveryReport"}{"target":"","text":"","type":"Edit"}{"seconds":"",'
    b'"type":"EphemeralTimer"}{"filename":"","type":"GroupAvatar"}{"text":"","type":"GroupDescription"}'
    b'{"name":null,"members":[],"description":null,"type":"GroupInfo"}{"old_name":"","new_name":"","type":"GroupRenamed"}'
    b'{"member":"","type":"MemberAdded"}{"member":"","type":"MemberLeft"}{"member":"","type":"MemberRemoved"}'
    b'{"target":"","until":null,"type":"Pin"}{"target":"","choice":"","closed":false,"type":"PollVote"}'
    b'{"text":"","kind":"text","html":null,"quote":null,"reply_to":null,"forwarded":false,"attachments":[],'
    b'"location":null,"voice":false,"duration_ms":null,"mentions":[],"pinned_until":null,"contact":null,'
    b'"folded":null,"type":"Post"}{"target":"","emoji":"","type":"Reaction"}{"target":"","disposition":"displayed",'
    b'"type":"Receipt"}{"reason":"","type":"Unreadable"}{"message_id":"","sha256":"","dialect":"deltachat",'
    b'"date":null,"sender":"","sender_name":"","recipients":[],"subject":"","in_reply_to":null,"references":[],'
    b'"chat":{"kind":"group","key":"","name":null,"members":[],"fallback":null,"follow_refs":false},"events":[{"text":"",'
    b'"kind":"text","html":null,"quote":null,"reply_to":null,"forwarded":false,"attachments":[],"location":null,'
    b'"voice":false,"duration_ms":null,"mentions":[],"pinned_until":null,"contact":null,"folded":null,'
    b'"type":"Post"}],"encrypted":false,"quality":2,"defects":[{"kind":"","where":"","detail":""}],"headers":[],'
    b'"signature":null,"delivered":null,"payload_sha256":null,"addressees":[["to","",""]],"list_id":"",'
    b'"attached_keys":[]}'
)

LEVEL = 6


@dataclass(frozen=True)
class Stored:
    """One envelope as the ``originals`` columns hold it."""

    #: the JSON text, compressed (column ``envelope``)
    blob: bytes
    #: the event types, each between spaces (`` Post ContactState ``) so
    #: ``LIKE '% ContactState %'`` finds one (column ``event_types``)
    event_types: str
    #: a JSON array of the defect kinds, one per defect (column ``defect_kinds``)
    defect_kinds: str


def pack(env: Envelope, ident: int | None = None) -> Stored:
    """Pack with zstd and the archive's dictionary ``ident``
    (:mod:`.packing`), or as before when it has none."""
    return _pack_utf8(envelope_to_bytes(env), env, ident)


def pack_text(text: str, env: Envelope | None = None, ident: int | None = None) -> Stored:
    """Store JSON text as written (a migration keeps it byte for byte);
    ``env`` is the envelope it says, parsed from it when not given."""
    return _pack_utf8(text.encode(), env if env is not None else envelope_from_json(text), ident)


def _pack_utf8(data: bytes, env: Envelope, ident: int | None = None) -> Stored:
    types = "".join(f" {type(e).__name__}" for e in env.events)
    kinds = jsontext.dumps([d.kind for d in env.defects]).decode()
    return Stored(pack_blob(data, DICTIONARY, ident), f"{types} " if types else "", kinds)


def unpack(value: bytes | str) -> str:
    """The JSON text of a stored envelope; text is returned as it is (an
    envelope written before schema 10, read before the upgrade ran)."""
    return value if isinstance(value, str) else unpack_blob(value, DICTIONARY).decode()


def load(value: bytes | str, fields: Collection[str] | None = None) -> Envelope:
    """The stored envelope (its JSON read as UTF-8 bytes, no detour through
    str); only ``fields`` built when given (``envelope_from_json``)."""
    return envelope_from_json(value if isinstance(value, str) else unpack_blob(value, DICTIONARY), fields)


def load_json(value: bytes | str) -> Any:
    """The stored envelope as plain JSON values (dicts and lists), read by
    :mod:`~coi_archive.ingest.jsontext` from the UTF-8 bytes."""
    return jsontext.loads(value if isinstance(value, str) else unpack_blob(value, DICTIONARY))


def pack_blob(data: bytes, dictionary: bytes, ident: int | None) -> bytes:
    """zstd with the archive's trained dictionary ``ident`` (:mod:`.packing`),
    or, while it has none, zlib with the frozen ``dictionary`` (also for
    ``messagedata``)."""
    return packing.compress(data, ident) if ident is not None else deflate(data, dictionary)


def unpack_blob(blob: bytes, dictionary: bytes) -> bytes:
    """The bytes of a blob :func:`pack_blob` made, of either kind."""
    return packing.decompress(blob) if packing.is_zstd(blob) else inflate(blob, dictionary)


def deflate(data: bytes, dictionary: bytes) -> bytes:
    """zlib at :data:`LEVEL` with a preset dictionary (also for ``messagedata``)."""
    packer = zlib.compressobj(LEVEL, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY, dictionary)
    return packer.compress(data) + packer.flush()


def inflate(blob: bytes, dictionary: bytes) -> bytes:
    unpacker = zlib.decompressobj(zdict=dictionary)
    return unpacker.decompress(blob) + unpacker.flush()


def register(conn: sqlite3.Connection) -> None:
    """Give SQL on ``conn`` the function ``envelope_json(blob)``."""
    conn.create_function("envelope_json", 1, _sql_unpack, deterministic=True)


def _sql_unpack(value: bytes | str | None) -> str | None:
    return None if value is None else unpack(value)
