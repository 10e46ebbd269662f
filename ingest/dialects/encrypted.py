"""PGP/MIME (``multipart/encrypted``, RFC 3156) messages.

Without a key the message is kept as "encrypted, not readable": its outer
headers (sender, Message-ID, date) are all an archive can know.  With a
decryptor the inner message is decoded by the normal dialect decoders.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..events import Envelope, Unreadable
from ..mime import ParsedMail


def matches(pm: ParsedMail) -> bool:
    if pm.content_type == "multipart/encrypted":
        return True
    return any(leaf.mime == "application/pgp-encrypted" for leaf in pm.leaves[:2])


def decode(pm: ParsedMail, decryptor: Callable[[bytes], bytes] | None,
           decode_inner: Callable[[ParsedMail], Envelope]) -> Envelope:
    if decryptor is None:
        return sealed(pm, "no key")
    try:
        inner_raw = decryptor(pm.raw)
    except ValueError as exc:
        return sealed(pm, str(exc) or "cannot decrypt")
    inner = decode_inner(ParsedMail(inner_raw))
    return replace(inner, message_id=pm.message_id, sha256=pm.sha256, encrypted=True, quality=3)


def sealed(pm: ParsedMail, reason: str) -> Envelope:
    return pm.envelope("encrypted", None, (Unreadable(reason=reason),), encrypted=True, quality=0)
