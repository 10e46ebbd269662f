"""Early COI, as shown in the FOSDEM 2019 talk "Break the Messaging Silos
with COI".

Messages look like the later draft (:mod:`.coi`) but with ``coi$``
Message-IDs (groups ``coi$group.<id>.<unique>@domain``), ``Chat-Content:
edit`` for edits, and a "poor man's address book": contact sync messages
(``Subject: Chat: Contact``) that carry a ``contact.json`` with the
contact's chat settings next to a vCard 4.0.  Everything but the contact
messages is decoded by the draft decoder with the early id scheme.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .. import defects
from ..events import ContactState, Envelope
from ..mime import Leaf, ParsedMail, part_bytes, raw_header_all
from . import coi
from .common import vcard_contacts

EARLY = coi.Flavour(
    dialect="coi-early",
    prefix="coi$",
    group_re=re.compile(r"^(?i:coi\$group)\.([0-9A-Za-z_-]+)\.[^@\s]+@"),
)
MAX_JSON_BYTES = 64 * 1024
#: contact.json keys and the ContactState field names they become.
_JSON_FIELDS = (
    ("status", "status"),
    ("groups", "groups"),
    ("is_visible", "visible"),
    ("is_me", "is_me"),
    ("notification", "notification"),
    ("last_time_contact_sent", "last_time_contact_sent"),
)


def matches(pm: ParsedMail) -> bool:
    """A ``coi$`` Message-ID, or a reply whose first reference is one."""
    if coi.starts(pm.message_id, EARLY.prefix):
        return True
    if coi.starts(pm.message_id, coi.DRAFT.prefix):
        return False
    return coi.starts(coi.first_reference(pm), EARLY.prefix)


def decode(pm: ParsedMail) -> Envelope:
    contact = contact_message(pm)
    if contact is not None:
        return pm.envelope(EARLY.dialect, None, tuple(contact))
    return coi.decode_with(pm, EARLY)


def _is_contact_json(leaf: Leaf) -> bool:
    name = (leaf.filename or "").lower()
    return leaf.mime == "application/json" and (coi.token(leaf.chat_content) == "contact" or name == "contact.json")


def contact_message(pm: ParsedMail) -> list[ContactState] | None:
    """The contact a contact sync message describes, or ``None`` when the
    message is not one.  The text notice is for legacy clients only."""
    json_leaves = [leaf for leaf in pm.leaves if _is_contact_json(leaf)]
    if not json_leaves:
        return None
    settings = _json_fields(json_leaves[0])
    cards: list[ContactState] = []
    for leaf in pm.leaves:
        if leaf.mime in coi.VCARD_MIMES or (leaf.filename or "").lower().endswith(".vcf"):
            cards.extend(vcard_contacts(part_bytes(leaf.part)))
    tokens = [("token", v.strip()) for v in _tokens(pm) if v.strip()]
    if cards:
        address, card_fields = cards[0].address, list(cards[0].fields)
    elif ("is_me", "true") in settings and pm.sender:
        address, card_fields = pm.sender, []
    else:
        return []
    own = {name for name, _ in settings}
    merged = [f for f in card_fields if f[0] not in own] + settings + tokens
    return [ContactState(address=address, fields=tuple(merged))]


def _tokens(pm: ParsedMail) -> list[str]:
    return raw_header_all(pm.msg, "COI-Token")


def _json_fields(leaf: Leaf) -> list[tuple[str, str]]:
    """Fields of a contact.json; a broken or hostile file gives none."""
    data = part_bytes(leaf.part)[:MAX_JSON_BYTES]
    try:
        doc = json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        defects.note("UnreadableJson", "coi_early.contact_json", defects.describe(exc))
        return []
    if not isinstance(doc, dict):
        defects.note("UnreadableJson", "coi_early.contact_json", f"a JSON {type(doc).__name__}, not an object")
        return []
    fields: list[tuple[str, str]] = []
    for key, name in _JSON_FIELDS:
        value = _notification(doc.get(key)) if key == "notification" else _scalar(doc.get(key))
        if value:
            fields.append((name, value))
    return fields


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(s for s in (_scalar(v) for v in value) if s)
    if isinstance(value, (str, int, float)):
        return str(value).strip()
    return ""


def _notification(value: Any) -> str:
    """The settings object in the ``key=value;...`` form COI h-cards use."""
    if not isinstance(value, dict):
        return ""
    pairs = [f"{k}={_scalar(v)}" for k, v in value.items() if _scalar(v)]
    return ";".join(pairs)
