"""PGP/MIME (``multipart/encrypted``, RFC 3156) messages.

Without a key the message is kept as "encrypted, not readable": its outer
headers (sender, Message-ID, date) are all an archive can know.  With a
decryptor the inner message is decoded by the normal dialect decoders.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from email.message import Message

from .. import autocrypt
from ..events import Envelope, Quality, Unreadable
from ..mime import ParsedMail, iso, parse_bytes, sha256_hex

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_FROM_LINE = re.compile(rb"(?i)\nfrom:")
_SIGNED_TYPE = re.compile(rb"(?i)\ncontent-type:\s*multipart/signed")


def matches(pm: ParsedMail) -> bool:
    if pm.content_type == "multipart/encrypted":
        return True
    return any(leaf.mime == "application/pgp-encrypted" for leaf in pm.leaves[:2])


def decode(
    pm: ParsedMail, decryptor: Callable[[bytes], bytes] | None, decode_inner: Callable[[ParsedMail], Envelope]
) -> Envelope:
    if decryptor is None:
        from ..crypto import reason_without_key

        return sealed(pm, reason_without_key(pm.raw))
    try:
        result = decryptor(pm.raw)
    except ValueError as exc:
        return sealed(pm, str(exc) or "cannot decrypt")
    # a decryptor returns the inner bytes, or an object with ``inner`` and
    # ``signature`` (ingest.crypto.Decrypted)
    inner_raw = getattr(result, "inner", result)
    signature = getattr(result, "signature", None)
    inner_raw, detached = lift_signed_headers(inner_raw)
    if detached and (signature is None or tuple(signature)[0] == "unsigned"):
        # signed, then encrypted (RFC 1847 inside RFC 3156): the signature is
        # a part of its own, which the decryptor does not check
        signature = ("unknown", "")
    inner_pm = ParsedMail(with_outer_headers(pm.raw, inner_raw))
    inner = decode_inner(inner_pm)
    # Header protection (RFC 9788): the inner headers are the truth; the
    # outer ones (decoys such as "Subject: [...]") stay in the original.
    # Inner ``HP-Outer:`` copies are never read as headers.  Without inner
    # headers (legacy PGP/MIME) with_outer_headers supplied the outer ones.
    keys = autocrypt.header_events(pm, gossip=False) + autocrypt.header_events(inner_pm)
    return replace(
        inner,
        message_id=pm.message_id,
        sha256=pm.sha256,
        encrypted=True,
        quality=Quality.DECRYPTED,
        date=inner.date or iso(pm.date),
        sender=inner.sender or pm.sender,
        sender_name=inner.sender_name or pm.sender_name,
        events=autocrypt.merge(inner.events, keys),
        signature=tuple(signature) if signature else None,
        delivered=iso(pm.received_date),
        payload_sha256=payload_sha256(pm),
    )


def lift_signed_headers(inner_raw: bytes) -> tuple[bytes, bool]:
    """(the inner message, whether it is ``multipart/signed``).

    Thunderbird signs, then encrypts: the decrypted message is a
    ``multipart/signed`` whose first part carries the protected headers
    (``protected-headers="v1"``: From, Subject, Message-ID...).  Core reads
    that first part as the message; its headers are copied in front, so
    they are the truth while the MIME tree (and every part path) stays as
    it was."""
    head = _HEAD_END.split(inner_raw, 1)[0]
    if not _SIGNED_TYPE.search(b"\n" + head):
        return inner_raw, False
    payload = parse_bytes(inner_raw).get_payload()
    first = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(first, Message):
        return inner_raw, True
    lifted = [
        f"{k}: {v}".replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8", "surrogateescape") + b"\r\n"
        for k, v in first.items()
        if not _not_lifted(k)
    ]
    return b"".join(lifted) + inner_raw, True


def _not_lifted(name: str) -> bool:
    name = name.lower()
    return name.startswith("content-") or name == "mime-version"


def with_outer_headers(outer_raw: bytes, inner_raw: bytes) -> bytes:
    """The inner message, with the outer headers put in front when the
    inner part has no ``From:`` of its own (PGP/MIME without header
    protection), except those the inner part has (they are the truth);
    content headers always come from the inner part."""
    head = _HEAD_END.split(inner_raw, 1)[0]
    if _FROM_LINE.search(b"\n" + head):
        return inner_raw
    inner_names = {
        line.split(b":", 1)[0].strip().lower()
        for line in head.splitlines()
        if line[:1] not in (b" ", b"\t") and b":" in line
    }
    outer_head = _HEAD_END.split(outer_raw, 1)[0]
    kept: list[bytes] = []
    keep = False
    for line in outer_head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if keep:
                kept.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower()
        keep = not (name.startswith(b"content-") or name == b"mime-version" or name in inner_names)
        if keep:
            kept.append(line)
    if kept and not kept[-1].endswith(b"\n"):
        kept[-1] += b"\r\n"
    return b"".join(kept) + inner_raw


def sealed(pm: ParsedMail, reason: str) -> Envelope:
    keys = tuple(autocrypt.header_events(pm, gossip=False))
    return pm.envelope(
        "encrypted",
        None,
        (Unreadable(reason=reason),) + keys,
        encrypted=True,
        quality=Quality.UNREADABLE,
        payload_sha256=payload_sha256(pm),
    )


def payload_sha256(pm: ParsedMail) -> str | None:
    """SHA-256 of the OpenPGP data, whitespace ignored (armour line ends
    differ between a Maildir file and an IMAP copy of the same message)."""
    from ..crypto import encrypted_blob

    blob = encrypted_blob(pm.raw)
    return sha256_hex(b"".join(blob.split())) if blob else None
