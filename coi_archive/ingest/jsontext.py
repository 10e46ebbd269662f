"""JSON text as the stdlib writes and reads it, at orjson's speed.

Envelopes and folded messages are stored as the text
``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` writes, and
read back two or three times per ingest; the stdlib's encoder and parser were
~20 % of a decode worker's time and the larger part of reading an envelope
back. orjson writes the very same text for strings (the same escapes),
integers, booleans, None, lists, tuples, dicts and enums, and reads the same
values back, with three exceptions handled here so that the stored bytes
never change:

* a float that is not 0 and below 1e-4 in magnitude (``1e-05``: orjson
  writes ``0.00001``), or not finite (orjson writes ``null``, the stdlib
  ``NaN``): the caller names the floats it may hold (``floats=``), and such a
  value is written by the stdlib;
* an integer beyond 64 bits: orjson refuses to write it (the stdlib writes
  it) and reads one as a float, so text with a run of 19 digits is read by
  the stdlib (a false alarm only costs time);
* whatever else orjson refuses (a lone surrogate, ``NaN`` in old text, a
  type neither knows) goes to the stdlib, which answers or raises as it
  always did.

A large value (over :data:`MAX_CHARS` characters of text) is written and
read by the stdlib too: orjson reserves several bytes per character up
front, and where memory is capped (``RLIMIT_AS``) a reservation that fails
crashes the process (orjson 3.13: a 300 MB string under a 1.5 GB cap) where
the stdlib raises ``MemoryError``.  Only huge hostile mail gets there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson

#: Text above this many characters is left to the stdlib (see above).
MAX_CHARS = 1 << 20

#: bytes.translate table: every digit becomes "0", every other byte stays.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= i <= 0x39 else i for i in range(256))
#: 2**63 has 19 digits: a shorter number is read alike by both.
_LONG_NUMBER = b"0" * 19


def stdlib_text(value: Any) -> str:
    """The stored form, as the stdlib writes it (the reference)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def same_float(value: Any) -> bool:
    """Whether orjson writes ``value`` as the stdlib does (anything but a
    float is left to the rest of the encoder)."""
    return type(value) is not float or value == 0 or 1e-4 <= abs(value) < float("inf")


def chars(value: Any, budget: int = MAX_CHARS) -> int:
    """The characters of text in ``value`` (strings, and one per item of a
    list, tuple or dict), counted until they pass ``budget``."""
    if type(value) is str:
        return len(value)
    if type(value) is dict:
        value = [*value.keys(), *value.values()]
    elif type(value) is not list and type(value) is not tuple:
        return 0
    total = len(value)
    for item in value:
        total += len(item) if type(item) is str else chars(item, budget - total)
        if total > budget:
            break
    return total


def dumps(value: Any, *, floats: Iterable[Any] = ()) -> bytes:
    """UTF-8 of :func:`stdlib_text` (``value``); ``floats`` are the floats
    ``value`` may hold."""
    if all(map(same_float, floats)) and chars(value) <= MAX_CHARS:
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:
            pass
    return stdlib_text(value).encode()


def loads(text: bytes | str) -> Any:
    """``json.loads`` of the text (bytes are UTF-8, as stored)."""
    try:
        data = text.encode() if isinstance(text, str) else text
    except UnicodeEncodeError:  # a lone surrogate: only the stdlib reads it
        return json.loads(text)
    if len(data) <= MAX_CHARS and _LONG_NUMBER not in data.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text if isinstance(text, str) else text.decode())
