"""Envelopes and folded messages are written and read by orjson
(``ingest/jsontext.py``) but must stay the text the stdlib wrote, byte for
byte (the stored blobs and ``envelope_json()`` of old and new archives are
the same): every value orjson writes or reads otherwise is handed to the
stdlib.  The reference here is always the stdlib itself."""

from __future__ import annotations

import dataclasses
import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from coi_archive.index import envelopes, messagedata
from coi_archive.ingest import events, jsontext
from coi_archive.ingest.events import (
    Attachment,
    ChatRef,
    ContactState,
    Defect,
    Envelope,
    EphemeralTimer,
    Post,
    Quality,
    envelope_from_json,
    envelope_to_bytes,
    envelope_to_json,
)


def _stdlib_envelope(env: Envelope) -> str:
    """How envelopes were written before orjson."""
    return json.dumps(events._to_plain(env), ensure_ascii=False, separators=(",", ":"))


def _same(a: object, b: object) -> bool:
    """Equal as JSON text (NaN equals NaN there)."""
    return jsontext.stdlib_text(a) == jsontext.stdlib_text(b)


_floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e-05, -1.5e-7, 5e-324, 1e16, 0.0, -0.0])
_ints = st.integers(min_value=-(2**70), max_value=2**70)
# control characters and lone surrogates too
_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=12)
_leaves = st.none() | st.booleans() | _ints | _floats | _text
_json = st.recursive(_leaves, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_text, kids, max_size=4))


def _floats_in(value: object) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, list):
        return [f for v in value for f in _floats_in(v)]
    if isinstance(value, dict):
        return [f for v in value.values() for f in _floats_in(v)]
    return []


@settings(max_examples=400, deadline=None)
@given(_json)
def test_dumps_writes_what_the_stdlib_writes(value: object) -> None:
    try:
        expected = jsontext.stdlib_text(value).encode()
    except UnicodeEncodeError:  # a lone surrogate: not UTF-8 for either
        return
    assert jsontext.dumps(value, floats=_floats_in(value)) == expected


@settings(max_examples=400, deadline=None)
@given(_json)
def test_loads_reads_what_the_stdlib_reads(value: object) -> None:
    text = jsontext.stdlib_text(value)
    assert _same(jsontext.loads(text), json.loads(text))
    try:
        data = text.encode()
    except UnicodeEncodeError:
        return
    assert _same(jsontext.loads(data), json.loads(text))


def test_long_numbers_are_read_exactly() -> None:
    """orjson reads an integer beyond 64 bits as a float."""
    text = '{"seconds":123456789012345678901234567890,"n":-9223372036854775809,"id":"x1234567890123456789012"}'
    assert jsontext.loads(text.encode()) == json.loads(text)
    assert jsontext.loads(text)["seconds"] == 123456789012345678901234567890


def test_old_text_nan_reads() -> None:
    assert math.isnan(jsontext.loads(b'{"lat":NaN}')["lat"])


def _hostile_envelope(location: tuple[float, float] | None) -> Envelope:
    att = Attachment("sc\u00e4n\x00.bin", "application/octet-stream", 2**64 + 5, "ab" * 32, "1.2", width=1, height=2)
    post = Post(
        'line\r\n\x1b[31m \u2028 \U0001f600 "quoted" \\ /',
        attachments=(att,),
        location=location,
        duration_ms=10**25,
        contact=ContactState("ann@example.org", (("name", "Ann"),)),
    )
    return Envelope(
        message_id="m@example.org",
        sha256="00" * 32,
        dialect="deltachat",
        date=None,
        sender="ann@example.org",
        recipients=("bob@example.org",),
        chat=ChatRef("group", "g1", None, ("ann@example.org",), fallback=ChatRef("direct", "a b")),
        events=(post, EphemeralTimer(-(2**70))),
        quality=Quality.DECRYPTED,
        defects=(Defect("BadCharset", "mime", "x"),),
        headers=(("x-h", "\x7f\x80"),),
        signature=("valid", "AB"),
        addressees=(("to", "B\u00f6b", "bob@example.org"),),
    )


def test_envelope_text_is_the_stdlib_text() -> None:
    """Tiny, NaN and infinite locations, integers beyond 64 bits, escapes,
    non-ASCII, nested dataclasses, an enum: the same text as before."""
    for location in (None, (52.52, 13.405), (1e-05, -1.5e-7), (math.nan, math.inf), (0.0, -0.0)):
        env = _hostile_envelope(location)
        text = envelope_to_json(env)
        assert text == _stdlib_envelope(env)
        assert envelope_to_bytes(env) == text.encode()
        assert envelopes.unpack(envelopes.pack(env).blob) == text
        back = envelope_from_json(text)
        assert envelope_to_json(back) == text
        assert envelopes.load(envelopes.pack(env).blob) == back


def test_envelope_with_a_lone_surrogate_fails_as_before() -> None:
    """``envelope_to_json`` gives the stdlib's text; packing it raises the
    stdlib path's error (no UTF-8 for a lone surrogate), as it did."""
    env = dataclasses.replace(_hostile_envelope(None), subject="\udcff")
    assert envelope_to_json(env) == _stdlib_envelope(env)
    try:
        envelopes.pack(env)
    except UnicodeEncodeError:
        pass
    else:
        raise AssertionError("a lone surrogate was packed")


def test_only_float_field_is_a_location() -> None:
    """``_stored_fields`` checks the floats of ``Post.location`` only: a new
    float field must be checked there too."""
    found = []
    for cls in (Envelope, ChatRef, Attachment, Defect, *events.EVENT_TYPES.values()):
        found += [f"{cls.__name__}.{f.name}" for f in dataclasses.fields(cls) if "float" in str(f.type)]
    assert found == ["Post.location"]


def test_message_data_is_the_stdlib_text() -> None:
    for loc in (None, {"lat": 1e-05, "lon": 2.5}, {"lat": math.nan, "lon": math.inf}, [1e-6, 3.0]):
        msg = {"message_id": "m", "text": "\u00e4\x00\u2028", "location": loc, "seq": 2**65, "size": 7}
        expected = json.dumps(msg, ensure_ascii=False, separators=(",", ":"))
        blob = messagedata.pack(msg)
        assert messagedata.unpack(blob) == expected
        assert _same(messagedata.load(blob), json.loads(expected))
        assert messagedata.load(blob)["seq"] == 2**65


def test_large_values_are_left_to_the_stdlib(monkeypatch) -> None:
    """orjson crashes the process where a large reservation fails under a
    memory cap (tests/test_bounded_input.py): past ``MAX_CHARS`` of text
    the stdlib writes and reads, the same text."""
    monkeypatch.setattr(events, "MAX_CHARS", 1000)
    monkeypatch.setattr(jsontext, "MAX_CHARS", 1000)
    small = Envelope("m@example.org", "00" * 32, "mail", subject="s" * 400, events=(Post("hi"),))
    big = dataclasses.replace(small, events=(Post("A" * 600), Post("B" * 600)))  # large only together
    expected = {env: _stdlib_envelope(env) for env in (small, big)}
    stdlib_calls = []
    real_to_plain = events._to_plain
    monkeypatch.setattr(events, "_to_plain", lambda v: stdlib_calls.append(1) or real_to_plain(v))
    assert envelope_to_bytes(small).decode() == expected[small]
    assert not stdlib_calls
    assert envelope_to_bytes(big).decode() == expected[big]
    assert stdlib_calls
    assert jsontext.chars({"a": ["x" * 600, {"b": "y" * 600}]}) > 1000
    msg = {"text": "z" * 1001, "location": None}
    parsed = []
    monkeypatch.setattr(jsontext.orjson, "loads", lambda data: parsed.append(1))
    assert messagedata.unpack(messagedata.pack(msg)) == jsontext.stdlib_text(msg)
    assert messagedata.load(messagedata.pack(msg)) == msg and not parsed
