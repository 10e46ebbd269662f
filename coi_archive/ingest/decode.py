"""Turn the bytes of one message into an :class:`Envelope`.

The dialect decoders are tried in a fixed order; a decoder that fails on
hostile input never loses the message: it falls back to the mail decoder,
and if even parsing fails the message is kept as ``unparseable``.
"""

from __future__ import annotations

from typing import Callable

from . import autocrypt
from .dialects import coi, coi_early, dcbackup, deltachat, encrypted, mail
from .events import Envelope
from .mime import ParsedMail, sha256_hex

#: A function that may open an encrypted message: returns the inner bytes
#: or raises ``ValueError`` with a reason.  Supplied by the caller (keys).
Decryptor = Callable[[bytes], bytes]

_DIALECTS = (coi_early, coi, deltachat, mail)


def looks_like_mail(pm: ParsedMail) -> bool:
    """At least one real header: binary garbage parses to no headers."""
    keys = [k.lower() for k in pm.msg.keys()]
    known = {"from", "to", "subject", "date", "message-id", "received", "content-type", "mime-version"}
    return any(k in known for k in keys)


def decode(raw: bytes, decryptor: Decryptor | None = None) -> Envelope:
    """Decode one original message.  Never raises."""
    sha = sha256_hex(raw)
    try:
        pm = ParsedMail(raw, sha256=sha)
        if not looks_like_mail(pm):
            return Envelope(message_id=pm.message_id, sha256=sha, dialect="unparseable",
                            quality=0, defects=("NoHeaders",))
    except Exception as exc:  # pragma: no cover - the parser is very tolerant
        return Envelope(message_id=f"sha256-{sha[:40]}@coi-archive.invalid", sha256=sha,
                        dialect="unparseable", quality=0, defects=(type(exc).__name__,))
    if encrypted.matches(pm):
        return encrypted.decode(pm, decryptor, decode_inner)
    # Autocrypt/Autocrypt-Gossip keys become ContactState events (the
    # encrypted decoder adds them from the outer and inner headers itself)
    return autocrypt.with_key_events(decode_parsed(pm), pm)


#: Decoders for stored formats other than rfc822 (records written by
#: readers other than mail, e.g. Delta Chat backups).
FORMATS: dict[str, Callable[[bytes], Envelope]] = {dcbackup.FORMAT: dcbackup.decode_record}


def decode_any(raw: bytes, fmt: str = "rfc822", decryptor: Decryptor | None = None) -> Envelope:
    """Decode stored bytes of any format; never raises."""
    if fmt == "rfc822":
        return decode(raw, decryptor)
    decoder = FORMATS.get(fmt)
    if decoder is None:
        sha = sha256_hex(raw)
        return Envelope(message_id=f"sha256-{sha[:40]}@coi-archive.invalid", sha256=sha,
                        dialect="unparseable", quality=0, defects=(f"UnknownFormat:{fmt}",))
    return decoder(raw)


def decode_parsed(pm: ParsedMail) -> Envelope:
    for dialect in _DIALECTS:
        try:
            if dialect.matches(pm):
                return dialect.decode(pm)
        except Exception as exc:
            env = mail.decode(pm)
            return _with_defect(env, f"DecoderError:{dialect.__name__.rsplit('.', 1)[-1]}:{type(exc).__name__}")
    return mail.decode(pm)


def decode_inner(pm: ParsedMail) -> Envelope:
    """Decode the decrypted inner message (used by the encrypted decoder)."""
    return decode_parsed(pm)


def _with_defect(env: Envelope, defect: str) -> Envelope:
    from dataclasses import replace

    return replace(env, defects=env.defects + (defect,))
