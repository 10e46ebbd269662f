"""Stable, URL-safe chat ids derived from a decoder's :class:`ChatRef`.

The prefix tells the chat kind (``grp-``, ``dm-``, ``self-``, ``list-``,
``mail-``), so placement can know a chat's kind without a lookup.  Groups
with a real group id keep it readable (``grp-Z2Awmb5mUzGzDsdPavcQByHb``).
"""

from __future__ import annotations

import hashlib
import re

from coi_archive.ingest.events import ChatRef

PREFIX = {"group": "grp", "direct": "dm", "self": "self", "mailinglist": "list", "mail": "mail"}
KIND = {v: k for k, v in PREFIX.items()}
_SAFE_GROUP = re.compile(r"^[0-9A-Za-z_-]{6,64}$")


def chat_id(ref: ChatRef) -> str:
    prefix = PREFIX.get(ref.kind, "mail")
    if ref.kind == "group" and _SAFE_GROUP.match(ref.key):
        return f"{prefix}-{ref.key}"
    digest = hashlib.sha256(f"{ref.kind}\0{ref.key}".encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{prefix}-{digest}"


def kind_of(chat_id: str) -> str:
    return KIND.get(chat_id.split("-", 1)[0], "mail")
