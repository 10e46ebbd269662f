"""A message known only from a client backup record, as mail again.

mbox, EML and IMAP exports carry mail.  A message whose stored original is
a record (format ``dcbackup-json``: a row of a Delta Chat backup, see
:mod:`coi_archive.ingest.dialects.dcbackup`) has no mail bytes, and the
record itself must never become a mail body.  :func:`mail_from_record`
decodes the record as ingest does (the same :class:`Envelope`) and writes
the RFC 5322 message Delta Chat would have sent, with the stdlib
:class:`email.message.EmailMessage`:

* ``From`` (name and address), ``To`` (the other members of the chat),
  ``Date``, ``Message-ID``, ``In-Reply-To``, ``References``, ``Subject``;
* ``Chat-Version``, and ``Chat-Group-ID``/``Chat-Group-Name`` in a group;
* the text as ``text/plain`` UTF-8 (a quote as ``>`` lines before it, a
  forward behind Delta Chat's marker), each file as a MIME part with its
  name and the bytes the record kept, a location as a KML part;
* edits, deletions, reactions and group changes as Delta Chat writes them
  (``Chat-Edit``, ``Chat-Delete``, an RFC 9078 reaction part,
  ``Chat-Group-Member-Added`` ...), so the export read in again gives the
  same chat;
* ``X-Coi-Archive-Rebuilt``, which says that the bytes were rebuilt and
  from which record (its SHA-256).

The rebuilt bytes are a view of the record, never stored: the record stays
the original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from coi_archive.ingest.decode import decode_any
from coi_archive.ingest.dialects.dcbackup import blob_bytes
from coi_archive.ingest.events import (
    Attachment,
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
    Reaction,
    Receipt,
)
from coi_archive.ingest.mime import sha256_hex

from .chatids import ChatKind

__all__ = ["REBUILT", "MailCopy", "mail_from_record"]

#: How an export manifest names a message written from a backup record.
REBUILT = "rebuilt from backup record"
_FORWARD_MARK = "---------- Forwarded message ----------"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_GROUP_ID = re.compile(r"[A-Za-z0-9_-]{11,32}\Z")


@dataclass(frozen=True)
class MailCopy:
    """A message as mail: ``data`` are RFC 5322 bytes; ``rebuilt`` tells
    that they were written from a backup record, not stored."""

    data: bytes
    rebuilt: bool = False


def _clean(value: str | None) -> str:
    """A header value without line breaks or control characters (mail is
    hostile: a newline in a name must not start a new header)."""
    return " ".join(_CONTROL.sub(" ", value or "").split())


def _addresses(addrs: tuple[str, ...] | list[str]) -> str:
    return ", ".join(_clean(a) for a in addrs if _clean(a))


def _kml(lat: float, lon: float) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">'
        f"<Document><Placemark><Point><coordinates>{lon},{lat}</coordinates></Point></Placemark>"
        "</Document></kml>\n"
    ).encode("ascii")


def _headers(msg: EmailMessage, env: Envelope, record_sha: str) -> None:
    """The envelope and Delta Chat chat headers."""
    sender = _clean(env.sender)
    msg["From"] = formataddr((_clean(env.sender_name), sender)) if sender else "unknown@coi-archive.invalid"
    chat = env.chat
    to = [a for a in (chat.members if chat else ()) if a != env.sender] or list(env.recipients)
    if chat is not None and chat.kind == ChatKind.SELF:
        to = [env.sender]
    msg["To"] = _addresses(to) or "undisclosed-recipients:;"
    if env.date:
        try:
            msg["Date"] = format_datetime(datetime.fromisoformat(env.date))
        except ValueError:
            pass
    msg["Message-ID"] = f"<{_clean(env.message_id)}>"
    if env.in_reply_to:
        msg["In-Reply-To"] = f"<{_clean(env.in_reply_to)}>"
    if env.references:
        msg["References"] = " ".join(f"<{_clean(r)}>" for r in env.references)
    name = _clean(chat.name) if chat and chat.name else ""
    msg["Subject"] = (
        _clean(env.subject)
        or (name if chat and chat.kind == ChatKind.GROUP else "")
        or f"Message from {_clean(env.sender_name) or sender}"
    )
    if chat is not None and chat.kind == ChatKind.MAILINGLIST:
        msg["List-Id"] = f"<{_clean(chat.key)}>"
    else:
        msg["Chat-Version"] = "1.0"
    if chat is not None and chat.kind == ChatKind.GROUP:
        if _GROUP_ID.match(chat.key):
            msg["Chat-Group-ID"] = chat.key
        if name:
            msg["Chat-Group-Name"] = name
    msg["X-Coi-Archive-Rebuilt"] = f"{REBUILT} sha256={record_sha}"


def _post_text(post: Post) -> str:
    text = post.text
    if post.forwarded:
        text = f"{_FORWARD_MARK}\n\n{text}"
    if post.quote:
        quoted = "\n".join("> " + line for line in post.quote.split("\n"))
        text = f"{quoted}\n\n{text}"
    return text


def _attach(msg: EmailMessage, att: Attachment, data: bytes) -> None:
    maintype, _, subtype = att.mime.partition("/")
    if not (maintype and subtype) or _CONTROL.search(att.mime):
        maintype, subtype = "application", "octet-stream"
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=_clean(att.filename) or "file")


def _post(msg: EmailMessage, post: Post, files: dict[str, bytes]) -> None:
    if post.kind == "sticker":
        msg["Chat-Content"] = "sticker"
    if post.voice:
        msg["Chat-Voice-Message"] = "1"
    if post.duration_ms is not None:
        msg["Chat-Duration"] = str(post.duration_ms)
    msg.set_content(_post_text(post), charset="utf-8")
    for att in post.attachments:
        data = files.get(att.part)
        if data is not None:
            _attach(msg, att, data)
    if post.location is not None:
        msg.add_attachment(
            _kml(*post.location), maintype="application", subtype="vnd.google-earth.kml+xml", filename="location.kml"
        )


def _control(msg: EmailMessage, event: object) -> str:
    """Headers of a control or system event; returns the body text."""
    if isinstance(event, Edit):
        msg["Chat-Edit"] = f"<{_clean(event.target)}>"
        return event.text
    if isinstance(event, Delete):
        msg["Chat-Delete"] = f"<{_clean(event.target)}>"
        return "Deleted message"
    if isinstance(event, MemberAdded):
        msg["Chat-Group-Member-Added"] = _clean(event.member)
        return f"Member {_clean(event.member)} added."
    if isinstance(event, (MemberRemoved, MemberLeft)):
        msg["Chat-Group-Member-Removed"] = _clean(event.member)
        return f"Member {_clean(event.member)} removed."
    if isinstance(event, GroupRenamed):
        msg["Chat-Group-Name-Changed"] = _clean(event.old_name)
        del msg["Chat-Group-Name"]
        msg["Chat-Group-Name"] = _clean(event.new_name)
        return f"Group name changed to {_clean(event.new_name)}."
    if isinstance(event, GroupAvatar):
        msg["Chat-Content"] = "group-avatar-changed"
        msg["Chat-Group-Avatar"] = _clean(event.filename) or "0"
        return "Group image changed." if event.filename else "Group image deleted."
    if isinstance(event, GroupDescription):
        msg["Chat-Group-Description-Changed"] = "1"
        msg["Chat-Group-Description"] = _clean(event.text)
        return "Group description changed"
    if isinstance(event, EphemeralTimer):
        msg["Chat-Content"] = "ephemeral-timer-changed"
        msg["Ephemeral-Timer"] = str(int(event.seconds))
        return f"Message deletion timer is set to {int(event.seconds)} s"
    return ""


def _receipt(msg: EmailMessage, receipt: Receipt) -> None:
    """A read receipt as the MDN it stands for (RFC 8098 ``multipart/report``)."""
    target = _clean(receipt.target)
    msg.set_content(f"The message <{target}> was {receipt.disposition}.", charset="utf-8")
    msg.make_mixed()
    report = EmailMessage(policy=policy.default)
    report["Content-Type"] = "message/disposition-notification"
    report.set_payload(
        f"Original-Message-ID: <{target}>\n"
        f"Disposition: manual-action/MDN-sent-automatically; {_clean(receipt.disposition)}\n"
    )
    msg.attach(report)
    msg.set_type("multipart/report")
    msg.set_param("report-type", "disposition-notification")


def _build(env: Envelope, record_sha: str, files: dict[str, bytes]) -> EmailMessage:
    msg = EmailMessage(policy=policy.default)
    _headers(msg, env, record_sha)
    post = next((e for e in env.events if isinstance(e, Post)), None)
    reaction = next((e for e in env.events if isinstance(e, Reaction)), None)
    receipt = next((e for e in env.events if isinstance(e, Receipt)), None)
    if post is not None:
        _post(msg, post, files)
    elif reaction is not None:
        if msg["In-Reply-To"]:
            del msg["In-Reply-To"]
        msg["In-Reply-To"] = f"<{_clean(reaction.target)}>"
        msg.set_content(reaction.emoji, charset="utf-8", disposition="reaction")
    elif receipt is not None:
        _receipt(msg, receipt)
    else:
        body = "\n".join(t for t in (_control(msg, e) for e in env.events) if t)
        msg.set_content(body, charset="utf-8")
    for i, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"coi-archive-{record_sha[:32]}-{i}")  # the same record, the same bytes
    return msg


def mail_from_record(raw: bytes, fmt: str) -> bytes:
    """RFC 5322 bytes (LF line ends) for the stored record ``raw`` of format
    ``fmt``.  Never raises: a record that cannot be decoded gives a message
    that says so, with the record's SHA-256."""
    record_sha = sha256_hex(raw)
    env = decode_any(raw, fmt)
    blob = blob_bytes(raw) if fmt == "dcbackup-json" else None
    files = {"blob": blob[1]} if blob else {}
    try:
        return _build(env, record_sha, files).as_bytes()
    except Exception:  # a hostile record value the email package refuses: keep what is sure
        msg = EmailMessage(policy=policy.default)
        msg["Message-ID"] = f"<{_clean(env.message_id)}>"
        msg["X-Coi-Archive-Rebuilt"] = f"{REBUILT} sha256={record_sha}"
        msg.set_content(f"This message could not be rebuilt from its backup record (sha256 {record_sha}).")
        return msg.as_bytes()
