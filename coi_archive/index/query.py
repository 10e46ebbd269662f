"""The archive's search query language: text in, engine-neutral AST out.

Whatever a user types into a search box is turned into *some* query;
malformed parts degrade to plain words instead of errors, because a search
box that answers "syntax error" to ``http://x`` or to a stray quote is worse
than one that searches a little more broadly.  The one error is
:class:`QueryError`, for a query beyond the limits (longer than
:data:`MAX_QUERY_LENGTH` characters, or nested deeper than
:data:`MAX_DEPTH` parentheses and NOTs): such a query is an attack or an
accident, and a bound keeps every later recursive step (simplifying,
engine translation) far from Python's recursion limit.

The AST knows nothing about an engine: :func:`index.tantivy_query.to_tantivy`
and :func:`index.whoosh_query.to_whoosh` translate the same tree.

Grammar (EBNF; ``AND``/``OR``/``NOT`` are operators only in UPPER case, so
"rock and roll" stays three words)::

    query   = or_expr
    or_expr = and_expr { "OR" and_expr }
    and_expr= unary { [ "AND" ] unary }          (juxtaposition means AND)
    unary   = ( "NOT" | "-" ) unary | atom       ("-" must touch its operand)
    atom    = "(" or_expr ")" | PHRASE | FIELD ":" value | WORD
    value   = PHRASE | WORD
    PHRASE  = '"' { any character except '"' } '"'
    WORD    = run of characters other than whitespace, '(', ')', '"'

Terms and fields (all matching is case-insensitive):

``word``            a word and its other forms (``trains`` finds ``train``,
                    ``training``; the exact form ranks higher; see "Word
                    forms" in :mod:`.tokens` for the stemmer rule) in the
                    message text, subject and attachment names, and the text a
                    mail quotes, its attribution lines ("On ... wrote:"),
                    signature and list footer (ranked below the author's own
                    words; not searched with ``quotes=False``, the CLI's
                    ``--no-quotes``), plus earlier revisions and deleted
                    text when searching with ``history``.  Words never
                    match addresses or names (use ``from:``/``to:``).  A word containing punctuation (``e-mail``,
                    ``report.pdf``) matches its parts in order, exactly.  ``word*``
                    (two or more characters before ``*``) is a prefix search.
``"some words"``    the words next to each other, in this order, exactly as
                    written (``"trains"`` finds only ``trains``).
``from:X``          the sender.  X may be the full address
                    (``from:alice@example.org``), its local part or a word
                    of it (``from:alice``), its domain (``from:example.org``)
                    or words of the sender's name (``from:"Frank Müller"``,
                    all words required).  ``from:ali*`` is a prefix search.
``to:X``            any To or Cc recipient, matched like ``from:`` (address,
                    its parts, or words of the recipient's display name).
``cc:X``            the same, for Cc recipients only.
``subject:X``       words of the subject (all words of a quoted value, in
                    any order; ``subject:plan*`` is a prefix search).
``list:X``          the mailing list (List-Id): its id
                    (``list:dev.lists.example.org``), a dot-separated part of
                    it, or a word of its description.
``chat:X``          the chat: its id, its group id, or words of its name.
``group:X``         like ``chat:X`` but only group chats.
``kind:K``          message kind: text image audio video file sticker location
                    contact system mail poll; or chat kind: direct group self
                    mailinglist mail.  ``kind:mail`` matches either (a mail
                    message or a message in a mail chat).
``date:D``          a day ``2026-01-15``, a month ``2026-01``, a year ``2026``,
                    or a range ``D1..D2`` (inclusive: from the first day of D1
                    to the last day of D2; either end may be left open:
                    ``2026-01-01..``, ``..2026-02``).  Days are UTC days, or
                    days of the searcher's zone where one is given (the web
                    UI passes the browser's; :func:`in_zone`);
                    messages without a date never match a date filter.
``before:D``        strictly before the first day of D (``before:2026-01-01``
                    ends on 2025-12-31).
``after:D``         strictly after the last day of D (``after:2026-01-01``
                    starts on 2026-01-02, ``after:2026-01`` on 2026-02-01).
``has:attachment``  messages carrying at least one file the sender attached
                    (not a signature part, not a key, not an inline body).
``has:image``       an attached image.  ``has:signature``: a signed message
                    (OpenPGP or S/MIME); ``has:key``: an attached OpenPGP key.
``has:audio``  ``has:video``  ``has:location``  ``has:contact``  ``has:sticker``  ``has:poll``
                    the message kind (``kind:audio`` ...; ``has:voice`` = audio).
``is:edited``  ``is:deleted``  ``is:encrypted``
``is:forwarded``    marked forwarded by the sender's client (Delta Chat's
                    forward marker, a mail client's "Forwarded message"
                    line), or a mail forwarding another inline.
``is:reply``        answers another message: names it (In-Reply-To) or
                    quotes it.
``is:mail``         classic e-mail: message kind ``mail``, or any message in a
                    ``mail`` or ``mailinglist`` chat.  ``is:chat`` is the rest.

Aliases: ``kind:photo``/``kind:picture`` = image, ``kind:voice`` = audio,
``kind:document`` = file, ``kind:dm`` = direct, ``kind:email`` = mail;
``has:attachments`` and ``has:file`` = ``has:attachment``.  Field names and
values are case-insensitive.  A query made only of exclusions (``-spam``)
matches every other message.

Degradation rules: an unknown ``field:`` prefix, a known field with an
invalid value (``date:soon``, ``kind:banana``) or a field without a value is
searched as plain words; an unbalanced ``"`` is ignored; a missing ``)`` is
assumed at the end, a surplus ``)`` is ignored; dangling operators are
ignored.  An empty query parses to :class:`Empty`, which matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from . import chatids
from .dates import parse_period

__all__ = [
    "parse",
    "QueryError",
    "MAX_QUERY_LENGTH",
    "MAX_DEPTH",
    "walk",
    "in_zone",
    "Node",
    "Empty",
    "Word",
    "Phrase",
    "Field",
    "MessageKind",
    "ChatKind",
    "Flag",
    "DateRange",
    "And",
    "Or",
    "Not",
    "MESSAGE_KINDS",
    "CHAT_KINDS",
    "FLAGS",
]

MESSAGE_KINDS = frozenset("text image audio video file sticker location contact system mail poll webxdc".split())
CHAT_KINDS = frozenset(chatids.CHAT_KINDS)
FLAGS = frozenset("edited deleted encrypted forwarded reply mail chat attachment image signature key".split())
TEXT_FIELDS = frozenset("from to cc subject list chat group".split())

_KIND_ALIASES = {
    "photo": "image",
    "picture": "image",
    "voice": "audio",
    "document": "file",
    "dm": "direct",
    "email": "mail",
}
#: Longest query accepted, in characters (a search box, not a document).
MAX_QUERY_LENGTH = 2000
#: Deepest nesting of parentheses and NOTs accepted.
MAX_DEPTH = 32


class QueryError(ValueError):
    """A query the parser refuses (too long, nested too deep); ``str()`` is
    one line to show the user."""


#: ``has:`` values that name what a message is (its kind): a voice message
#: *has* audio, a shared location *has* a location.
_HAS_KINDS = {
    "audio": "audio",
    "voice": "audio",
    "video": "video",
    "location": "location",
    "contact": "contact",
    "sticker": "sticker",
    "poll": "poll",
}
_IS_VALUES = frozenset("edited deleted encrypted forwarded reply mail chat".split())
_HAS_VALUES = {
    "attachment": "attachment",
    "attachments": "attachment",
    "file": "attachment",
    "image": "image",
    "signature": "signature",
    "key": "key",
}


# --------------------------------------------------------------------------
# AST
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Empty:
    """Nothing to search for; matches no message."""


@dataclass(frozen=True)
class Word:
    """One user word.  It may still analyse to several tokens (``e-mail``,
    ``東京``); engines then match those tokens as a phrase."""

    text: str
    prefix: bool = False


@dataclass(frozen=True)
class Phrase:
    """Quoted words that must appear consecutively."""

    text: str


@dataclass(frozen=True)
class Field:
    """A value searched in a people/place/header field: from, to, cc,
    subject, list, chat, group."""

    name: str
    value: str
    prefix: bool = False


@dataclass(frozen=True)
class MessageKind:
    """``kind:`` with a message kind (text, image, ... mail, poll)."""

    value: str


@dataclass(frozen=True)
class ChatKind:
    """``kind:`` with a chat kind (direct, group, self, mailinglist, mail)."""

    value: str


@dataclass(frozen=True)
class Flag:
    """A yes/no property: edited, deleted, encrypted, forwarded, reply, mail,
    chat, attachment, image, signature, key."""

    name: str


@dataclass(frozen=True)
class DateRange:
    """Inclusive range of days; ``None`` leaves that end open.  The days
    are those of ``zone`` (an IANA name such as ``Europe/Berlin``): UTC
    unless the searcher's zone was given (:func:`in_zone`), so that a day
    means the day a reader saw on their clock."""

    start: date | None
    end: date | None
    zone: str = "UTC"


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Empty | Word | Phrase | Field | MessageKind | ChatKind | Flag | DateRange | And | Or | Not


# --------------------------------------------------------------------------
# Lexer
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    """A lexer token.  ``kind`` is one of WORD PHRASE FIELD LP RP AND OR NOT.

    FIELD carries the field name in ``text`` and its value in ``value``;
    ``quoted`` tells whether that value came from a quoted string."""

    kind: str
    text: str = ""
    value: str = ""
    quoted: bool = False


_WORD_RE = re.compile(r'[^\s()"]+')
_FIELD_RE = re.compile(r"([A-Za-z]+):(.*)\Z", re.S)
_KNOWN_FIELDS = TEXT_FIELDS | {"kind", "date", "before", "after", "has", "is"}
_OPERATORS = {"AND", "OR", "NOT"}


def _closing_quote(query: str, start: int) -> int:
    """Index of the quote closing the one at ``start``, or -1."""
    return query.find('"', start + 1)


def _lex(query: str) -> list[_Tok]:
    """Split the query into tokens without ever failing.

    An unbalanced quote is dropped.  ``-`` directly in front of a word,
    phrase or parenthesis becomes NOT.
    """
    toks: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c == "(":
            toks.append(_Tok("LP"))
            i += 1
        elif c == ")":
            toks.append(_Tok("RP"))
            i += 1
        elif c == '"':
            end = _closing_quote(query, i)
            if end < 0:
                i += 1
                continue
            toks.append(_Tok("PHRASE", query[i + 1 : end]))
            i = end + 1
        elif c == "-" and i + 1 < n and not query[i + 1].isspace() and query[i + 1] != "-":
            toks.append(_Tok("NOT"))
            i += 1
        else:
            i = _lex_word(query, i, toks)
    return toks


def _lex_word(query: str, i: int, toks: list[_Tok]) -> int:
    """Lex a bare word starting at ``i`` (possibly ``field:value`` or
    ``field:"quoted value"``); return the index after it."""
    m = _WORD_RE.match(query, i)
    assert m is not None
    word = m.group(0)
    end = m.end()
    fm = _FIELD_RE.match(word)
    if fm and fm.group(1).lower() in _KNOWN_FIELDS:
        name, value = fm.group(1).lower(), fm.group(2)
        if not value and end < len(query) and query[end] == '"':
            close = _closing_quote(query, end)
            if close >= 0:
                toks.append(_Tok("FIELD", name, query[end + 1 : close], quoted=True))
                return close + 1
        if value:
            toks.append(_Tok("FIELD", name, value))
            return end
    if word in _OPERATORS:
        toks.append(_Tok(word))
    else:
        toks.append(_Tok("WORD", word))
    return end


# --------------------------------------------------------------------------
# Field values
# --------------------------------------------------------------------------


def _date_node(name: str, value: str) -> DateRange | None:
    """DateRange for ``date:``/``before:``/``after:`` values (calendar
    periods, :func:`index.dates.parse_period`), None if invalid."""
    try:
        if name == "before":
            span = parse_period(value)
            return DateRange(None, span.first_day - timedelta(days=1)) if span else None
        if name == "after":
            span = parse_period(value)
            return DateRange(span.last_day + timedelta(days=1), None) if span else None
    except OverflowError:  # before:0001, after:9999: no day to name
        return None
    if ".." not in value:
        span = parse_period(value)
        return DateRange(span.first_day, span.last_day) if span else None
    lo_text, _, hi_text = value.partition("..")
    lo = parse_period(lo_text) if lo_text else None
    hi = parse_period(hi_text) if hi_text else None
    if (lo_text and lo is None) or (hi_text and hi is None) or (lo is None and hi is None):
        return None
    return DateRange(lo.first_day if lo else None, hi.last_day if hi else None)


def _kind_node(value: str) -> Node | None:
    """``kind:`` value: message kind, chat kind, or both for ``mail``."""
    v = _KIND_ALIASES.get(value.lower(), value.lower())
    if v in MESSAGE_KINDS and v in CHAT_KINDS:
        return Or((MessageKind(v), ChatKind(v)))
    if v in MESSAGE_KINDS:
        return MessageKind(v)
    if v in CHAT_KINDS:
        return ChatKind(v)
    return None


def _field_node(tok: _Tok) -> Node | None:
    """Node for a FIELD token, or None when its value is not valid."""
    name, value = tok.text, tok.value.strip()
    if not value:
        return None
    if name in TEXT_FIELDS:
        prefix = not tok.quoted and value.endswith("*") and len(value.rstrip("*")) >= 2
        return Field(name, value.rstrip("*") if prefix else value, prefix)
    if name == "kind":
        return _kind_node(value)
    if name in ("date", "before", "after"):
        return _date_node(name, value)
    if name == "is" and value.lower() in _IS_VALUES:
        return Flag(value.lower())
    if name == "has" and value.lower() in _HAS_VALUES:
        return Flag(_HAS_VALUES[value.lower()])
    if name == "has" and value.lower() in _HAS_KINDS:
        return MessageKind(_HAS_KINDS[value.lower()])
    return None


def _field_as_word(tok: _Tok) -> Node:
    """Degrade an invalid field term to what the user literally typed."""
    if tok.quoted:
        return And((Word(tok.text), Phrase(tok.value)))
    return Word(f"{tok.text}:{tok.value}")


def _word_node(text: str) -> Word:
    """A bare word; a trailing ``*`` after two or more characters is a prefix."""
    stem = text.rstrip("*")
    if stem != text and len(stem) >= 2:
        return Word(stem, prefix=True)
    return Word(text)


# --------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the token list; every method tolerates junk."""

    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.pos = 0
        self.depth = 0

    def descend(self) -> None:
        """Enter one more level of parentheses or NOT, within MAX_DEPTH."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"query nests too deep: at most {MAX_DEPTH} levels of parentheses and NOT")

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def parse(self) -> Node:
        parts: list[Node] = []
        while self.peek() is not None:
            node = self.or_expr()
            if node is not None:
                parts.append(node)
            elif self.peek() is not None:
                self.take()  # a stray ")" or operator: skip it
        return _simplify(And(tuple(parts))) if parts else Empty()

    def or_expr(self) -> Node | None:
        branches: list[Node] = []
        node = self.and_expr()
        if node is not None:
            branches.append(node)
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            node = self.and_expr()
            if node is not None:
                branches.append(node)
        if not branches:
            return None
        return branches[0] if len(branches) == 1 else Or(tuple(branches))

    def and_expr(self) -> Node | None:
        parts: list[Node] = []
        while (tok := self.peek()) is not None and tok.kind not in ("OR", "RP"):
            if tok.kind == "AND":
                self.take()
                continue
            node = self.unary()
            if node is not None:
                parts.append(node)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Node | None:
        tok = self.peek()
        if tok is not None and tok.kind == "NOT":
            self.take()
            nxt = self.peek()
            if nxt is None or nxt.kind in ("OR", "RP", "AND"):
                return None
            self.descend()
            child = self.unary()
            self.depth -= 1
            return Not(child) if child is not None else None
        return self.atom()

    def atom(self) -> Node | None:
        tok = self.take()
        if tok.kind == "LP":
            self.descend()
            inner = self.or_expr()
            self.depth -= 1
            nxt = self.peek()
            if nxt is not None and nxt.kind == "RP":
                self.take()
            return inner
        if tok.kind == "PHRASE":
            return Phrase(tok.text) if tok.text.strip() else None
        if tok.kind == "FIELD":
            return _field_node(tok) or _field_as_word(tok)
        return _word_node(tok.text)


def _simplify(node: Node) -> Node:
    """Flatten nested And/Or of the same type and unwrap single children."""
    if isinstance(node, (And, Or)):
        kids: list[Node] = []
        for child in (_simplify(c) for c in node.children):
            if type(child) is type(node):
                kids.extend(child.children)  # type: ignore[union-attr]
            else:
                kids.append(child)
        if len(kids) == 1:
            return kids[0]
        return type(node)(tuple(kids))
    if isinstance(node, Not):
        child = _simplify(node.child)
        return child.child if isinstance(child, Not) else Not(child)
    return node


def parse(query: str) -> Node:
    """Parse a user query into an AST.  Raises only :class:`QueryError`,
    for a query beyond the limits (see module docs)."""
    query = query or ""
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(f"query too long: {len(query)} characters, at most {MAX_QUERY_LENGTH}")
    return _Parser(_lex(query)).parse()


def in_zone(node: Node, zone: str) -> Node:
    """The same query with every date filter counted in days of ``zone``
    (an IANA zone name the caller has checked)."""
    if isinstance(node, DateRange):
        return DateRange(node.start, node.end, zone)
    if isinstance(node, (And, Or)):
        return type(node)(tuple(in_zone(c, zone) for c in node.children))
    if isinstance(node, Not):
        return Not(in_zone(node.child, zone))
    return node


def walk(node: Node) -> Iterator[tuple[Node, bool]]:
    """Yield every node with ``True`` when it sits under an even number of
    NOTs, i.e. when a match on it counts in a document's favour."""

    def go(n: Node, positive: bool) -> Iterator[tuple[Node, bool]]:
        yield n, positive
        if isinstance(n, (And, Or)):
            for c in n.children:
                yield from go(c, positive)
        elif isinstance(n, Not):
            yield from go(n.child, not positive)

    return go(node, True)
