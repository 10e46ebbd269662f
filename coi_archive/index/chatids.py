"""Stable, URL-safe chat ids derived from a decoder's :class:`ChatRef`.

The prefix tells the chat kind (``grp-``, ``dm-``, ``self-``, ``list-``,
``mail-``), so placement can know a chat's kind without a lookup.  Groups
with a real group id keep it readable (``grp-Z2Awmb5mUzGzDsdPavcQByHb``).
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

from coi_archive.ingest.events import ChatRef


class ChatKind(StrEnum):
    """What a chat is: the values a decoder's ``ChatRef.kind`` holds (ingest
    writes them as plain strings, which compare equal to these members)."""

    DIRECT = "direct"
    GROUP = "group"
    SELF = "self"
    MAILINGLIST = "mailinglist"
    MAIL = "mail"


#: Every chat kind, in the order lists and filters show them.
CHAT_KINDS: tuple[ChatKind, ...] = tuple(ChatKind)
#: The kinds whose messages are mail rather than chat messages.
MAIL_KINDS = frozenset({ChatKind.MAIL, ChatKind.MAILINGLIST})
#: The chat id prefix of each kind.
PREFIX = {
    ChatKind.GROUP: "grp",
    ChatKind.DIRECT: "dm",
    ChatKind.SELF: "self",
    ChatKind.MAILINGLIST: "list",
    ChatKind.MAIL: "mail",
}
KIND = {v: k for k, v in PREFIX.items()}
_SAFE_GROUP = re.compile(r"^[0-9A-Za-z_-]{6,64}$")


def chat_id(ref: ChatRef) -> str:
    prefix = PREFIX[ChatKind(ref.kind)] if ref.kind in CHAT_KINDS else PREFIX[ChatKind.MAIL]
    if ref.kind == ChatKind.GROUP and _SAFE_GROUP.match(ref.key):
        return f"{prefix}-{ref.key}"
    digest = hashlib.sha256(f"{ref.kind}\0{ref.key}".encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{prefix}-{digest}"


def kind_of(chat_id: str) -> ChatKind:
    """The kind a chat id's prefix names (an unknown prefix is mail)."""
    return KIND.get(chat_id.split("-", 1)[0], ChatKind.MAIL)
