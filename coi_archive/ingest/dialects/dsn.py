"""Bounces and delay notices, read as Delta Chat core reads them
(``MimeMessage::process_delivery_status`` and ``heuristically_parse_ndn``
in chatmail/core ``src/mimeparser.rs``):

- **RFC 3464** ``multipart/report; report-type=delivery-status``: the second
  part is ``message/delivery-status`` (or RFC 6533's
  ``message/global-delivery-status``); the ``Action`` of its first
  per-recipient block says ``failed`` (also when there is none: core
  assumes failure) or ``delayed``; ``delivered``, ``relayed`` and
  ``expanded`` report nothing wrong and give no event.  The reported
  message is the ``Message-ID`` in the third part (``message/rfc822``,
  ``text/rfc822-headers``, ``message/global`` or ``message/global-headers``).
- **Provider bounces without a report** (GMX, Yahoo): a message whose From
  holds ``mailer-daemon`` or ``mail-daemon`` reports a failure of every
  ``Message-ID:`` line in its text parts.  Core only takes the ids of
  messages it holds; the index does the same (a report aimed at no
  message of the archive changes nothing).

The reason is the report's first text part, as core shows it on the failed
message; the failed recipient is the one address of ``X-Failed-Recipients``.
"""

from __future__ import annotations

from email import message_from_string
from email.message import Message

from ..events import DeliveryReport
from ..mime import ParsedMail, addresses, msgid, part_bytes, part_text

_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_ORIGINAL_TYPES = ("message/global", "message/global-headers")
_DAEMONS = ("mailer-daemon", "mail-daemon")
#: A reason longer than this is cut (a bounce may quote a whole message).
MAX_REASON = 2000


def delivery_events(pm: ParsedMail) -> list[DeliveryReport]:
    """The delivery reports a message carries (usually none)."""
    if pm.content_type == "multipart/report":
        return _report(pm)
    if any(d in pm.header("From").lower() for d in _DAEMONS):
        return _daemon_text(pm)
    return []


def _report(pm: ParsedMail) -> list[DeliveryReport]:
    payload = pm.msg.get_payload()
    if not isinstance(payload, list) or len(payload) < 3:
        return []
    parts = [p for p in payload if isinstance(p, Message)]
    if len(parts) != len(payload):
        return []
    if parts[1].get_content_type() not in _STATUS_TYPES:
        return []
    original = parts[2]
    kind = original.get_content_type()
    if "rfc822" not in kind and kind not in _ORIGINAL_TYPES:
        return []
    target = msgid(_original_headers(original).get("Message-ID"))
    if not target:
        return []
    action = _first_recipient_fields(parts[1]).get("action", "failed").strip().lower()
    state = {"failed": "failed", "delayed": "delayed"}.get(action)
    if state is None:
        return []
    failed = addresses(pm.msg, "X-Failed-Recipients")
    return [
        DeliveryReport(
            target=target, state=state, reason=_reason(pm), recipient=failed[0][1] if len(failed) == 1 else ""
        )
    ]


def _original_headers(part: Message) -> Message:
    """The headers of the reported message: a parsed ``message/rfc822``
    payload, or the text of ``text/rfc822-headers`` read as headers."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return message_from_string(part_bytes(part).decode("utf-8", "replace"))


def _first_recipient_fields(status: Message) -> dict[str, str]:
    """The first per-recipient block of a delivery-status part (the block
    after the per-message fields), keys lower-cased."""
    payload = status.get_payload()
    if isinstance(payload, list):
        blocks = [b for b in payload if isinstance(b, Message)]
        return {k.lower(): str(v) for k, v in blocks[1].items()} if len(blocks) > 1 else {}
    text = part_bytes(status).decode("utf-8", "replace").replace("\r\n", "\n")
    chunks = [c for c in text.split("\n\n") if c.strip()]
    if len(chunks) < 2:
        return {}
    return {k.lower(): str(v) for k, v in message_from_string(chunks[1]).items()}


def _daemon_text(pm: ParsedMail) -> list[DeliveryReport]:
    found: list[str] = []
    for leaf in pm.leaves:
        if not leaf.mime.startswith("text/"):
            continue
        for line in part_text(leaf.part).splitlines():
            if "Message-ID:" in line:
                target = msgid(line.split("Message-ID:", 1)[1].strip())
                if target and target != pm.message_id and target not in found:
                    found.append(target)
    reason = _reason(pm)
    return [DeliveryReport(target=t, state="failed", reason=reason) for t in found]


def _reason(pm: ParsedMail) -> str:
    """The first text part of the report: what core shows as the error."""
    for leaf in pm.leaves:
        if leaf.mime == "text/plain":
            return part_text(leaf.part).strip()[:MAX_REASON]
    return ""
