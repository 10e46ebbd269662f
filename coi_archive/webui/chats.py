"""Chat list, chat view (paged), attachments, message links, statistics."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from coi_archive import present
from coi_archive.index.api import CHAT_KINDS, MAIL_KINDS, ArchiveError

from . import security, thumbs
from .state import all_chats, archive, display_name, names, ranking, state, unread, viewer_zone

bp = Blueprint("chats", __name__)

ME_COOKIE = "coi_archive_me"


def int_arg(name: str, default: int, lo: int, hi: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except (TypeError, ValueError):
        value = default
    return max(lo, min(hi, value))


# --------------------------------------------------------------------------
# Links for the shared chat rendering
# --------------------------------------------------------------------------


class WebLinks(present.Links):
    def __init__(self, remote_images: bool = False):
        self.remote_images = remote_images

    def attachment(self, msg: dict[str, Any], att: dict[str, Any]) -> str | None:
        return url_for("chats.attachment", m=msg["message_id"], part=att["part"], download=1)

    def inline_image(self, msg: dict[str, Any], att: dict[str, Any]) -> str | None:
        return url_for("chats.thumbnail", m=msg["message_id"], part=att["part"])

    def image_link(self, msg: dict[str, Any], att: dict[str, Any], src: str) -> str | None:
        return url_for("chats.attachment", m=msg["message_id"], part=att["part"])

    def media(self, msg: dict[str, Any], att: dict[str, Any]) -> str | None:
        return url_for("chats.attachment", m=msg["message_id"], part=att["part"], play=1)

    def message(self, message_id: str) -> str | None:
        return url_for("chats.goto", m=message_id)

    def contact(self, address: str) -> str | None:
        return url_for("contacts.contact", address=address)

    def html_body(self, msg: dict[str, Any]) -> present.CleanHtml | None:
        try:
            html = archive().html_body(msg["message_id"])
        except ArchiveError:
            return None
        return present.sanitize_html(html, allow_remote_images=self.remote_images) if html else None


# --------------------------------------------------------------------------
# Chat list
# --------------------------------------------------------------------------


def _people(chat: dict[str, Any], known: dict[str, str]) -> str:
    members = chat.get("members") or []
    shown = [known.get(a.lower()) or a for a in members[:6]]
    more = len(members) - len(shown)
    return ", ".join(shown) + (f" +{more}" if more > 0 else "")


def _haystacks() -> dict[str, str]:
    """Per chat, the casefolded text the chat filter searches: name, id,
    last preview, member addresses and names."""

    def build() -> dict[str, str]:
        out = {}
        for chat in all_chats():
            bits = [chat.get("name") or "", chat["id"], chat.get("last_preview") or ""]
            for a in chat.get("members") or []:
                bits += [a, display_name(a)]
            out[chat["id"]] = " ".join(bits).casefold()
        return out

    return state().cached("haystacks", build)


def _haystack(chat: dict[str, Any]) -> str:
    return _haystacks().get(chat["id"], "")


def list_chats() -> dict[str, Any]:
    """The chats matching ``kind`` and ``q`` (all of them, newest first)."""
    kind = request.args.get("kind") or None
    if kind not in (None, *CHAT_KINDS):
        abort(400, f"unknown kind {kind!r}")
    text = (request.args.get("q") or "").strip()
    needle = text.casefold()
    chats = [c for c in all_chats() if (not kind or c["kind"] == kind) and (not needle or needle in _haystack(c))]
    return {"kind": kind, "q": text, "chats": chats}


def _with_unread(chats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts = unread()
    return [{**c, "unread": None if counts is None else counts.get(c["id"], 0)} for c in chats]


@bp.get("/")
def index():
    return redirect(url_for("chats.chat_list"))


@bp.get("/chats")
def chat_list():
    """Chats and mail threads in two sections.  Without ``section`` each
    shows its newest ``limit`` (default 100) with a link to all; with
    ``section=chats|mail`` one section is paged by ``offset``/``limit``."""
    data = list_chats()
    section = request.args.get("section")
    if section not in (None, "chats", "mail"):
        abort(400, f"unknown section {section!r}")
    limit = int_arg("limit", 100 if section is None else 200, 1, 1000)
    offset = int_arg("offset", 0, 0, 10**9) if section else 0
    parts = {
        "chats": [c for c in data["chats"] if c["kind"] not in MAIL_KINDS],
        "mail": [c for c in data["chats"] if c["kind"] in MAIL_KINDS],
    }
    args = {k: v for k, v in (("kind", data["kind"]), ("q", data["q"] or None)) if v}
    view = {}
    for name, items in parts.items():
        if section and name != section:
            continue
        shown = items[offset : offset + limit]
        known, stacks = names(), _haystacks()  # (unread counts are left to /api/chats: see README)
        rows = [{**c, "people": _people(c, known), "haystack": stacks.get(c["id"], "")} for c in shown]
        more = {}
        if section is None and len(items) > limit:
            more["all"] = url_for("chats.chat_list", section=name, **args)
        if section and offset > 0:
            more["prev"] = url_for("chats.chat_list", section=name, offset=max(0, offset - limit), limit=limit, **args)
        if section and offset + limit < len(items):
            more["next"] = url_for("chats.chat_list", section=name, offset=offset + limit, limit=limit, **args)
        view[name] = {"rows": rows, "total": len(items), "first": offset + 1, "last": offset + len(shown), "more": more}
    return render_template(
        "chat_list.html",
        kind=data["kind"],
        q=data["q"],
        total=len(all_chats()),
        matching=len(data["chats"]),
        section=section,
        view=view,
        overview=url_for("chats.chat_list", **args),
    )


@bp.get("/api/chats")
def api_chats():
    """The ``chats --json`` list filtered by ``kind`` and ``q``, paged by
    ``offset``/``limit`` (default: all), each chat with ``unread`` (null
    while still being counted)."""
    chats = list_chats()["chats"]
    offset = int_arg("offset", 0, 0, 10**9)
    limit = int_arg("limit", len(chats), 0, 10**9)
    return jsonify(_with_unread(chats[offset : offset + limit]))


# --------------------------------------------------------------------------
# Chat view
# --------------------------------------------------------------------------


def _chosen_me() -> list[str]:
    raw = request.args["me"] if "me" in request.args else request.cookies.get(ME_COOKIE, "")
    return [a.strip().lower() for a in raw.split(",") if a.strip()]


def _remember_me(resp: Response) -> Response:
    if "me" in request.args:
        value = ",".join(_chosen_me())
        if value:
            resp.set_cookie(ME_COOKIE, value, samesite="Strict", httponly=True, max_age=3600 * 24 * 365)
        else:
            resp.delete_cookie(ME_COOKIE)
    return resp


def _get_chat(chat_id: str) -> dict[str, Any]:
    try:
        return archive().chat(chat_id)
    except ArchiveError:
        abort(404, f"no chat with id {chat_id}")


def chat_window(chat_id: str) -> dict[str, Any]:
    """The page of a chat a request asks for: ``offset``/``limit``, or
    ``at=MESSAGE_ID`` (the page around that message, which is highlighted),
    or by default the newest page."""
    chat = _get_chat(chat_id)
    cfg = current_app.config
    limit = int_arg("limit", cfg["PAGE_SIZE"], 1, cfg["MAX_PAGE_SIZE"])
    total = chat.get("message_count") or 0
    highlight = request.args.get("at") or None
    found = find_in_chat(chat_id)
    if found and not highlight:
        highlight = found["current"]
    jump = _day_offset(chat_id, total) if not highlight else None
    if jump is not None:
        offset = min(jump, max(0, total - 1))
    elif highlight:
        try:
            where, pos = archive().position(highlight)
        except ArchiveError:
            abort(404, f"no message with id {highlight}")
        if where != chat_id:
            abort(404, f"message {highlight} is not in chat {chat_id}")
        offset = max(0, min(pos - limit // 2, total - limit))
    elif "offset" in request.args:
        offset = int_arg("offset", 0, 0, max(0, total - 1))
    else:
        offset = max(0, total - limit)
    start = max(0, offset - 1)
    data = archive().show(chat_id, offset=start, limit=limit + (offset - start))
    messages = data["messages"]
    previous = messages[0] if offset > 0 and messages else None
    if previous is not None:
        messages = messages[1:]
    if jump is not None and messages:
        highlight = messages[0]["message_id"]
    me = present.me_in_chat(chat, ranking(), _chosen_me())
    return {
        "chat": chat,
        "messages": messages,
        "previous": previous,
        "offset": offset,
        "limit": limit,
        "total": total,
        "highlight": highlight,
        "me": sorted(me),
        "found": found,
        "day": request.args.get("day") or "",
    }


def _day_offset(chat_id: str, total: int) -> int | None:
    """Where ``day=YYYY-MM-DD`` (a day of the reader's zone) starts in the
    chat, or None when no day was asked for (400 for a day that is not one)."""
    raw = (request.args.get("day") or "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        abort(400, f"“{raw}” is not a day: use the form 2026-11-27")
    start = datetime.combine(day, time(), ZoneInfo(viewer_zone() or "UTC"))
    return archive().offset_at(chat_id, start)


#: Most matches a search inside one chat steps through.
FIND_LIMIT = 1000


def find_in_chat(chat_id: str) -> dict[str, Any] | None:
    """The matches of ``find`` in this chat, oldest first, and which one is
    shown (``hit``, default: the newest): the "search in chat" bar with its
    previous and next links."""
    text = (request.args.get("find") or "").strip()
    if not text:
        return None
    history = request.args.get("history", "") in ("1", "on")
    quoted = chat_id.replace('"', "")
    hits = archive().search_hits(f'chat:"{quoted}" ({text})', limit=FIND_LIMIT, history=history, zone=viewer_zone())
    hits = [h for h in hits if h.chat_id == chat_id]
    hits.sort(key=lambda h: (h.date is None, h.date or datetime.min, h.message_id))
    if not hits:
        return {"text": text, "count": 0, "index": 0, "current": None, "prev": None, "next": None}
    index = int_arg("hit", len(hits), 1, len(hits))

    def link(i: int) -> str:
        return url_for(
            "chats.chat",
            chat_id=chat_id,
            find=text,
            hit=i,
            tz=viewer_zone(),
            history=1 if history else None,
            _anchor=present.anchor(hits[i - 1].message_id),
        )

    return {
        "text": text,
        "count": len(hits),
        "index": index,
        "current": hits[index - 1].message_id,
        "prev": link(index - 1) if index > 1 else None,
        "next": link(index + 1) if index < len(hits) else None,
    }


def first_unread(chat_id: str) -> dict[str, Any] | None:
    """The chat's first unread message (``Archive.first_unread``: its
    ``message_id``, ``offset`` and the chat's unread ``count``), worked out
    once per archive version, or None when nothing in the chat is unread.
    A chat the archive-wide count (:func:`unread`, once it is done) finds
    nothing unread in is not searched again: the search took 1.7 s in the
    74,606-message chat of a 1,000,000-message archive, on its first page."""

    def compute() -> dict[str, Any] | None:
        counts = unread(wait=0)
        if counts is not None and not counts.get(chat_id):
            return None
        return archive().first_unread(chat_id)

    return state().cached(f"first-unread:{chat_id}", compute)


def _unread_link(chat_id: str) -> dict[str, Any] | None:
    """The header's "first unread" link: the page around that message,
    scrolled to it (a plain URL with an anchor, so it works without script)."""
    found = first_unread(chat_id)
    if found is None:
        return None
    mid = found["message_id"]
    url = url_for("chats.chat", chat_id=chat_id, at=mid, tz=viewer_zone(), _anchor=present.anchor(mid))
    return {**found, "url": url}


def _rows(win: dict[str, Any], links: WebLinks) -> list[present.Row]:
    page_ids = {m["message_id"] for m in win["messages"]}
    outside = {m["reply_to"] for m in win["messages"] if m.get("reply_to")} - page_ids
    replies = archive().messages(outside) if outside else {}
    return present.build_rows(
        win["messages"],
        me=set(win["me"]),
        names=names(),
        links=links,
        previous=win["previous"],
        replies=replies,
        highlight=win["highlight"],
        mail_style=win["chat"]["kind"] in MAIL_KINDS,
    )


def _paging(win: dict[str, Any], chat_id: str) -> dict[str, Any]:
    off, lim, total = win["offset"], win["limit"], win["total"]
    end = min(total, off + len(win["messages"]))
    older = newer = older_fragment = newer_fragment = None
    if off > 0:
        o = max(0, off - lim)
        older = url_for("chats.chat", chat_id=chat_id, offset=o, limit=lim)
        older_fragment = url_for("chats.chat_fragment", chat_id=chat_id, offset=o, limit=off - o)
    if end < total:
        newer = url_for("chats.chat", chat_id=chat_id, offset=end, limit=lim)
        newer_fragment = url_for("chats.chat_fragment", chat_id=chat_id, offset=end, limit=lim)
    return {
        "first": off + 1 if total else 0,
        "last": end,
        "total": total,
        "older": older,
        "newer": newer,
        "older_fragment": older_fragment,
        "newer_fragment": newer_fragment,
        "oldest": url_for("chats.chat", chat_id=chat_id, offset=0, limit=lim) if off > 0 else None,
        "newest": url_for("chats.chat", chat_id=chat_id) if end < total else None,
    }


@bp.get("/chats/<path:chat_id>")
def chat(chat_id: str):
    remote = request.args.get("images") == "remote"
    g.remote_images = remote
    win = chat_window(chat_id)
    links = WebLinks(remote_images=remote)
    rows = _rows(win, links)
    chat = win["chat"]
    blocked = sum(r.html.blocked_images for r in rows if r.type == "message" and r.html)
    people = _people_choices(chat)
    resp = make_response(
        render_template(
            "chat.html",
            chat=chat,
            rows=rows,
            links=links,
            paging=_paging(win, chat_id),
            names=names(),
            **_memberships(chat_id),
            name_history=archive().name_history(chat_id),
            me=win["me"],
            chosen_me=_chosen_me(),
            people=people,
            blocked_images=blocked,
            remote_images=remote,
            highlight=win["highlight"],
            found=win["found"],
            day=win["day"],
            unread=_unread_link(chat_id),
        )
    )
    return _remember_me(resp)


def _people_choices(chat: dict[str, Any]) -> list[tuple[str, str | None, bool]]:
    """Who the "Shown as me" menu offers: ``(address, name or None, chosen)``
    for each present and past member, worked out here rather than in the
    template (a large group's page lists hundreds of them)."""
    known, chosen = names(), _chosen_me()
    everyone = sorted(set(chat.get("members") or []) | set(chat.get("past_members") or []))
    return [(a, known.get(a.lower()), chosen == [a.lower()]) for a in everyone]


def _memberships(chat_id: str) -> dict[str, Any]:
    """The newest ``MEMBERSHIP_ROWS`` rows of the group's members over time,
    how many there are, and the link to all of them (``?members=all``): a
    long-lived group has hundreds of changes, which made its every page
    slow and heavy (780 rows: 2/3 of a page's server time at 1M messages)."""
    limit = current_app.config["MEMBERSHIP_ROWS"]
    if request.args.get("members") == "all":
        every = archive().memberships(chat_id)
        return {"memberships": every, "memberships_total": len(every), "memberships_all_url": None}
    newest = archive().memberships(chat_id, newest=limit)
    total = archive().membership_count(chat_id) if len(newest) == limit else len(newest)
    if total <= limit:
        return {"memberships": newest, "memberships_total": total, "memberships_all_url": None}
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "members"}
    url = url_for("chats.chat", chat_id=chat_id, members="all", _anchor="members-over-time", **args)
    return {"memberships": newest, "memberships_total": total, "memberships_all_url": url}


@bp.get("/chats/<path:chat_id>/page")
def chat_fragment(chat_id: str):
    """A page of rows as an HTML fragment, for endless scrolling."""
    win = chat_window(chat_id)
    links = WebLinks()
    return render_template(
        "chat_page.html",
        rows=_rows(win, links),
        links=links,
        paging=_paging(win, chat_id),
        direction=request.args.get("dir", ""),
    )


@bp.get("/api/chats/<path:chat_id>")
def api_chat(chat_id: str):
    """The ``show --json`` shape for one page, plus ``offset``, ``limit``,
    ``total``, ``me`` (the addresses drawn as one's own) and ``unread``
    (``{message_id, offset, count}`` of the first unread message, or null)."""
    win = chat_window(chat_id)
    return jsonify(
        {
            "chat": win["chat"],
            "messages": win["messages"],
            "offset": win["offset"],
            "limit": win["limit"],
            "total": win["total"],
            "me": win["me"],
            "unread": first_unread(chat_id),
        }
    )


@bp.get("/api/chats/<path:chat_id>/info")
def api_chat_info(chat_id: str):
    chat = _get_chat(chat_id)
    return jsonify(
        {"chat": chat, "memberships": archive().memberships(chat_id), "name_history": archive().name_history(chat_id)}
    )


# --------------------------------------------------------------------------
# Messages and attachments
# --------------------------------------------------------------------------


@bp.get("/goto")
def goto():
    """Open the chat at a message (links from replies and search results)."""
    mid = request.args.get("m", "")
    try:
        chat_id, _pos = archive().position(mid)
    except ArchiveError:
        abort(404, f"no message with id {mid}")
    return redirect(url_for("chats.chat", chat_id=chat_id, at=mid, _anchor=present.anchor(mid)))


@bp.get("/api/message")
def api_message():
    mid = request.args.get("id", "")
    try:
        return jsonify(archive().message(mid))
    except ArchiveError:
        abort(404, f"no message with id {mid}")


@bp.get("/attachment")
def attachment():
    """An attachment, looked up by message id and MIME part number in the
    stored original (never a file path).  Only images of the inline types
    whose bytes really start like one are served inline; everything else is
    a download (``application/octet-stream``, ``Content-Disposition:
    attachment``).  The sandbox CSP keeps anything in it from running."""
    mid = request.args.get("m", "")
    part = request.args.get("part", "")
    try:
        filename, mime, data = archive().attachment(mid, part)
    except ArchiveError:
        abort(404, "no such attachment")
    playable = request.args.get("play") is not None and (mime or "").lower() in present.PLAYABLE_TYPES
    inline = request.args.get("download") is None and (present.is_inline_image(mime, data) or playable)
    resp = Response(data, mimetype=mime if inline else "application/octet-stream")
    if playable:  # players ask for byte ranges to read the length and to seek
        resp.make_conditional(request, accept_ranges=True, complete_length=len(data))
    resp.headers["Content-Disposition"] = security.content_disposition(
        "inline" if inline else "attachment", filename or "attachment"
    )
    resp.headers["Content-Security-Policy"] = security.CSP_ATTACHMENT
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


@bp.get("/thumbnail")
def thumbnail():
    """A picture at most ``thumbs.EDGE`` pixels wide or high (made once,
    cached under the archive); the original when it is small already or
    cannot be decoded, and the same download as ``/attachment`` when it is
    not an image at all."""
    mid, part = request.args.get("m", ""), request.args.get("part", "")
    try:
        filename, mime, data = archive().attachment(mid, part)
    except ArchiveError:
        abort(404, "no such attachment")
    if not present.is_inline_image(mime, data):
        return redirect(url_for("chats.attachment", m=mid, part=part, download=1))
    small = thumbs.thumbnail(state().root, data)
    body, kind = small if small else (data, mime)
    resp = Response(body, mimetype=kind)
    resp.headers["Content-Disposition"] = security.content_disposition("inline", filename or "image")
    resp.headers["Content-Security-Policy"] = security.CSP_ATTACHMENT
    resp.headers["Cache-Control"] = "private, max-age=86400"
    return resp


@bp.get("/chats/<path:chat_id>/media")
def media(chat_id: str):
    """A chat's pictures, voice messages, videos and files on one page,
    newest first, each linking to its message."""
    chat = _get_chat(chat_id)
    links = WebLinks()
    items: list[dict[str, Any]] = []
    for m in reversed(archive().show(chat_id)["messages"]):
        if m.get("deleted"):
            continue
        for att in m.get("attachments") or ():
            mime = (att.get("mime") or "").lower()
            kind = (
                "image" if mime in present.INLINE_IMAGE_TYPES else "media" if mime in present.PLAYABLE_TYPES else "file"
            )
            items.append(
                {
                    "att": att,
                    "kind": kind,
                    "m": m,
                    "goto": links.message(m["message_id"]),
                    "thumb": links.inline_image(m, att) if kind == "image" else None,
                    "play": links.media(m, att) if kind == "media" else None,
                    "download": links.attachment(m, att),
                    "anchor": present.anchor(m["message_id"]),
                }
            )
    return render_template("media.html", chat=chat, items=items, names=names())


@bp.get("/assets/chat.css")
def chat_css():
    resp = Response(present.CHAT_CSS.read_bytes(), mimetype="text/css")
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp
