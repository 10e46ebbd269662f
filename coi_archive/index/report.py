"""The activity report behind ``coi-archive stats`` and the analytics page:
:func:`report` computes it from the frames (:mod:`coi_archive.index.frames`)
as plain JSON-able values, :func:`report_text` writes it for a terminal.

Times of day are UTC.  "Messages" are listed messages without system
lines; rates are over them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import pandas as pd

from coi_archive.units import human_bytes

from .chatids import ChatKind
from .frames import Frames, messages_and_replies, to_list

__all__ = ["report", "report_text", "human_bytes", "human_duration"]


#: Upper bounds (seconds) of the reply-time buckets, with their labels.
REPLY_BUCKETS = (
    (60, "< 1 min"),
    (300, "1–5 min"),
    (900, "5–15 min"),
    (3600, "15–60 min"),
    (3 * 3600, "1–3 h"),
    (12 * 3600, "3–12 h"),
    (86400, "12–24 h"),
    (3 * 86400, "1–3 days"),
    (None, "> 3 days"),
)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _date_counts(dates: pd.Series, floor: str) -> dict[str, int]:
    if dates.empty:
        return {}
    if floor == "week":
        days = dates.dt.floor("D")
        keys = days - pd.to_timedelta(days.dt.day_of_week, unit="D")
    elif floor == "month":
        keys = dates.dt.year * 100 + dates.dt.month
        counts = keys.value_counts().sort_index()
        return {f"{k // 100:04d}-{k % 100:02d}": int(v) for k, v in counts.items()}
    else:
        keys = dates.dt.floor("D")
    counts = keys.value_counts().sort_index()
    return {k.strftime("%Y-%m-%d"): int(v) for k, v in counts.items()}


#: (unit, longest span in days it is used for) of the adaptive timeline.
TIMELINE_UNITS = (("hour", 4), ("day", 150), ("week", 3 * 366), ("month", None))


def _timeline(dates: pd.Series) -> dict[str, Any]:
    """Message counts over time in the finest unit that keeps the series
    short (hour up to 4 days, day up to 150 days, week up to 3 years, then
    month); buckets without messages are left out."""
    if dates.empty:
        return {"unit": "day", "counts": {}}
    span = (dates.max() - dates.min()).total_seconds() / 86400
    unit = next(u for u, days in TIMELINE_UNITS if days is None or span <= days)
    if unit == "hour":
        counts = dates.dt.floor("h").value_counts().sort_index()
        return {"unit": unit, "counts": {k.strftime("%Y-%m-%dT%H:00"): int(v) for k, v in counts.items()}}
    return {"unit": unit, "counts": _date_counts(dates, unit)}


def report(frames: Frames, chat: str | Iterable[str] | None = None, limit: int = 50) -> dict[str, Any]:
    """The activity report behind ``coi-archive stats`` and the analytics
    page, as plain JSON-able values.  Lists of chats, people and pairs hold
    at most ``limit`` entries (the biggest); time series are complete.
    Times of day are UTC.  "Messages" are listed messages without system
    lines; rates are over them."""
    chat_list = to_list(chat)
    msgs, replies = messages_and_replies(frames, chat_list)
    system = (msgs["kind"] == "system").to_numpy(dtype=bool)
    posts = msgs.loc[~system]
    dated = posts["date"].dropna()
    n = len(posts)
    reactions = frames.reactions(chat=chat_list)
    receipts = frames.receipts(chat=chat_list)
    attachments = frames.attachments(chat=chat_list)
    chats = frames.chats()
    if chat_list is not None:
        chats = chats.loc[chats["chat_id"].isin(chat_list).to_numpy(dtype=bool)]
    names = _people_names(frames.conn)

    per_chat = posts.groupby("chat_id", observed=True).size().sort_values(ascending=False, kind="stable")
    chat_info = chats.set_index("chat_id")
    per_chat_list = []
    for cid, count in per_chat.head(limit).items():
        info = chat_info.loc[cid] if cid in chat_info.index else None
        per_chat_list.append(
            {
                "chat_id": cid,
                "name": None if info is None else _py(info["name"]),
                "kind": None if info is None else _py(info["kind"]),
                "messages": int(count),
            }
        )

    by_sender = posts.groupby("sender", observed=True).agg(
        messages=("message_id", "size"),
        edited=("edited", "sum"),
        deleted=("deleted", "sum"),
        attachments=("attachments", "sum"),
    )
    by_sender = by_sender.sort_values("messages", ascending=False, kind="stable")
    per_sender_list = [
        {
            "sender": s,
            "name": names.get(s) or None,
            "messages": int(r.messages),
            "edited": int(r.edited),
            "deleted": int(r.deleted),
            "edit_rate": _rate(int(r.edited), int(r.messages)),
            "delete_rate": _rate(int(r.deleted), int(r.messages)),
            "attachments": int(r.attachments),
        }
        for s, r in by_sender.head(limit).iterrows()
    ]

    hours = dated.dt.hour.value_counts().reindex(range(24), fill_value=0)
    weekdays = dated.dt.day_of_week.value_counts().reindex(range(7), fill_value=0)
    heat = pd.crosstab(dated.dt.day_of_week, dated.dt.hour).reindex(index=range(7), columns=range(24), fill_value=0)

    rt = replies["reply_time"].dt.total_seconds() if len(replies) else pd.Series([], dtype=float)
    pairs = []
    if len(replies):
        grouped = replies.assign(s=rt).groupby(["to_sender", "sender"], observed=True)["s"]
        pair_stats = pd.DataFrame({"replies": grouped.size(), "med": grouped.median()})
        pair_stats = pair_stats.sort_values("replies", ascending=False, kind="stable")
        pairs = [
            {"from": a, "to": b, "replies": int(r.replies), "median_seconds": round(float(r.med), 3)}
            for (a, b), r in pair_stats.head(limit).iterrows()
        ]
    buckets = []
    lower = 0.0
    for upper, label in REPLY_BUCKETS:
        mask = (rt >= lower) if upper is None else ((rt >= lower) & (rt < upper))
        buckets.append({"label": label, "replies": int(mask.sum())})
        lower = float(upper or 0)

    by_emoji = reactions["emoji"].value_counts() if len(reactions) else pd.Series([], dtype=int)
    reactors = reactions["sender"].value_counts() if len(reactions) else pd.Series([], dtype=int)
    reacted = reactions["target_sender"].value_counts() if len(reactions) else pd.Series([], dtype=int)

    groups = chats.loc[(chats["kind"] == ChatKind.GROUP.value).to_numpy(dtype=bool)]
    group_counts = per_chat.reindex(groups["chat_id"].astype(str)).fillna(0).astype(int)
    groups = groups.assign(posts=group_counts.to_numpy()).sort_values(
        ["posts", "chat_id"], ascending=[False, True], kind="stable"
    )
    active_groups = [
        {
            "chat_id": r.chat_id,
            "name": _py(r.name),
            "messages": int(r.posts),
            "members": int(r.member_count),
            "past_members": int(r.past_member_count),
        }
        for r in groups.head(limit).itertuples()
    ]

    att_types = []
    if len(attachments):
        agg = attachments.groupby("type", observed=True).agg(files=("size", "size"), bytes=("size", "sum"))
        agg = agg.sort_values("bytes", ascending=False, kind="stable")
        att_types = [{"type": str(t), "files": int(r.files), "bytes": int(r.bytes)} for t, r in agg.iterrows()]
        mimes = attachments.groupby("mime", observed=True).agg(files=("size", "size"), bytes=("size", "sum"))
        mimes = mimes.sort_values("bytes", ascending=False, kind="stable").head(limit)
        att_mimes = [{"mime": str(m), "files": int(r.files), "bytes": int(r.bytes)} for m, r in mimes.iterrows()]
    else:
        att_mimes = []

    edited = int(posts["edited"].sum())
    deleted = int(posts["deleted"].sum())
    return {
        "scope": {"chats": chat_list, "timezone": "UTC"},
        "totals": {
            "messages": n,
            "system_lines": int(system.sum()),
            "chats": int(posts["chat_id"].nunique()),
            "senders": int(posts["sender"].nunique()),
            "first_date": dated.min().isoformat() if len(dated) else None,
            "last_date": dated.max().isoformat() if len(dated) else None,
            "active_days": int(dated.dt.floor("D").nunique()),
            "edited": edited,
            "edit_rate": _rate(edited, n),
            "deleted": deleted,
            "delete_rate": _rate(deleted, n),
            "reactions": int(len(reactions)),
            "read_receipts": int(len(receipts)),
            "attachments": int(len(attachments)),
            "attachment_bytes": int(attachments["size"].sum()) if len(attachments) else 0,
            "replies": int(len(replies)),
            "median_reply_seconds": round(float(rt.median()), 3) if len(rt) else None,
        },
        "per_chat": per_chat_list,
        "per_sender": per_sender_list,
        "timeline": _timeline(dated),
        "by_day": _date_counts(dated, "day"),
        "by_week": _date_counts(dated, "week"),
        "by_month": _date_counts(dated, "month"),
        "by_hour": [int(v) for v in hours.to_numpy()],
        "by_weekday": [int(v) for v in weekdays.to_numpy()],
        "weekday_hour": [[int(v) for v in row] for row in heat.to_numpy()],
        "reply_times": {
            "replies": int(len(replies)),
            "median_seconds": round(float(rt.median()), 3) if len(rt) else None,
            "buckets": buckets,
            "pairs": pairs,
        },
        "reactions": {
            "total": int(len(reactions)),
            "by_emoji": {str(k): int(v) for k, v in by_emoji.items()},
            "top_reactors": [{"sender": str(k), "reactions": int(v)} for k, v in reactors.head(limit).items()],
            "most_reacted": [{"sender": str(k), "reactions": int(v)} for k, v in reacted.head(limit).items()],
        },
        "groups": active_groups,
        "attachments": {"by_type": att_types, "by_mime": att_mimes},
    }


def _py(value: Any) -> Any:
    if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
        return None
    return str(value)


def _people_names(conn: sqlite3.Connection) -> dict[str, str]:
    return {r[0]: r[1] for r in conn.execute("SELECT address, name FROM contacts")}


# ---------------------------------------------------------------- text form

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = float(seconds)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s" if s < 600 else f"{s / 60:.0f} min"
    if s < 86400:
        return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    return f"{s / 86400:.1f} days"


def _bar(value: int, top: int, width: int = 30) -> str:
    if top <= 0 or value <= 0:
        return ""
    cells = value / top * width
    return "█" * int(cells) + ("▌" if cells - int(cells) >= 0.5 else "") or "▏"


def report_text(rep: dict[str, Any], top: int = 10) -> str:
    """The report as text for a terminal (``coi-archive stats``)."""
    t = rep["totals"]
    out: list[str] = []
    add = out.append
    scope = ", ".join(rep["scope"]["chats"]) if rep["scope"]["chats"] else "the whole archive"
    add(f"Activity report for {scope}")
    if not t["messages"]:
        add("  no messages")
        return "\n".join(out) + "\n"
    add(
        f"  {t['messages']:,} messages (+ {t['system_lines']:,} system lines) in {t['chats']:,} chats "
        f"from {t['senders']:,} senders, {(t['first_date'] or '')[:10]} … {(t['last_date'] or '')[:10]} "
        f"({t['active_days']:,} active days)"
    )
    add(
        f"  edited {t['edited']:,} ({t['edit_rate']:.1%}), deleted {t['deleted']:,} ({t['delete_rate']:.1%}), "
        f"{t['reactions']:,} reactions, {t['read_receipts']:,} read receipts, "
        f"{t['attachments']:,} attachments ({human_bytes(t['attachment_bytes'])})"
    )
    add(f"  median reply time {human_duration(t['median_reply_seconds'])} over {t['replies']:,} replies")

    def section(title: str) -> None:
        add("")
        add(title)

    section("Messages per chat")
    for c in rep["per_chat"][:top]:
        add(f"  {c['messages']:>8,}  {c['kind'] or '':<11} {c['name'] or c['chat_id']}  [{c['chat_id']}]")
    if t["chats"] > top:
        add(f"  … {t['chats'] - top:,} more")

    section("Messages per sender (edited / deleted)")
    for p in rep["per_sender"][:top]:
        who = f"{p['name']} <{p['sender']}>" if p["name"] else p["sender"]
        add(f"  {p['messages']:>8,}  {who}  ({p['edit_rate']:.1%} / {p['delete_rate']:.1%})")

    series = rep["by_week"] if len(rep["by_week"]) <= 26 else rep["by_month"]
    label = "week starting" if series is rep["by_week"] else "month"
    section(f"Activity by {label} (UTC)")
    items = list(series.items())[-26:]
    peak = max((v for _, v in items), default=0)
    if len(series) > len(items):
        add(f"  (last {len(items)} of {len(series)})")
    for key, value in items:
        add(f"  {key:<10} {value:>8,}  {_bar(value, peak)}")
    busiest = sorted(rep["by_day"].items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    add("  busiest days: " + ", ".join(f"{d} ({v:,})" for d, v in busiest))

    section("Activity by hour of day (UTC)")
    peak = max(rep["by_hour"])
    for hour, value in enumerate(rep["by_hour"]):
        add(f"  {hour:02d}h {value:>8,}  {_bar(value, peak)}")
    add("  by weekday: " + ", ".join(f"{d} {v:,}" for d, v in zip(WEEKDAYS, rep["by_weekday"])))

    rtimes = rep["reply_times"]
    section("Reply times (A → B: B's message right after A's, same chat)")
    add(f"  median {human_duration(rtimes['median_seconds'])} over {rtimes['replies']:,} replies")
    for pair in rtimes["pairs"][:top]:
        add(
            f"  {pair['from']} → {pair['to']}: median {human_duration(pair['median_seconds'])}"
            f" ({pair['replies']:,} replies)"
        )
    add("  " + ", ".join(f"{b['label']}: {b['replies']:,}" for b in rtimes["buckets"]))

    section("Edits and deletes")
    add(
        f"  {t['edited']:,} of {t['messages']:,} messages edited ({t['edit_rate']:.1%}), "
        f"{t['deleted']:,} deleted ({t['delete_rate']:.1%})"
    )

    section("Reactions")
    emojis = list(rep["reactions"]["by_emoji"].items())
    add(
        f"  {rep['reactions']['total']:,} reactions"
        + (": " + "  ".join(f"{e} {n:,}" for e, n in emojis[:top]) if emojis else "")
    )
    if rep["reactions"]["top_reactors"]:
        add(
            "  most reactions given: "
            + ", ".join(f"{r['sender']} ({r['reactions']:,})" for r in rep["reactions"]["top_reactors"][:5])
        )
        add(
            "  most reactions received: "
            + ", ".join(f"{r['sender']} ({r['reactions']:,})" for r in rep["reactions"]["most_reacted"][:5])
        )

    section("Most active groups")
    if not rep["groups"]:
        add("  no groups")
    for g in rep["groups"][:top]:
        add(
            f"  {g['messages']:>8,}  {g['name'] or g['chat_id']}  ({g['members']} members"
            + (f", {g['past_members']} past" if g["past_members"] else "")
            + f")  [{g['chat_id']}]"
        )

    section("Attachments by type")
    if not rep["attachments"]["by_type"]:
        add("  no attachments")
    for a in rep["attachments"]["by_type"]:
        add(f"  {a['type']:<12} {a['files']:>8,} files  {human_bytes(a['bytes']):>10}")
    return "\n".join(out) + "\n"
