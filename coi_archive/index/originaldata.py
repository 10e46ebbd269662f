"""How the catalog stores the bytes of an original: zlib with a preset dictionary.

Each copy is compressed on its own (``originals.data``), which cannot share
what repeats between messages. Two things repeat in nearly every message:
header boilerplate (the names and common values of mail, Delta Chat and COI
headers) and the sender's ``Autocrypt:`` header, whose key data (about
700 bytes, incompressible base64) every Delta Chat message carries again:
at N = 20,000 (the benchmark's mailbox) 8.2 of 34.8 MB of mail. So a copy
is compressed with a preset dictionary: the shipped :data:`BOILERPLATE`,
followed by the copy's own ``Autocrypt:`` header, which is stored once in
``autocrypt_headers`` (keyed by its SHA-256) for every copy that carries it.

The method (``originals.compression``) names what is needed to read a copy back:

``zlib``, ``none``
    zlib without dictionary, or the bytes as they are (schema 13 and before;
    still read).
``zdict1``
    zlib with :data:`BOILERPLATE` (version 1) as dictionary.
``zdict1:<id>``
    zlib with :data:`BOILERPLATE` followed by the header ``<id>`` of
    ``autocrypt_headers``.
``zstd``
    zstd with the archive's trained dictionary (:mod:`.packing`; the frame
    names it), once the archive has one.
``zstd:<id>:<offset>``
    the same, of the copy without its ``Autocrypt:`` header, which is the
    header ``<id>`` and goes back in at byte ``<offset>``.

A copy's bytes come back byte for byte (``verify`` re-hashes them). A header
row is shared: ``purge`` deletes the rows no copy uses any more
(:func:`drop_unused`), so a purged person's key does not linger. The
dictionary is frozen: zlib records its Adler-32 in the stream and refuses
another; a new one needs a new version and method name.
"""

from __future__ import annotations

import hashlib
import sqlite3
import zlib
from dataclasses import dataclass

from . import packing
from .errors import ArchiveError

#: Header text common in mail, Delta Chat and COI messages, the most frequent
#: last (zlib codes a near match shorter). Version 1: never edit.
BOILERPLATE = (
    b"Content-Type: multipart/report; report-type=disposition-notification;\n"
    b"Reporting-UA: Delta Chat\nOriginal-Recipient: rfc822;\nFinal-Recipient: rfc822;\n"
    b"Original-Message-ID: <\nDisposition: manual-action/MDN-sent-automatically; displayed\n"
    b"Content-Type: message/disposition-notification\n"
    b"Content-Disposition: attachment; filename=\nContent-Type: image/jpeg\nContent-Type: application/octet-stream\n"
    b"Content-Type: text/html; charset=utf-8\nContent-Type: multipart/alternative; boundary=\n"
    b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";\n boundary=\n'
    b'Content-Type: application/pgp-encrypted; charset="utf-8"\nContent-Description: PGP/MIME version identification\n'
    b'Version: 1\n\nContent-Type: application/octet-stream; name="encrypted.asc"; charset="utf-8"\n'
    b'Content-Description: OpenPGP encrypted message\nContent-Disposition: inline; filename="encrypted.asc";\n'
    b"-----BEGIN PGP MESSAGE-----\n\n-----END PGP MESSAGE-----\n"
    b'Content-Type: multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256;\n'
    b"Autocrypt-Gossip: addr=\nSecure-Join: vc-request\nSecure-Join-Invitenumber: \nSecure-Join-Fingerprint: \n"
    b"Chat-Content: reaction\nContent-Disposition: reaction\nChat-Group-Member-Added: \nChat-Group-Member-Removed: \n"
    b"Chat-Group-Name-Changed: \nChat-Group-Avatar: \nChat-User-Avatar: \nChat-Group-Description: \n"
    b"Chat-Voice-Message: 1\nChat-Duration: \nChat-Webrtc-Room: \nChat-Delete: \nChat-Edit: \n"
    b"COI-Token: \nCOI-TokenIn: \nCOI-TokenOut: \nCOI-From-Hash: \nCOI-Blocked: \n"
    b"List-Id: <\nList-Unsubscribe: <mailto:\nList-Help: <\nPrecedence: list\nAuto-Submitted: auto-replied\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=\n\th=From:To:Subject:Date:Message-ID:MIME-Version:"
    b"Content-Type; bh=\nAuthentication-Results: \nX-Mailer: Delta Chat Core\nX-Spam-Status: No, score=\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0\n"
    b"Return-Path: <\nDelivered-To: \nReceived: from mail.\n\tby mail. with LMTP\n\tid \n\t(envelope-from <\n"
    b"Received: from [127.0.0.1] (localhost [127.0.0.1])\n\tby  (Postfix) with ESMTPSA id \n\tfor <\n"
    b">; Mon, Tue, Wed, Thu, Fri, Sat, Sun, "
    b" Jan  Feb  Mar  Apr  May  Jun  Jul  Aug  Sep  Oct  Nov  Dec 20 +0000 (UTC)\n"
    b'To: "hidden-recipients": ;\nSubject: [...]\nCc: \nIn-Reply-To: <\nReferences: <\n'
    b"Content-Transfer-Encoding: base64\nContent-Transfer-Encoding: 8bit\n"
    b"Content-Transfer-Encoding: 7bit\nContent-Transfer-Encoding: quoted-printable\n"
    b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="\nContent-Type: text/plain; charset="utf-8"\n'
    b"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no\n\n"
    b"Chat-Version: 1.0\nChat-Group-ID: \nChat-Group-Name: =?utf-8?q?\nChat-Disposition-Notification-To: \n"
    b"Autocrypt: addr=; prefer-encrypt=mutual;\n keydata=\nFrom: \nTo: \nSubject: Message from \nDate: \n"
    b"Message-ID: <@localhost>\n=?utf-8?B?=?= <"
)

#: The method of a copy compressed with :data:`BOILERPLATE` alone; ``:<id>`` follows for one with a header.
METHOD = "zdict1"
#: The method of a copy packed with zstd and the archive's dictionary (``:<id>:<offset>`` for one with a header).
ZSTD = "zstd"
LEVEL = 1
#: zlib's ``memLevel``: 7 compresses these copies as well as 8 (the default) and
#: took a steady ~31 us per copy where 8 varied from 27 to 80 us.
MEMORY = 7
#: A longer ``Autocrypt:`` header is left in the copy: zlib reaches back only 32 kB.
MAX_HEADER = 16384

DDL = """CREATE TABLE IF NOT EXISTS autocrypt_headers(
    id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, header BLOB NOT NULL)"""


@dataclass(frozen=True)
class Header:
    """An ``Autocrypt:`` header as a copy carries it (folding and line ends included)."""

    sha256: str
    data: bytes
    #: where it stands in the copy (a zstd copy is packed without it)
    offset: int = 0


@dataclass(frozen=True)
class Packed:
    """A copy as a decoder worker packs it; ``method`` lacks the header's
    id, which only the catalog gives (:func:`keep`)."""

    data: bytes
    method: str
    header: Header | None


def autocrypt_header(raw: bytes) -> bytes | None:
    """The first ``Autocrypt:`` header of the top-level header section, as
    its bytes stand (folding and line ends included); None when there is
    none or it is implausibly long. Only the usual spelling is looked for:
    a header missed is only less compression."""
    span = _header_span(raw)
    return raw[span[0] : span[1]] if span else None


def _header_span(raw: bytes) -> tuple[int, int] | None:
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    end = min(ends) + 1 if ends else len(raw)
    if raw.startswith(b"Autocrypt:"):
        start = 0
    elif (start := raw.find(b"\nAutocrypt:", 0, end) + 1) == 0:
        return None
    stop = raw.find(b"\n", start, end) + 1
    while 0 < stop < end and raw[stop] in b" \t":  # folded onto the next line
        stop = raw.find(b"\n", stop, end) + 1
    if stop == 0 or stop - start > MAX_HEADER:
        return None
    return start, stop


def pack(raw: bytes, ident: int | None = None) -> Packed:
    """Compress one copy (in the decoder worker): with zstd and the
    archive's dictionary ``ident`` when it has one."""
    if ident is not None:
        return _pack_zstd(raw, ident)
    header = autocrypt_header(raw)
    packer = zlib.compressobj(
        LEVEL, zlib.DEFLATED, zlib.MAX_WBITS, MEMORY, zdict=BOILERPLATE + header if header else BOILERPLATE
    )
    data = packer.compress(raw) + packer.flush()
    if len(data) >= len(raw):
        return Packed(raw, "none", None)
    return Packed(data, METHOD, Header(hashlib.sha256(header).hexdigest(), header) if header else None)


def sample(raw: bytes) -> bytes:
    """A copy as zstd packs it (without its ``Autocrypt:`` header): what a dictionary is trained on."""
    span = _header_span(raw)
    return raw[: span[0]] + raw[span[1] :] if span else raw


def _pack_zstd(raw: bytes, ident: int) -> Packed:
    """The copy without its ``Autocrypt:`` header, which is stored once
    (:func:`keep`), compressed with zstd."""
    span = _header_span(raw)
    data = packing.compress(sample(raw), ident)
    if len(data) >= len(raw):
        return Packed(raw, "none", None)
    if span is None:
        return Packed(data, ZSTD, None)
    header = raw[span[0] : span[1]]
    return Packed(data, ZSTD, Header(hashlib.sha256(header).hexdigest(), header, span[0]))


def keep(conn: sqlite3.Connection, method: str, header: Header | None) -> str:
    """Store a packed copy's header once (if it has one); returns the
    method to store with the copy. Call in the transaction that inserts it."""
    if header is None:
        return method
    conn.execute("INSERT OR IGNORE INTO autocrypt_headers(sha256, header) VALUES(?, ?)", (header.sha256, header.data))
    (ident,) = conn.execute("SELECT id FROM autocrypt_headers WHERE sha256=?", (header.sha256,)).fetchone()
    return f"{method}:{ident}:{header.offset}" if method == ZSTD else f"{method}:{ident}"


def unpack(conn: sqlite3.Connection, data: bytes, method: str) -> bytes:
    """The bytes of a stored copy, whatever method stored them."""
    if method == "zlib":
        return zlib.decompress(data)
    if method == "none":
        return bytes(data)
    if method == ZSTD or method.startswith(ZSTD + ":"):
        return _unpack_zstd(conn, data, method)
    name, colon, ident = method.partition(":")
    if name != METHOD or (colon and not ident.isdigit()):
        raise ArchiveError(f"a stored copy was compressed with {method!r}, which this version cannot read")
    dictionary = BOILERPLATE
    if ident:
        row = conn.execute("SELECT header FROM autocrypt_headers WHERE id=?", (int(ident),)).fetchone()
        if row is None:
            raise ArchiveError(f"the Autocrypt header {ident} a stored copy was compressed with is missing")
        dictionary += row[0]
    unpacker = zlib.decompressobj(zdict=dictionary)
    return unpacker.decompress(data) + unpacker.flush()


def _unpack_zstd(conn: sqlite3.Connection, data: bytes, method: str) -> bytes:
    rest = packing.decompress(data)
    if method == ZSTD:
        return rest
    ident, _, offset = method[len(ZSTD) + 1 :].partition(":")
    if not ident.isdigit() or not offset.isdigit():
        raise ArchiveError(f"a stored copy was compressed with {method!r}, which this version cannot read")
    return rest[: int(offset)] + _header(conn, int(ident)) + rest[int(offset) :]


def _header(conn: sqlite3.Connection, ident: int) -> bytes:
    row = conn.execute("SELECT header FROM autocrypt_headers WHERE id=?", (ident,)).fetchone()
    if row is None:
        raise ArchiveError(f"the Autocrypt header {ident} a stored copy was compressed with is missing")
    return bytes(row[0])


def drop_unused(conn: sqlite3.Connection) -> int:
    """Delete the headers no stored copy uses (after a purge); returns how many."""
    return conn.execute(
        # 'zdict1:<id>' and 'zstd:<id>:<offset>' both cast to <id>
        "DELETE FROM autocrypt_headers WHERE id NOT IN"
        " (SELECT CAST(substr(compression, instr(compression, ':') + 1) AS INTEGER)"
        " FROM originals WHERE compression LIKE ? || ':%' OR compression LIKE ? || ':%')",
        (METHOD, ZSTD),
    ).rowcount
