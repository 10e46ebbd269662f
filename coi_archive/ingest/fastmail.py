"""Two speed-ups of the stdlib pieces every decode leans on, same results.

Measured on the benchmark mailbox (``benchmarks/profile_ingest.py``): a
decoder asks each MIME part for its headers about a dozen times (content
type, parameters, disposition, address headers), and the stdlib
``Message.get`` lower-cases every header name of the part at each call
(about 400 ``str.lower`` calls per message); ``functools.cached_property``
takes a lock at every first access (Python 3.11), about 4 % of a decode.
"""

from __future__ import annotations

import email.errors
import email.feedparser
import io
import re
import types
from collections.abc import Callable
from email.message import Message
from email.policy import compat32
from typing import Any, Generic, TypeVar, overload

_T = TypeVar("_T")


class cached_property(Generic[_T]):  # noqa: N801 (named as the functools original it replaces)
    """``functools.cached_property`` without its lock (as in Python 3.12):
    the value is stored in the instance's ``__dict__``, so later reads
    never reach this descriptor.  Objects are not shared between threads
    while being decoded, so the lock bought nothing."""

    def __init__(self, func: Callable[[Any], _T]):
        self.func = func
        self.attrname = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.attrname = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached_property[_T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = self.func(instance)
        instance.__dict__[self.attrname] = value
        return value


class IndexedMessage(Message):
    """A compat32 ``Message`` whose header lookups go through an index of
    lower-cased names, built once per part and rebuilt whenever the header
    list changes (another list, another length, or ``replace_header``).
    ``get``, ``in`` and :func:`named` answer exactly as the stdlib does;
    the content type and parameters, asked for about ten times per
    message, are kept with the index and forgotten with it."""

    _headers: list[tuple[str, Any]]
    _default_type: str
    _index: dict[str, list[tuple[str, Any]]] | None = None
    _memo: dict[tuple[str, str], Any]
    _indexed: tuple[list, int] = ([], -1)  # the header list indexed, and its length then

    def by_name(self) -> dict[str, list[tuple[str, Any]]]:
        """``(name as written, value)`` pairs by lower-cased name, in order."""
        headers = self._headers
        if self._index is None or self._indexed[0] is not headers or self._indexed[1] != len(headers):
            index: dict[str, list[tuple[str, Any]]] = {}
            for key, value in headers:
                index.setdefault(key.lower(), []).append((key, value))
            self._index, self._indexed, self._memo = index, (headers, len(headers)), {}
        return self._index

    def get(self, name: str, failobj: Any = None) -> Any:
        found = self.by_name().get(name.lower())
        if not found:
            return failobj
        key, value = found[0]
        return self.policy.header_fetch_parse(key, value)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self.by_name()

    def get_content_type(self) -> str:
        self.by_name()
        key = ("type", self._default_type)
        if key not in self._memo:
            self._memo[key] = super().get_content_type()
        return self._memo[key]

    def _get_params_preserve(self, failobj: Any, header: str) -> Any:
        self.by_name()
        key = ("params", header.lower())
        if key not in self._memo:
            missing = object()
            params = super()._get_params_preserve(missing, header)  # type: ignore[misc]
            self._memo[key] = None if params is missing else params
        params = self._memo[key]
        return failobj if params is None else list(params)

    def replace_header(self, _name: str, _value: Any) -> None:
        self._index = None
        super().replace_header(_name, _value)


def named(msg: Message, lname: str) -> list[tuple[str, Any]]:
    """The ``(name, value)`` headers of ``msg`` called ``lname`` (lower
    case), raw as parsed; any ``Message``, indexed or not."""
    if isinstance(msg, IndexedMessage):
        return msg.by_name().get(lname, [])
    return [(k, v) for k, v in getattr(msg, "_headers", ()) if k.lower() == lname]


# The stdlib feed parser compiles a regular expression for the boundary of
# every multipart message (``re.compile`` of a pattern seen once: the regex
# cache never hits), a tenth of a whole decode on the benchmark mailbox.
# The parser below runs the stdlib's own ``_parsegen`` code, with only the
# name ``re`` inside it bound to :class:`_BoundaryPatterns`, which answers
# that one pattern with a plain string matcher.
_PREFIX = "(?P<sep>"
_SUFFIX = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"


class _BoundaryMatch:
    """What ``_parsegen`` reads of a boundary match: its named groups."""

    __slots__ = ("_groups",)

    def __init__(self, sep: str, end: str | None, ws: str, linesep: str | None):
        self._groups = {"sep": sep, "end": end, "ws": ws, "linesep": linesep}

    def group(self, name: str) -> str | None:
        return self._groups[name]


class _Boundary:
    """``re.match`` of ``_PREFIX + re.escape(sep) + _SUFFIX``, as strings:
    the separator, ``--`` if it closes, blanks, one line end, then the end
    of the line (``$``: the end, or before a final newline)."""

    __slots__ = ("sep",)

    def __init__(self, sep: str):
        self.sep = sep

    def match(self, line: str) -> _BoundaryMatch | None:
        if not line.startswith(self.sep):
            return None
        start = len(self.sep)
        end = "--" if line.startswith("--", start) else None
        start += len(end or "")
        stop = start
        while stop < len(line) and line[stop] in " \t":
            stop += 1
        rest = line[stop:]
        linesep = "\r\n" if rest.startswith("\r\n") else rest[:1] if rest[:1] in ("\r", "\n") else None
        after = rest[len(linesep or "") :]
        if after not in ("", "\n"):
            return None  # no other choice of groups can match either
        return _BoundaryMatch(self.sep, end, line[start:stop], linesep)


class _BoundaryPatterns:
    """The ``re`` of the copied ``_parsegen``: it escapes the separator and
    compiles the boundary pattern, and nothing else."""

    @staticmethod
    def escape(text: str) -> str:
        return text  # the separator reaches compile() as written

    @staticmethod
    def compile(pattern: str) -> _Boundary:
        if not (pattern.startswith(_PREFIX) and pattern.endswith(_SUFFIX)):  # another Python's parser
            raise RuntimeError(f"unexpected boundary pattern {pattern!r}")
        return _Boundary(pattern[len(_PREFIX) : -len(_SUFFIX)])


class _FeedParser(email.feedparser.FeedParser):
    _parsegen = types.FunctionType(
        email.feedparser.FeedParser._parsegen.__code__,  # type: ignore[attr-defined]
        {**vars(email.feedparser), "re": _BoundaryPatterns},
        "_parsegen",
    )


def _feed(parser_class: type[email.feedparser.FeedParser], raw: bytes) -> Message:
    text = raw.decode("ascii", errors="surrogateescape")
    parser = parser_class(IndexedMessage, policy=compat32)
    for i in range(0, len(text), 8192):
        parser.feed(text[i : i + 8192])
    return parser.close()


_PROBE = (
    b'Content-Type: multipart/mixed; boundary="a.b+c"\r\n\r\npreamble\r\n--a.b+c\r\n'
    b"Content-Type: multipart/alternative; boundary=in\r\n\r\n--in\r\n\r\none\r\n--in-- \r\n"
    b"--a.b+c\t\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--a.b+cX\r\n--a.b+c--\r\nepilogue\r\n"
)


def _string_boundaries_agree() -> bool:
    """Whether this Python's parser, run with string boundaries, reads a
    tricky multipart message exactly as the stdlib does (the copied
    ``_parsegen`` is the running Python's own; should a later Python build
    its boundary pattern differently, the stdlib parser is used instead)."""
    try:
        fast = _feed(_FeedParser, _PROBE)
    except Exception:  # noqa: BLE001 - any failure means: do not use it
        return False
    slow = _feed(email.feedparser.FeedParser, _PROBE)
    return fast.as_bytes() == slow.as_bytes() and len(fast.get_payload()) == len(slow.get_payload()) == 2


_PARSER: type[email.feedparser.FeedParser] = _FeedParser if _string_boundaries_agree() else email.feedparser.FeedParser


# A message of one part (no multipart, no message/*: 84 % of the benchmark
# mailbox) needs none of the feed parser's line-by-line work: its header
# block is found and cut into fields by regular expressions, as
# ``_parsegen`` and ``_parse_headers`` cut it, and its body is the rest of
# the text (the parser joins the body's lines back).  A header block with an
# odd line (a continuation first, a From line, a line starting with a colon)
# goes through the stdlib's own ``_parse_headers``; a multipart or message/*
# is parsed again in full.

#: The header block: the lines the feed parser takes for headers (its
#: ``headerRE``), each to its line end (\r\n, \r or \n) or the end of the text.
_HEADER_BLOCK_RE = re.compile(r"(?:(?:From |[\041-\071\073-\176]*:|[\t ])[^\r\n]*(?:\r\n|\r|\n|\Z))*")
#: One field of a header block without odd lines: its name, then its value
#: as ``header_source_parse`` makes it (blanks after the colon and the last
#: line end cut off, continuation lines kept as they are).
_FIELD_RE = re.compile(r"([\041-\071\073-\176]*):[ \t]*([^\r\n]*(?:(?:\r\n|\r|\n)[\t ][^\r\n]*)*)(?:\r\n|\r|\n|\Z)")
#: A blank line ends the header block (the feed parser's ``NLCRE``).
_BLANK_RE = re.compile(r"\r\n|\r|\n")
_parse_headers = email.feedparser.FeedParser._parse_headers  # type: ignore[attr-defined]


class _HeaderShim:
    """The parts of a ``FeedParser`` that ``_parse_headers`` uses: the
    message, the policy, and ``_input.unreadline`` (a From line at the end
    of the header block is given back to the body)."""

    policy = compat32

    def __init__(self, msg: Message):
        self._cur = msg
        self._input = self
        self.unread: list[str] = []

    def unreadline(self, line: str) -> None:
        self.unread.insert(0, line)


def _single_part(text: str) -> Message | None:
    """The message the feed parser makes of ``text``, if it has one part
    (None for any other)."""
    msg = IndexedMessage(policy=compat32)
    block = _HEADER_BLOCK_RE.match(text)
    end = block.end() if block else 0
    offset = end
    if end < len(text):
        blank = _BLANK_RE.match(text, end)
        if blank:
            offset = blank.end()
        else:
            compat32.handle_defect(msg, email.errors.MissingHeaderBodySeparatorDefect())
    given_back = _read_headers(msg, text[:end])
    if msg.get_content_maintype() in ("multipart", "message"):
        return None
    msg.set_payload(given_back + text[offset:])
    return msg


def _read_headers(msg: Message, block: str) -> str:
    """Give ``msg`` the fields of the header block, as ``_parse_headers``
    does; returns what it gives back to the body."""
    if _odd(block):
        shim = _HeaderShim(msg)
        _parse_headers(shim, io.StringIO(block, newline="").readlines())
        return "".join(shim.unread)
    msg._headers.extend(_FIELD_RE.findall(block))  # type: ignore[attr-defined]
    return ""


def _odd(block: str) -> bool:
    """A continuation first, a From line, or a line starting with a colon."""
    return (
        block.startswith((" ", "\t", "From ", ":"))
        or "\nFrom " in block
        or "\rFrom " in block
        or "\n:" in block
        or "\r:" in block
    )


_SINGLE_PROBES = (
    b"From x Mon Jan  1 00:00:00 2024\r\n\tcontinued\r\nSubject: a\r\n b\rFrom y\r\nX: \xe4\r\nFrom z\r\n\r\nbody\r\n",
    b" first\nA:1\n:no name\nFrom mid\nB: 2\nnot a header\nbody\r\n\rend",
    b"To: a\n\n",
    b"Content-Type: text/x; charset=utf-8\r\nFrom last\r\n\r\nFrom body",
    b"",
)


def _single_part_agrees() -> bool:
    """Whether this Python's parser reads one-part messages with odd header
    blocks as :func:`_single_part` does (checked once, at import)."""
    try:
        for raw in _SINGLE_PROBES:
            text = raw.decode("ascii", errors="surrogateescape")
            fast, slow = _single_part(text), _feed(email.feedparser.FeedParser, raw)
            if fast is None or parsed_state(fast) != parsed_state(slow):
                return False
    except Exception:  # noqa: BLE001 - any failure means: do not use it
        return False
    return True


def parsed_state(msg: Message) -> tuple[Any, ...]:
    """What a parsed one-part message holds (defects by type and text)."""
    return (
        msg._headers,  # type: ignore[attr-defined]
        msg.get_unixfrom(),
        msg._payload,  # type: ignore[attr-defined]
        [(type(d), str(d), getattr(d, "line", None)) for d in msg.defects],
        msg._charset,  # type: ignore[attr-defined]
        msg.preamble,
        msg.epilogue,
        msg.get_default_type(),
        msg.is_multipart(),
    )


_SINGLE_PART = _single_part_agrees()


def parse(raw: bytes) -> Message:
    """``email.message_from_bytes(raw, _class=IndexedMessage)``, fed as the
    stdlib parser feeds it, with boundaries matched as strings where this
    Python's parser allows it, a one-part message without the feed parser
    (both checked once, at import)."""
    if _SINGLE_PART:
        msg = _single_part(raw.decode("ascii", errors="surrogateescape"))
        if msg is not None:
            return msg
    return _feed(_PARSER, raw)
