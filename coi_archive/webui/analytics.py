"""The analytics page: charts of the whole archive (``/analytics``) or of
one chat (``/analytics/<chat_id>``), with a JSON twin under
``/api/analytics[/<chat_id>]`` (the same report as ``coi-archive stats
--json --report``).

Charts are drawn on the server with matplotlib (no pyplot, no GUI backend)
as SVG and put inline into the page, so the page works offline and needs no
script.  Text stays text (``svg.fonttype = none``): the browser draws it
with its own font fallback, so emoji and CJK names render wherever the
system has a font for them.  Inline ``style`` attributes would be blocked
by the UI's Content-Security-Policy (``style-src 'self'``), so they are
turned into SVG presentation attributes (``fill="#…"``), which CSP does not
govern.

Charts: activity over time, a weekday × hour-of-day heat map, messages per
participant, the reply-time distribution and, for groups, the membership
timeline.  Drawing them takes about a second at the corpus size, so a page's
report and SVGs are made once per archive version (:meth:`Archive.generation`)
and kept twice: in memory, and on disk under
``<archive>/cache/analytics/`` so that a restarted server does not draw
them again.  Pages are drawn before anyone asks (:func:`warm`): as the
server starts, the archive-wide page (``WARM_ANALYTICS``) and then, with
``WARM_CHAT_ANALYTICS`` (``serve`` turns it on; off by default, so that the
many short-lived apps of the tests do not draw), the pages of the chats it
links to (:data:`LISTED_CHATS`, the busiest); when a visit to the
archive-wide page finds them missing (a new archive version), they are
drawn again in the background.  A first visit then takes milliseconds; a
page being drawn is drawn once, and a visit meanwhile waits for it.  Other
chats (only reachable by typing their address) are drawn on their first
visit.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import logging
import re
import threading
import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, abort, current_app, jsonify, render_template

from coi_archive.index.api import Archive, ArchiveError, parse_iso, parse_span
from coi_archive.units import human_bytes

from .state import all_chats, archive, chat_index, display_name, scope, state

bp = Blueprint("analytics", __name__)
log = logging.getLogger(__name__)

#: How many chats the archive-wide page links to (the busiest): their pages
#: are drawn ahead of a visit.
LISTED_CHATS = 30

COLOR = "#3b82f6"
COLOR_2 = "#f59e0b"
COLOR_MUTED = "#9ca3af"
TEXT = "#374151"
GRID = "#e5e7eb"

_LOCK = threading.Lock()  # matplotlib's rcParams are global; rendering is quick
_PAGE_LOCKS: dict[tuple, threading.Lock] = {}  # one per page being drawn: see _drawing
_PAGE_LOCKS_GUARD = threading.Lock()


# --------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------


def _report(chat_id: str | None) -> dict[str, Any]:
    """One chat's report, or the archive-wide one (a member's: their chats')."""
    visible = scope().chats

    def compute() -> dict[str, Any]:
        try:
            return archive().report(chat=chat_id or (sorted(visible) if visible is not None else None))
        except ArchiveError:
            abort(404, description=f"no chat with id {chat_id}")

    return state().cached(f"analytics-report:{chat_id or ''}", compute)


def _chat(chat_id: str) -> dict[str, Any]:
    chat = chat_index().get(chat_id)
    if chat is None:
        abort(404, description=f"no chat with id {chat_id}")
    return chat


def _disk_path(chat_id: str | None) -> Path:
    """Where a page's report and charts are kept for this archive version."""
    root = state().root
    version = hashlib.sha256(repr(Archive.generation(root)).encode()).hexdigest()[:16]
    name = hashlib.sha256((chat_id or "").encode()).hexdigest()[:24] if chat_id else "_archive"
    visible = scope().chats
    if not chat_id and visible is not None:  # a member's overview is not the archive's
        name = "_scope-" + hashlib.sha256("\n".join(sorted(visible)).encode()).hexdigest()[:24]
    return root / "cache" / "analytics" / version / f"{name}.json"


def _drawing(key: str) -> threading.Lock:
    """The lock held while one page of one archive (and reader's scope) is
    made, so that a visit during the warm-up waits for the page it wants
    instead of drawing it a second time."""
    ident = (str(state().root), key, scope().chats)
    with _PAGE_LOCKS_GUARD:
        return _PAGE_LOCKS.setdefault(ident, threading.Lock())


def page_data(chat_id: str | None) -> dict[str, Any]:
    """``{"report", "charts"}`` of the archive-wide page (``chat_id`` None)
    or of one chat's, made once per archive version (memory, then disk)."""

    def compute() -> dict[str, Any]:
        path = _disk_path(chat_id)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        rep = _report(chat_id)
        chat = _chat(chat_id) if chat_id else None
        charts = _charts(rep, chat, _memberships(chat_id) if chat_id else None)
        data = {"report": rep, "charts": charts}
        _save(path, data)
        return data

    key = f"analytics-page:{chat_id or ''}"
    with _drawing(key):
        return state().cached(key, compute)


def _save(path: Path, data: dict[str, Any]) -> None:
    """Keep a page on disk (and drop the pages of older archive versions);
    a read-only archive just makes them again after a restart."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")
        tmp.replace(path)
        for old in path.parent.parent.iterdir():
            if old != path.parent and old.is_dir():
                for f in old.iterdir():
                    f.unlink(missing_ok=True)
                old.rmdir()
    except OSError as exc:
        log.debug("analytics not cached on disk: %s", exc)


def listed_chats() -> list[dict[str, Any]]:
    """The chats the archive-wide page links to: the busiest first."""
    chats = sorted(all_chats(), key=lambda c: (-int(c.get("message_count") or 0), c["id"]))
    return chats[:LISTED_CHATS]


def warm(app: Flask, chat_ids: Sequence[str] | None = None) -> threading.Thread:
    """Make pages in the background, so that their first visit is read
    from the cache: those of ``chat_ids``, or (None, as the server starts)
    the archive-wide page and then, with ``WARM_CHAT_ANALYTICS``, the pages
    of the chats it lists."""

    def run() -> None:
        with app.app_context():
            ids = chat_ids
            try:
                if ids is None:
                    page_data(None)
                    ids = [c["id"] for c in listed_chats()] if app.config.get("WARM_CHAT_ANALYTICS") else []
            except Exception:  # noqa: BLE001 - a failed warm-up only means a slower first visit
                log.exception("analytics warm-up failed")
                return
            for chat_id in ids:
                try:
                    page_data(chat_id)
                except Exception:  # noqa: BLE001 - that chat's first visit draws it (and says what fails)
                    log.exception("analytics warm-up failed for chat %s", chat_id)

    thread = threading.Thread(target=run, name="coi-webui-analytics-warm", daemon=True)
    thread.start()
    return thread


def _warm_listed(chats: list[dict[str, Any]]) -> None:
    """After a visit to the archive-wide page, draw the pages it links to
    that this archive version does not have yet (unless a warm-up is
    running: it draws them)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # the thread outlives the request
    if not app.config.get("WARM_CHAT_ANALYTICS"):
        return
    warming = app.extensions.get("coi_warm")
    if warming is not None and warming.is_alive():
        return
    missing = [c["id"] for c in chats if not _disk_path(c["id"]).exists()]
    if missing:
        app.extensions["coi_warm"] = warm(app, missing)


@bp.get("/analytics")
def overview():
    data = page_data(None)  # during the start-up warm-up: waits for it to finish this page
    chats = listed_chats()
    _warm_listed(chats)
    return render_template(
        "analytics.html",
        report=data["report"],
        charts=data["charts"],
        chat=None,
        chats=chats,
        name=display_name,
        duration=_duration,
        size=human_bytes,
    )


@bp.get("/analytics/<path:chat_id>")
def chat_page(chat_id: str):
    chat = _chat(chat_id)
    data = page_data(chat_id)
    return render_template(
        "analytics.html",
        report=data["report"],
        charts=data["charts"],
        chat=chat,
        chats=[],
        name=display_name,
        duration=_duration,
        size=human_bytes,
    )


@bp.get("/api/analytics")
def api_overview():
    return jsonify(_report(None))


@bp.get("/api/analytics/<path:chat_id>")
def api_chat(chat_id: str):
    _chat(chat_id)
    return jsonify(_report(chat_id))


def _memberships(chat_id: str) -> list[dict[str, Any]]:
    return archive().memberships(chat_id) if hasattr(archive(), "memberships") else []


# --------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------


def _charts(
    rep: dict[str, Any], chat: dict[str, Any] | None, memberships: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """Every chart of a page: ``{id, title, caption, svg, points}``."""
    out = [
        _activity_chart(rep),
        _heatmap_chart(rep),
        _participants_chart(rep),
        _reply_chart(rep),
    ]
    if chat is not None and chat.get("kind") == "group" and memberships:
        out.append(_membership_chart(memberships, chat))
    elif chat is None and rep.get("groups"):
        out.append(_groups_chart(rep))
    return out


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=72, layout="constrained")
    return fig


def _style_axes(ax, grid_axis: str = "y") -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(GRID)
    ax.tick_params(colors=TEXT, labelsize=9)
    if grid_axis:
        ax.grid(axis=grid_axis, color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)


_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
_SVG_OPEN = re.compile(r"<svg\b[^>]*>")


def _presentation(match: re.Match) -> str:
    attrs = []
    for decl in match.group(1).split(";"):
        if ":" not in decl:
            continue
        prop, value = decl.split(":", 1)
        prop, value = prop.strip(), value.strip()
        if prop and value and re.fullmatch(r"[a-z-]+", prop):
            attrs.append(f' {prop}="{html.escape(value, quote=True)}"')
    return "".join(attrs)


def _svg(fig, chart_id: str, label: str) -> str:
    """The figure as inline SVG that passes a strict CSP."""
    import matplotlib

    buf = io.StringIO()
    with _LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Glyph … missing from DejaVu Sans": the browser draws text
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"coi-{chart_id}"}):
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r"<style[^>]*>.*?</style>", "", text, flags=re.S)
    text = _STYLE_ATTR.sub(_presentation, text)
    view = re.search(r'viewBox="([^"]*)"', text)
    root = (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
        f' viewBox="{view.group(1) if view else "0 0 600 300"}" width="100%" role="img"'
        f' aria-label="{html.escape(label, quote=True)}" class="chart-svg" id="svg-{chart_id}"'
        ' stroke-linejoin="round" stroke-linecap="butt">'
    )
    text = _SVG_OPEN.sub(lambda _m: root, text, count=1)
    return text


def _empty(chart_id: str, title: str, caption: str) -> dict[str, Any]:
    return {"id": chart_id, "title": title, "caption": caption, "svg": "", "points": 0}


def _activity_chart(rep: dict[str, Any]) -> dict[str, Any]:
    from matplotlib.ticker import MaxNLocator

    title = "Activity over time"
    timeline = rep.get("timeline") or {}
    series = timeline.get("counts") or {}
    if not series:
        return _empty("activity", title, "No dated messages.")
    unit = timeline["unit"]
    step = {
        "hour": timedelta(hours=1),
        "day": timedelta(days=1),
        "week": timedelta(days=7),
        "month": timedelta(days=30.4),
    }[unit]
    spans = [(parse_span(k), v) for k, v in series.items()]  # "2025-04", "2025-04-06", "2025-04-06T12:00"
    points = [(span.start, v) for span, v in spans if span is not None]
    fig = _figure(9.5, 3.2)
    ax = fig.add_subplot()
    _style_axes(ax)
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    ax.bar(xs, ys, width=step * 0.85, color=COLOR, align="edge", linewidth=0)
    _date_axis(ax)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(min(xs) - step, max(xs) + 2 * step)
    ax.set_ylabel(f"messages per {unit}", color=TEXT, fontsize=9)
    busiest = max(series, key=lambda k: series[k])
    caption = (
        f"Messages per {unit} (UTC), {min(series)} to {max(series)}; "
        f"busiest {unit}: {busiest} with {series[busiest]:,}."
    )
    return {
        "id": "activity",
        "title": title,
        "caption": caption,
        "points": sum(1 for y in ys if y),
        "svg": _svg(fig, "activity", f"{title}: {caption}"),
    }


def _integer_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _date_axis(ax) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _heatmap_chart(rep: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    title = "When people write (weekday × hour of day, UTC)"
    grid = np.array(rep.get("weekday_hour") or [[0] * 24] * 7, dtype=float)
    if grid.sum() == 0:
        return _empty("heatmap", title, "No dated messages.")
    fig = _figure(9.5, 3.0)
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(np.arange(25), np.arange(8), grid, cmap="Blues", edgecolors="#ffffff", linewidth=0.5, vmin=0)
    ax.set_xticks(np.arange(24) + 0.5, [f"{h:02d}" for h in range(24)])
    ax.set_yticks(np.arange(7) + 0.5, ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
    ax.invert_yaxis()
    ax.tick_params(colors=TEXT, labelsize=9, length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xlabel("hour of day (UTC)", color=TEXT, fontsize=9)
    bar = fig.colorbar(mesh, ax=ax, fraction=0.03, pad=0.01)
    bar.ax.tick_params(labelsize=8, colors=TEXT)
    bar.outline.set_visible(False)
    peak = np.unravel_index(int(grid.argmax()), grid.shape)
    caption = (
        f"Busiest slot: {['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][peak[0]]} "
        f"{peak[1]:02d}:00–{peak[1]:02d}:59 UTC with {int(grid.max()):,} messages."
    )
    return {
        "id": "heatmap",
        "title": title,
        "caption": caption,
        "points": int((grid > 0).sum()),
        "svg": _svg(fig, "heatmap", f"{title}. {caption}"),
    }


def _short(text: str, n: int = 28) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _participants_chart(rep: dict[str, Any]) -> dict[str, Any]:
    title = "Messages per participant"
    people = (rep.get("per_sender") or [])[:15]
    if not people:
        return _empty("participants", title, "No messages.")
    labels = [_short(p.get("name") or display_name(p["sender"])) for p in people]
    counts = [p["messages"] for p in people]
    fig = _figure(9.5, 0.9 + 0.32 * len(people))
    ax = fig.add_subplot()
    _style_axes(ax, grid_axis="x")
    ys = list(range(len(people)))
    ax.barh(ys, counts, color=COLOR, height=0.7, linewidth=0)
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    for y, c in zip(ys, counts):
        ax.text(c, y, f" {c:,}", va="center", fontsize=8, color=TEXT)
    ax.xaxis.set_major_locator(_integer_locator())
    ax.set_xlabel("messages (system lines not counted)", color=TEXT, fontsize=9)
    more = rep["totals"]["senders"] - len(people)
    caption = f"Top {len(people)} of {rep['totals']['senders']:,} senders" + (f" ({more:,} more)." if more > 0 else ".")
    return {
        "id": "participants",
        "title": title,
        "caption": caption,
        "points": len(people),
        "svg": _svg(fig, "participants", f"{title}: " + ", ".join(f"{lab} {c}" for lab, c in zip(labels, counts))),
    }


def _reply_chart(rep: dict[str, Any]) -> dict[str, Any]:
    title = "Reply times"
    rt = rep.get("reply_times") or {}
    buckets = rt.get("buckets") or []
    if not rt.get("replies"):
        return _empty("replies", title, "No replies: nobody answered anybody here yet.")
    fig = _figure(9.5, 3.0)
    ax = fig.add_subplot()
    _style_axes(ax)
    xs = list(range(len(buckets)))
    ys = [b["replies"] for b in buckets]
    ax.bar(xs, ys, color=COLOR_2, width=0.75, linewidth=0)
    ax.set_xticks(xs, [b["label"] for b in buckets])
    ax.yaxis.set_major_locator(_integer_locator())
    ax.set_ylabel("replies", color=TEXT, fontsize=9)
    caption = (
        f"{rt['replies']:,} replies; median {_duration(rt['median_seconds'])}. A reply is a message "
        "whose sender differs from the sender of the message right before it in the same chat."
    )
    return {
        "id": "replies",
        "title": title,
        "caption": caption,
        "points": sum(1 for y in ys if y),
        "svg": _svg(fig, "replies", f"{title}: " + ", ".join(f"{b['label']} {b['replies']}" for b in buckets)),
    }


def _parse(value: str | None) -> datetime | None:
    """Naive UTC, as matplotlib's date axis wants it."""
    d = parse_iso(value)
    return d.astimezone(timezone.utc).replace(tzinfo=None) if d else None


def _membership_chart(memberships: Sequence[dict[str, Any]], chat: dict[str, Any]) -> dict[str, Any]:
    import matplotlib.dates as mdates
    from matplotlib.patches import Patch

    title = "Membership timeline"
    people = sorted(
        {m["member"] for m in memberships},
        key=lambda a: (min((m.get("since") or "") for m in memberships if m["member"] == a), a),
    )
    starts = [d for d in (_parse(m.get("since")) for m in memberships) if d]
    ends = [d for d in (_parse(m.get("until")) for m in memberships) if d]
    last = _parse(chat.get("last_date")) or max(starts + ends, default=None)
    first = min(starts + ends + ([last] if last else []), default=None)
    if first is None or last is None:
        return _empty("membership", title, "No dated membership changes.")
    pad = max((last - first) * 0.03, timedelta(seconds=1))
    end_all = last + pad
    fig = _figure(9.5, 0.9 + 0.36 * len(people))
    ax = fig.add_subplot()
    _style_axes(ax, grid_axis="x")
    row = {a: i for i, a in enumerate(people)}
    bars = 0
    for m in memberships:
        since = _parse(m.get("since")) or first
        until = _parse(m.get("until"))
        left = until is not None and m.get("removed_by") == m["member"]
        color = COLOR if until is None else (COLOR_2 if left else COLOR_MUTED)
        stop = until or end_all
        ax.barh(
            row[m["member"]],
            mdates.date2num(stop) - mdates.date2num(since),
            left=mdates.date2num(since),
            height=0.6,
            color=color,
            linewidth=0,
        )
        bars += 1
    ax.set_yticks(range(len(people)), [_short(display_name(a)) for a in people])
    ax.invert_yaxis()
    ax.xaxis_date()
    _date_axis(ax)
    ax.set_xlim(mdates.date2num(first - pad), mdates.date2num(end_all))
    fig.legend(
        handles=[
            Patch(color=COLOR, label="member now"),
            Patch(color=COLOR_MUTED, label="removed"),
            Patch(color=COLOR_2, label="left"),
        ],
        loc="outside upper right",
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    intervals = "; ".join(
        f"{display_name(m['member'])}: {(m.get('since') or '?')[:19]} → {(m.get('until') or 'now')[:19]}"
        for m in memberships
    )
    caption = (
        f"{len(people)} people in {bars} membership interval{'s' if bars != 1 else ''} "
        "(someone removed and re-added has two)."
    )
    return {
        "id": "membership",
        "title": title,
        "caption": caption,
        "points": bars,
        "svg": _svg(fig, "membership", f"{title}: {intervals}"),
    }


def _groups_chart(rep: dict[str, Any]) -> dict[str, Any]:
    title = "Most active groups"
    groups = [g for g in rep.get("groups") or [] if g["messages"]][:10]
    if not groups:
        return _empty("groups", title, "No group messages.")
    labels = [_short(g["name"] or g["chat_id"]) for g in groups]
    counts = [g["messages"] for g in groups]
    fig = _figure(9.5, 0.9 + 0.32 * len(groups))
    ax = fig.add_subplot()
    _style_axes(ax, grid_axis="x")
    ys = list(range(len(groups)))
    ax.barh(ys, counts, color=COLOR, height=0.7, linewidth=0)
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    for y, c, g in zip(ys, counts, groups):
        ax.text(c, y, f" {c:,} · {g['members']} members", va="center", fontsize=8, color=TEXT)
    ax.xaxis.set_major_locator(_integer_locator())
    ax.set_xlabel("messages", color=TEXT, fontsize=9)
    return {
        "id": "groups",
        "title": title,
        "caption": f"The {len(groups)} groups with the most messages.",
        "points": len(groups),
        "svg": _svg(fig, "groups", f"{title}: " + ", ".join(labels)),
    }


# --------------------------------------------------------------------------
# Formatting helpers for the template
# --------------------------------------------------------------------------


def _duration(seconds: float | None) -> str:
    from coi_archive.index.api import human_duration

    return human_duration(seconds)
