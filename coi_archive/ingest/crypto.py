"""Open PGP/MIME messages with the user's own OpenPGP secret keys.

Delta Chat 2.x writes RFC 9580 messages (a v6 PKESK with an anonymous
recipient, then SEIPDv2 with AES/OCB) that GnuPG 2.2 cannot read; we use
``pysequoia`` (Sequoia-PGP, binary wheel on PyPI), which reads them in about
half a millisecond per message.

:func:`keyring_decryptor` builds a :class:`Keyring`: a callable that takes
the raw bytes of an outer ``multipart/encrypted`` message and returns a
:class:`Decrypted` (the inner MIME bytes plus the signature verdict) or
raises ``ValueError`` with a short, stable reason that ``stats`` groups by:

``no matching key``
    none of the keys given opens a PKESK of the message (a wrong key).
``no key (symmetric/QR password)``
    the message is encrypted to a password only (v6 SKESK): the first
    SecureJoin handshake messages use ``securejoin/<inviter fpr>/<auth>``.
    Such a password can be supplied (see :func:`securejoin_password`).
``damaged ciphertext``
    a key opened the session key but the data does not decrypt or
    authenticate, or the OpenPGP packets cannot be parsed.
``damaged: no OpenPGP data``
    there is no ``-----BEGIN PGP MESSAGE-----`` block at all.

Signatures are checked against the public certificates of the keys given
and the keys carried in the message's own ``Autocrypt``/``Autocrypt-Gossip``
headers (outer and inner).  The verdict is ``(status, signer fingerprint)``
with status ``valid``, ``invalid`` (a known key, a bad signature),
``unknown`` (the signer's key is not known, or the message structure is one
pysequoia 0.1.35 cannot verify: encrypted -> compressed -> signed, which is
what Delta Chat sends; the issuer fingerprint is still recorded) or
``unsigned``.  A detached signature (``multipart/signed``, RFC 1847/3156:
Thunderbird signs, then encrypts; plain signed mail) is checked by
:func:`verify_signed` over the signed part's bytes as on the wire, line
ends made CRLF, against the same certificates.

Key material never leaves this module: no message, log line or exception
text contains it, only file names and fingerprints.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import defects
from .autocrypt import key_bytes
from .mime import PARSE_ERRORS, content_type, part_bytes

# pysequoia's errors carry a Rust backtrace when RUST_BACKTRACE is set;
# capturing it costs more than the decryption.  We only read the first line.
os.environ.setdefault("RUST_LIB_BACKTRACE", "0")

#: What pysequoia raises for data it cannot use: its Rust errors arrive as
#: ``RuntimeError`` (first line: the reason), argument errors as ValueError.
SEQUOIA_ERRORS = (RuntimeError, ValueError)

_ARMOR_RE = re.compile(rb"-----BEGIN PGP MESSAGE-----.*?-----END PGP MESSAGE-----", re.S)
_HEADER_END_RE = re.compile(rb"\r?\n\r?\n")

REASON_NO_MATCH = "no matching key"
REASON_SYMMETRIC = "no key (symmetric/QR password)"
REASON_DAMAGED = "damaged ciphertext"
REASON_NO_DATA = "damaged: no OpenPGP data"


def _ps():
    try:
        import pysequoia  # noqa: F401
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ValueError("pysequoia is not installed (pip install pysequoia)") from exc
    return pysequoia


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


@dataclass(frozen=True)
class Decrypted:
    """What a decryptor returns: the inner message and the signature
    verdict ``(status, signer fingerprint or "")``."""

    inner: bytes
    signature: tuple[str, str] = ("unsigned", "")


@dataclass(frozen=True)
class Reopened:
    """A decryptor for a copy a key opened before: it gives back the inner
    message kept then (no key involved), with the signature verdict reached
    then, so a decoder upgrade reaches decrypted messages without the key.
    A detached signature that verdict left unchecked (signed, then
    encrypted: earlier versions did not check it) is checked now against
    the message's header keys."""

    inner: bytes
    #: None when the run that opened it reached no verdict (a decryptor
    #: that checks no signature)
    signature: tuple[str, str] | None = None

    def __call__(self, raw: bytes) -> Any:  # Decrypted, or the bytes alone: what a decode.Decryptor returns
        status, signer = self.signature or ("unsigned", "")
        verdict = self.signature
        if status in ("unsigned", "unknown") and not signer:
            try:
                msg = message_from_bytes(self.inner)
            except PARSE_ERRORS:  # the decoder reads it as damaged anyway
                msg = None
            if msg is not None:
                certs = header_certs(raw, self.inner, *signed_headers(self.inner, msg))
                verdict = verify_signed(self.inner, msg, certs) or verdict
        return self.inner if verdict is None else Decrypted(self.inner, verdict)


@dataclass
class SecretKey:
    """One secret key: the pysequoia Tsk, its public certificate and the
    file it came from (for messages)."""

    fingerprint: str
    tsk: Any  # pysequoia.Tsk: the library ships no type information
    cert: Any  # pysequoia.Cert
    path: str


def load_secret_key(path: str | os.PathLike) -> SecretKey:
    """Load an ASCII-armoured (or binary) OpenPGP secret key file.

    Raises ``OSError`` for unreadable files and ``ValueError`` (with the
    file name, never the key) for anything that is not a secret key."""
    ps = _ps()
    p = Path(path).expanduser()
    data = p.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            cert = ps.Cert.from_bytes(data)
        except SEQUOIA_ERRORS:
            raise ValueError(f"{p}: not an OpenPGP key") from None
        if not cert.has_secret_keys:
            raise ValueError(f"{p}: holds only a public key, a secret key is needed")
        try:
            tsk = ps.Tsk.from_bytes(data)
            public = tsk.extract_certificate()
        except SEQUOIA_ERRORS:
            raise ValueError(f"{p}: cannot read the secret key") from None
    return SecretKey(fingerprint=cert.fingerprint.upper(), tsk=tsk, cert=public, path=str(p))


def key_files(keys: Iterable[str | os.PathLike] = (), keyrings: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """The key files named, plus every ``*.asc`` in each keyring directory
    (public-only files there are skipped silently)."""
    out: list[Path] = []
    for k in keys:
        out.append(Path(k).expanduser())
    for d in keyrings:
        root = Path(d).expanduser()
        if not root.is_dir():
            raise ValueError(f"{d}: not a directory")
        out.extend(sorted(root.rglob("*.asc")))
    return out


def securejoin_password(qr: str) -> str | None:
    """The SKESK password of a SecureJoin QR code: ``securejoin/<FPR>/<auth>``.

    Accepts ``OPENPGP4FPR:<FPR>#a=...&s=<auth>...`` and the invite link form
    ``https://i.delta.chat/#<FPR>&v=3&i=...&s=<auth>...``."""
    from urllib.parse import unquote

    text = qr.strip()
    if text.lower().startswith("openpgp4fpr:"):
        fpr, _, rest = text[len("openpgp4fpr:") :].partition("#")
    elif "#" in text:
        fragment = text.split("#", 1)[1]
        fpr, _, rest = fragment.partition("&")
    else:
        return None
    if not re.fullmatch(r"[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}", fpr):
        return None
    params = dict(kv.split("=", 1) for kv in rest.split("&") if "=" in kv)
    auth = unquote(params.get("s", ""))
    if not auth:
        return None
    return f"securejoin/{fpr.upper()}/{auth}"


@dataclass
class Keyring:
    """A decryptor over several secret keys (and optional passwords)."""

    keys: list[SecretKey]
    passwords: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._certs: dict[str, object] = {k.fingerprint: k.cert for k in self.keys}

    @property
    def fingerprints(self) -> list[str]:
        return [k.fingerprint for k in self.keys]

    def merged(self, other: Keyring) -> Keyring:
        """A keyring with this one's keys and passwords first, then those
        of ``other`` it lacks (a key is the same by its fingerprint), such
        as the keys given on the command line plus the remembered ones."""
        seen = set(self.fingerprints)
        keys = self.keys + [k for k in other.keys if k.fingerprint not in seen]
        return Keyring(keys, self.passwords + [p for p in other.passwords if p not in self.passwords])

    def __repr__(self) -> str:  # never show key material
        return f"Keyring({len(self.keys)} keys, {len(self.passwords)} passwords)"

    # ------------------------------------------------------------ decrypt

    def __call__(self, raw: bytes) -> Decrypted:
        ps = _ps()
        blob = encrypted_blob(raw)
        if blob is None:
            raise ValueError(REASON_NO_DATA)
        damaged = False
        for key in self.keys:
            try:
                inner = bytes(ps.decrypt(blob, decryptor=key.tsk.decryptor()).bytes)
            except SEQUOIA_ERRORS as exc:
                msg = _first_line(exc)
                if msg.startswith("No key to decrypt"):
                    continue
                damaged = True  # the key opened it, the data is broken
                break
            return Decrypted(inner, self._verdict(ps, blob, key, raw, inner))
        if damaged:
            raise ValueError(REASON_DAMAGED)
        tags = packet_tags(blob)
        if tags is None:
            raise ValueError(REASON_DAMAGED)
        if "SKESK" in tags and self.passwords:
            try:
                inner = bytes(ps.decrypt(blob, passwords=list(self.passwords)).bytes)
                return Decrypted(inner, self._verdict(ps, blob, None, raw, inner))
            except SEQUOIA_ERRORS:
                pass  # no password fits: the reason below says so (Unreadable event)
        if "PKESK" not in tags and "SKESK" in tags:
            raise ValueError(REASON_SYMMETRIC)
        raise ValueError(REASON_NO_MATCH)

    # ------------------------------------------------------------ verify

    def certs(self, *sources: bytes) -> dict[str, Any]:
        """The certificates a signature is checked against: those of the
        keys given, then those in the ``Autocrypt``/``Autocrypt-Gossip``
        headers of ``sources`` (:func:`header_certs`)."""
        certs = dict(self._certs)
        for fpr, cert in header_certs(*sources).items():
            certs.setdefault(fpr, cert)
        return certs

    def _verdict(self, ps, blob: bytes, key: SecretKey | None, raw: bytes, inner: bytes) -> tuple[str, str]:
        """The signature verdict of a decrypted message: the signature in
        the encryption, else a detached one (signed, then encrypted:
        RFC 1847 inside RFC 3156, as Thunderbird sends)."""
        verdict = self._verify(ps, blob, key, raw, inner)
        if verdict[0] != "unsigned":
            return verdict
        try:
            msg = message_from_bytes(inner)
        except PARSE_ERRORS:  # an inner message the decoder reads as damaged anyway
            return verdict
        return verify_signed(inner, msg, self.certs(raw, inner, *signed_headers(inner, msg))) or verdict

    def _verify(self, ps, blob: bytes, key: SecretKey | None, raw: bytes, inner: bytes) -> tuple[str, str]:
        certs = self.certs(raw, inner)
        asked: list[str] = []
        known: list[str] = []

        def store(ids):
            found = []
            for i in ids:
                ident = str(i).upper()
                asked.append(ident)
                for fpr, cert in certs.items():
                    if fpr == ident or fpr.endswith(ident):
                        found.append(cert)
                        known.append(fpr)
            return found

        try:
            if key is not None:
                result = ps.decrypt(blob, decryptor=key.tsk.decryptor(), store=store)
            else:
                result = ps.decrypt(blob, passwords=list(self.passwords), store=store)
        except SEQUOIA_ERRORS as exc:  # the verdict records why: invalid or unknown signer
            msg = _first_line(exc)
            signer = known[0] if known else (asked[0] if asked else "")
            if not asked:
                return ("unsigned", "")
            if msg.startswith("Signature verification failed") and known:
                return ("invalid", signer)
            return ("unknown", signer)
        sigs = list(result.valid_sigs)
        if sigs:
            return ("valid", str(sigs[0].certificate).upper())
        return ("unsigned", "") if not asked else ("unknown", asked[0])


_KEYDATA_RE = re.compile(rb"(?im)^autocrypt(?:-gossip)?:[^\n]*(?:\n[ \t][^\n]*)*")
_KEYDATA_ATTR_RE = re.compile(rb"keydata=([A-Za-z0-9+/=\s]+)")


def header_keydata(raw: bytes) -> list[bytes]:
    """The binary keys in the ``Autocrypt``/``Autocrypt-Gossip`` headers of a
    message's top-level header block (a fast scan, no MIME parse)."""
    m = _HEADER_END_RE.search(raw)
    head = raw[: m.start()] if m else raw
    if b"utocrypt" not in head:
        return []
    out: list[bytes] = []
    for field_ in _KEYDATA_RE.finditer(head.replace(b"\r\n", b"\n")):
        km = _KEYDATA_ATTR_RE.search(field_.group(0))
        if km:
            data = key_bytes(b"".join(km.group(1).split()).decode("ascii"))
            if data:
                out.append(data)
    return out


@lru_cache(maxsize=1024)
def _cert(data: bytes) -> Any:
    """A certificate from key bytes (None if they hold none); the same
    header key comes with every message of a contact, so it is parsed once."""
    try:
        return _ps().Cert.from_bytes(data)
    except SEQUOIA_ERRORS:
        return None


_PUBLIC_KEY_ARMOR = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"


def attached_key(data: bytes) -> str | None:
    """The primary fingerprint of a public key attached as a file, read as
    core reads one (``try_set_peer_key_from_file_part``: an ASCII-armoured
    certificate, which it imports instead of listing the file); None when
    the part holds no readable public key."""
    if _PUBLIC_KEY_ARMOR not in data:
        return None
    cert = _cert(data)
    return cert.fingerprint.upper() if cert is not None else None


def header_certs(*sources: bytes) -> dict[str, Any]:
    """``{fingerprint: certificate}`` of the keys in the ``Autocrypt`` and
    ``Autocrypt-Gossip`` headers of each message or part in ``sources``;
    a header key that is no certificate is a defect."""
    certs: dict[str, Any] = {}
    for source in sources:
        for data in header_keydata(source):
            cert = _cert(data)
            if cert is None:
                defects.note("BadAutocryptKey", "crypto.verify", "a header key is not an OpenPGP certificate")
            else:
                certs.setdefault(cert.fingerprint.upper(), cert)
    return certs


def signed_headers(raw: bytes, msg: Message) -> list[bytes]:
    """The signed first part of a ``multipart/signed`` message, as a source
    of header keys: Thunderbird puts its protected headers (and the
    ``Autocrypt-Gossip`` of the other recipients) there."""
    found = detached_signature(raw, msg)
    return [found[0]] if found else []


def verify_signed(raw: bytes, msg: Message, certs: dict[str, Any]) -> tuple[str, str] | None:
    """The signature verdict ``(status, signer)`` of a ``multipart/signed``
    message (RFC 1847), None when ``msg`` is not one.  An OpenPGP detached
    signature (RFC 3156) is checked against ``certs``; any other (S/MIME)
    or a structure without a readable signature is ``unknown``: the
    message says it is signed, nothing here can check it."""
    if content_type(msg) != "multipart/signed":
        return None
    found = detached_signature(raw, msg)
    if found is None:
        return ("unknown", "")
    return verify_detached(*found, certs)


_DELIMITER_TAIL = rb"(?:--)?[ \t]*(?=\n)"


def detached_signature(raw: bytes, msg: Message) -> tuple[bytes, bytes] | None:
    """``(signed content, signature)`` of an OpenPGP ``multipart/signed``
    message: the first part exactly as on the wire (its headers included,
    line ends made CRLF: what RFC 3156 signs) and the decoded second part.
    None when the protocol is not ``application/pgp-signature`` or the
    parts cannot be found."""
    if str(msg.get_param("protocol") or "").strip().lower() != "application/pgp-signature":
        return None
    boundary, payload = msg.get_boundary(), msg.get_payload()
    head = _HEADER_END_RE.search(raw)
    if not boundary or head is None or not isinstance(payload, list) or len(payload) < 2:
        return None
    body = b"\n" + raw[head.end() :].replace(b"\r\n", b"\n")
    delimiter = re.compile(rb"\n--" + re.escape(boundary.encode("utf-8", "surrogateescape")) + _DELIMITER_TAIL)
    first = delimiter.search(body)
    after = delimiter.search(body, first.end()) if first else None
    if first is None or after is None or not isinstance(payload[1], Message):
        return None
    signed = body[first.end() + 1 : after.start()]
    return signed.replace(b"\n", b"\r\n"), part_bytes(payload[1])


def verify_detached(signed: bytes, signature: bytes, certs: dict[str, Any]) -> tuple[str, str]:
    """Check a detached signature over ``signed``: ``valid`` or
    ``invalid`` with the signer's primary fingerprint when a certificate
    in ``certs`` holds the signing key, else ``unknown`` with the issuer
    the signature names (``""`` when it cannot be read: a defect)."""
    ps = _ps()
    try:
        sig = ps.Sig.from_bytes(signature)
    except SEQUOIA_ERRORS as exc:
        defects.note("UnreadableSignature", "crypto.verify_detached", _first_line(exc))
        return ("unknown", "")
    issuer = str(sig.issuer_fingerprint or sig.issuer_key_id or "").upper()
    cert = next((c for c in certs.values() if issuer and issuer in _key_ids(c)), None)
    if cert is None:
        return ("unknown", issuer)
    signer = cert.fingerprint.upper()
    try:
        result = ps.verify(bytes=signed, store=lambda _ids: [cert], signature=sig)
    except SEQUOIA_ERRORS:  # "Signature verification failed": a known key, a bad signature
        return ("invalid", signer)
    return ("valid", signer) if list(result.valid_sigs) else ("invalid", signer)


_KEY_IDS: dict[str, frozenset[str]] = {}


def _key_ids(cert: Any) -> frozenset[str]:
    """Fingerprints and key ids of a certificate's primary key and
    subkeys (a signature names the key that made it, often a subkey)."""
    fpr = cert.fingerprint.upper()
    if fpr not in _KEY_IDS:
        ids = {fpr}
        for packet in _ps().packet.PacketPile.from_bytes(bytes(cert)):
            for value in (getattr(packet, "fingerprint", None), getattr(packet, "key_id", None)):
                if value:
                    ids.add(str(value).upper())
        _KEY_IDS[fpr] = frozenset(ids)
    return _KEY_IDS[fpr]


def reason_without_key(raw: bytes) -> str:
    """Why a message stays sealed when no key was given: ``no key``, or
    ``no key (symmetric/QR password)`` when its first packet is a SKESK
    (read from the armour in pure Python: no OpenPGP library needed)."""
    m = _ARMOR_RE.search(raw)
    if not m:
        return "no key"
    block = m.group(0).replace(b"\r\n", b"\n")
    body = block.split(b"\n\n", 1)
    if len(body) != 2:
        return "no key"
    head = b"".join(body[1].split(b"\n")[:2]).strip()[:64]
    try:
        first = base64.b64decode(head[: len(head) // 4 * 4])[:1]
    except (binascii.Error, ValueError):
        return "no key"
    if not first or not first[0] & 0x80:
        return "no key"
    tag = first[0] & 0x3F if first[0] & 0x40 else (first[0] >> 2) & 0x0F
    return REASON_SYMMETRIC if tag == 3 else "no key"


def encrypted_blob(raw: bytes) -> bytes | None:
    """The OpenPGP message inside a PGP/MIME message (armoured block, or
    the decoded payload of its ``application/octet-stream`` part)."""
    m = _ARMOR_RE.search(raw)
    if m:
        return m.group(0)
    try:
        msg = message_from_bytes(raw)
    except PARSE_ERRORS:  # no MIME structure: no encrypted part to find
        return None
    for part in msg.walk():
        if part.get_content_type() == "application/octet-stream":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes) and data:  # decode=True gives bytes for a leaf part
                return data
    return None


def packet_tags(blob: bytes) -> set[str] | None:
    """The packet tags at the top of an OpenPGP message (None if it does
    not parse)."""
    ps = _ps()
    try:
        return {str(p.tag).rsplit(".", 1)[-1] for p in ps.packet.PacketPile.from_bytes(blob)}
    except SEQUOIA_ERRORS:  # the caller reports it as damaged ciphertext
        return None


def keyring_decryptor(
    keys: Iterable[str | os.PathLike] = (), keyrings: Iterable[str | os.PathLike] = (), passwords: Iterable[str] = ()
) -> Keyring:
    """A decryptor over key files and keyring directories.

    Raises ``OSError``/``ValueError`` for a named file that cannot be used
    (keyring directories skip files that hold no secret key)."""
    loaded: list[SecretKey] = []
    seen: set[str] = set()
    named = [Path(k).expanduser() for k in keys]
    for path in named:
        key = load_secret_key(path)
        if key.fingerprint not in seen:
            seen.add(key.fingerprint)
            loaded.append(key)
    for path in key_files((), keyrings):
        try:
            key = load_secret_key(path)
        except (OSError, ValueError):
            continue
        if key.fingerprint not in seen:
            seen.add(key.fingerprint)
            loaded.append(key)
    pw = [p for p in passwords if p]
    if not loaded and not pw:
        raise ValueError("no usable secret key found")
    return Keyring(loaded, pw)
