"""How the archive reads in a terminal: the human output of the
``coi-archive`` command (``show``, ``search``, ``chats``, ``stats`` and the
"did you mean" list), beside the HTML presentation of the package.

It takes the same data as the ``--json`` outputs (the shapes of
:mod:`coi_archive.index.api`) and builds a chat from the shared view rows
(:func:`coi_archive.present.build_rows`), so a message says the same in the
browser and in the terminal: names instead of addresses, the quoted line of
the message replied to, reactions with who gave them, read receipts,
forwarded messages, system lines in words ("Frank Müller removed Иван
Петров"), edited and deleted markers and, on request, every earlier text.

Every function returns lines without a newline; the caller prints them.
Mail is hostile and a terminal obeys what it prints: control characters
(ESC sequences that recolour, retitle or rewrite the screen, BEL, a lone
CR that hides what came before) and bidirectional overrides are shown as
``\\x1b``-style escapes, never passed through (:func:`printable`).
Text is wrapped to the width the caller passes (the CLI passes the
terminal's, :func:`terminal_width`).  Times are UTC and say so, like the
CLI's date filters.  Widths are counted in terminal columns (a CJK
character or an emoji takes two), from the Unicode tables of the stdlib.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from coi_archive.present import (
    Links,
    Row,
    build_rows,
    file_kind,
    fmt_clock,
    fmt_day,
    fmt_size,
    fmt_time,
    kind_label,
    mention_names,
    utc,
)

#: The indent of everything under a message's first line: "HH:MM  ".
GUTTER = " " * 7
#: Narrowest width text is wrapped to, however small the terminal.
MIN_WIDTH = 40

#: What a terminal would act on instead of show: C0 controls but tab, DEL,
#: C1 controls (CSI U+009B among them) and the bidirectional embeddings,
#: overrides and isolates (text that reads differently than it is).
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(line: str) -> str:
    """``line`` with every character a terminal would act on written as an
    escape (``\\x1b``, ``\\u202e``)."""
    return _UNPRINTABLE.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", line
    )


def _printable(lines: list[str]) -> list[str]:
    return [printable(line) for line in lines]


def terminal_width() -> int:
    """The terminal's columns ($COLUMNS, else the terminal, else 80)."""
    return max(shutil.get_terminal_size((80, 24)).columns, MIN_WIDTH)


def cells(text: str) -> int:
    """How many terminal columns ``text`` takes (as wcwidth counts them,
    closely enough): East Asian wide and fullwidth characters, CJK and most
    emoji, two; combining marks, joiners and variation selectors none."""
    return sum(_cell(ch) for ch in text)


@lru_cache(maxsize=8192)
def _cell(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


#: What a line may break around: runs of white space, single wide
#: characters (CJK text breaks between any two), and runs of the rest.
_TOKEN = re.compile(r"\s+|[^\s]")


def _tokens(para: str) -> list[str]:
    """``para`` as words and spaces; a wide character is a word of its own,
    a zero-width one stays with the character before it."""
    out: list[str] = []
    for tok in _TOKEN.findall(para):
        prev = out[-1] if out else ""
        joins = (
            prev
            and not tok.isspace()
            and not prev.isspace()
            and (_cell(tok) == 0 or (_cell(tok) == 1 and _cell(prev[-1]) == 1))
        )
        if joins:
            out[-1] += tok
        else:
            out.append(tok)
    return out


def _fill(para: str, width: int, first: str, hang: str) -> list[str]:
    """One paragraph filled greedily into lines of at most ``width`` cells;
    a word wider than a line is cut where the line ends."""
    lines: list[str] = []
    line, used, space = first, cells(first), ""
    for tok in _tokens(para):
        if tok.isspace():
            space = tok
            continue
        need = cells(tok)
        gap = space if line.strip() else ""  # no space at the start of a line
        if used + cells(gap) + need <= width:
            line, used = line + gap + tok, used + cells(gap) + need
        elif need <= width - cells(hang):
            lines.append(line.rstrip())
            line, used = hang + tok, cells(hang) + need
        else:  # longer than any line: cut it
            for ch in tok:
                if used + _cell(ch) > width and line.strip():
                    lines.append(line.rstrip())
                    line, used = hang, cells(hang)
                line, used = line + ch, used + _cell(ch)
        space = ""
    lines.append(line.rstrip())
    return lines


def wrap(text: str, width: int, first: str = "", rest: str | None = None) -> list[str]:
    """``text`` wrapped to ``width`` terminal columns, its own line breaks
    kept: the first line starts with ``first``, every other with ``rest``
    (default: as many spaces), plus the leading spaces of its paragraph (an
    indented list stays indented)."""
    rest = " " * cells(first) if rest is None else rest
    width = max(width, MIN_WIDTH)
    out: list[str] = []
    for n, para in enumerate(re.split(r"\r\n|\r|\n", text or "")):
        lead = rest if n or out else first
        para = para.expandtabs(4).rstrip()
        indent = " " * (len(para) - len(para.lstrip(" ")))
        if not para:
            out.append(lead.rstrip())
            continue
        out += _fill(para.lstrip(" "), width, lead + indent, rest + indent)
    return out or [first.rstrip()]


def clip(text: str, width: int) -> str:
    """The first line of ``text``, cut to ``width`` columns with "…"."""
    line = (text or "").strip().split("\n", 1)[0]
    if cells(line) <= width:
        return line
    while line and cells(line) > width - 1:
        line = line[:-1]
    return line.rstrip() + "…"


# --------------------------------------------------------------------------
# show
# --------------------------------------------------------------------------


def chat_lines(data: Mapping[str, Any], names: dict[str, str], width: int, history: bool = False) -> list[str]:
    """A chat (``show --json``) for reading: a header, a line per day, and
    each message with what it answers, its files, reactions and receipts.
    ``names`` maps lower-cased addresses to names; ``history`` adds every
    earlier text of edited and deleted messages."""
    chat = data["chat"]
    rows = build_rows(list(data["messages"]), me=set(), names=names, links=Links())
    lines = _header(chat, names, width)
    for row in rows:
        if row.type == "day":
            lines += ["", f"── {fmt_day(row.m.get('date'))} (UTC) ──"]
        elif row.type == "system":
            lines += wrap(f"-- {row.label} --", width, f"{_time(row.m)}  ", GUTTER)
        else:
            lines += message_lines(row, width, history)
    kept = sum(1 for r in rows if r.type == "message" and _has_history(r.m))
    if kept and not history:
        lines += [
            "",
            *wrap(
                f"({kept} edited or deleted message{'s keep' if kept != 1 else ' keeps'} earlier text:"
                " show --history prints it)",
                width,
            ),
        ]
    return _printable(lines)


def _header(chat: Mapping[str, Any], names: dict[str, str], width: int) -> list[str]:
    members = [names.get(a.lower()) or a for a in chat.get("members") or ()]
    about = (
        f"{kind_label(chat.get('kind')) or 'chat'}, {_count(chat.get('message_count') or 0, 'message')},"
        f" {_count(len(members), 'member')} · {chat.get('id')}"
    )
    lines = wrap(f"# {chat.get('name') or chat.get('id')}", width, rest="  ") + wrap(about, width, "  ")
    if members:
        lines += wrap(", ".join(members), width, "  members: ", "    ")
    return lines


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _time(m: Mapping[str, Any]) -> str:
    return fmt_time(m.get("date")) or "--:--"


def _has_history(m: Mapping[str, Any]) -> bool:
    return bool(m.get("edited") or (m.get("deleted") and m.get("revisions")))


def message_lines(row: Row, width: int, history: bool = False) -> list[str]:
    """One message: "HH:MM  Name: text", then (indented) what it forwards
    or answers, its files, its history, reactions, receipts and conflicting
    copies."""
    m = row.m
    who = row.name + (" (not a member)" if m.get("non_member") else "")
    text = "[message deleted]" if m.get("deleted") else mention_names(m.get("text"), row.names)
    if m.get("edited") and not m.get("deleted"):
        text += " (edited)"
    before = (["↪ forwarded"] if m.get("forwarded") else []) + ([_reply(row.reply, row.names)] if row.reply else [])
    if before:
        lines = [f"{_time(m)}  {who}:"] + [GUTTER + clip(b, width - len(GUTTER)) for b in before]
        lines += wrap(text, width, GUTTER) if text else []
    else:
        lines = wrap(f"{who}: {text}".rstrip(), width, f"{_time(m)}  ", GUTTER)
    for att in _attachments(row):
        lines += wrap(_file(att), width, GUTTER, GUTTER + "   ")
    if m.get("location"):
        loc = m["location"]
        lines.append(f"{GUTTER}📍 location {loc.get('lat')}, {loc.get('lon')}")
    if history and _has_history(m):
        lines += _revision_lines(m, width)
    if row.reactions:
        lines += wrap("   ".join(f"{emoji} {', '.join(people)}" for emoji, people in row.reactions), width, GUTTER)
    if row.read_by:
        lines += wrap("✓ read by " + ", ".join(row.read_by), width, GUTTER)
    # one line each, never wrapped: a forensic finding to grep for
    lines += [
        f"{GUTTER}! conflicting copy of {c['message_id']} from {c['sender']}: {c['text']}"
        for c in m.get("conflicts", ())
    ]
    return lines


def _reply(reply: Mapping[str, Any], names: dict[str, str]) -> str:
    text = " ".join(mention_names(reply.get("text"), names).split())
    return f"> {reply['name']}: {text}" if reply.get("name") else f"> {text}"


def _attachments(row: Row) -> list[dict[str, Any]]:
    return [a for a, *_ in row.images] + [a for a, *_ in row.media] + [a for a, _ in row.files]


def _file(att: Mapping[str, Any]) -> str:
    about = [file_kind(att.get("mime")), fmt_size(att.get("size"))]
    if att.get("duration"):
        about.append(fmt_clock(att["duration"]))
    return f"📎 {att.get('filename') or 'unnamed file'} ({', '.join(a for a in about if a)})"


def _revision_lines(m: Mapping[str, Any], width: int) -> list[str]:
    """Every text the message had, oldest first, labelled as the web UI
    labels them (original, edit N, current)."""
    revisions = m.get("revisions") or []
    lines = [f"{GUTTER}history (UTC):"]
    for n, rev in enumerate(revisions):
        if n == 0:
            label = "original"
        elif n == len(revisions) - 1 and not m.get("deleted"):
            label = "current"
        else:
            label = f"edit {n}"
        stamp = utc(rev.get("date"))
        first = f"{GUTTER}  {label}, {stamp.strftime('%Y-%m-%d %H:%M') if stamp else 'undated'}: "
        lines += wrap(rev.get("text") or "(no text)", width, first, GUTTER + "    ")
    if m.get("deleted"):
        lines.append(f"{GUTTER}  then deleted")
    return lines


# --------------------------------------------------------------------------
# search, chats, stats, candidates
# --------------------------------------------------------------------------


def hit_lines(
    hits: Iterable[Mapping[str, Any]], chat_names: Mapping[str, str], names: dict[str, str], width: int
) -> list[str]:
    """Search hits (``search --json``): the date, the chat's and the
    sender's names, then the snippet (matched words in [brackets])."""
    lines: list[str] = []
    for h in hits:
        stamp = utc(h.get("date"))
        when = stamp.strftime("%Y-%m-%d %H:%M UTC") if stamp else "undated"
        sender = h.get("sender") or ""
        who = names.get(sender.lower()) or sender or "unknown sender"
        chat = chat_names.get(h.get("chat_id") or "") or h.get("chat_id") or "no chat"
        lines.append(f"{when}  {chat} · {who}")
        lines += wrap(" ".join((h.get("snippet") or "").split()), width, "    ")
    return _printable(lines)


def chat_table(chats: Iterable[Mapping[str, Any]]) -> list[str]:
    """The chat list: a header line, then one line per chat."""
    fmt = "{:<34} {:<11} {:>8}  {:<10}  {}"
    lines = [fmt.format("ID", "KIND", "MESSAGES", "LAST", "NAME")]
    for c in chats:
        enc = " [encrypted]" if c.get("encrypted") else ""
        lines.append(
            fmt.format(
                c["id"],
                c.get("kind") or "",
                c.get("message_count", 0),
                (c.get("last_date") or "")[:10],
                f"{c.get('name') or ''}{enc}",
            )
        )
    return _printable(lines)


def candidate_lines(chats: Iterable[Mapping[str, Any]], limit: int = 10) -> list[str]:
    """Chats to choose from after an ambiguous or unknown name: id, kind
    and name, indented (at most ``limit``, then how many more)."""
    chats = list(chats)
    lines = [f"  {c['id']:<34} {c.get('kind') or '':<11} {c.get('name') or ''}" for c in chats[:limit]]
    if len(chats) > limit:
        lines.append(f"  ... and {len(chats) - limit} more (coi-archive chats lists them all)")
    return _printable(lines)


def mapping_lines(data: Mapping[str, Any], indent: int = 0) -> list[str]:
    """A mapping as aligned "key  value" lines; nested mappings and lists
    indented below their key, empty ones as "none"."""
    lines: list[str] = []
    pad = " " * indent
    width = max((len(str(k)) for k in data), default=0) + 2
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            lines.append(f"{pad}{key}")
            lines += mapping_lines(value, indent + 2)
        elif isinstance(value, (list, tuple)) and value:
            lines.append(f"{pad}{key}")
            for item in value:
                if isinstance(item, Mapping) and item:
                    sub = mapping_lines(item, indent + 4)
                    lines += [f"{pad}  - {sub[0].lstrip()}", *sub[1:]]
                else:
                    lines.append(f"{pad}  {item}")
        else:
            shown = "none" if isinstance(value, (Mapping, list, tuple)) or value is None else value
            lines.append(f"{pad}{str(key):<{width}}{shown}")
    return _printable(lines)
