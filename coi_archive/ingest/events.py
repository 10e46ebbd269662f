"""The event model: the only contract between ``ingest`` and ``index``.

Ingest turns every stored message into one :class:`Envelope` that carries what
the message *is* (sender, date, where it belongs) plus a tuple of events, the
things the message *does* (post a text, edit another message, react, add a
group member...).  Events are small frozen dataclasses so that the index can
store them as JSON, compare them and fold them in any order.

Rules every decoder follows:

* Addresses are lower-cased ``local@domain`` strings without display names.
* Message-IDs are stored without angle brackets.
* Dates are ISO 8601 strings in UTC (``2026-11-28T03:31:16+00:00``) or ``None``.
* An event never refers to index state; it names other messages only by
  Message-ID (``target``), so an edit may arrive before what it edits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import orjson

from .jsontext import MAX_CHARS, loads, same_float, stdlib_text

# --------------------------------------------------------------------------
# Where a message came from and where it belongs
# --------------------------------------------------------------------------


def storable(name: str) -> str:
    """A name as it came from the file system, as text the catalog can store.

    A file or directory name may hold bytes that are no UTF-8; Python gives
    each as a lone surrogate (``os.fsdecode``), which UTF-8 text cannot
    hold, so the name could not be stored and the whole ingest failed.  Such
    a byte is written ``/xHH`` (any other lone surrogate ``/uHHHH``): no file
    name holds ``/``, so no two names are written alike."""
    if name.isascii():
        return name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(_storable_char(c) for c in name)
    return name


def _storable_char(c: str) -> str:
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:
        return f"/x{code - 0xDC00:02x}"
    return f"/u{code:04x}" if 0xD800 <= code <= 0xDFFF else c


@dataclass(frozen=True)
class Provenance:
    """One place one copy of a message was read from.

    ``source`` names the mailbox (absolute path or IMAP URL without password),
    ``folder`` the folder inside it (``""`` for the top/INBOX), ``key`` the
    file name, mbox index or IMAP UID that identifies the copy there; each
    as :func:`storable` text.
    """

    source: str
    folder: str
    key: str
    flags: str = ""
    internaldate: str | None = None
    mtime: float | None = None
    size: int | None = None

    def __post_init__(self) -> None:
        for name in ("source", "folder", "key", "flags"):
            value = getattr(self, name)
            if not value.isascii():
                object.__setattr__(self, name, storable(value))


@dataclass(frozen=True)
class ChatRef:
    """Where a decoder thinks a message belongs.

    ``kind`` is one of ``direct``, ``group``, ``self``, ``mailinglist``,
    ``mail``.  ``key`` is the identity inside that kind: the group id, the
    sorted pair of addresses of a 1:1 chat, the List-Id, or the root
    Message-ID of a mail thread.  ``name`` is a hint (group name, subject).
    ``fallback`` is where the message goes instead when the index decides the
    primary placement does not hold (a legacy reply that is not a reply-all).
    ``follow_refs`` asks the index to move the message into the chat of the
    first referenced chat message, if there is one (mail replies into chats).
    """

    kind: str
    key: str
    name: str | None = None
    members: tuple[str, ...] = ()
    fallback: ChatRef | None = None
    follow_refs: bool = False


@dataclass(frozen=True)
class Attachment:
    """A file carried by a message.  The bytes stay inside the original
    message; ``part`` is the MIME part index path (``"1.2"``) to find them.
    ``width``/``height`` are an image's pixels as its header states them
    (``ingest.images``), None for other files and unreadable images."""

    filename: str
    mime: str
    size: int
    sha256: str
    part: str
    disposition: str = "attachment"
    width: int | None = None
    height: int | None = None


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    """A visible message in a chat (or an ordinary mail in a mail thread).

    ``kind`` is text|image|audio|video|file|sticker|location|contact|mail|poll.
    ``text`` is the user text with quotes, footers and pencil marks removed;
    ``quote`` the quoted text, if any; ``folded`` the rest of what a mail
    client shows that ``text`` leaves out (attribution lines such as "On ...
    wrote:", the signature and list footer after ``-- ``), kept for search.
    """

    text: str
    kind: str = "text"
    html: str | None = None
    quote: str | None = None
    reply_to: str | None = None
    forwarded: bool = False
    attachments: tuple[Attachment, ...] = ()
    location: tuple[float, float] | None = None
    voice: bool = False
    duration_ms: int | None = None
    mentions: tuple[str, ...] = ()
    pinned_until: str | None = None
    contact: ContactState | None = None
    folded: str | None = None


@dataclass(frozen=True)
class Edit:
    """Replace the text of ``target`` (only effective when the sender of the
    edit is the sender of the target).  An empty text means deleted (COI)."""

    target: str
    text: str


@dataclass(frozen=True)
class Delete:
    """Delete ``target`` for everyone; the text stays in the history."""

    target: str


@dataclass(frozen=True)
class Reaction:
    """The sender's reaction to ``target``; ``emoji == ""`` retracts it."""

    target: str
    emoji: str


@dataclass(frozen=True)
class Receipt:
    """A read receipt (MDN) by the sender for ``target``."""

    target: str
    disposition: str = "displayed"


@dataclass(frozen=True)
class DeliveryReport:
    """A delivery status notification about ``target`` (RFC 3464, or a
    provider's plain bounce from the mailer daemon, read as Delta Chat
    core reads them): ``state`` is ``failed`` or ``delayed``, ``reason``
    the report's human-readable text, ``recipient`` the failed address
    when the report names exactly one (``X-Failed-Recipients``)."""

    target: str
    state: str
    reason: str = ""
    recipient: str = ""


@dataclass(frozen=True)
class MemberAdded:
    member: str


@dataclass(frozen=True)
class MemberRemoved:
    member: str


@dataclass(frozen=True)
class MemberLeft:
    member: str


@dataclass(frozen=True)
class GroupRenamed:
    old_name: str | None
    new_name: str


@dataclass(frozen=True)
class GroupAvatar:
    """``filename is None`` means the avatar was removed."""

    filename: str | None


@dataclass(frozen=True)
class GroupDescription:
    text: str


@dataclass(frozen=True)
class GroupInfo:
    """A group's state as announced in full (COI ``groupinfo``/``group``)."""

    name: str | None = None
    members: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class EphemeralTimer:
    """Disappearing-messages timer set (0 = off)."""

    seconds: int


@dataclass(frozen=True)
class ContactState:
    """What a message says about one contact: a shared vCard, a COI contact
    message (contact.json + vCard, or h-card), a profile.  ``fields`` holds
    name/value pairs (``name``, ``status``, ``blocked``, ``groups``,
    ``key``, ``avatar`` ...), values as strings."""

    address: str
    fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Pin:
    target: str
    until: str | None = None


@dataclass(frozen=True)
class PollVote:
    """COI poll votes and closes (``closed`` = the poll was closed)."""

    target: str
    choice: str = ""
    closed: bool = False


@dataclass(frozen=True)
class Unreadable:
    """The message is encrypted (or otherwise sealed) and could not be read."""

    reason: str


Event = (
    Post
    | Edit
    | Delete
    | Reaction
    | Receipt
    | DeliveryReport
    | MemberAdded
    | MemberRemoved
    | MemberLeft
    | GroupRenamed
    | GroupAvatar
    | GroupDescription
    | GroupInfo
    | EphemeralTimer
    | ContactState
    | Pin
    | PollVote
    | Unreadable
)

EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        Post,
        Edit,
        Delete,
        Reaction,
        Receipt,
        DeliveryReport,
        MemberAdded,
        MemberRemoved,
        MemberLeft,
        GroupRenamed,
        GroupAvatar,
        GroupDescription,
        GroupInfo,
        EphemeralTimer,
        ContactState,
        Pin,
        PollVote,
        Unreadable,
    )
}

#: Events that act on another message instead of being one.
CONTROL_TYPES = (Edit, Delete, Reaction, Receipt, DeliveryReport, Pin, PollVote)
#: Events that change a group and show up as system lines.
GROUP_TYPES = (
    MemberAdded,
    MemberRemoved,
    MemberLeft,
    GroupRenamed,
    GroupAvatar,
    GroupDescription,
    EphemeralTimer,
)


@dataclass(frozen=True)
class Defect:
    """Something in a message that could not be understood.

    The original bytes are always stored, so nothing is lost; a defect says
    which part a decoder could not read, so a user can look at the original.
    ``kind`` is a short CamelCase name counted in ``stats``
    (``UnreadableVCard``, ``BadCharset``, or a stdlib ``email`` defect class
    such as ``InvalidBase64PaddingDefect``); ``where`` the decoder or step
    that met it (``common.vcard``, ``mime.part_text``); ``detail`` a short
    human-readable reason.
    """

    kind: str
    where: str = ""
    detail: str = ""

    @classmethod
    def from_stored(cls, value: str | dict[str, Any]) -> Defect:
        """Read a stored defect; envelopes written before defects had a
        structure hold plain strings such as ``DecoderError:coi:KeyError``
        (kind before the first colon)."""
        if isinstance(value, dict):
            return cls(**{k: str(v) for k, v in value.items() if k in ("kind", "where", "detail")})
        kind, _, detail = str(value).partition(":")
        return cls(kind=kind, detail=detail)


class Quality(IntEnum):
    """How much of a message one stored copy shows.  An ``IntEnum``
    because the catalog stores and compares it as an integer
    (``originals.quality``; ``stats`` counts the decrypted by it).  Which
    copy of a Message-ID is shown is decided by ``index.versions``
    (authenticity, then delivery evidence), not by this number alone."""

    UNREADABLE = 0  # sealed (not decrypted) or unparseable
    RECORD = 1  # a record from a client database (Delta Chat backup)
    MAIL = 2  # plain mail
    DECRYPTED = 3  # decrypted mail


@dataclass(frozen=True)
class Envelope:
    """Everything ingest knows about one original message.

    ``dialect`` is ``deltachat``, ``coi``, ``coi-early``, ``mail``,
    ``encrypted`` (sealed, not readable) or ``unparseable``.
    ``quality`` says how much of the message this copy shows
    (:class:`Quality`); the index groups the copies of one Message-ID into
    versions and chooses among them (``index.versions``), so the result
    does not depend on which copy came first.
    ``signature`` is set on decrypted and on signed (``multipart/signed``)
    messages only: ``(status, signer)`` with status ``valid``, ``invalid``,
    ``unknown`` or ``unsigned`` and the signer's primary key fingerprint
    (upper-case hex, ``""`` if none); see ``ingest.crypto``.  A message is
    signed when the status is not ``unsigned``.
    ``delivered`` is the date of the newest ``Received`` header (the
    receiving server's stamp): evidence of when this copy was delivered,
    against which the index checks the sender's Date.  ``payload_sha256``
    is the SHA-256 of the OpenPGP data of an encrypted message (sealed or
    decrypted alike): copies with the same ciphertext are one message.
    """

    message_id: str
    sha256: str
    dialect: str
    date: str | None = None
    sender: str = ""
    sender_name: str = ""
    recipients: tuple[str, ...] = ()
    subject: str = ""
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    chat: ChatRef | None = None
    events: tuple[Event, ...] = ()
    encrypted: bool = False
    quality: Quality = Quality.MAIL
    defects: tuple[Defect, ...] = ()
    headers: tuple[tuple[str, str], ...] = field(default=())
    signature: tuple[str, str] | None = None
    delivered: str | None = None
    payload_sha256: str | None = None
    #: ``(header, display name, address)`` of each To and Cc recipient
    #: (header ``to`` or ``cc``), for search; ``recipients`` is their addresses.
    addressees: tuple[tuple[str, str, str], ...] = ()
    #: The ``List-Id`` header as written (``"Dev list" <dev.lists.example.org>``).
    list_id: str = ""
    #: Fingerprints of the OpenPGP public keys attached as files
    #: (``application/pgp-keys``): core imports such a key and lists no file.
    attached_keys: tuple[str, ...] = ()

    def of_type(self, *types: type) -> Iterator[Event]:
        return (e for e in self.events if isinstance(e, types))


@dataclass(frozen=True)
class Original:
    """One copy of a message as read from a source: bytes plus provenance."""

    raw: bytes
    provenance: Provenance


# --------------------------------------------------------------------------
# JSON round trip (the index stores envelopes as JSON)
# --------------------------------------------------------------------------


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


#: Types stored as they are, tested by exact type before any call: most
#: values of an envelope are strings (~70 per envelope at the benchmark).
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def _to_plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    plain = _PLAIN_TYPES
    if isinstance(value, (tuple, list)):
        return [v if type(v) in plain else _to_plain(v) for v in value]
    cls = type(value)
    out = {}
    for name in _field_names(cls):
        v = getattr(value, name)
        out[name] = v if type(v) in plain else _to_plain(v)
    if cls.__name__ in EVENT_TYPES:
        out["type"] = cls.__name__
    return out


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) if type(v) is list else v for v in value)
    return value


def _optional(cls: type) -> Callable[[Any], Any]:
    return lambda v: None if v is None else _build(cls, v)


#: How a stored field that is not a plain value (or tuple of them) is built
#: back; every other field only has its lists turned into tuples.
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "chat": _optional(ChatRef),
    "fallback": _optional(ChatRef),
    "contact": _optional(ContactState),
    "attachments": lambda v: tuple(_build(Attachment, a) for a in v),
    "events": lambda v: tuple(event_from_dict(e) for e in v),
    "quality": lambda v: Quality(v),
    "defects": lambda v: tuple(Defect.from_stored(d) for d in v),
}
_PLANS: dict[type, tuple[tuple[str, Callable[[Any], Any] | None], ...]] = {}


def _build(cls: type, data: dict[str, Any]) -> Any:
    """``cls`` from its stored dict.  Every stored envelope is read back at
    least twice per ingest (placement, then the fold), so the per-class
    field plan is computed once and plain values skip all conversion."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = tuple((name, _CONVERTERS.get(name)) for name in _field_names(cls))
    kwargs: dict[str, Any] = {}
    for name, convert in plan:
        if name not in data:
            continue
        v = data[name]
        if convert is not None:
            v = convert(v)
        elif type(v) is list:
            v = _tuplify(v)
        kwargs[name] = v
    return cls(**kwargs)


def event_from_dict(data: dict[str, Any]) -> Event:
    cls = EVENT_TYPES[data["type"]]
    return _build(cls, {k: v for k, v in data.items() if k != "type"})


def _text_size(values: Iterable[Any]) -> int:
    """``jsontext.chars`` of a dataclass's values, inline: strings, and the
    strings in its tuples, which the model nests two deep (header pairs);
    nested dataclasses are counted when orjson reaches them."""
    total = 0
    for v in values:
        if type(v) is str:
            total += len(v)
        elif type(v) is tuple:
            total += len(v)
            for x in v:
                if type(x) is str:
                    total += len(x)
                elif type(x) is tuple:
                    total += len(x)
                    for y in x:
                        if type(y) is str:
                            total += len(y)
    return total


class _StoredFields:
    """orjson's hook for the dataclasses of one envelope: the dict
    :func:`_to_plain` makes of each, its values left to orjson.  The only
    float field of the model is a post's location; one orjson would write
    otherwise (``jsontext``) is put in as the stdlib writes it.  Past
    ``jsontext.MAX_CHARS`` of text it gives up, and the stdlib writes the
    envelope."""

    def __init__(self) -> None:
        self.chars = 0

    def __call__(self, value: Any) -> dict[str, Any]:
        cls = type(value)
        out = {name: getattr(value, name) for name in _field_names(cls)}
        self.chars += _text_size(out.values())
        if self.chars > MAX_CHARS:
            raise TypeError("left to the stdlib: large")
        if cls is Post and value.location is not None and not all(map(same_float, value.location)):
            out["location"] = orjson.Fragment(stdlib_text(_to_plain(value.location)))
        if cls.__name__ in EVENT_TYPES:
            out["type"] = cls.__name__
        return out


def envelope_to_bytes(env: Envelope) -> bytes:
    """UTF-8 of :func:`envelope_to_json` (what the catalog compresses),
    written by orjson; what it refuses is written as it always was (and
    raises as it did: a lone surrogate cannot be UTF-8)."""
    try:
        return orjson.dumps(env, default=_StoredFields(), option=orjson.OPT_PASSTHROUGH_DATACLASS)
    except orjson.JSONEncodeError:
        return stdlib_text(_to_plain(env)).encode()


def envelope_to_json(env: Envelope) -> str:
    """The stored JSON text of an envelope: compact, non-ASCII as it is."""
    try:
        return orjson.dumps(env, default=_StoredFields(), option=orjson.OPT_PASSTHROUGH_DATACLASS).decode()
    except orjson.JSONEncodeError:
        return stdlib_text(_to_plain(env))


def envelope_from_json(text: bytes | str, fields: Collection[str] | None = None) -> Envelope:
    """The envelope of stored JSON text (bytes are UTF-8).  Given
    ``fields``, only those are built, the others keep their defaults: a
    reader that needs a few (the fold) skips building the rest."""
    data = loads(text)
    if fields is not None:
        data = {name: value for name, value in data.items() if name in fields}
    return _build(Envelope, data)
