"""Turn the bytes of one message into an :class:`Envelope`.

The dialect decoders are tried in a fixed order; a decoder that fails on
hostile input never loses the message: it falls back to the mail decoder,
and if even parsing fails the message is kept as ``unparseable``.
"""

from __future__ import annotations

from collections.abc import Callable

from . import autocrypt, defects
from .dialects import coi, coi_early, dcbackup, deltachat, encrypted, mail
from .events import Defect, Envelope, Quality
from .mime import ParsedMail, sha256_hex

#: A function that may open an encrypted message: returns the inner bytes
#: or raises ``ValueError`` with a reason.  Supplied by the caller (keys).
Decryptor = Callable[[bytes], bytes]

_DIALECTS = (coi_early, coi, deltachat, mail)


def looks_like_mail(pm: ParsedMail) -> bool:
    """At least one real header: binary garbage parses to no headers."""
    keys = [k.lower() for k in pm.msg]
    known = {"from", "to", "subject", "date", "message-id", "received", "content-type", "mime-version"}
    return any(k in known for k in keys)


def decode(raw: bytes, decryptor: Decryptor | None = None) -> Envelope:
    """Decode one original message.  Never raises: what the decoders could
    not read is recorded as defects on the envelope (the original is kept)."""
    sha = sha256_hex(raw)
    with defects.collecting() as found:
        env = _decode(raw, sha, decryptor)
    return defects.attach(env, found)


def _decode(raw: bytes, sha: str, decryptor: Decryptor | None) -> Envelope:
    try:
        pm = ParsedMail(raw, sha256=sha)
        if not looks_like_mail(pm):
            return _unparseable(sha, Defect("NoHeaders", "decode", "no mail header found"), pm.message_id)
        if encrypted.matches(pm):
            return encrypted.decode(pm, decryptor, decode_inner)
        # Autocrypt/Autocrypt-Gossip keys become ContactState events (the
        # encrypted decoder adds them from the outer and inner headers itself)
        return autocrypt.with_key_events(decode_parsed(pm), pm)
    except Exception as exc:  # the last boundary: hostile bytes never stop an ingest
        return _unparseable(sha, Defect("DecoderError", "decode", defects.describe(exc)))


def _unparseable(sha: str, defect: Defect, message_id: str | None = None) -> Envelope:
    """A message no decoder could read: kept, sealed in its original bytes."""
    return Envelope(
        message_id=message_id or f"sha256-{sha[:40]}@coi-archive.invalid",
        sha256=sha,
        dialect="unparseable",
        quality=Quality.UNREADABLE,
        defects=(defect,),
    )


#: Decoders for stored formats other than rfc822 (records written by
#: readers other than mail, e.g. Delta Chat backups).
FORMATS: dict[str, Callable[[bytes], Envelope]] = {dcbackup.FORMAT: dcbackup.decode_record}


def decode_any(raw: bytes, fmt: str = "rfc822", decryptor: Decryptor | None = None) -> Envelope:
    """Decode stored bytes of any format; never raises."""
    if fmt == "rfc822":
        return decode(raw, decryptor)
    decoder = FORMATS.get(fmt)
    if decoder is None:
        return _unparseable(sha256_hex(raw), Defect("UnknownFormat", "decode", f"stored format {fmt!r}"))
    with defects.collecting() as found:
        try:
            env = decoder(raw)
        except Exception as exc:  # the last boundary, as in decode()
            env = _unparseable(sha256_hex(raw), Defect("DecoderError", fmt, defects.describe(exc)))
    return defects.attach(env, found)


def decode_parsed(pm: ParsedMail) -> Envelope:
    for dialect in _DIALECTS:
        try:
            if dialect.matches(pm):
                return dialect.decode(pm)
        except Exception as exc:  # a dialect decoder failed on hostile input: read it as plain mail
            where = dialect.__name__.rsplit(".", 1)[-1]
            return defects.attach(mail.decode(pm), [Defect("DecoderError", where, defects.describe(exc))])
    return mail.decode(pm)


def decode_inner(pm: ParsedMail) -> Envelope:
    """Decode the decrypted inner message (used by the encrypted decoder)."""
    return decode_parsed(pm)
