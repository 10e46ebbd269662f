"""Delta Chat backup records (format ``dcbackup-json``) -> events.

The reader (:mod:`coi_archive.ingest.dcbackup`) turns each message row of
a backup database into one self-contained JSON record: the row (every
column), its ``param`` lines, the facts needed to decode it on its own
(account, chat, members over time, the sender, location, the current
reaction, rename/timer sequence facts) and the attachment's bytes.  This
module decodes such a record, like the other dialects decode a mail, so
a stored record can be decoded again by ``reindex --full`` without the
backup it came from.

:func:`decode_record` gives an :class:`Envelope` of dialect ``dcbackup``,
quality ``RECORD``, ``message_id`` = the row's ``rfc724_mid``: when the
same message also exists as mail (``MAIL`` or ``DECRYPTED``) the mail copy is
canonical and the backup record is one more copy of it.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

from ..defects import describe
from ..events import (
    Attachment,
    ChatRef,
    ContactState,
    Defect,
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
    Quality,
    Reaction,
    Receipt,
)
from ..mime import sha256_hex
from ..safeio import TRUNCATED
from .common import vcard_contacts
from .dcconst import (
    CHAT_MAILINGLIST,
    CHAT_SINGLE,
    SYS_ADDED,
    SYS_AVATAR,
    SYS_DESCRIPTION,
    SYS_REMOVED,
    SYS_RENAMED,
    SYS_TIMER,
    VT_AUDIO,
    VT_FILE,
    VT_GIF,
    VT_IMAGE,
    VT_STICKER,
    VT_TEXT,
    VT_VCARD,
    VT_VIDEO,
    VT_VOICE,
    VT_WEBXDC,
    Param,
)

FORMAT = "dcbackup-json"
RECORD_VERSION = 1

#: core's view type -> a post's kind
VIEW_KIND = {
    VT_TEXT: "text",
    VT_IMAGE: "image",
    VT_GIF: "image",
    VT_STICKER: "sticker",
    VT_AUDIO: "audio",
    VT_VOICE: "audio",
    VT_VIDEO: "video",
    VT_FILE: "file",
    VT_WEBXDC: "webxdc",
    VT_VCARD: "contact",
}
_PENCIL = "\u270f\ufe0f"


def norm_mid(value: str | None) -> str:
    """A Message-ID as the database stores it, without angle brackets."""
    v = (value or "").strip()
    if v.startswith("<") and ">" in v:
        v = v[1 : v.index(">")]
    return v.strip()


def _iso(ts: int | None) -> str | None:
    if not ts:
        return None
    return datetime.fromtimestamp(int(ts), timezone.utc).isoformat()


def _members_at(members: list[dict[str, Any]], ts: int) -> tuple[str, ...]:
    """Who was in the chat at ``ts``.  The database keeps only the latest
    add and remove time of each member: a current member was in except
    between a removal and the later re-add; a past member until removed."""
    out = set()
    for m in members:
        add, rem = m["add_ts"], m["remove_ts"]
        if not m["addr"]:
            continue
        if rem <= add:
            if rem == 0 or not (rem <= ts < add):
                out.add(m["addr"])
        elif ts < rem:
            out.add(m["addr"])
    return tuple(sorted(out))


def _chat_ref(rec: dict[str, Any], ts: int, cmd: int) -> ChatRef | None:
    chat = rec["facts"].get("chat")
    if not chat:
        return None
    me = rec["facts"]["account"]["addr"]
    ctype = chat["type"]
    if ctype == CHAT_SINGLE:
        if chat["param"].get(Param.SELFTALK) == "1":
            return ChatRef(kind="self", key=me, members=(me,))
        others = [m["addr"] for m in chat["members"] if m["addr"] and m["addr"] != me]
        if not others:
            return ChatRef(kind="self", key=me, members=(me,))
        pair = tuple(sorted({me, others[0]}))
        return ChatRef(kind="direct", key=" ".join(pair), members=pair)
    if ctype == CHAT_MAILINGLIST:
        key = chat["grpid"] or chat["name"]
        return ChatRef(kind="mailinglist", key=key.strip().lower(), name=chat["name"] or None)
    members = _members_at(chat["members"], ts)
    name = rec["facts"].get("rename_new") if cmd == SYS_RENAMED else chat.get("name_at") or chat["name"]
    if chat["grpid"]:
        return ChatRef(kind="group", key=chat["grpid"], name=name or None, members=members)
    # an ad-hoc group (no group id): the database chat is the identity, so
    # the key is stable across its messages (everyone ever in it + its name)
    everyone = sorted({m["addr"] for m in chat["members"] if m["addr"]})
    return ChatRef(
        kind="group", key="adhoc:" + " ".join(everyone) + " | " + chat["name"], name=name or None, members=members
    )


def _events(
    rec: dict[str, Any], row: dict[str, Any], p: dict[str, str], cmd: int, sender: str
) -> tuple[list, list[Defect]]:
    facts = rec["facts"]
    defects: list[Defect] = []
    if rec.get("table") == "reactions":  # a reaction no message row carries
        return [Reaction(target=facts["reaction"]["target"], emoji=facts["reaction"]["emoji"])], defects
    if rec.get("table") == "msgs_mdns":  # a read receipt (core keeps no MDN message)
        return [Receipt(target=facts["receipt"]["target"])], defects
    if facts.get("chat") is None:
        return [], defects
    if Param.TEXT_EDIT_FOR in p:
        text = row["txt"] or ""
        text = text[len(_PENCIL) :] if text.startswith(_PENCIL) else text.lstrip("\u270f")
        return [Edit(target=norm_mid(p[Param.TEXT_EDIT_FOR]), text=text.strip())], defects
    if Param.DELETE_REQUEST_FOR in p:
        return [Delete(target=norm_mid(t)) for t in p[Param.DELETE_REQUEST_FOR].split() if t], defects
    if p.get(Param.REACTION) == "1":
        return [Reaction(target=norm_mid(row["mime_in_reply_to"]), emoji=(row["txt"] or "").strip())], defects
    if "reaction" in facts:
        r = facts["reaction"]
        return [Reaction(target=r["target"], emoji=r["emoji"])], defects
    member = (facts.get("member") or {}).get("addr") or (
        p.get(Param.ARG, "").lower() if "@" in p.get(Param.ARG, "") else ""
    )
    if cmd == SYS_RENAMED:
        return [
            GroupRenamed(
                old_name=p.get(Param.ARG) or facts.get("rename_old") or None, new_name=facts.get("rename_new") or ""
            )
        ], defects
    if cmd == SYS_AVATAR:
        return [GroupAvatar(filename=facts.get("avatar_after"))], defects
    if cmd == SYS_ADDED and member:
        return [MemberAdded(member=member)], defects
    if cmd == SYS_REMOVED and member:
        return [MemberLeft(member=member) if member == sender else MemberRemoved(member=member)], defects
    if cmd == SYS_TIMER:
        return [EphemeralTimer(seconds=int(facts.get("timer_after") or 0))], defects
    if cmd == SYS_DESCRIPTION:
        return [GroupDescription(text=facts["chat"].get("description") or "")], defects
    if cmd or row["hidden"]:
        return [], defects  # SecureJoin, sync, webxdc updates...: protocol traffic
    return _post(rec, row, p, defects), defects


def _post(rec: dict[str, Any], row: dict[str, Any], p: dict[str, str], defects: list[Defect]) -> list:
    facts = rec["facts"]
    vtype = row["type"]
    attachments: list[Attachment] = []
    contacts: list[ContactState] = []
    blob = facts.get("blob")
    if blob:
        filename = p.get(Param.FILENAME) or blob["name"]
        mime = p.get(Param.MIME_TYPE) or "application/octet-stream"
        if blob.get("over_limit"):
            defects.append(
                Defect(
                    TRUNCATED,
                    "dcbackup",
                    f"{blob['name']} ({blob['size']} bytes) is over the message size limit and was not kept",
                )
            )
        elif blob.get("missing"):
            defects.append(Defect("BlobMissing", "dcbackup", f"{blob['name']} was not in the backup"))
        else:
            attachments.append(
                Attachment(
                    filename=filename,
                    mime=mime,
                    size=blob["size"],
                    sha256=blob["sha256"],
                    part="blob",
                    width=_pixels(p.get(Param.WIDTH)),
                    height=_pixels(p.get(Param.HEIGHT)),
                )
            )
            if vtype == VT_VCARD or mime in ("text/vcard", "text/x-vcard"):
                contacts = vcard_contacts(_blob_data(blob, defects))
    location = facts.get("location")
    kind = VIEW_KIND.get(vtype, "text")
    text = facts.get("text_before_edits", facts.get("full_text", row["txt"] or ""))
    if kind == "text" and location and not text.strip():
        kind = "location"
    quote = p.get(Param.QUOTE)
    duration = p.get(Param.DURATION, "")
    post = Post(
        text=text.strip(),
        kind=kind,
        quote=quote,
        reply_to=norm_mid(row["mime_in_reply_to"]) or None if quote else None,
        forwarded=Param.FORWARDED in p,
        attachments=tuple(attachments),
        location=(location["lat"], location["lon"]) if location else None,
        voice=vtype == VT_VOICE,
        duration_ms=int(duration) if duration.isdigit() else None,
        contact=contacts[0] if contacts else None,
    )
    return [post, *contacts]


def _pixels(value: str | None) -> int | None:
    """An image's width or height as core keeps it (``w``/``h`` params,
    read from the image when it arrived); None when absent or not a count."""
    return int(value) if value and value.isdigit() and int(value) > 0 else None


def _blob_data(blob: dict[str, Any], defects: list[Defect]) -> bytes:
    try:
        return base64.b64decode(blob["base64"])
    except ValueError as exc:  # binascii.Error: the record itself is damaged
        defects.append(Defect("UnreadableBlob", "dcbackup", f"{blob['name']}: {describe(exc)}"))
        return b""


#: What a damaged or hand-edited record raises while it is read: bad JSON
#: or UTF-8 (ValueErrors), a missing key, a value of the wrong JSON type.
RECORD_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError)


def decode_record(raw: bytes) -> Envelope:
    """A ``dcbackup-json`` record -> Envelope.  Never raises."""
    sha = sha256_hex(raw)
    try:
        rec = json.loads(raw.decode("utf-8"))
        row, p = rec["row"], rec["param"]
        facts = rec["facts"]
        mid = norm_mid(row["rfc724_mid"])
        ts = int(row.get("timestamp_sent") or 0) or int(row.get("timestamp") or 0)
        cmd = int(p[Param.CMD]) if str(p.get(Param.CMD, "")).isdigit() else 0
        sender = facts["sender"]["addr"]
        chat = _chat_ref(rec, int(row.get("timestamp") or 0), cmd)
        events, defects = _events(rec, row, p, cmd, sender)
        recipients: tuple[str, ...] = ()
        if chat is not None:
            recipients = tuple(m for m in chat.members if m != sender)
        refs = tuple(norm_mid(r) for r in (row.get("mime_references") or "").split() if norm_mid(r))
        return Envelope(
            message_id=mid or f"sha256-{sha[:40]}@coi-archive.invalid",
            sha256=sha,
            dialect="dcbackup",
            date=_iso(ts),
            sender=sender,
            sender_name=facts["sender"].get("name") or "",
            recipients=recipients,
            subject=row.get("subject") or "",
            in_reply_to=norm_mid(row.get("mime_in_reply_to")) or None,
            references=refs,
            chat=chat,
            events=tuple(events),
            encrypted=p.get(Param.GUARANTEE_E2EE) == "1",
            quality=Quality.RECORD,
            defects=tuple(defects),
        )
    except RECORD_ERRORS as exc:  # a damaged record is kept, never dropped
        return Envelope(
            message_id=f"sha256-{sha[:40]}@coi-archive.invalid",
            sha256=sha,
            dialect="unparseable",
            quality=Quality.UNREADABLE,
            defects=(Defect("UnreadableRecord", "dcbackup", describe(exc)),),
        )


def blob_bytes(raw: bytes) -> tuple[str, bytes] | None:
    """(file name, bytes) of the attachment kept in a record."""
    try:
        blob = json.loads(raw.decode("utf-8"))["facts"].get("blob")
    except (ValueError, KeyError, UnicodeDecodeError):
        return None
    if not blob or blob.get("missing"):
        return None
    return blob["name"], base64.b64decode(blob["base64"])


__all__ = ["FORMAT", "RECORD_VERSION", "blob_bytes", "decode_record", "norm_mid"]
