"""Turn the bytes of one message into an :class:`Envelope`.

The dialect decoders are tried in a fixed order; a decoder that fails on
hostile input never loses the message: it falls back to the mail decoder,
and if even parsing fails the message is kept as ``unparseable``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from . import autocrypt, defects
from .dialects import coi, coi_early, common, dcbackup, deltachat, encrypted, mail
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
        return _with_signature(autocrypt.with_key_events(decode_parsed(pm), pm), pm, decryptor)
    except Exception as exc:  # the last boundary: hostile bytes never stop an ingest
        return _unparseable(sha, Defect("DecoderError", "decode", defects.describe(exc)))


def _with_signature(env: Envelope, pm: ParsedMail, decryptor: Decryptor | None) -> Envelope:
    """A signed message (``multipart/signed``, not encrypted) with its
    signature verdict, checked against the certificates of the keys given
    (a decryptor that offers ``certs``) and of the message's own Autocrypt
    headers; every other message as it is."""
    if pm.content_type != "multipart/signed":
        return env
    from .crypto import header_certs, signed_headers, verify_signed

    sources = (pm.raw, *signed_headers(pm.raw, pm.msg))
    certs_of = getattr(decryptor, "certs", None)
    certs = certs_of(*sources) if callable(certs_of) else header_certs(*sources)
    return replace(env, signature=verify_signed(pm.raw, pm.msg, certs))


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
    """Decode a parsed message with the first dialect that matches, and
    note the public keys it attaches (:func:`_with_attached_keys`)."""
    return _with_attached_keys(_decode_dialect(pm), pm)


def _with_attached_keys(env: Envelope, pm: ParsedMail) -> Envelope:
    keys = tuple(dict.fromkeys(fpr for leaf in pm.leaves if (fpr := common.key_fingerprint(leaf))))
    return replace(env, attached_keys=keys) if keys else env


def _decode_dialect(pm: ParsedMail) -> Envelope:
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
