"""Delta Chat / chatmail messages (``Chat-Version`` without a COI id).

Follows chatmail/core ``spec.md`` and what Delta Chat core 2.x really puts
on the wire: groups by ``Chat-Group-ID`` (or an ``Gr.<id>.`` Message-ID),
member changes, renames, avatars and descriptions as system messages,
``Chat-Edit``/``Chat-Delete``, RFC 9078 reactions, MDNs, stickers, voice
messages, KML locations, vCards, forwarded messages and quotes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

from .. import defects
from ..events import (
    Attachment,
    ChatRef,
    ContactState,
    Delete,
    Edit,
    Envelope,
    EphemeralTimer,
    GroupAvatar,
    GroupDescription,
    GroupRenamed,
    MemberAdded,
    MemberLeft,
    MemberRemoved,
    Post,
)
from ..mime import ParsedMail, fold_quotes, msgid, msgid_list, norm_addr, part_bytes, split_footer
from .common import (
    adhoc_group,
    direct_chat,
    extract_body,
    is_report,
    kind_of,
    mailinglist_chat,
    reaction_event,
    receipt_events,
    vcard_contacts,
)
from .dsn import delivery_events

_GROUP_ID_RE = re.compile(r"^[0-9A-Za-z_-]{11,32}$")
_GR_MSGID_RE = re.compile(r"^Gr\.([0-9A-Za-z_-]{11,32})\.")
_FORWARD_MARK = "---------- Forwarded message ----------"
_PENCIL = "\u270f\ufe0f"
_HIDDEN_REPORTS = ("multi-device-sync", "status-update")
#: System events that change a group: they need the group's id.
_GROUP_CHANGES = (MemberAdded, MemberRemoved, MemberLeft, GroupRenamed, GroupAvatar, GroupDescription)
_HIDDEN_SECUREJOIN = {
    "vc-request",
    "vc-request-pubkey",
    "vc-pubkey",
    "vc-auth-required",
    "vc-request-with-auth",
    "vc-contact-confirm",
    "vg-request",
    "vg-auth-required",
    "vg-request-with-auth",
    "vc-contact-confirm-received",
    "vg-member-added-received",
}


def matches(pm: ParsedMail) -> bool:
    return pm.has("Chat-Version") or pm.has("Secure-Join")


def decode(pm: ParsedMail) -> Envelope:
    if _is_hidden(pm):
        return pm.envelope("deltachat", None, ())
    if is_report(pm):
        return pm.envelope("deltachat", None, (*receipt_events(pm), *delivery_events(pm)))
    chat = chat_ref(pm)
    control = _control_events(pm)
    if control:
        return pm.envelope("deltachat", chat, tuple(control))
    system = _system_events(pm)
    if group_id(pm) is None and any(isinstance(ev, _GROUP_CHANGES) for ev in system):
        # core changes only a group it knows by its id: without one this is
        # a message like any other, in the chat it answers (no phantom group)
        system = [ev for ev in system if not isinstance(ev, _GROUP_CHANGES)]
        chat = replace(chat, follow_refs=True)
    events: list = list(system)
    if not system:
        events.extend(_post_events(pm))
        events.extend(_timer_header(pm))
    events.extend(_profile_events(pm))
    return pm.envelope("deltachat", chat, tuple(events))


def _is_hidden(pm: ParsedMail) -> bool:
    """Multi-device sync and SecureJoin handshake messages are protocol
    traffic: kept and counted, but not shown in any chat."""
    if pm.content_type == "multipart/report":
        report = pm.msg.get_param("report-type") or ""
        if isinstance(report, str) and report.lower() in _HIDDEN_REPORTS:
            return True
    step = pm.header("Secure-Join").lower()
    return step in _HIDDEN_SECUREJOIN


def group_id(pm: ParsedMail) -> str | None:
    """The group id: Chat-Group-ID, then Message-ID, In-Reply-To, References."""
    gid = pm.header("Chat-Group-ID").strip()
    if gid and _GROUP_ID_RE.match(gid):
        return gid
    for mid in (pm.message_id, pm.in_reply_to, *pm.references):
        m = _GR_MSGID_RE.match(mid or "")
        if m:
            return m.group(1)
    return None


def chat_ref(pm: ParsedMail) -> ChatRef:
    """The chat of a message; a list post (``List-Id``) goes to its
    mailing list even when a Delta Chat user wrote it, as core's
    ``decide_chat_assignment`` checks the list header before the group id."""
    listed = mailinglist_chat(pm)
    if listed:
        return listed
    gid = group_id(pm)
    name = pm.header("Chat-Group-Name") or None
    if gid:
        return ChatRef(kind="group", key=gid, name=name, members=pm.members())
    others = [a for a in pm.recipients if a != pm.sender]
    if name or len(others) > 1:
        return adhoc_group(pm, name or pm.subject or None)
    return direct_chat(pm)


def _control_events(pm: ParsedMail) -> list:
    edit_target = msgid(pm.header("Chat-Edit"))
    if edit_target:
        return [Edit(target=edit_target, text=_edit_text(pm))]
    delete_targets = msgid_list(pm.header("Chat-Delete"))
    if delete_targets:  # core deletes every message the header lists
        return [Delete(target=t) for t in dict.fromkeys(delete_targets)]
    reaction = reaction_event(pm)
    return [reaction] if reaction else []


def _edit_text(pm: ParsedMail) -> str:
    text, _ = fold_quotes(extract_body(pm).text)
    text = text.strip()
    if text.startswith(_PENCIL):
        text = text[len(_PENCIL) :]
    elif text.startswith("\u270f"):
        text = text[1:]
    return text.strip()


def _system_events(pm: ParsedMail) -> list:
    """Group changes announced by this message (they are system lines)."""
    out: list = []
    added = pm.header("Chat-Group-Member-Added")
    if added:
        out.append(MemberAdded(member=norm_addr(added)))
    removed = pm.header("Chat-Group-Member-Removed")
    if removed:
        member = norm_addr(removed)
        out.append(MemberLeft(member=member) if member == pm.sender else MemberRemoved(member=member))
    if pm.has("Chat-Group-Name-Changed"):
        out.append(
            GroupRenamed(old_name=pm.header("Chat-Group-Name-Changed") or None, new_name=pm.header("Chat-Group-Name"))
        )
    content = pm.header("Chat-Content").lower()
    if content == "group-avatar-changed" or (
        pm.has("Chat-Group-Avatar") and not out and content != "ephemeral-timer-changed" and _avatar_is_attachment(pm)
    ):
        out.append(GroupAvatar(filename=_avatar_name(pm)))
    if pm.has("Chat-Group-Description-Changed"):
        out.append(GroupDescription(text=pm.header("Chat-Group-Description")))
    if content == "ephemeral-timer-changed":
        try:
            seconds = int(pm.header("Ephemeral-Timer") or 0)
        except ValueError:
            defects.note(
                "BadHeaderValue",
                "deltachat.ephemeral_timer",
                f"Ephemeral-Timer {pm.header('Ephemeral-Timer')!r} is not a number; read as off",
            )
            seconds = 0
        out.append(EphemeralTimer(seconds=seconds))
    return out


def _timer_header(pm: ParsedMail) -> list:
    """The chat's message timer as an ordinary message states it: core
    sets the timer from ``Ephemeral-Timer`` on any message, not only on a
    timer change (we read it where it is written; core also reads its
    absence as "off")."""
    value = pm.header("Ephemeral-Timer").strip()
    return [EphemeralTimer(seconds=int(value))] if value.isdigit() else []


def _avatar_is_attachment(pm: ParsedMail) -> bool:
    """Older clients name an attached file in Chat-Group-Avatar."""
    value = pm.header("Chat-Group-Avatar").strip()
    return (
        bool(value)
        and value != "0"
        and not value.startswith("base64:")
        and any(leaf.filename == value for leaf in pm.leaves)
    )


def _avatar_name(pm: ParsedMail) -> str | None:
    value = pm.header("Chat-Group-Avatar").strip()
    if not value or value == "0":
        return None
    if value.startswith("base64:"):
        return "avatar (inline image)"
    return value


def _post_events(pm: ParsedMail) -> list:
    body = extract_body(pm)
    text = split_footer(body.text)
    own, quote = fold_quotes(text)
    forwarded = False
    stripped = own.lstrip("\n")
    if stripped.startswith(_FORWARD_MARK):
        forwarded = True
        own = _strip_forward_header(stripped)
    location = None
    attachments = []
    contacts: list[ContactState] = []
    for att in body.attachments:
        lower = att.filename.lower()
        if lower.endswith(".kml") or att.mime == "application/vnd.google-earth.kml+xml":
            point = _kml_point(_leaf_bytes(pm, att.part))
            location = location or point
            if point is not None:
                continue  # read as the location; a KML not understood stays an attachment
        if att.mime in ("text/vcard", "text/x-vcard") or lower.endswith(".vcf"):
            contacts.extend(vcard_contacts(_leaf_bytes(pm, att.part), pm.sender))
        attachments.append(att)
    content = pm.header("Chat-Content").lower()
    voice = pm.header("Chat-Voice-Message").strip() == "1"
    if content == "sticker":
        kind = "sticker"
    elif voice:
        kind = "audio"
    else:
        kind = kind_of(attachments, "location" if location and not own.strip() else "text")
    if kind in ("image", "sticker") and _unmeasured_image(attachments):
        kind = "file"
    duration = pm.header("Chat-Duration")
    post = Post(
        text=own.strip(),
        kind=kind,
        html=body.html,
        quote=quote,
        reply_to=pm.in_reply_to if quote else None,
        forwarded=forwarded,
        attachments=tuple(attachments),
        location=location,
        voice=voice,
        duration_ms=int(duration) if duration.isdigit() else None,
        contact=contacts[0] if contacts else None,
    )
    return [post, *contacts]


def _unmeasured_image(attachments: list[Attachment]) -> bool:
    """Whether the message's image has no size: not an image, cut short, or
    over core's 50 megapixels (``ingest.images``).  Core shows such an
    image or sticker as a file (``do_add_single_file_part``)."""
    return bool(attachments) and attachments[0].mime.startswith("image/") and attachments[0].width is None


def _strip_forward_header(text: str) -> str:
    """Drop the forward marker and the ``From:`` line block after it."""
    lines = text.split("\n")[1:]
    while lines and lines[0].strip() and ":" in lines[0]:
        lines.pop(0)
    return "\n".join(lines).strip("\n")


def _leaf_bytes(pm: ParsedMail, path: str) -> bytes:
    for leaf in pm.leaves:
        if leaf.path == path:
            return part_bytes(leaf.part)
    return b""


def _kml_point(data: bytes) -> tuple[float, float] | None:
    """(lat, lon) of the first KML coordinate (KML writes lon,lat)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        defects.note("UnreadableKml", "deltachat.kml", defects.describe(exc))
        return None
    for el in root.iter():
        if el.tag.endswith("coordinates") and el.text:
            first = el.text.strip().split()[0] if el.text.strip() else ""
            parts = first.split(",")
            try:
                return float(parts[1]), float(parts[0])
            except (IndexError, ValueError):
                defects.note("BadLocation", "deltachat.kml", f"coordinates {first[:40]!r} are not lon,lat")
                continue
    defects.note("UnreadableKml", "deltachat.kml", "no readable coordinates")
    return None


def _profile_events(pm: ParsedMail) -> list:
    value = pm.header("Chat-User-Avatar").strip()
    if not value or not pm.sender:
        return []
    state = "removed" if value == "0" else "set"
    return [ContactState(address=pm.sender, fields=(("avatar", state),))]
