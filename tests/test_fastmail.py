"""The decode speed-ups answer exactly as the stdlib pieces they replace."""

from __future__ import annotations

import re
from email import feedparser as email_feedparser
from email import message_from_bytes
from email.utils import getaddresses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coi_archive.ingest import defects, mime
from coi_archive.ingest.decode import decode
from coi_archive.ingest.fastmail import IndexedMessage, _Boundary, cached_property, named
from coi_archive.ingest.mime import addresses, norm_addr, parse_bytes

RAW = (
    b"From: Ann <ann@example.org>\n"
    b"To: bob@example.org\n"
    b"Content-Type: text/plain; charset=utf-8; format=flowed\n"
    b"X-Twice: one\n"
    b"x-twice: two\n"
    b"Subject: caf\xc3\xa9\n"
    b"\n"
    b"hello\n"
)


def both() -> tuple[IndexedMessage, object]:
    fast = parse_bytes(RAW)
    assert isinstance(fast, IndexedMessage)
    return fast, message_from_bytes(RAW)


def lookups(msg) -> list:
    return [
        msg.get("x-TWICE"),
        msg.get("missing", "fallback"),
        msg["Subject"] and str(msg["Subject"]),
        "X-Twice" in msg,
        "nope" in msg,
        msg.get_content_type(),
        msg.get_param("format"),
        msg.get_content_charset(),
        msg.get_params(),
        msg.get_params(header="x-twice", unquote=False),
        msg.get_params(failobj="none", header="missing"),
        msg.get_filename(),
    ]


def test_indexed_message_reads_like_the_stdlib():
    fast, plain = both()
    assert lookups(fast) == lookups(plain)
    assert named(fast, "x-twice") == named(plain, "x-twice") == [("X-Twice", "one"), ("x-twice", "two")]


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.replace_header("X-Twice", "replaced"),
        lambda m: m.__delitem__("X-Twice"),
        lambda m: m.__setitem__("X-Twice", "added"),
        lambda m: m.set_param("format", "fixed"),
        lambda m: (m.__delitem__("To"), m.__delitem__("From"), m.__setitem__("To", "a@x"), m.add_header("From", "b")),
    ],
)
def test_indexed_message_sees_every_change(change):
    fast, plain = both()
    assert lookups(fast) == lookups(plain)  # the index is built before the change
    change(fast)
    change(plain)
    assert lookups(fast) == lookups(plain)
    for name in ("x-twice", "to", "from", "content-type"):
        assert named(fast, name) == named(plain, name)


def test_parts_keep_their_default_type():
    raw = (
        b"Content-Type: multipart/digest; boundary=b\n\n--b\n\nFrom: a@x\n\n--b\n"
        b"Content-Type: text/plain\n\nhi\n--b--\n"
    )
    fast, plain = parse_bytes(raw), message_from_bytes(raw)
    assert [p.get_content_type() for p in fast.walk()] == [p.get_content_type() for p in plain.walk()]
    types = ["multipart/digest", "message/rfc822", "text/plain", "text/plain"]
    assert [p.get_content_type() for p in fast.walk()] == types
    part = fast.get_payload(1)
    part.set_default_type("message/rfc822")
    del part["Content-Type"]
    assert part.get_content_type() == "message/rfc822"


def test_cached_property_computes_once_per_object():
    calls = []

    class Thing:
        @cached_property
        def value(self) -> int:
            calls.append(1)
            return len(calls)

    a, b = Thing(), Thing()
    assert (a.value, a.value, b.value) == (1, 1, 2)


@pytest.mark.parametrize(
    "to",
    [
        "=?utf-8?q?J=C3=BCrgen?= <J@Example.org>, bob@example.org,\n Carol Doe <carol@example.org>, bob@example.org",
        '"Doe, Jane" <jane@example.org>, bob@example.org',  # a comma inside quotes: parsed whole
        "ann@example.org (Ann, the first), <bob@example.org>",
        "undisclosed-recipients:;, bob@example.org",
    ],
)
def test_addresses_one_at_a_time_equal_the_whole_list(to):
    msg = parse_bytes(f"From: x@example.org\nTo: {to}\nCc: dan@example.org\n\n".encode())
    expected: list[tuple[str, str]] = []
    for display, addr in getaddresses([to, "dan@example.org"]):
        addr = norm_addr(addr)
        if "@" in addr and addr not in {a for _, a in expected}:
            expected.append((display, addr))
    got = addresses(msg, "To", "Cc")
    assert [a for _, a in got] == [a for _, a in expected]
    assert [d for d, _ in got][0] in ("Jürgen", "Doe, Jane", "Ann, the first", "")


_ADDRESS_TOKENS = [
    "ann@example.org",
    " <bob@example.org>",
    "Carol Doe <carol@example.org>",
    '"Mia O\'Neill" <mia@example.org>',
    '"Doe, Jane" <jane@example.org>',  # a comma inside quotes
    '"x@y, <z>" <quoted@example.org>',
    '"esc\\"aped" <esc@example.org>',  # a backslash in quotes
    '"cr\r, inside" <cr@example.org>',  # CR ends a quoted string in the stdlib parser
    '"open <open@example.org>',  # an unclosed quote
    '"a"b"c" <abc@example.org>',
    "=?utf-8?q?J=C3=BCrgen?= <j@example.org>",
    "=?bogus-8?q?x?= <bogus@example.org>",
    "dan@example.org (Dan, comment)",
    "team: eve@example.org, fay@example.org;",
    "\n gus@example.org",
    "",
    " ",
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_ADDRESS_TOKENS), min_size=1, max_size=5), min_size=1, max_size=3))
def test_split_address_lists_parse_as_the_whole_list(values):
    """A list cut at commas outside quotes and parsed an address at a time
    gives what the stdlib gives for the whole list, or is not cut."""
    joined = tuple(",".join(tokens) for tokens in values)
    split = mime._split_addresses(joined)
    whole = mime._parse_addresses.__wrapped__(joined)
    if any('"' in v for v in joined):  # cut since this round: exactly as the whole list
        assert split is None or split == whole
    elif split is not None:  # cut before: a repeated address's defects noted per piece
        assert split[:2] == whole[:2] and set(split[2]) == set(whole[2])
    if all('"' not in v and "(" not in v and ":" not in v and "\\" not in v for v in joined):
        assert split is not None  # plain lists are always cut


def test_quoted_display_names_are_cut():
    value = '"Mia O\'Neill" <mia@example.org>,\n "Doe, Jane" <jane@example.org>, bob@example.org'
    assert mime._comma_separated(value) == [
        '"Mia O\'Neill" <mia@example.org>',
        '\n "Doe, Jane" <jane@example.org>',
        " bob@example.org",
    ]
    assert mime._split_addresses((value,)) == mime._parse_addresses.__wrapped__((value,))
    assert mime._comma_separated('"open, <o@example.org>') is None


def test_every_message_records_its_own_bad_display_name():
    """The address cache once kept a display name's defect to the first
    message that carried it."""
    raw = b"From: =?x-no-such-charset?q?Ann?= <ann@example.org>\nMessage-ID: <%d@x>\n\nhi\n"
    for i in (1, 2):
        with defects.collecting() as found:
            addresses(parse_bytes(raw % i), "From")
        assert [d.kind for d in found] == ["BadCharset"]
    assert "BadCharset" in {d.kind for d in decode(raw % 3).defects}


def test_every_message_records_its_own_bad_encoded_word():
    """Encoded words are decoded once per value (cached); the defects met
    are noted on every message that carries the value, as before."""
    raw = b"From: ann@example.org\nSubject: =?x-no-such-charset?q?caf=E9?= =?utf-8?q?ok?=\nMessage-ID: <%d@x>\n\nhi\n"
    kinds = []
    for i in (1, 2, 3):
        with defects.collecting() as found:
            subject = mime.header(parse_bytes(raw % i), "Subject")
        kinds.append([d.kind for d in found])
    assert kinds == [["BadCharset"]] * 3
    assert subject == mime._decode_encoded_words("=?x-no-such-charset?q?caf=E9?= =?utf-8?q?ok?=")
    assert "BadCharset" in {d.kind for d in decode(raw % 4).defects}


SEPARATORS = ["--b", "--a+b(c).?*[x]", "--=_Part_1_=", "--"]


@given(
    sep=st.sampled_from(SEPARATORS),
    tail=st.lists(st.sampled_from(["-", " ", "\t", "\r", "\n", "x", "--"]), max_size=8).map("".join),
    glued=st.booleans(),
)
def test_boundary_matcher_matches_as_the_regex(sep, tail, glued):
    line = (sep if glued else "x" + sep) + tail
    pattern = re.compile("(?P<sep>" + re.escape(sep) + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$")
    want = pattern.match(line)
    got = _Boundary(sep).match(line)
    assert (got is None) == (want is None)
    if want is not None and got is not None:
        assert [got.group(g) for g in ("sep", "end", "ws", "linesep")] == [
            want.group(g) for g in ("sep", "end", "ws", "linesep")
        ]


@pytest.mark.parametrize("crlf", [False, True])
def test_multipart_parses_as_the_stdlib_parses(crlf):
    raw = (
        b'Content-Type: multipart/mixed; boundary="a+b(c)"\n\npreamble\n--a+b(c)\n'
        b"Content-Type: multipart/alternative; boundary=inner\n\n--inner\n\nplain\n--inner \t\n"
        b"Content-Type: text/html\n\n<p>x</p>\n--inner--\n--a+b(c)\nContent-Type: text/plain\n\n"
        + b"y" * 9000  # across the 8192-character feed chunks
        + b"\n--a+b(c)-- trailing\nnot closed\n--a+b(c)--\nepilogue\n"
    )
    raw = raw.replace(b"\n", b"\r\n") if crlf else raw
    fast, plain = parse_bytes(raw), message_from_bytes(raw)
    assert fast.as_bytes() == plain.as_bytes()
    shape = [(p.get_content_type(), p.preamble, p.epilogue, [type(d) for d in p.defects]) for p in fast.walk()]
    assert shape == [(p.get_content_type(), p.preamble, p.epilogue, [type(d) for d in p.defects]) for p in plain.walk()]
    assert len(shape) == 5


def test_a_parser_that_disagrees_is_not_used(monkeypatch) -> None:
    """The string boundaries run inside the running Python's own
    ``_parsegen``; should another Python build its boundary pattern
    differently, the import-time probe says no and the stdlib parser reads
    the mail."""
    from coi_archive.ingest import fastmail

    assert fastmail._string_boundaries_agree() and fastmail._PARSER is fastmail._FeedParser

    def other_pattern(pattern: str) -> None:
        raise RuntimeError("unexpected boundary pattern")

    monkeypatch.setattr(fastmail._BoundaryPatterns, "compile", staticmethod(other_pattern))
    assert not fastmail._string_boundaries_agree()
    monkeypatch.undo()
    monkeypatch.setattr(fastmail._Boundary, "match", lambda self, line: None)  # finds no boundary at all
    assert not fastmail._string_boundaries_agree()


_ENDS = ["\n", "\r\n", "\r"]
_HEADER_LINES = [
    "Subject: hi",
    "Subject:",
    "Subject:\t  spaced  ",
    "X-Empty:  ",
    " continued",
    "\tcontinued\t",
    "  ",
    "From someone Mon Jan  1 00:00:00 2024",
    "From: Ann <ann@example.org>",
    ":no name",
    "Name With Space: x",
    "no colon here",
    "X-8bit: caf\udcc3\udca9",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Type: multipart/mixed; boundary=b",
    "Content-Type: message/rfc822",
    "Content-Type: bogus",
    "",
]


@settings(max_examples=600, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(_HEADER_LINES), st.sampled_from(_ENDS)), max_size=8),
    st.sampled_from(["", "\n", "\r\n", "\r", "body\r\n", "\n\nFrom x\r\nbody", "x" * 8190 + "\r\nend"]),
    st.booleans(),
)
def test_one_part_messages_parse_as_the_stdlib_parses(lines, body, unterminated):
    """A one-part message read without the feed parser holds exactly what
    the feed parser makes of it (headers, unix-from, body, defects), for
    odd header blocks too; a multipart or message/* is left to it."""
    from coi_archive.ingest import fastmail

    text = "".join(line + end for line, end in lines) + body
    if unterminated and lines:
        text = "".join(line + end for line, end in lines)[: -len(lines[-1][1])]
    raw = text.encode("ascii", "surrogateescape")
    slow = fastmail._feed(email_feedparser.FeedParser, raw)
    fast = fastmail._single_part(text)
    if slow.get_content_maintype() in ("multipart", "message"):
        assert fast is None
    else:
        assert fast is not None and fastmail.parsed_state(fast) == fastmail.parsed_state(slow)


def test_one_part_path_is_taken_and_probed(monkeypatch) -> None:
    from coi_archive.ingest import fastmail

    assert fastmail._SINGLE_PART and fastmail._single_part_agrees()
    assert fastmail._single_part("To: a\r\n\r\nbody") is not None
    assert fastmail._single_part("Content-Type: multipart/mixed; boundary=b\n\n--b--\n") is None
    monkeypatch.setattr(fastmail, "_FIELD_RE", re.compile(r"([^:]*):(.*)"))  # reads a field otherwise
    assert not fastmail._single_part_agrees()
