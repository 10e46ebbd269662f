"""Reading inside encrypted originals with a key the caller holds: the
archive stores what arrived (ciphertext for an encrypted message), so the
bytes of an attachment and the Autocrypt keys an encrypted message carries
can only be had from the inner message kept when a key opened it
(:mod:`.decrypted`) or by decrypting it again.  Used by the Delta Chat
backup export, which is given the account's own key.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import sqlite3
from collections.abc import Iterable

from coi_archive.ingest.autocrypt import fingerprint, key_bytes, parse_header
from coi_archive.ingest.decode import Decryptor
from coi_archive.ingest.dialects import encrypted
from coi_archive.ingest.mime import ParsedMail, find_part, norm_addr, parse_bytes, part_bytes

from .decrypted import opened
from .errors import ArchiveError
from .read_messages import attachment as stored_attachment
from .read_messages import message
from .read_originals import raw, raw_format


def plain(conn: sqlite3.Connection, message_id: str, decryptor: Decryptor | None) -> bytes:
    """The canonical copy of a mail message, decrypted when it is
    encrypted and was opened at ingest (its kept inner message) or
    ``decryptor`` opens it (else as stored)."""
    kept = opened(conn, message_id)
    if kept is not None:
        return kept
    data = raw(conn, message_id)
    if decryptor is None or raw_format(conn, message_id) != "rfc822":
        return data
    try:
        if not encrypted.matches(ParsedMail(data)):
            return data
        return decryptor(data).inner  # type: ignore[attr-defined]  # a crypto.Keyring gives Decrypted
    except (ValueError, TypeError, AttributeError):  # not ours to open, or damaged
        return data


def attachment(
    conn: sqlite3.Connection, message_id: str, part: str, decryptor: Decryptor | None
) -> tuple[str, str, bytes]:
    """(filename, mime, bytes) of an attachment, read from the decrypted
    message when the stored copy is encrypted."""
    if decryptor is None or raw_format(conn, message_id) != "rfc822" or opened(conn, message_id) is not None:
        return stored_attachment(conn, message_id, part)
    msg = message(conn, message_id)
    for att in msg["attachments"]:
        if att.get("part") == part:
            node = find_part(parse_bytes(plain(conn, message_id, decryptor)), part)
            if node is None:
                break
            return att["filename"], att["mime"], part_bytes(node)
    raise ArchiveError(f"no attachment {part} in {message_id}")


def autocrypt_keys(
    conn: sqlite3.Connection, message_ids: Iterable[str], decryptor: Decryptor | None
) -> dict[str, tuple[str, bytes]]:
    """``{address: (fingerprint, binary public key)}``: the newest key each
    address sent in an ``Autocrypt`` header (or that was gossiped for it in
    ``Autocrypt-Gossip``, which a sender's own header overrides) among
    these messages, taken in the order given (oldest first)."""
    own: dict[str, tuple[str, bytes]] = {}
    gossip: dict[str, tuple[str, bytes]] = {}
    for mid in message_ids:
        try:
            data = plain(conn, mid, decryptor)
        except ArchiveError:
            continue
        head = email.message_from_bytes(
            data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0], policy=email.policy.compat32
        )
        for name, into in (("Autocrypt", own), ("Autocrypt-Gossip", gossip)):
            for value in head.get_all(name) or ():
                found = _key(str(value))
                if found:
                    into[found[0]] = found[1]
    return {**gossip, **own}


def _key(value: str) -> tuple[str, tuple[str, bytes]] | None:
    attrs = parse_header(" ".join(value.split()))
    addr = norm_addr(attrs.get("addr") or "")
    data = key_bytes(attrs.get("keydata") or "")
    fpr = fingerprint(data) if data else None
    if not addr or not data or not fpr:
        return None
    return addr, (fpr.upper(), data)


def group_avatar(conn: sqlite3.Connection, message_id: str, decryptor: Decryptor | None) -> bytes | None:
    """The image a group-image change carries (``Chat-Group-Avatar``:
    inline ``base64:...``, or the name of an attached file); None when it
    carries none (the image was removed) or cannot be read."""
    try:
        data = plain(conn, message_id, decryptor)
    except ArchiveError:
        return None
    pm = ParsedMail(data)
    value = "".join(pm.header("Chat-Group-Avatar").split())
    if not value or value == "0":
        return None
    if value.startswith("base64:"):
        try:
            return base64.b64decode(value[7:] + "=" * (-len(value[7:]) % 4))
        except (binascii.Error, ValueError):
            return None
    for leaf in pm.leaves:
        if leaf.filename == value:
            return part_bytes(leaf.part)
    return None
