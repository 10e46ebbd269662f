"""COI, the Chat Over IMAP client specification draft (mid-2019 onwards).

A COI message is an ordinary MIME mail marked by ``Chat-Version`` and a
``chat$`` Message-ID; group ids ride inside the Message-ID
(``chat$group.<id>.<unique>@domain``) so that replies from ordinary mail
clients can be placed by their first ``References`` id.  Structured data
(contacts, profiles, groups, locations, polls) travels as microformats in
HTML parts marked with ``Chat-Content``, next to a plain text part that
legacy clients show.  The early dialect of the FOSDEM 2019 talk
(:mod:`.coi_early`) is a subset with ``coi$`` ids and reuses this decoder
through a :class:`Flavour`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .. import defects
from ..events import (
    Attachment,
    ChatRef,
    ContactState,
    Delete,
    Edit,
    Envelope,
    Event,
    GroupInfo,
    MemberLeft,
    Pin,
    PollVote,
    Post,
)
from ..mime import (
    PARSE_ERRORS,
    Leaf,
    ParsedMail,
    disposition,
    fold_quotes,
    iso,
    parse_date,
    part_bytes,
    part_text,
    raw_header,
    raw_header_all,
    split_footer,
    strip_reply_prefix,
)
from . import microformats as mf
from .common import (
    adhoc_group,
    direct_chat,
    html_to_text,
    kind_of,
    reaction_event,
    receipt_events,
    vcard_contacts,
)


@dataclass(frozen=True)
class Flavour:
    """What differs between the COI draft and the early COI of the talk."""

    dialect: str
    prefix: str
    group_re: re.Pattern[str]


DRAFT = Flavour(
    dialect="coi",
    prefix="chat$",
    group_re=re.compile(r"^(?i:chat\$group)\.([0-9A-Za-z_-]{12,})\.[^@\s]+@"),
)

#: Parts that a COI client must not show (``preview`` stands in for a big
#: attachment that is also in the message).
HIDDEN = frozenset({"ignore", "preview"})
EDITS = frozenset({"edit", "editrequest"})
VOTES = frozenset({"pollvote", "pollclose"})
#: HTML parts whose content is data rather than the message text.
STRUCTURED = frozenset(
    {
        "profile",
        "contact",
        "group",
        "groupinfo",
        "groupprofile",
        "location",
        "poll",
        "pollvote",
        "pollclose",
        "status",
    }
)
VCARD_MIMES = ("text/vcard", "text/x-vcard", "text/directory")
MARKDOWN_MIMES = ("text/markdown", "text/x-markdown")
POLL_OPTION_CLASSES = ("p-poll-option", "dt-poll-option")
_GROUP_ID_RE = re.compile(r"^[0-9A-Za-z_-]{12,}$")
_EXTENSION_RE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9_-]+)+$", re.I)
_TIMEOUT_RE = re.compile(r"timeout\s*=\s*(\"?)([^\";]+)\1", re.I)
_CATEGORIES_RE = re.compile(r"categories\s*=\s*(\"?)([^\";]*)\1", re.I)
_ADDR = r"[^\s<>()\[\]@\",;:]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_MENTION_RE = re.compile(
    r"(?<![\w.+-])@(?:\"[^\"\n]{1,100}\"|[^\s:@\"]{1,100}):(" + _ADDR + ")"
    r"|(?<![\w.+-])@(all)(?![\w:@-])",
    re.I,
)


# --------------------------------------------------------------------------
# Detection and placement
# --------------------------------------------------------------------------


def starts(value: str | None, prefix: str) -> bool:
    if not value:
        return False
    return value.lower().startswith(prefix)


def first_reference(pm: ParsedMail) -> str | None:
    """The id that places a reply: References[0] (In-Reply-To when a legacy
    client sent no References)."""
    if pm.references:
        return pm.references[0]
    return pm.in_reply_to


def matches(pm: ParsedMail) -> bool:
    """``chat$`` Message-ID, a reply whose first reference is ``chat$``, or
    a contact storage message.  ``Chat-Version`` alone is not enough: Delta
    Chat sends it too, with its own ids."""
    if starts(pm.message_id, DRAFT.prefix):
        return True
    if pm.has("COI-From-Hash"):
        return True
    if pm.has("Chat-Group-ID"):
        return False
    ref = pm.references[0] if pm.references else (None if pm.has("Chat-Version") else pm.in_reply_to)
    return starts(ref, DRAFT.prefix)


def group_id(mid: str | None, flavour: Flavour) -> str | None:
    if not mid:
        return None
    m = flavour.group_re.match(mid)
    return m.group(1) if m else None


def group_name(pm: ParsedMail) -> str | None:
    return strip_reply_prefix(pm.subject) or None


def known_group(pm: ParsedMail, flavour: Flavour) -> ChatRef | None:
    """The group a message names by its own id or its first reference."""
    gid = group_id(pm.message_id, flavour) or group_id(first_reference(pm), flavour)
    if not gid:
        return None
    return ChatRef(kind="group", key=gid, name=group_name(pm), members=pm.members())


def placement(pm: ParsedMail, flavour: Flavour) -> ChatRef:
    """Group by own Message-ID; a reply placed only by its references may be
    a "reply" instead of a "reply-all", so it carries the 1:1 chat with the
    sender as fallback and the index decides."""
    own = group_id(pm.message_id, flavour)
    if own:
        return ChatRef(kind="group", key=own, name=group_name(pm), members=pm.members())
    referenced = group_id(first_reference(pm), flavour)
    if referenced:
        return ChatRef(
            kind="group", key=referenced, name=group_name(pm), members=pm.members(), fallback=direct_chat(pm)
        )
    others = set(pm.recipients) - {pm.sender}
    if len(others) > 1:
        return adhoc_group(pm, group_name(pm))
    return direct_chat(pm)


def target_of(pm: ParsedMail) -> str | None:
    """The message an edit/delete/vote acts on: In-Reply-To (tolerating a
    missing ``>`` as in the spec's own example), else the last reference."""
    target = pm.in_reply_to
    if target:
        target = target.strip("<>").strip()
    if not target and pm.references:
        target = pm.references[-1]
    return target or None


# --------------------------------------------------------------------------
# Reading the parts
# --------------------------------------------------------------------------


def token(value: str) -> str:
    """The bare ``Chat-Content`` value without parameters."""
    return value.split(";", 1)[0].strip().lower()


def is_extension(cc: str) -> bool:
    """Client extension values use a reverse-domain name."""
    return bool(_EXTENSION_RE.match(cc))


@dataclass
class Content:
    """What the parts of a chat message carry."""

    plain: list[str] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)
    html: str | None = None
    data_texts: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    html_parts: list[tuple[str, str, str]] = field(default_factory=list)
    vcards: list[tuple[str, bytes]] = field(default_factory=list)
    status: str | None = None

    @property
    def text(self) -> str:
        if self.plain:
            return "\n\n".join(p.strip("\n") for p in self.plain if p.strip())
        if self.markdown:
            return "\n\n".join(p.strip("\n") for p in self.markdown if p.strip())
        if self.html is not None:
            return html_to_text(self.html)
        return "\n\n".join(t for t in self.data_texts if t)

    def parts(self, *kinds: str) -> list[tuple[str, str]]:
        """(raw Chat-Content, HTML) of the HTML parts marked with a kind."""
        return [(raw, html) for cc, raw, html in self.html_parts if cc in kinds]


def unflow(text: str, delsp: bool) -> str:
    """Undo RFC 3676 ``format=flowed`` soft line breaks."""
    out: list[str] = []
    buf = ""
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]
        if line.endswith(" ") and line != "-- ":
            buf += line[:-1] if delsp else line
        else:
            out.append(buf + line)
            buf = ""
    if buf:
        out.append(buf)
    return "\n".join(out)


def _plain_text(leaf: Leaf) -> str:
    text = part_text(leaf.part)
    try:
        fmt = str(leaf.part.get_param("format") or "").lower()
        delsp = str(leaf.part.get_param("delsp") or "").lower() == "yes"
    except PARSE_ERRORS as exc:
        defects.note("BadParameter", "coi.plain_text", f"part {leaf.path}: {defects.describe(exc)}; read as fixed")
        fmt, delsp = "", False
    return unflow(text, delsp) if fmt == "flowed" else text


def _inline_text(leaf: Leaf) -> bool:
    return leaf.disposition != "attachment" and not leaf.filename


def read_content(pm: ParsedMail) -> Content:
    """Sort the leaves into text, HTML, data parts and attachments; a part
    that cannot be read is skipped and recorded as a defect."""
    content = Content()
    for leaf in pm.leaves:
        try:
            _read_leaf(leaf, content)
        except PARSE_ERRORS as exc:
            defects.note(
                "UnreadablePart", "coi.read_content", f"part {leaf.path} ({leaf.mime}): {defects.describe(exc)}"
            )
    return content


def _read_leaf(leaf: Leaf, content: Content) -> None:
    raw_cc = leaf.chat_content
    cc = token(raw_cc)
    if cc in HIDDEN or leaf.mime.startswith("multipart/") or leaf.disposition == "reaction":
        return
    if leaf.mime == "text/plain" and _inline_text(leaf):
        if cc == "status":
            content.status = part_text(leaf.part).strip()
        else:
            content.plain.append(_plain_text(leaf))
        return
    if leaf.mime == "text/html" and _inline_text(leaf):
        html = part_text(leaf.part)
        content.html_parts.append((cc, raw_cc, html))
        if cc in STRUCTURED:
            content.data_texts.append(mf.visible_text(html))
        elif content.html is None:
            content.html = html
        return
    if leaf.mime in MARKDOWN_MIMES and _inline_text(leaf):
        content.markdown.append(part_text(leaf.part))
        return
    if leaf.mime in VCARD_MIMES and cc == "contact":
        content.vcards.append((raw_cc, part_bytes(leaf.part)))
        content.attachments.append(leaf.attachment())
        return
    if cc and (leaf.mime == "application/json" or is_extension(cc)):
        return
    content.attachments.append(leaf.attachment())


# --------------------------------------------------------------------------
# Contacts, profiles, groups
# --------------------------------------------------------------------------


def _csv(value: str) -> str:
    return ",".join(p.strip() for p in value.split(",") if p.strip())


def _settings(value: str) -> str:
    """A ``key=value;key=value`` notification setting without the line
    breaks HTML adds."""
    return ";".join(" ".join(p.split()) for p in value.split(";") if p.strip())


def card_emails(card: mf.Item) -> list[str]:
    out: list[str] = []
    for value in card.all("email"):
        addr = value.strip().strip("<>").lower()
        if "@" in addr and " " not in addr and addr not in out:
            out.append(addr)
    return out


def card_fields(card: mf.Item, address: str) -> list[tuple[str, str]]:
    """ContactState fields of an h-card (the extended COI h-card)."""
    fields: list[tuple[str, str]] = []

    def add(name: str, value: str | None) -> None:
        if value and value.strip():
            fields.append((name, value.strip()))

    add("name", card.first("name"))
    add("nickname", card.first("nickname"))
    for extra in card_emails(card):
        if extra != address:
            fields.append(("email", extra))
    add("status", card.first("status") or card.first("coi-status"))
    add("categories", _csv(card.first("category") or ""))
    add("notification", _settings(card.first("notification") or ""))
    add("bday", card.first("bday"))
    if card.first("photo"):
        fields.append(("avatar", "present"))
    if card.first("key"):
        fields.append(("key", "present"))
    return fields


def is_storage(pm: ParsedMail) -> bool:
    """A contact storage message (kept by the user for their own devices)
    rather than a contact sent to someone: it carries ``COI-From-Hash`` or
    is addressed to nobody but its author."""
    return pm.has("COI-From-Hash") or not (set(pm.recipients) - {pm.sender})


def storage_fields(pm: ParsedMail) -> list[tuple[str, str]]:
    """Header facts of a contact storage message.  Tokens are kept as data
    only; ``blocked`` is always stated because a newer storage message
    without ``COI-Blocked`` unblocks the contact."""
    fields = [("from_hash", h.strip().lower()) for h in _all(pm, "COI-From-Hash") if h.strip()]
    fields.append(("blocked", "true" if pm.has("COI-Blocked") else "false"))
    for header_name, name in (("COI-TokenIn", "token_in"), ("COI-TokenOut", "token_out"), ("COI-Token", "token")):
        fields.extend((name, " ".join(v.split())) for v in _all(pm, header_name) if v.strip())
    return fields


def _all(pm: ParsedMail, name: str) -> list[str]:
    return raw_header_all(pm.msg, name)


def top_cards(html: str) -> list[mf.Item]:
    return [it for it in mf.items(html) if "h-card" in it.types]


def contact_states(content: Content, extra: list[tuple[str, str]], sender: str = "") -> list[ContactState]:
    """Contacts from h-cards and vCards of ``contact`` parts (``sender``
    picks the address of a vCard with several, when none is preferred)."""
    out: list[ContactState] = []
    for _raw, html in content.parts("contact"):
        for card in top_cards(html):
            emails = card_emails(card)
            if emails:
                out.append(ContactState(emails[0], tuple(card_fields(card, emails[0]) + extra)))
    for _raw, data in content.vcards:
        out.extend(ContactState(c.address, c.fields + tuple(extra)) for c in vcard_contacts(data, sender))
    return out


def profile_states(pm: ParsedMail, content: Content) -> list[ContactState]:
    """The sender's own profile, one state per ``profile`` part (a part may
    address only some categories of contacts: field ``audience``)."""
    out: list[ContactState] = []
    for raw, html in content.parts("profile"):
        cards = top_cards(html) or mf.find(mf.items(html), "h-card")
        if not cards:
            continue
        fields = card_fields(cards[0], pm.sender)
        m = _CATEGORIES_RE.search(raw)
        if m and _csv(m.group(2)):
            fields.append(("audience", _csv(m.group(2))))
        out.append(ContactState(pm.sender, tuple(fields)))
    if content.status is not None:
        out.append(ContactState(pm.sender, (("status", content.status),)))
    return out


def group_item(content: Content, *kinds: str) -> mf.Item | None:
    for _raw, html in content.parts(*kinds):
        found = mf.find(mf.items(html), "h-group")
        if found:
            return found[0]
    return None


def participants(item: mf.Item) -> list[str]:
    out: list[str] = []
    for card in mf.find(item.children, "h-card"):
        emails = card_emails(card)
        if emails and emails[0] not in out:
            out.append(emails[0])
    return out


def group_info(pm: ParsedMail, item: mf.Item) -> GroupInfo:
    """The group as a ``groupinfo`` part announces it; the sender is a
    member even when the participant list names only the others."""
    listed = participants(item)
    members = tuple(sorted({pm.sender, *listed} - {""})) if listed else pm.members()
    return GroupInfo(
        name=(item.first("name") or "").strip() or group_name(pm),
        members=members,
        description=(item.first("description") or "").strip() or None,
    )


def location_of(content: Content) -> tuple[float, float] | None:
    for _raw, html in content.parts("location"):
        for geo in mf.find(mf.items(html), "h-geo"):
            try:
                lat = float(geo.first("latitude") or "")
                lon = float(geo.first("longitude") or "")
            except ValueError:
                defects.note("BadLocation", "coi.location", "h-geo without numeric latitude/longitude")
                continue
            if -90 <= lat <= 90 and -180 <= lon <= 180:
                return (lat, lon)
    return None


# --------------------------------------------------------------------------
# Text features
# --------------------------------------------------------------------------


def mentions(text: str, html: str | None) -> tuple[str, ...]:
    """Mentioned addresses (and ``all``) from the text and the HTML."""
    found: list[str] = []
    for m in _MENTION_RE.finditer(text):
        found.append((m.group(1) or m.group(2)).lower())
    if html:
        found.extend(mf.mention_links(html))
    return tuple(dict.fromkeys(found))


def pinned(pm: ParsedMail) -> tuple[bool, str | None]:
    """``Content-Disposition: pinned; timeout=<date>`` on the message."""
    if disposition(pm.msg) != "pinned":
        return False, None
    m = _TIMEOUT_RE.search(raw_header(pm.msg, "Content-Disposition") or "")
    return True, iso(parse_date(m.group(2).strip())) if m else None


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------


def decode(pm: ParsedMail) -> Envelope:
    return decode_with(pm, DRAFT)


def decode_with(pm: ParsedMail, flavour: Flavour) -> Envelope:
    """Decode a COI message of either flavour."""

    def envelope(chat: ChatRef | None, events: list[Event]) -> Envelope:
        return pm.envelope(flavour.dialect, chat, tuple(events))

    receipts = receipt_events(pm)
    if receipts:
        return envelope(None, list(receipts))
    top = token(pm.header("Chat-Content"))
    content = read_content(pm)
    target = target_of(pm)
    if target and (top in EDITS or top == "deleterequest" or top in VOTES):
        return envelope(known_group(pm, flavour), [_control(pm, top, target, content)])
    reaction = reaction_event(pm)
    if reaction:
        return envelope(known_group(pm, flavour), [reaction])
    if top == "contact" and is_storage(pm):
        return envelope(None, list(contact_states(content, storage_fields(pm), pm.sender)))
    if top == "profile":
        return envelope(None, list(profile_states(pm, content)))
    if top == "group":
        return _group_storage(pm, flavour, content)
    return envelope(placement(pm, flavour), _chat_events(pm, top, content))


def _control(pm: ParsedMail, top: str, target: str, content: Content) -> Event:
    if top == "deleterequest":
        return Delete(target=target)
    if top in EDITS:
        text = content.text
        return Edit(target=target, text=text) if text.strip() else Delete(target=target)
    if top == "pollclose":
        return PollVote(target=target, closed=True)
    return PollVote(target=target, choice=_vote_choice(content))


def _vote_choice(content: Content) -> str:
    """The chosen options (one per line): marked poll options in the HTML,
    else the plain text."""
    choices: list[str] = []
    for _raw, html in content.parts("pollvote", ""):
        choices.extend(c for c in mf.class_values(html, POLL_OPTION_CLASSES) if c)
    return "\n".join(choices) if choices else content.text.strip()


def _group_storage(pm: ParsedMail, flavour: Flavour, content: Content) -> Envelope:
    """A group storage message: the group's full state, kept by a member
    for their other devices."""
    item = group_item(content, "group", "groupinfo", "groupprofile", "")
    gid = None
    if item is not None:
        candidate = (item.first("id") or "").strip()
        gid = candidate if _GROUP_ID_RE.match(candidate) else None
    gid = gid or group_id(pm.message_id, flavour)
    if item is None or not gid:
        return pm.envelope(flavour.dialect, None, ())
    members = tuple(sorted({pm.sender, *participants(item)} - {""}))
    name = (item.first("name") or "").strip() or None
    info = GroupInfo(name=name, members=members, description=(item.first("description") or "").strip() or None)
    chat = ChatRef(kind="group", key=gid, name=name, members=members)
    return pm.envelope(flavour.dialect, chat, (info,))


def _chat_events(pm: ParsedMail, top: str, content: Content) -> list[Event]:
    events: list[Event] = []
    info = group_item(content, "groupinfo", "groupprofile")
    if info is not None:
        events.append(group_info(pm, info))
    events.extend(profile_states(pm, content))
    post = _post(pm, top, content)
    if post is not None:
        events.append(post)
    if top == "groupleft" or any(cc == "groupleft" for cc, _r, _h in content.html_parts):
        events.append(MemberLeft(member=pm.sender))
    is_pinned, until = pinned(pm)
    if is_pinned and until is None and post is not None:
        events.append(Pin(target=pm.message_id, until=None))
    return events


def _post(pm: ParsedMail, top: str, content: Content) -> Post | None:
    """The visible message, or ``None`` when the message carries nothing to
    show (a pure extension or data message)."""
    text = content.text
    quote = None
    if not pm.has("Chat-Version"):
        text, quote = fold_quotes(split_footer(text))
    location = location_of(content)
    contacts = contact_states(content, [], pm.sender)
    is_poll = top == "poll" or bool(content.parts("poll"))
    if not (text.strip() or content.attachments or location or contacts or is_poll):
        return None
    if location:
        kind = "location"
    elif is_poll:
        kind = "poll"
    elif contacts:
        kind = "contact"
    else:
        kind = kind_of(content.attachments, "text")
    return Post(
        text=text,
        kind=kind,
        html=content.html,
        quote=quote,
        reply_to=pm.in_reply_to,
        attachments=tuple(content.attachments),
        location=location,
        mentions=mentions(text, content.html),
        pinned_until=pinned(pm)[1],
        contact=contacts[0] if contacts else None,
    )
