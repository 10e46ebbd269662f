"""MIME helpers shared by the dialect decoders.

We parse with the stdlib ``email`` package in its fast ``compat32`` mode and
decode headers ourselves: that is several times faster than
``email.policy.default``, never raises on broken headers, and lets us keep
undeclared 8-bit header bytes (decoded as UTF-8, else Latin-1) instead of
dropping them as mail-parser does.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.errors import MessageError
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache

from . import defects
from .events import Attachment, ChatRef, Defect, Envelope
from .fastmail import cached_property, named, parse
from .images import dimensions

_MSGID_RE = re.compile(r"<([^<>\s]+)>")
_WS_RE = re.compile(r"\s+")
_SURROGATE_RE = re.compile("[\udc80-\udcff]")
#: Headers Delta Chat may carry in the first MIME part instead of the top level
#: (core's ``is_hidden``).
_HIDDEN_HEADERS = ("chat-user-avatar", "chat-group-avatar", "chat-delete", "chat-edit")
_REPLY_PREFIX_RE = re.compile(r"^\s*((re|aw|sv|vs|antw|fw|fwd|wg|tr|rif|r|ref|odp|vl)(\[\d+\])?\s*:\s*)+", re.I)

#: What the stdlib ``email`` package raises on hostile headers, parameters
#: and payloads (``UnicodeError`` and ``binascii.Error`` are ValueErrors,
#: ``HeaderParseError`` a MessageError, an unknown codec a LookupError).
PARSE_ERRORS = (ValueError, LookupError, MessageError)


def parse_bytes(raw: bytes) -> Message:
    """Parse a message; never raises for malformed input."""
    return parse(raw)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fix_8bit(text: str) -> str:
    """Turn surrogate-escaped raw bytes (undeclared 8-bit) back into text."""
    if text.isascii() or not _SURROGATE_RE.search(text):
        return text
    data = text.encode("ascii", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_words(value: object) -> str:
    """Decode RFC 2047 encoded words; tolerate bad charsets and 8-bit bytes."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    value = _fix_8bit(value)
    if "=?" not in value:
        return _WS_RE.sub(" ", value).strip()
    text, noted = _decode_encoded(value)
    for found in noted:  # noted here, not in the cached function: every message records its own
        defects.note(found.kind, found.where, found.detail)
    return text


@lru_cache(maxsize=4096)
def _decode_encoded(value: str) -> tuple[str, tuple[Defect, ...]]:
    """Cached: a group's name and its replies' subject recur on every
    message of the group (a third of the values met were new at the
    benchmark)."""
    with defects.collecting() as noted:
        text = _decode_encoded_words(value)
    return text, tuple(noted)


def _decode_encoded_words(value: str) -> str:
    try:
        parts = decode_header(value)
    except PARSE_ERRORS as exc:
        defects.note("BadEncodedWord", "mime.decode_words", f"{defects.describe(exc)}; kept as written")
        return _WS_RE.sub(" ", value).strip()
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        out.append(decode_bytes(chunk, charset))
    text = ""
    for i, piece in enumerate(out):
        # decode_header drops the space between an encoded word and plain text
        if i and parts[i - 1][1] is None and parts[i][1] is not None and not text.endswith(" "):
            text += " " if not piece.startswith(" ") else ""
        elif i and parts[i - 1][1] is not None and parts[i][1] is None and piece and not piece.startswith(" "):
            text += " "
        text += piece
    return _WS_RE.sub(" ", text).strip()


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode bytes in a declared charset with sensible fallbacks.

    UTF-8 declared but damaged: keep the valid UTF-8, replace the rest.
    ASCII declared or nothing declared: UTF-8, then Windows-1252 (what such
    mail usually is), then Latin-1, which never fails.
    """
    cs = (charset or "").lower().strip()
    if cs in ("utf-8", "utf8"):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            defects.note("BadCharset", "mime.decode_bytes", f"damaged UTF-8 at byte {exc.start}; replaced")
            return data.decode("utf-8", "replace")
    candidates = [cs] if cs and cs not in ("us-ascii", "ascii", "unknown-8bit", "x-unknown") else []
    for name in (*candidates, "utf-8", "cp1252"):
        try:
            text = data.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
        if candidates and name != candidates[0]:
            defects.note("BadCharset", "mime.decode_bytes", f"not {cs!r}; read as {name}")
        return text
    if candidates:
        defects.note("BadCharset", "mime.decode_bytes", f"not {cs!r}; read as latin-1")
    return data.decode("latin-1")


def raw_header(msg: Message, name: str) -> str | None:
    """The first value of a header as a string, 8-bit bytes kept.

    Reads the parsed header list directly: compat32 would wrap a value
    with raw 8-bit bytes in a ``Header`` whose ``str()`` loses them.
    """
    for _key, value in named(msg, name.lower())[:1]:
        return _fix_8bit(value) if isinstance(value, str) else str(value)
    return None


def header(msg: Message, name: str) -> str:
    """The decoded text of a header, ``""`` if absent."""
    return decode_words(raw_header(msg, name))


def raw_header_all(msg: Message, name: str) -> list[str]:
    return [_fix_8bit(v) if isinstance(v, str) else str(v) for _k, v in named(msg, name.lower())]


def header_all(msg: Message, name: str) -> list[str]:
    return [decode_words(v) for v in raw_header_all(msg, name)]


def norm_addr(addr: str) -> str:
    return addr.strip().strip("<>").strip().lower()


def addresses(msg: Message, *names: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs from address headers."""
    values: list[str] = []
    for name in names:
        values.extend(raw_header_all(msg, name))
    pairs, error, noted = _parse_list(tuple(values))
    # noted here, not in the cached functions: every message records its own
    for found in noted:
        defects.note(found.kind, found.where, found.detail)
    if error:
        defects.note("BadAddressList", "mime.addresses", f"{'/'.join(names)}: {error}")
    return list(pairs)


#: (display name, address) pairs, the parse error (``""`` if none) and the
#: defects met decoding the display names.
_Parsed = tuple[tuple[tuple[str, str], ...], str, tuple[Defect, ...]]
_ATOMS = r'[^\s"()<>@,:;\[\]\\]+'
#: A quoted string as the stdlib address parser reads it to its closing
#: quote: no escapes, and no CR (which also ends one there).
_QUOTED = r'"[^"\\\r]*"'
#: One whole address with no comments, groups or escapes (a display name may
#: be quoted): in a list of such, every comma outside quotes ends an
#: address, so each parses on its own to what it gives in the list.
_PLAIN_ADDRESS_RE = re.compile(rf'(?:[^"()<>@,:;\[\]\\]|{_QUOTED})*<{_ATOMS}@{_ATOMS}>\s*|\s*{_ATOMS}@{_ATOMS}\s*')
#: What stands before each comma outside quotes (the value gets a final comma).
_PIECE_RE = re.compile(rf'((?:[^",]|{_QUOTED})*),')


#: Entries of :func:`_parse_list`.  A list of a large group is ~2 kB
#: parsed, and lists vary with their recipients: 8,192 filled by 150,000
#: benchmark messages (+16 MB a decode worker).  With 1,024, 95 % of calls
#: still hit (98 % with 8,192); a miss is split and its addresses hit
#: :func:`_parse_addresses`.
LIST_CACHE = 1024


@lru_cache(maxsize=LIST_CACHE)
def _parse_list(values: tuple[str, ...]) -> _Parsed:
    """Cached as a whole too: a From value recurs on every message of its sender."""
    return _split_addresses(values) or _parse_addresses(values)


def _split_addresses(values: tuple[str, ...]) -> _Parsed | None:
    """:func:`_parse_addresses` one address at a time, for the plain
    address lists nearly all mail has (None for any other): a contact
    recurs in thousands of lists, each list far less often."""
    pieces = []
    for value in values:
        split = _comma_separated(value)
        if split is None:
            return None
        pieces += [piece for piece in split if piece.strip()]
    if not all(_PLAIN_ADDRESS_RE.fullmatch(piece) for piece in pieces):
        return None
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    noted: list[Defect] = []
    quoted = any('"' in value for value in values)
    for piece in pieces:
        pairs, error, found = _parse_addresses((piece,))
        if error:
            return None
        if quoted and found and any(addr in seen for _, addr in pairs):
            # the whole list notes a repeated address's defects once; a
            # list without quotes always noted them per piece (kept as stored)
            return None
        noted.extend(found)
        for display, addr in pairs:
            if addr not in seen:
                seen.add(addr)
                out.append((display, addr))
    return tuple(out), "", tuple(noted)


def _comma_separated(value: str) -> list[str] | None:
    """``value`` cut at every comma outside quotes (None when a quote is
    left open or escaped: the stdlib reads such a list as a whole)."""
    if '"' not in value:
        return value.split(",")
    pieces = _PIECE_RE.findall(value + ",")
    return pieces if sum(map(len, pieces)) + len(pieces) == len(value) + 1 else None


@lru_cache(maxsize=32768)
def _parse_addresses(values: tuple[str, ...]) -> _Parsed:
    """Cached: the same addresses recur on thousands of messages, and the
    stdlib address parser is one of the slowest steps of a decode."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    error = ""
    try:
        pairs = getaddresses(list(values))
    except PARSE_ERRORS as exc:
        pairs, error = [], defects.describe(exc)
    with defects.collecting() as noted:
        for display, addr in pairs:
            addr = norm_addr(addr)
            if not addr or "@" not in addr or addr in seen:
                continue
            seen.add(addr)
            out.append((decode_words(display), addr))
    return tuple(out), error, tuple(noted)


def msgid(value: str | None) -> str | None:
    """The first Message-ID in a header value, without angle brackets
    (tolerates a missing closing bracket)."""
    if not value:
        return None
    m = _MSGID_RE.search(value)
    if m:
        return m.group(1)
    value = value.strip().strip("<>").strip()
    return value.split()[0] if value else None


def msgid_list(value: str | None) -> list[str]:
    if not value:
        return []
    found = _MSGID_RE.findall(value)
    if found:
        return found
    return [v for v in value.split() if "@" in v]


@lru_cache(maxsize=1024)
def parse_date(value: str | None) -> datetime | None:
    """Cached: a message's Date is read three times per decode."""
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(value)
    except (ValueError, TypeError):  # ParsedMail.defects records a bad Date
        return None
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None


#: Years a real Date or Received stamp can carry.  Outside them (0001,
#: 9999...) a date is a defect, not a time: it would sort a message before
#: or after everything else in its chat.
PLAUSIBLE_YEARS = range(1970, 2200)


def plausible(dt: datetime | None) -> datetime | None:
    """``dt`` if its year is in :data:`PLAUSIBLE_YEARS`, else None."""
    return dt if dt is not None and dt.year in PLAUSIBLE_YEARS else None


_WRITTEN_YEAR_RE = re.compile(r"\b\d{1,2}\s+[A-Za-z]{3,}\s+(\d{3,})\b")


def parse_stamp(value: str | None) -> datetime | None:
    """A Date or Received date, or None when it is missing, unparsable or
    implausible.  The year is checked as written, before the stdlib's
    two-digit-year rule turns ``0001`` into 2001."""
    written = _WRITTEN_YEAR_RE.search(value or "")
    if written and len(written.group(1)) >= 4 and int(written.group(1)) not in PLAUSIBLE_YEARS:
        return None
    return plausible(parse_date(value))


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def strip_reply_prefix(subject: str) -> str:
    return _REPLY_PREFIX_RE.sub("", subject or "").strip()


def part_bytes(part: Message) -> bytes:
    """Decoded payload bytes of a leaf part (empty on failure)."""
    if part.is_multipart():
        payload = part.get_payload()
        parts = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
        if parts and len(parts) == len(payload):
            try:
                return b"".join(p.as_bytes() for p in parts)
            except PARSE_ERRORS as exc:
                defects.note("UnreadablePart", "mime.part_bytes", defects.describe(exc))
                return b""
    before = len(getattr(part, "defects", ()))
    try:
        data = part.get_payload(decode=True)
    except PARSE_ERRORS as exc:
        defects.note("BadTransferEncoding", "mime.part_bytes", f"{defects.describe(exc)}; read undecoded")
        data = None
    # the stdlib notes broken base64 on the part while decoding it
    for found in getattr(part, "defects", ())[before:]:
        defects.note(type(found).__name__, "email", _first_doc_line(found))
    if not isinstance(data, bytes):  # decode=True gives bytes, or None for a multipart
        payload = part.get_payload()
        if isinstance(payload, str):
            return payload.encode("utf-8", "surrogateescape")
        return b""
    return _canonical_line_ends(part, data)


def _canonical_line_ends(part: Message, data: bytes) -> bytes:
    """Text sent without base64 takes the line ends of its container (LF in
    a Maildir, CRLF over IMAP); use MIME's canonical CRLF (RFC 2046) so one
    attachment has one size and hash wherever it was read."""
    if b"\n" not in data or not content_type(part).startswith("text/"):
        return data
    cte = (raw_header(part, "Content-Transfer-Encoding") or "").strip().lower()
    if cte == "base64":
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def part_text(part: Message) -> str:
    """Decoded text of a leaf part with charset fallbacks."""
    data = part_bytes(part)
    try:
        charset = part.get_content_charset()
    except PARSE_ERRORS as exc:
        defects.note("BadCharset", "mime.part_text", defects.describe(exc))
        charset = None
    return decode_bytes(data, charset).replace("\r\n", "\n")


def unflow(text: str, delsp: bool = False) -> str:
    """Undo ``format=flowed`` (RFC 3676) as core's ``unformat_flowed``
    does: a line ending in a space goes on with the next one (the space
    dropped with ``delsp=yes``), a leading space-stuffing space goes; the
    signature separator ``-- `` stays a line of its own."""
    out: list[str] = []
    joining = False
    for line in text.split("\n"):
        line = line[1:] if line.startswith(" ") else line
        piece = line
        flowed = line.endswith(" ") and line != "-- "
        if flowed and delsp:
            piece = line[:-1]
        if joining:
            out[-1] += piece
        else:
            out.append(piece)
        joining = flowed
    return "\n".join(out)


def part_body_text(part: Message) -> str:
    """The text of a ``text/plain`` body part as its reader sees it:
    ``format=flowed`` unwrapped, and the legacy-display block of header
    protection (RFC 9788 ``hp-legacy-display=1``: copies of the protected
    headers, then an empty line) removed, as core does."""
    text = part_text(part)
    try:
        pairs = part.get_params(failobj=[], header="content-type")
    except PARSE_ERRORS as exc:
        defects.note("BadContentType", "mime.part_body_text", defects.describe(exc))
        pairs = []
    params = {k.lower(): v.strip().lower() for k, v in pairs if isinstance(v, str)}
    if params.get("hp-legacy-display") == "1" and "\n\n" in text:
        text = text.split("\n\n", 1)[1]
    if params.get("format") == "flowed":
        text = unflow(text, params.get("delsp") == "yes")
    return text


_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def decode_name_words(value: str) -> str:
    """Decode the encoded words of a file name where they stand.

    Mail software writes them inside a quoted parameter, against RFC 2047,
    often glued to plain text (``=?UTF-8?B?...?=.pdf``), and splits a
    multi-byte character over two words: plain text keeps its spacing,
    the whitespace between two encoded words goes (RFC 2047 6.2), and the
    bytes of neighbouring words in one charset are decoded together."""
    out: list[str] = []
    pending: list[bytes] = []
    charset = ""
    pos = 0
    for m in _ENCODED_WORD_RE.finditer(value):
        between = value[pos : m.start()]
        word_charset = m.group(1).split("*", 1)[0].lower()
        if pending and (between.strip() or word_charset != charset):
            out.append(decode_bytes(b"".join(pending), charset))
            pending = []
        if between.strip() or not out and not pending:
            out.append(between)
        try:
            chunk, _cs = decode_header(m.group(0))[0]
        except PARSE_ERRORS:
            chunk = m.group(0).encode("utf-8", "replace")
        pending.append(chunk if isinstance(chunk, bytes) else chunk.encode("utf-8", "replace"))
        charset = word_charset
        pos = m.end()
    if pending:
        out.append(decode_bytes(b"".join(pending), charset))
    out.append(value[pos:])
    return "".join(out).strip()


def _raw_param_filename(part: Message) -> str | None:
    """The file name read from the raw headers, undeclared 8-bit bytes kept
    (compat32 turns a header with such bytes into replacement characters)."""
    probe = Message()
    for header_name in ("Content-Disposition", "Content-Type"):
        value = raw_header(part, header_name)
        if value is not None:
            probe[header_name] = value
    try:
        return probe.get_filename()
    except PARSE_ERRORS:
        return None


def part_filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except PARSE_ERRORS as exc:
        defects.note("BadFilename", "mime.part_filename", defects.describe(exc))
        name = None
    if name is None:
        try:
            param = part.get_param("name")
        except PARSE_ERRORS as exc:
            defects.note("BadFilename", "mime.part_filename", defects.describe(exc))
            param = None
        if isinstance(param, tuple):
            param = decode_bytes(
                param[2].encode("latin-1", "replace") if isinstance(param[2], str) else param[2], param[0]
            )
        name = param
    if name is None:
        return None
    if "\ufffd" in name:
        name = _raw_param_filename(part) or name
    return decode_name_words(name) if "=?" in name else _fix_8bit(name)


def content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except PARSE_ERRORS as exc:
        defects.note("BadContentType", "mime.content_type", f"{defects.describe(exc)}; read as octet-stream")
        return "application/octet-stream"


def disposition(part: Message) -> str:
    value = raw_header(part, "Content-Disposition") or ""
    return value.split(";", 1)[0].strip().lower()


@dataclass
class Leaf:
    """One leaf MIME part with its index path."""

    path: str
    part: Message
    mime: str

    @cached_property
    def filename(self) -> str | None:
        return part_filename(self.part)

    @cached_property
    def disposition(self) -> str:
        return disposition(self.part)

    @cached_property
    def chat_content(self) -> str:
        return header(self.part, "Chat-Content").lower()

    def is_body_text(self) -> bool:
        """A text part the sender did not attach: a file name alone does not
        make an attachment (notmuch and mail clients show an inline
        ``text/html; name=x.html`` part as the body)."""
        return self.mime in ("text/plain", "text/html") and self.disposition != "attachment"

    def attachment(self) -> Attachment:
        """The part as an :class:`Attachment`; a nameless part keeps the
        empty name (the catalog shows it as unnamed, search has no word for
        it), except a calendar, which core calls ``calendar.ics``.  An
        ``application/octet-stream`` part takes the type its file name says
        (core's ``get_mime_type``: a photo sent so is still a photo).  A
        raster image carries its dimensions (an SVG has none to read)."""
        data = part_bytes(self.part)
        name = self.filename or ("calendar.ics" if self.mime == "text/calendar" else "")
        mime = self.mime
        if mime == "application/octet-stream" and name:
            mime = mimetypes.guess_type(name, strict=False)[0] or mime
        dims = dimensions(data) if mime.startswith("image/") and mime != "image/svg+xml" else None
        return Attachment(
            filename=name,
            mime=mime,
            size=len(data),
            sha256=sha256_hex(data),
            part=self.path,
            disposition=self.disposition or "attachment",
            width=dims[0] if dims else None,
            height=dims[1] if dims else None,
        )


def leaves(msg: Message, prefix: str = "") -> Iterator[Leaf]:
    """Walk leaf parts depth-first with paths like ``1``, ``2.1``."""
    mime = content_type(msg)
    if msg.is_multipart() and not mime.startswith("message/"):
        payload = msg.get_payload()
        if not isinstance(payload, list):
            return
        for i, sub in enumerate(payload, 1):
            if not isinstance(sub, Message):
                continue
            path = f"{prefix}.{i}" if prefix else str(i)
            yield from leaves(sub, path)
    else:
        yield Leaf(prefix or "1", msg, mime)


def find_part(msg: Message, path: str) -> Message | None:
    """The part at a path produced by :func:`leaves`."""
    if not msg.is_multipart():
        return msg if path in ("1", "") else None
    node: Message = msg
    for step in path.split("."):
        payload = node.get_payload()
        if not isinstance(payload, list):
            return node if step == "1" else None
        idx = int(step) - 1
        if idx < 0 or idx >= len(payload):
            return None
        child = payload[idx]
        if not isinstance(child, Message):  # the stdlib lists only Messages in a multipart
            return None
        node = child
    return node


def split_footer(text: str) -> str:
    """Drop a signature/footer after a ``-- `` line."""
    return split_signature(text)[0]


def split_signature(text: str) -> tuple[str, str | None]:
    """(text before the ``-- `` line, signature and footer after it)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line == "-- ":
            return "\n".join(lines[:i]).rstrip(), "\n".join(lines[i + 1 :]).strip("\n") or None
    return text, None


_QUOTE_HEAD_RE = re.compile(
    r"^(On .{1,200} wrote:|Am .{1,200} schrieb .{0,200}:|Le .{1,200} a écrit\s?:|.{1,120} <[^>]+> (wrote|schrieb):)\s*$"
)


def fold_quotes(text: str) -> tuple[str, str | None]:
    """Split a mail body into (own text, quoted text).

    Removes ``>`` quoted lines and the attribution line ("On ... wrote:")
    that introduces them, wherever they stand (top- or bottom-posting), so a
    reply from an ordinary mail client reads like a chat message.
    """
    own, quote, _attribution = fold_quotes_with_attribution(text)
    return own, quote


def fold_quotes_with_attribution(text: str) -> tuple[str, str | None, str | None]:
    """:func:`fold_quotes`, plus the attribution lines it removed."""
    lines = text.split("\n")
    own: list[str] = []
    quoted: list[str] = []
    heads: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith(">"):
            quoted.append(line[2:] if line.startswith("> ") else line[1:])
            continue
        if _QUOTE_HEAD_RE.match(line.strip()) and _next_is_quote(lines, i):
            heads.append(line.strip())
            continue
        own.append(line)
    if not quoted:
        return text.strip("\n"), None, None
    cleaned = "\n".join(own)
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned)
    return cleaned.strip("\n").rstrip(), "\n".join(quoted).strip("\n"), "\n".join(heads) or None


def _next_is_quote(lines: list[str], i: int) -> bool:
    for line in lines[i + 1 :]:
        if line.strip():
            return line.startswith(">")
    return False


def _first_doc_line(obj: object) -> str:
    """The summary of a stdlib ``email`` defect class (its instances carry
    no message of their own)."""
    doc = (type(obj).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


class ParsedMail:
    """A parsed message with the header facts every decoder needs, computed
    once and lazily."""

    def __init__(self, raw: bytes, msg: Message | None = None, sha256: str | None = None):
        self.raw = raw
        self.msg = msg if msg is not None else parse_bytes(raw)
        self.sha256 = sha256 or sha256_hex(raw)

    @cached_property
    def _headers(self) -> dict[str, str]:
        """Top-level headers by lower-case name (first value wins), built
        once: decoders ask for dozens of headers per message."""
        index: dict[str, str] = {}
        for key, value in getattr(self.msg, "_headers", ()):
            index.setdefault(key.lower(), value if isinstance(value, str) else str(value))
        self._hidden_headers(index)
        return index

    def _hidden_headers(self, index: dict[str, str]) -> None:
        """Chat headers Delta Chat hides in the first part of a
        ``multipart/mixed`` (so other mail clients do not show them): read
        when the top level lacks them, as core's ``MimeMessage::from_bytes``
        does."""
        if not self.msg.is_multipart() or content_type(self.msg) != "multipart/mixed":
            return
        payload = self.msg.get_payload()
        first = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(first, Message):
            return
        for key, value in getattr(first, "_headers", ()):
            key = key.lower()
            if key in _HIDDEN_HEADERS:
                index.setdefault(key, value if isinstance(value, str) else str(value))

    def value(self, name: str) -> str | None:
        value = self._headers.get(name.lower())
        return None if value is None else _fix_8bit(value)

    def header(self, name: str) -> str:
        return decode_words(self.value(name))

    def has(self, name: str) -> bool:
        return name.lower() in self._headers

    @cached_property
    def _written_message_id(self) -> str | None:
        """The id the sender gave the message: Exchange replaces the
        Message-ID on the way and keeps the sender's in
        ``X-Microsoft-Original-Message-ID``, which core takes instead (so
        the sender's copy, replies and reports name the same message)."""
        return msgid(self.value("X-Microsoft-Original-Message-ID")) or msgid(self.value("Message-ID"))

    @cached_property
    def message_id(self) -> str:
        return self._written_message_id or f"sha256-{self.sha256[:40]}@coi-archive.invalid"

    @cached_property
    def has_message_id(self) -> bool:
        return self._written_message_id is not None

    @cached_property
    def date(self) -> datetime | None:
        """The effective date: Date, unless missing or far in the future of
        the newest Received stamp, in which case that stamp."""
        dt = parse_stamp(self.value("Date"))
        received = self.received_date
        if received and (dt is None or dt - received > timedelta(days=1)):
            return received
        return dt

    @cached_property
    def received_date(self) -> datetime | None:
        value = self.value("Received")
        if value and ";" in value:
            return parse_stamp(value.rsplit(";", 1)[1].strip())
        return None

    @cached_property
    def from_pairs(self) -> list[tuple[str, str]]:
        return addresses(self.msg, "From")

    @cached_property
    def sender(self) -> str:
        pairs = self.from_pairs or addresses(self.msg, "Sender")
        return pairs[0][1] if pairs else ""

    @cached_property
    def sender_name(self) -> str:
        pairs = self.from_pairs
        return pairs[0][0] if pairs else ""

    @cached_property
    def to_pairs(self) -> list[tuple[str, str]]:
        return addresses(self.msg, "To", "Cc")

    @cached_property
    def recipients(self) -> tuple[str, ...]:
        return tuple(a for _, a in self.to_pairs)

    @cached_property
    def addressees(self) -> tuple[tuple[str, str, str], ...]:
        """``(header, display name, address)`` of each To and Cc recipient."""
        return tuple(
            (name.lower(), display, addr) for name in ("To", "Cc") for display, addr in addresses(self.msg, name)
        )

    @cached_property
    def subject(self) -> str:
        return self.header("Subject")

    @cached_property
    def in_reply_to(self) -> str | None:
        return msgid(self.value("In-Reply-To"))

    @cached_property
    def references(self) -> tuple[str, ...]:
        refs = msgid_list(self.value("References"))
        if not refs:
            refs = msgid_list(self.value("Reference"))  # misspelt in the COI talk
        return tuple(refs)

    @cached_property
    def content_type(self) -> str:
        return content_type(self.msg)

    @cached_property
    def leaves(self) -> list[Leaf]:
        return list(leaves(self.msg))

    @cached_property
    def defects(self) -> tuple[Defect, ...]:
        """What the stdlib parser found wrong, plus missing identity facts."""
        found: list[Defect] = []
        for part in self.msg.walk():
            for d in getattr(part, "defects", ()):
                found.append(Defect(type(d).__name__, "email", _first_doc_line(d)))
        if not self.has_message_id:
            found.append(Defect("MissingMessageId", "headers", "an id from the sha256 is used"))
        claimed = parse_date(self.value("Date"))
        if claimed is None:
            found.append(Defect("MissingOrBadDate", "headers", self.value("Date") or "no Date header"))
        elif parse_stamp(self.value("Date")) is None:
            found.append(Defect("ImplausibleDate", "headers", f"{self.value('Date')}; the delivery date is used"))
        return tuple(found)

    def members(self) -> tuple[str, ...]:
        """Sender plus To/Cc, sorted and unique."""
        return tuple(sorted({self.sender, *self.recipients} - {""}))

    def envelope(self, dialect: str, chat: ChatRef | None, events: tuple, **kw) -> Envelope:
        """An envelope with the common header facts filled in."""
        return Envelope(
            message_id=self.message_id,
            sha256=self.sha256,
            dialect=dialect,
            date=iso(self.date),
            sender=self.sender,
            sender_name=self.sender_name,
            recipients=self.recipients,
            subject=self.subject,
            in_reply_to=self.in_reply_to,
            references=self.references,
            chat=chat,
            events=events,
            defects=self.defects,
            delivered=iso(self.received_date),
            addressees=self.addressees,
            list_id=self.header("List-Id"),
            **kw,
        )
