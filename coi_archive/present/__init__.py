"""How a chat looks: the presentation shared by the web UI's chat view and
the self-contained HTML export, so both show a message the same way.

Everything here turns archive data (the ``show --json`` shapes from
:mod:`coi_archive.index.api`) into view rows for the ``_chat.html`` Jinja
macros in ``present/templates`` (with ``chat.css``, the look both share).
It never touches the archive itself except through the :class:`Links`
object the caller passes in (the web UI links to its own routes; the export
inlines images as ``data:`` URIs and links inside the file).  It sits
between the index and its two readers: ``webui`` and ``export`` import it,
it imports only the index's public API.

Mail content is untrusted: message text is always escaped by Jinja's
autoescaping, and mail HTML goes through :func:`sanitize_html` (nh3) before
it is marked safe.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nh3
from markupsafe import Markup, escape

from coi_archive.index.api import ChatKind, parse_iso
from coi_archive.units import human_bytes

TEMPLATES = Path(__file__).parent / "templates"
CHAT_CSS = TEMPLATES / "chat.css"

#: Attachment types shown inline as images.  SVG is not among them: it can
#: carry script, so it is only offered as a download.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

#: First bytes of the inline image types: a declared image whose bytes do
#: not start like one is treated as a file (served as a download).
_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


#: Audio and video types browsers play in ``<audio>``/``<video>``.
PLAYABLE_TYPES = frozenset(
    {
        "audio/ogg",
        "audio/opus",
        "audio/mpeg",
        "audio/mp3",
        "audio/mp4",
        "audio/aac",
        "audio/x-m4a",
        "audio/m4a",
        "audio/wav",
        "audio/x-wav",
        "audio/wave",
        "audio/webm",
        "audio/flac",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "video/quicktime",
    }
)


def is_inline_image(mime: str | None, data: bytes) -> bool:
    """True when ``data`` really is an image of an inline type ``mime``."""
    return (
        mime in INLINE_IMAGE_TYPES and data.startswith(_MAGIC[mime]) and (mime != "image/webp" or data[8:12] == b"WEBP")
    )


_SYSTEM_ICONS = {
    "member-added": "➕",
    "member-removed": "➖",
    "member-left": "🚪",
    "group-renamed": "✏️",
    "group-avatar": "🖼",
    "group-description": "📝",
    "ephemeral-timer": "⏱",
}


# --------------------------------------------------------------------------
# Small formatting helpers (also registered as Jinja filters)
# --------------------------------------------------------------------------


def anchor(message_id: str) -> str:
    """A stable, HTML-id-safe anchor for a message."""
    return "m-" + hashlib.sha1(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def utc(value: str | None) -> datetime | None:
    """An ISO date in UTC: pages are rendered in UTC (and say so), and the
    web UI's script rewrites every ``<time>`` into the reader's own zone."""
    dt = parse_iso(value)
    return dt.astimezone(timezone.utc) if dt else None


#: How a date is written in each style of :func:`when`.
_TIME_STYLES = {"time": "%H:%M", "datetime": "%Y-%m-%d %H:%M UTC", "day": "%A, %d %B %Y"}


def fmt_time(value: str | None) -> str:
    dt = utc(value)
    return dt.strftime(_TIME_STYLES["time"]) if dt else ""


def fmt_datetime(value: str | None) -> str:
    dt = utc(value)
    return dt.strftime(_TIME_STYLES["datetime"]) if dt else ""


def fmt_day(value: str | None) -> str:
    dt = utc(value)
    return dt.strftime(_TIME_STYLES["day"]) if dt else "Undated"


def when(value: str | None, style: str = "datetime") -> Markup:
    """A ``<time>`` element for an ISO date: its text in UTC (saying so, for
    readers without script), ``data-style`` telling the script how to
    rewrite it in the reader's zone (``time``, ``datetime`` or ``day``).
    The date is parsed once and the element joined as text: a chat page
    has some 300 of them (``Markup.format`` and three parses were a tenth
    of its server time)."""
    dt = utc(value) if value else None
    if dt is None:
        return Markup("")
    title = dt.strftime(_TIME_STYLES["datetime"])
    text = title if style == "datetime" else dt.strftime(_TIME_STYLES[style])
    return Markup(
        f'<time datetime="{escape(value)}" data-style="{escape(style)}" title="{escape(title)}">{escape(text)}</time>'
    )


_DURATION_UNITS = (
    ("year", 365 * 86400),
    ("week", 7 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
    ("second", 1),
)


def fmt_duration(seconds: float | int | None) -> str:
    """Seconds in words, at most two units: 86400 -> "1 day", 5400 ->
    "1 hour 30 minutes" (a message timer or a voice message's length)."""
    if seconds is None:
        return ""
    left = int(round(float(seconds)))
    if left <= 0:
        return "0 seconds"
    parts: list[str] = []
    for name, size in _DURATION_UNITS:
        if left >= size and len(parts) < 2:
            n, left = divmod(left, size)
            parts.append(f"{n} {name}{'s' if n != 1 else ''}")
        elif parts:
            break
    return " ".join(parts)


def fmt_clock(seconds: float | int | None) -> str:
    """A media length as a player shows it: 0:42, 3:05, 1:02:03."""
    if seconds is None:
        return ""
    s = int(round(float(seconds)))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def fmt_size(size: int | None) -> str:
    return "" if size is None else human_bytes(size)


_URL_RE = re.compile(r"\bhttps?://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]}]", re.I)


def linkify(text: str | None) -> Markup:
    """Escape text and turn bare http(s) URLs into links (which open in a
    new tab and send no referrer).  Nothing is fetched until clicked."""
    if not text:
        return Markup("")
    out: list[str] = []
    pos = 0
    for m in _URL_RE.finditer(text):
        out.append(str(escape(text[pos : m.start()])))
        url = m.group(0)
        out.append(f'<a href="{escape(url)}" rel="noopener noreferrer nofollow" target="_blank">{escape(url)}</a>')
        pos = m.end()
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


def osm_url(lat: float, lon: float) -> str:
    return f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=16/{lat:.6f}/{lon:.6f}"


def initials(name: str | None) -> str:
    name = (name or "?").strip()
    for ch in name:
        if ch.isalnum():
            return ch.upper()
    return name[:1] or "?"


def hue(key: str | None) -> int:
    """A stable colour class (0-7) for a sender."""
    return int(hashlib.md5((key or "").encode()).hexdigest()[:4], 16) % 8


# --------------------------------------------------------------------------
# Mail HTML
# --------------------------------------------------------------------------

_SAFE_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[a-z0-9+/=\s]*$", re.I)
_TAGS = set(nh3.ALLOWED_TAGS) - {"area", "map"}


@dataclass
class CleanHtml:
    html: Markup
    blocked_images: int


def sanitize_html(html: str, allow_remote_images: bool = False) -> CleanHtml:
    """Mail HTML made safe to embed: no script, no event handlers, no style,
    no forms/frames/objects, links only to http(s)/mailto (opening in a new
    tab without referrer), no relative URLs (they would point at this
    server), and remote images dropped unless ``allow_remote_images``
    (tracking pixels).  ``data:`` images of the inline types stay."""
    blocked = 0

    def attr_filter(tag: str, attr: str, value: str) -> str | None:
        nonlocal blocked
        low = value.strip().lower()
        if tag == "img" and attr == "src":
            if low.startswith("data:"):
                return value if _SAFE_DATA_IMAGE.match(value.strip()) else None
            if low.startswith(("http:", "https:")):
                if allow_remote_images:
                    return value
                blocked += 1
                return None
            return None  # cid:, file:, anything else
        if tag == "a" and attr == "href":
            return value if low.startswith(("http:", "https:", "mailto:")) else None
        return value

    cleaned = nh3.clean(
        html,
        tags=_TAGS,
        attributes={
            **nh3.ALLOWED_ATTRIBUTES,
            "a": {"href", "hreflang", "title"},
            "img": {"src", "alt", "width", "height", "title"},
        },
        attribute_filter=attr_filter,
        url_schemes={"http", "https", "mailto", "data"},
        url_relative="deny",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        link_rel="noopener noreferrer nofollow",
    )
    return CleanHtml(Markup(cleaned), blocked)


def safe_snippet(snippet_html: str) -> Markup:
    """A search snippet (escaped text with ``<mark>``), re-checked so that
    nothing but ``<mark>`` can ever reach the page."""
    return Markup(nh3.clean(snippet_html or "", tags={"mark"}, attributes={}))


# --------------------------------------------------------------------------
# Links: how a rendering refers to attachments, messages, contacts
# --------------------------------------------------------------------------


class Links:
    """Where rendered markup points.  The base class links nowhere (an
    export that inlines nothing); the web UI and the HTML export override."""

    def attachment(self, msg: dict[str, Any], att: dict[str, Any]) -> str | None:
        return None

    def inline_image(self, msg: dict[str, Any], att: dict[str, Any]) -> str | None:
        """URL of an image to show inline (None: show as a file)."""
        return None

    def image_link(self, msg: dict[str, Any], att: dict[str, Any], src: str) -> str | None:
        """Where clicking an inline image leads (None: nowhere)."""
        return None

    def media(self, msg: dict[str, Any], att: dict[str, Any]) -> str | None:
        """URL of an audio or video file to play in the page (None: show
        it as a file)."""
        return None

    def message(self, message_id: str) -> str | None:
        return None

    def contact(self, address: str) -> str | None:
        return None

    def html_body(self, msg: dict[str, Any]) -> CleanHtml | None:
        """The sanitised HTML version of a message, when it has one and it
        should be shown."""
        return None


# --------------------------------------------------------------------------
# "Me": whose messages are drawn as one's own
# --------------------------------------------------------------------------


def owner_ranking(chats: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Rank addresses by how likely they are an account owner of the
    archive: the number of chats they are (or were) a member of, plus a
    large bonus for owning a "Saved messages" (self) chat.  An account's
    owner is in every chat of that account; a correspondent usually only in
    a few."""
    rank: Counter[str] = Counter()
    for chat in chats:
        people = set(chat.get("members") or ()) | set(chat.get("past_members") or ())
        for addr in people:
            rank[addr.lower()] += 1
        if chat.get("kind") == ChatKind.SELF:
            for addr in chat.get("members") or ():
                rank[addr.lower()] += 1000
    return dict(rank)


def me_in_chat(chat: dict[str, Any], ranking: dict[str, int], chosen: Iterable[str] = ()) -> set[str]:
    """The addresses drawn as "own" in this chat.  Addresses the user chose
    win; otherwise the chat member with the highest owner rank, provided it
    is in at least two chats (or has a self chat): in an archive of a single
    conversation nobody can be told apart, and all messages are "others"."""
    chosen = {a.strip().lower() for a in chosen if a and a.strip()}
    if chosen:
        return chosen
    people = [a.lower() for a in list(chat.get("members") or ()) + list(chat.get("past_members") or ())]
    if chat.get("kind") == ChatKind.MAILINGLIST or not people:
        return set()
    best = max(people, key=lambda a: (ranking.get(a, 0), a == people[0]))
    return {best} if ranking.get(best, 0) >= 2 else set()


# --------------------------------------------------------------------------
# View rows
# --------------------------------------------------------------------------


@dataclass
class Row:
    """One line of a rendered chat: a day separator, a system line or a
    message bubble."""

    type: str  # "day" | "system" | "message"
    label: str = ""
    m: dict[str, Any] = field(default_factory=dict)
    anchor: str = ""
    own: bool = False
    name: str = ""
    show_name: bool = True
    hue: int = 0
    reactions: list[tuple[str, list[str]]] = field(default_factory=list)
    read_by: list[str] = field(default_factory=list)
    images: list[tuple[dict[str, Any], str, str | None]] = field(default_factory=list)
    files: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    #: Audio and video to play: (attachment, URL to play, URL to download).
    media: list[tuple[dict[str, Any], str, str | None]] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    html: CleanHtml | None = None
    highlight: bool = False
    icon: str = ""
    #: Lower-cased address -> name, for names inside the message (votes, mentions).
    names: dict[str, str] = field(default_factory=dict)
    #: What a screen reader says when the message has focus: who, when.
    aria: str = ""


def build_rows(
    messages: list[dict[str, Any]],
    *,
    me: set[str],
    names: dict[str, str],
    links: Links,
    previous: dict[str, Any] | None = None,
    replies: dict[str, dict[str, Any]] | None = None,
    highlight: str | None = None,
    mail_style: bool = False,
) -> list[Row]:
    """Rows for a run of messages in display order.  ``previous`` is the
    message just before the run (for the first day separator and sender
    grouping when a page is appended); ``replies`` maps ids of replied-to
    messages outside the run to their messages."""
    rows: list[Row] = []
    known = {m["message_id"]: m for m in messages}
    if replies:
        known = {**replies, **known}
    last_day = _day_key(previous.get("date")) if previous else None
    last_sender = previous.get("sender") if previous and previous.get("kind") != "system" else None

    def display(addr: str | None, fallback: str | None = None) -> str:
        if not addr:
            return fallback or "unknown sender"
        return names.get(addr.lower()) or fallback or addr

    for m in messages:
        day = _day_key(m.get("date"))
        if day != last_day:
            rows.append(Row("day", label=fmt_day(m.get("date")), m={"date": m.get("date")}))
            last_day = day
            last_sender = None
        if m.get("kind") == "system" and not m.get("deleted"):
            sysinfo = m.get("system") or {}
            rows.append(
                Row(
                    "system",
                    m=m,
                    anchor=anchor(m["message_id"]),
                    label=human_system_text(m.get("text") or "", names),
                    icon=_SYSTEM_ICONS.get(sysinfo.get("action", ""), "•"),
                    highlight=m["message_id"] == highlight,
                )
            )
            last_sender = None
            continue
        sender = (m.get("sender") or "").lower()
        row = Row(
            "message",
            m=m,
            anchor=anchor(m["message_id"]),
            own=sender in me,
            name=display(sender, m.get("sender_name")),
            hue=hue(sender),
            highlight=m["message_id"] == highlight,
        )
        row.show_name = mail_style or sender != last_sender
        row.names = names
        row.aria = f"{'You' if row.own else row.name}, {fmt_datetime(m.get('date')) or 'undated'}"
        last_sender = sender
        by_emoji: dict[str, list[str]] = {}
        for who, emoji in sorted((m.get("reactions") or {}).items()):
            by_emoji.setdefault(emoji, []).append(display(who))
        row.reactions = sorted(by_emoji.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        row.read_by = [display(a) for a in m.get("read_by") or ()]
        for att in m.get("attachments") or ():
            img = links.inline_image(m, att) if att.get("mime") in INLINE_IMAGE_TYPES else None
            play = links.media(m, att) if (att.get("mime") or "").lower() in PLAYABLE_TYPES else None
            if img:
                row.images.append((att, img, links.image_link(m, att, img)))
            elif play:
                row.media.append((att, play, links.attachment(m, att)))
            else:
                row.files.append((att, links.attachment(m, att)))
        if m.get("reply_to"):
            target = known.get(m["reply_to"])
            row.reply = {
                "href": links.message(m["reply_to"]),
                "name": display(target.get("sender"), target.get("sender_name")) if target else None,
                "text": (m.get("quote") or (_preview(target) if target else "")) or "",
            }
        elif m.get("quote"):
            row.reply = {"href": None, "name": None, "text": m["quote"]}
        if row.reply is not None and not row.reply["text"] and not row.reply["name"]:
            row.reply["text"] = "an earlier message (not in the archive)"
        if m.get("has_html") and not m.get("deleted"):
            row.html = links.html_body(m)
        rows.append(row)
    return rows


def _preview(msg: dict[str, Any]) -> str:
    if msg.get("deleted"):
        return "message deleted"
    text = msg.get("text") or ""
    if not text and msg.get("attachments"):
        text = "📎 " + msg["attachments"][0].get("filename", "")
    return text[:300]


def _day_key(value: str | None) -> str:
    dt = utc(value)
    return dt.strftime("%Y-%m-%d") if dt else ""


_ADDRESS_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SECONDS_RE = re.compile(r"\b(\d+) ?s\b")


def human_system_text(text: str, names: dict[str, str]) -> str:
    """A system line in words: known addresses as names ("removed Иван
    Петров"), timers as durations ("1 day" for 86400 s)."""
    text = _ADDRESS_RE.sub(lambda m: names.get(m.group(0).lower()) or m.group(0), text)
    return _SECONDS_RE.sub(lambda m: fmt_duration(int(m.group(1))), text)


#: A COI mention in message text: ``@"John Doe":john.doe@example.org`` (or
#: without the quoted name, ``@:john@example.org``).
_MENTION_RE = re.compile(r'@(?:"([^"\n]{1,200})")?:([\w.+-]+@[\w-]+(?:\.[\w-]+)+)')


def mention_names(text: str | None, names: dict[str, str] | None = None) -> str:
    """Plain text with COI mentions as "@Name" (the terminal's form of
    :func:`mentions`)."""
    return _MENTION_RE.sub(
        lambda m: "@" + ((names or {}).get(m.group(2).lower()) or m.group(1) or m.group(2)), text or ""
    )


def mentions(text: str | None, names: dict[str, str] | None = None) -> Markup:
    """Message text with links (:func:`linkify`) and COI mentions shown as
    "@Name" (the address stays in the title)."""
    if not text:
        return Markup("")
    out: list[str] = []
    pos = 0
    for m in _MENTION_RE.finditer(text):
        out.append(str(linkify(text[pos : m.start()])))
        address = m.group(2)
        name = (names or {}).get(address.lower()) or m.group(1) or address
        out.append(str(Markup('<span class="mention" title="{0}">@{1}</span>').format(address, name)))
        pos = m.end()
    out.append(str(linkify(text[pos:])))
    return Markup("".join(out))


#: Chat and message kinds in words.
KIND_LABELS = {
    "direct": "direct chat",
    "group": "group",
    "self": "saved messages",
    "mailinglist": "mailing list",
    "mail": "e-mail",
    "text": "text",
    "image": "photo",
    "audio": "voice or audio",
    "video": "video",
    "file": "file",
    "sticker": "sticker",
    "location": "location",
    "contact": "contact",
    "system": "system message",
    "poll": "poll",
    "webxdc": "app",
}


_FILE_KINDS = {
    "application/pdf": "PDF",
    "text/plain": "text",
    "text/vcard": "contact card",
    "text/x-vcard": "contact card",
    "application/zip": "ZIP archive",
    "text/html": "web page",
    "text/calendar": "calendar entry",
    "application/pgp-keys": "OpenPGP key",
    "application/octet-stream": "file",
}


def file_kind(mime: str | None) -> str:
    """A MIME type in words ("PDF", "PNG image", "WAV audio")."""
    mime = (mime or "").lower()
    if mime in _FILE_KINDS:
        return _FILE_KINDS[mime]
    major, _, minor = mime.partition("/")
    if major in ("image", "audio", "video") and minor:
        sub = minor.removeprefix("x-").split("+")[0].split(".")[-1]
        return f"{sub.upper()} {major}"
    return mime or "file"


def kind_label(kind: str | None) -> str:
    return KIND_LABELS.get(kind or "", kind or "")


def name_map(contacts: Iterable[dict[str, Any]]) -> dict[str, str]:
    return {c["address"].lower(): c["name"] for c in contacts if c.get("name")}


def display_name(address: str, names: dict[str, str]) -> str:
    """An address as a page shows it: its person's name (``names``, keyed by
    the lower-cased address), else the address itself.  A filter, not
    ``names.get(a | lower) or a`` in a template: a chat page of a large group
    shows hundreds of people, and each call in Jinja costs several filters'."""
    return names.get(address.lower()) or address


JINJA_FILTERS: dict[str, Callable[..., Any]] = {
    "display_name": display_name,
    "fmt_time": fmt_time,
    "fmt_datetime": fmt_datetime,
    "fmt_day": fmt_day,
    "fmt_size": fmt_size,
    "fmt_duration": fmt_duration,
    "fmt_clock": fmt_clock,
    "when": when,
    "mentions": mentions,
    "kind_label": kind_label,
    "file_kind": file_kind,
    "linkify": linkify,
    "osm_url": osm_url,
    "initials": initials,
    "anchor": anchor,
    "hue": hue,
}
