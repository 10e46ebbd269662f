"""Pieces every dialect decoder needs: body and attachment extraction, read
receipts (RFC 8098), reactions (RFC 9078), vCards, chat placement helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser
from typing import Any

from .. import defects
from ..events import Attachment, ChatRef, ContactState, Reaction, Receipt
from ..mime import Leaf, ParsedMail, msgid, msgid_list, part_body_text, part_bytes, part_text

#: Elements whose content is never shown (``template`` is inert markup,
#: ``head`` holds ``title`` and ``meta``).
_HIDDEN = frozenset({"script", "style", "head", "title", "template", "noscript", "object", "iframe", "svg"})
#: Elements that end a line where they close (``br`` and ``hr`` where they stand).
_BLOCKS = frozenset(
    {
        "br",
        "p",
        "div",
        "li",
        "ul",
        "ol",
        "tr",
        "table",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "hr",
        "section",
        "article",
        "header",
        "footer",
        "dd",
        "dt",
    }
)
#: Void elements: they never close, so they never open a hidden span.
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)


class _VisibleText(HTMLParser):
    """The text a reader of an HTML body sees: character data outside
    hidden elements, entities decoded (``convert_charrefs``); attribute
    values (``value=``, ``alt=``, ``title=``) and comments are never text."""

    def __init__(self, quotes: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden: list[str] = []
        self.quotes = quotes
        self.divs: list[bool] = []  # per open div: does it hold a quote?

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _HIDDEN and tag not in _VOID:
            self.hidden.append(tag)
        elif tag in ("br", "hr"):
            self.parts.append("\n")
        elif self.quotes and tag in ("blockquote", "div"):
            quoting = tag == "blockquote" or _is_quote_div(attrs)
            if tag == "div":
                self.divs.append(quoting)
            if quoting:
                self.parts.append(f"\n{_QUOTE_IN}\n")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in ("br", "hr"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.hidden:
            while self.hidden and self.hidden.pop() != tag:
                pass
            return
        quoted = self.quotes and (tag == "blockquote" or (tag == "div" and self.divs and self.divs.pop()))
        if quoted:
            self.parts.append(f"\n{_QUOTE_OUT}\n")
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


#: Markers of where a quote starts and ends in the text being built
#: (private-use characters: never in the markup's own text).
_QUOTE_IN, _QUOTE_OUT = "\ue000", "\ue001"
#: ``class``/``id`` values of the quote containers mail providers write
#: (Gmail, Yahoo, Outlook's reply header block, Thunderbird's attribution).
_QUOTE_CLASSES = ("gmail_quote", "yahoo_quoted", "divrplyfwdmsg", "moz-cite-prefix")


def _is_quote_div(attrs: list) -> bool:
    values = " ".join(str(v).lower() for k, v in attrs if k in ("class", "id") and v)
    return any(name in values for name in _QUOTE_CLASSES)


def _mark_quotes(text: str) -> str:
    """Prefix each line inside quote markers with ``> `` per level, so
    :func:`~coi_archive.ingest.mime.fold_quotes` splits them off."""
    depth = 0
    out: list[str] = []
    for line in text.split("\n"):
        if line.strip() == _QUOTE_IN:
            depth += 1
        elif line.strip() == _QUOTE_OUT:
            depth = max(0, depth - 1)
        elif line and depth:
            out.append("> " * depth + line)
        else:
            out.append(line)
    return "\n".join(out)


def html_to_text(html: str, quotes: bool = False) -> str:
    """Plain text of an HTML body, for search and previews only (the HTML itself is kept in the original and sanitised
    where it is shown).  Read with the stdlib ``html.parser``, which never
    raises on broken markup.  With ``quotes``, what stands in a
    ``blockquote`` or a provider's quote block is ``>``-quoted, as core's
    ``dehtml`` does, so the quote of an HTML-only reply can be split off."""
    parser = _VisibleText(quotes)
    try:
        parser.feed(html)
        parser.close()
    except AssertionError as exc:  # html.parser asserts on a few malformed declarations
        defects.note("UnreadableHtml", "common.html_to_text", f"{defects.describe(exc)}; text up to there kept")
    text = re.sub(r"[ \t\r\f\v\xa0]+", " ", "".join(parser.parts))
    out: list[str] = []
    for line in (ln.strip() for ln in text.split("\n")):
        if line or (out and out[-1]):  # at most one empty line in a row
            out.append(line)
    joined = "\n".join(out).strip()
    return _mark_quotes(joined).strip() if quotes else joined


@dataclass
class Body:
    """The readable content of a message."""

    text: str = ""
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    leaves_used: list[Leaf] = field(default_factory=list)
    #: the inline text parts ``text`` joins, in order
    plain_parts: list[str] = field(default_factory=list)
    #: a mail forwarded inline (``message/rfc822``) was read into the text
    forwarded: bool = False


SKIP_CHAT_CONTENT = {"ignore", "preview"}
#: The signature part of ``multipart/signed`` (RFC 1847, 3156, 8551): core
#: reads only the signed first part, so a signature is never an attachment;
#: that the message is signed is its ``Envelope.signature``.
_SIGNATURE_MIMES = ("application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature")


def extract_body(pm: ParsedMail, skip_mimes: tuple[str, ...] = ()) -> Body:
    """Split a message into text, HTML and attachments.

    The first inline text/plain part is the text; the first inline
    text/html part is the HTML (and the text when there is no plain part).
    Parts marked ``Chat-Content: ignore`` or ``preview`` are left out, and
    so are MIME types in ``skip_mimes`` (decoders handle those themselves).
    """
    body = Body()
    plain: list[str] = []
    for leaf in pm.leaves:
        if leaf.chat_content in SKIP_CHAT_CONTENT or leaf.mime in skip_mimes or leaf.mime in _SIGNATURE_MIMES:
            continue
        if key_fingerprint(leaf):  # core imports an attached key, it lists no file
            continue
        if leaf.mime == "text/plain" and leaf.is_body_text():
            plain.append(part_body_text(leaf.part))
            body.leaves_used.append(leaf)
        elif leaf.mime == "text/html" and leaf.is_body_text() and body.html is None:
            body.html = part_text(leaf.part)
            body.leaves_used.append(leaf)
        elif leaf.mime == "message/rfc822" and leaf.disposition != "attachment" and _forwarded(leaf, body, plain):
            continue
        elif leaf.mime.startswith("multipart/"):
            # a multipart whose boundary is missing or never appears: the
            # parser leaves the whole body as text; show it rather than nothing
            payload = leaf.part.get_payload()
            if isinstance(payload, str) and payload.strip():
                plain.append(part_text(leaf.part))
                body.leaves_used.append(leaf)
        else:
            body.attachments.append(leaf.attachment())
    body.plain_parts = [p.strip("\n") for p in plain if p.strip()]
    if plain:
        body.text = "\n\n".join(body.plain_parts)
    elif body.html:
        body.text = html_to_text(body.html, quotes=True)
    return body


def key_fingerprint(leaf: Leaf) -> str | None:
    """The fingerprint of the public key a part attaches
    (``application/pgp-keys``; see :func:`~coi_archive.ingest.crypto.attached_key`)."""
    if leaf.mime != "application/pgp-keys":
        return None
    from ..crypto import attached_key

    return attached_key(part_bytes(leaf.part))


def _forwarded(leaf: Leaf, body: Body, plain: list[str]) -> bool:
    """An inline ``message/rfc822`` (a mail forwarded "inline") is read as
    part of the message, as core's ``parse_mime_recursive`` does: its text
    joins the text; the part stays an attachment only when the forwarded
    mail has files of its own (they are reached through it).  False when
    the part holds no message."""
    payload = leaf.part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        return False
    forwarded = extract_body(ParsedMail(b"", msg=inner, sha256="forwarded"))
    body.forwarded = True
    if forwarded.text.strip():
        plain.append(forwarded.text)
        body.leaves_used.append(leaf)
    if forwarded.attachments or not forwarded.text.strip():
        body.attachments.append(leaf.attachment())
    return True


def kind_of(attachments: list[Attachment], default: str = "text") -> str:
    """The message kind derived from its first attachment's MIME type."""
    for att in attachments:
        major = att.mime.split("/", 1)[0]
        if att.mime in ("text/vcard", "text/x-vcard") or att.filename.lower().endswith(".vcf"):
            return "contact"
        if att.mime == "application/webxdc+zip" or att.filename.lower().endswith(".xdc"):
            return "webxdc"  # an app, as core's Viewtype::Webxdc
        if major in ("image", "audio", "video"):
            return major
        return "file"
    return default


def is_report(pm: ParsedMail) -> bool:
    """A delivery/read report (RFC 6522): protocol traffic, never a post.
    Core reads a read report wherever it stands in the MIME tree (some
    clients wrap it in ``multipart/parallel`` or ``multipart/mixed``)."""
    return pm.content_type == "multipart/report" or any(
        leaf.mime == "message/disposition-notification" for leaf in pm.leaves
    )


def receipt_events(pm: ParsedMail) -> list[Receipt]:
    """Read receipts from the ``message/disposition-notification`` parts of
    a message (RFC 8098), as core's ``process_report`` reads them: a report
    without ``Disposition`` is ignored; without ``Original-Message-ID``
    (MS Exchange) the report's ``In-Reply-To`` names the message read; each
    id of ``Additional-Message-IDs`` (Delta Chat acknowledges several
    messages at once) is read too."""
    out: list[Receipt] = []
    for leaf in pm.leaves:
        if leaf.mime != "message/disposition-notification":
            continue
        fields = _mdn_fields(leaf.part)
        disp = fields.get("disposition", "")
        if not disp:
            continue
        target = msgid(fields.get("original-message-id"))
        if not target and pm.content_type == "multipart/report":
            target = pm.in_reply_to
        action = disp.split(";")[-1].strip().lower() or "displayed"
        targets = [target] if target else []
        targets += msgid_list(fields.get("additional-message-ids"))
        out.extend(Receipt(target=t, disposition=action) for t in dict.fromkeys(targets))
    return out


def _mdn_fields(part: Message) -> dict[str, str]:
    """Fields of a message/disposition-notification part, however parsed."""
    fields: dict[str, str] = {}
    payload = part.get_payload()
    blocks = payload if isinstance(payload, list) else []
    for block in blocks:
        if isinstance(block, Message):
            for k, v in block.items():
                fields.setdefault(k.lower(), str(v))
    if not fields:
        text = part_bytes(part).decode("utf-8", "replace")
        for line in text.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                fields.setdefault(k.strip().lower(), v.strip())
    return fields


def reaction_event(pm: ParsedMail) -> Reaction | None:
    """An RFC 9078 reaction: a part with ``Content-Disposition: reaction``."""
    target = pm.in_reply_to
    if not target:
        return None
    for leaf in pm.leaves:
        if leaf.disposition == "reaction":
            emoji = part_text(leaf.part).strip()
            return Reaction(target=target, emoji=" ".join(emoji.split()))
    return None


def vcard_contacts(data: bytes, sender: str = "") -> list[ContactState]:
    """Contacts from a vCard file (one or several cards), via vobject; the
    cards before one vobject cannot read are kept.  A card with several
    ``EMAIL`` lines belongs to the preferred one (:func:`_card_emails`);
    the others are its aliases (``email`` fields)."""
    out: list[ContactState] = []
    for card in _vcards(data.decode("utf-8", "replace")):
        fields: list[tuple[str, str]] = []
        emails = _card_emails(card, sender)
        if not emails:
            continue
        fn = card.contents.get("fn")
        if fn:
            fields.append(("name", str(fn[0].value)))
        for key in ("note", "title", "org", "bday", "rev"):
            if key in card.contents:
                value = card.contents[key][0].value
                fields.append(
                    (key if key != "note" else "status", value if isinstance(value, str) else " ".join(map(str, value)))
                )
        if "key" in card.contents:
            fields.append(("key", _vcard_key_fingerprint(card.contents["key"][0].value) or "present"))
        if "photo" in card.contents:
            fields.append(("avatar", "present"))
        for extra in emails[1:]:
            fields.append(("email", extra))
        out.append(ContactState(address=emails[0], fields=tuple(fields)))
    return out


def _card_emails(card: object, sender: str) -> list[str]:
    """The addresses of a card, the one it belongs to first: the one marked
    preferred (vCard 4 ``PREF=1``, vCard 3 ``TYPE=pref``), else the one of
    the sender (a card about oneself), else the first."""
    lines = card.contents.get("email", [])  # type: ignore[attr-defined]
    emails = [str(e.value).strip().lower() for e in lines]

    def preferred(line: Any) -> bool:
        params = {k.upper(): [str(v).lower() for v in vs] for k, vs in line.params.items()}
        return "1" in params.get("PREF", ()) or "pref" in params.get("TYPE", ())

    chosen = next((a for a, line in zip(emails, lines) if preferred(line)), None)
    if chosen is None and sender in emails:
        chosen = sender
    if chosen is None:
        return list(dict.fromkeys(emails))
    return list(dict.fromkeys([chosen, *emails]))


def _vcards(text: str) -> list:
    """The vobject components of a vCard text, up to the first it cannot
    parse (a card never closed, a broken base64 value)."""
    import vobject

    cards: list = []
    try:
        for card in vobject.readComponents(text, ignoreUnreadable=True):
            cards.append(card)
    except (vobject.base.VObjectError, ValueError) as exc:  # binascii/Unicode errors are ValueErrors
        defects.note("UnreadableVCard", "common.vcard", f"{defects.describe(exc)}; {len(cards)} card(s) read")
    return cards


def direct_chat(pm: ParsedMail) -> ChatRef:
    """1:1 placement: the sorted pair of sender and recipient, or a self chat."""
    others = [a for a in pm.recipients if a != pm.sender]
    if not others:
        return ChatRef(kind="self", key=pm.sender, members=(pm.sender,))
    pair = tuple(sorted({pm.sender, others[0]}))
    return ChatRef(kind="direct", key=" ".join(pair), members=pair)


_LIST_ID_RE = re.compile(r"^(.+)<(.+)>$", re.S)
_HEX32_PREFIX_RE = re.compile(r"([0-9a-fA-F]{32})\.(.{6,})")
_NOTIFIER_MARKS = ("noreply", "no-reply")
_NOTIFIER_PREFIXES = ("notifications@", "newsletter@")


def list_header(pm: ParsedMail) -> str:
    """The header that makes a message a mailing-list post (core's
    ``get_mailinglist_header``): ``List-Id``, else ``Sender`` when
    ``Precedence`` is ``list`` or ``bulk`` (Majordomo); ``""`` if none."""
    list_id = pm.header("List-Id")
    if list_id:
        return list_id
    if pm.header("Precedence").strip().lower() in ("list", "bulk"):
        return pm.header("Sender")
    return ""


def mailinglist_chat(pm: ParsedMail) -> ChatRef | None:
    """The mailing-list chat of a list post, named as core names it; None
    when the message came from no list."""
    value = list_header(pm).strip()
    if not value:
        return None
    m = _LIST_ID_RE.match(value)
    list_id = (m.group(2) if m else value).strip().strip("<>").strip().lower()
    if not list_id:
        return None
    return ChatRef(kind="mailinglist", key=list_id, name=_list_name(pm, m.group(1) if m else "", list_id))


def _list_name(pm: ParsedMail, phrase: str, list_id: str) -> str:
    """A readable list name (core's ``compute_mailinglist_name``): the
    phrase of ``List-Id``; the From display name for Mailchimp lists (their
    phrase is a number) and for nameless notification lists; else the list
    id without a 32-hex-digit hash prefix.  Core prefers a ``[tag]`` from
    the subject; we do not, as a tag changes from post to post."""
    name = phrase.strip().strip('"').strip()
    sender = pm.sender
    if list_id.endswith(".list-id.mcsv.net") and pm.sender_name:
        name = pm.sender_name
    notifier = any(mark in sender for mark in _NOTIFIER_MARKS) or sender.startswith(_NOTIFIER_PREFIXES)
    if not name and (notifier or list_id.endswith(".xt.local")) and pm.sender_name:
        name = pm.sender_name
    if not name:
        hashed = _HEX32_PREFIX_RE.search(list_id)
        name = hashed.group(2) if hashed else list_id
    return name.replace("\u202e", "")


def adhoc_group(pm: ParsedMail, name: str | None) -> ChatRef:
    """A group without an id: identified by its member set."""
    members = pm.members()
    return ChatRef(kind="group", key="adhoc:" + " ".join(members), name=name, members=members)


def _vcard_key_fingerprint(value: object) -> str | None:
    """The fingerprint of an OpenPGP key in a vCard ``KEY`` (``data:`` URI,
    as Delta Chat writes it), so it matches the Autocrypt key history."""
    from ..autocrypt import keydata_fingerprint

    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    if "base64" in text and "," in text:
        return keydata_fingerprint(text.rsplit(",", 1)[1].replace("\\", ""))
    return None
