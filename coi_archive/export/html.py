"""The self-contained HTML export: one file that looks like the web UI's
chat view and opens offline.  CSS is inlined, images of the inline types
are embedded as ``data:`` URIs (up to a size budget; larger ones and all
other files are listed by name and size but not included), and a
Content-Security-Policy in the file itself forbids scripts and any network
request, so nothing in it can phone home even if opened from a web server.
"""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from jinja2 import Environment, FileSystemLoader, select_autoescape

from coi_archive import present
from coi_archive.index.api import MAIL_KINDS, Archive, ArchiveError, ChatKind
from coi_archive.present import templating

from .selection import Selection

#: ``export.html``; the chat macros it imports come from :mod:`coi_archive.present`.
TEMPLATES = Path(__file__).parent / "templates"

#: Images larger than this are not embedded (listed as files instead).
MAX_INLINE_IMAGE = 2 * 1024 * 1024
#: Total budget for embedded images in one export.
MAX_INLINE_TOTAL = 64 * 1024 * 1024

_env: Environment | None = None


def environment() -> Environment:
    global _env
    if _env is None:
        env = templating.Environment(
            loader=FileSystemLoader([str(TEMPLATES), str(present.TEMPLATES)]),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        env.filters.update(present.JINJA_FILTERS)
        _env = env
    return _env


class ExportLinks(present.Links):
    """Images as data: URIs, replies as in-file anchors, nothing external."""

    def __init__(self, archive: Archive, exported_ids: set[str], images: bool = True):
        self.archive = archive
        self.exported = exported_ids
        self.images = images
        self.budget = MAX_INLINE_TOTAL

    def inline_image(self, msg: dict[str, Any], att: dict[str, Any]) -> str | None:
        size = att.get("size") or 0
        if not self.images or size > MAX_INLINE_IMAGE or size > self.budget:
            return None
        try:
            _name, _mime, data = self.archive.attachment(msg["message_id"], att["part"])
        except ArchiveError:
            return None
        if not present.is_inline_image(att["mime"], data):
            return None
        self.budget -= len(data)
        return f"data:{att['mime']};base64,{base64.b64encode(data).decode('ascii')}"

    def message(self, message_id: str) -> str | None:
        return "#" + present.anchor(message_id) if message_id in self.exported else None

    def html_body(self, msg: dict[str, Any]) -> present.CleanHtml | None:
        try:
            html = self.archive.html_body(msg["message_id"])
        except ArchiveError:
            return None
        return present.sanitize_html(html) if html else None


def write_html(
    archive: Archive, sel: Selection, out: BinaryIO, *, me: set[str] | None = None, images: bool = True
) -> int:
    names = present.name_map(archive.contacts())
    ranking = present.owner_ranking(archive.chats())
    exported = {m["message_id"] for m in sel.messages()}
    links = ExportLinks(archive, exported, images=images)
    parts = []
    for part in sel.parts:
        reply_ids = {m["reply_to"] for m in part.messages if m.get("reply_to")} - exported
        replies = archive.messages(reply_ids) if reply_ids else {}
        rows = present.build_rows(
            part.messages,
            me=present.me_in_chat(part.chat, ranking, me or ()),
            names=names,
            links=links,
            replies=replies,
            mail_style=part.chat.get("kind") in MAIL_KINDS,
        )
        group = part.chat.get("kind") == ChatKind.GROUP  # a 1:1 chat's "name" is just a subject
        parts.append(
            {
                "chat": part.chat,
                "rows": rows,
                "memberships": archive.memberships(part.chat["id"]) if group else [],
                "name_history": archive.name_history(part.chat["id"]) if group else [],
            }
        )
    now = datetime.now().astimezone()
    html = (
        environment()
        .get_template("export.html")
        .render(
            title=sel.title,
            parts=parts,
            names=names,
            links=links,
            scope=sel.scope,
            message_count=sel.message_count,
            exported=now.strftime("%Y-%m-%d %H:%M %Z"),
            tz="UTC (the page has no script to show them in the reader's zone)",
            chat_css=present.CHAT_CSS.read_text(encoding="utf-8"),
        )
    )
    out.write(html.encode("utf-8"))
    return sel.message_count
