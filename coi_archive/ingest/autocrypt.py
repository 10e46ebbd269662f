"""Autocrypt (``Autocrypt:``) and Autocrypt-Gossip headers.

Every Delta Chat message carries its sender's public key in an
``Autocrypt:`` header (inside the encryption when the message is
encrypted), and group messages gossip the other members' keys in
``Autocrypt-Gossip:`` headers.  We record each key as a
:class:`ContactState` event with the fields ``key`` (the key's fingerprint,
upper-case hex) and, for ``Autocrypt:``, ``prefer_encrypt`` (``mutual`` or
``nopreference``), so the contact history shows which key a contact used
over time.

The fingerprint is computed here from the first packet of ``keydata``
(RFC 9580: SHA-1 over ``0x99 || len16 || body`` for v4 keys, SHA-256 over
``0x9B || len32 || body`` for v6 keys), without any OpenPGP library: it
costs a few microseconds and is cached per key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from functools import lru_cache

from . import defects
from .events import ContactState
from .mime import ParsedMail, norm_addr, raw_header_all

_ATTR_RE = re.compile(r"\s*([A-Za-z_-]+)\s*=\s*")


def parse_header(value: str) -> dict[str, str]:
    """``addr=a@b; prefer-encrypt=mutual; keydata=...`` -> dict (lower-case
    attribute names; whitespace inside keydata removed)."""
    out: dict[str, str] = {}
    for chunk in value.split(";"):
        m = _ATTR_RE.match(chunk)
        if not m:
            continue
        name = m.group(1).lower()
        val = chunk[m.end() :]
        val = "".join(val.split()) if name == "keydata" else val.strip()
        out.setdefault(name, val)
    return out


def key_bytes(keydata: str) -> bytes | None:
    """The binary key of a base64 ``keydata`` attribute (None if broken)."""
    try:
        return base64.b64decode(keydata + "=" * (-len(keydata) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None


def _first_packet(data: bytes) -> tuple[int, bytes] | None:
    """(tag, body) of the first OpenPGP packet, or None."""
    if len(data) < 2 or not data[0] & 0x80:
        return None
    first = data[0]
    if first & 0x40:  # new format
        tag = first & 0x3F
        o = data[1]
        if o < 192:
            length, pos = o, 2
        elif o < 224:
            if len(data) < 3:
                return None
            length, pos = ((o - 192) << 8) + data[2] + 192, 3
        elif o == 255:
            if len(data) < 6:
                return None
            length, pos = int.from_bytes(data[2:6], "big"), 6
        else:  # partial lengths never occur in key packets
            return None
    else:  # old format
        tag = (first >> 2) & 0x0F
        ltype = first & 0x03
        size = {0: 1, 1: 2, 2: 4}.get(ltype)
        if size is None or len(data) < 1 + size:
            return None
        length, pos = int.from_bytes(data[1 : 1 + size], "big"), 1 + size
    body = data[pos : pos + length]
    if len(body) != length:
        return None
    return tag, body


@lru_cache(maxsize=4096)
def fingerprint(keydata: bytes) -> str | None:
    """Upper-case hex fingerprint of the primary key in ``keydata``."""
    packet = _first_packet(keydata)
    if packet is None:
        return None
    tag, body = packet
    if tag not in (5, 6) or not body:  # secret or public key
        return None
    version = body[0]
    if tag == 5:  # a secret key: hash only its public part (v4 only)
        return None
    if version == 4:
        return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()
    if version == 6:
        return hashlib.sha256(b"\x9b" + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    if version == 5:
        return hashlib.sha256(b"\x9a" + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    return None


@lru_cache(maxsize=4096)
def keydata_fingerprint(keydata: str) -> str | None:
    data = key_bytes(keydata)
    return fingerprint(data) if data else None


@lru_cache(maxsize=4096)
def _parsed(value: str) -> tuple[tuple[str, str], ...]:
    return tuple(parse_header(value).items())


def header_events(pm: ParsedMail, gossip: bool = True) -> list[ContactState]:
    """ContactState events for the Autocrypt (and gossip) headers of one
    message part's top-level headers."""
    out: list[ContactState] = []
    if not pm.has("Autocrypt") and not (gossip and pm.has("Autocrypt-Gossip")):
        return out
    for value in raw_header_all(pm.msg, "Autocrypt"):
        attrs = dict(_parsed(value))
        addr = norm_addr(attrs.get("addr", ""))
        fpr = _key_fingerprint(attrs, "Autocrypt")
        if not addr or not fpr:
            continue
        prefer = attrs.get("prefer-encrypt", "nopreference").lower() or "nopreference"
        out.append(ContactState(address=addr, fields=(("key", fpr), ("prefer_encrypt", prefer))))
    if gossip:
        for value in raw_header_all(pm.msg, "Autocrypt-Gossip"):
            attrs = dict(_parsed(value))
            addr = norm_addr(attrs.get("addr", ""))
            fpr = _key_fingerprint(attrs, "Autocrypt-Gossip")
            if addr and fpr:
                out.append(ContactState(address=addr, fields=(("key", fpr),)))
    return out


def _key_fingerprint(attrs: dict[str, str], header_name: str) -> str | None:
    """The fingerprint of a header's ``keydata``; a key that cannot be read
    is a defect (noted here, outside the cache, so each message records it)."""
    fpr = keydata_fingerprint(attrs.get("keydata", ""))
    if fpr is None:
        defects.note(
            "BadAutocryptKey",
            "autocrypt",
            f"{header_name} for {attrs.get('addr', '')!r}: keydata is not an OpenPGP public key",
        )
    return fpr


def merge(events: tuple, keys: list[ContactState]) -> tuple:
    """``events`` plus the key events not already among them."""
    out = list(events)
    for ev in keys:
        if ev not in out:
            out.append(ev)
    return tuple(out)


def with_key_events(env, pm: ParsedMail):
    """An envelope with the Autocrypt key events of ``pm`` appended."""
    from dataclasses import replace

    keys = header_events(pm)
    if not keys:
        return env
    return replace(env, events=merge(env.events, keys))
