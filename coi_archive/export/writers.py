"""Export writers: JSON, CSV, mboxrd, a zip of ``.eml`` files (the HTML
writer is in :mod:`export.html`).  Each writes bytes to a binary stream and
uses only :mod:`index.api`.

Which originals go into ``mbox`` and ``eml``: every exported (visible)
message's original, each followed by the originals folded into it — the
edits, delete requests, reactions and read receipts that target it — unless
``folded=False``.  So an export, ingested again, rebuilds the same messages
with their edit history, deletions, reactions and receipts, and nothing of
other chats leaks in.  Bytes are the stored originals, byte-exact.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from datetime import timezone
from typing import Any, BinaryIO

from coi_archive.index.api import REBUILT, Archive, ArchiveError, parse_iso

from .selection import Selection

_FROM_LINE = re.compile(rb"^(>*From )", re.M)
_ADDR_SAFE = re.compile(r"[^A-Za-z0-9._%+\-@=]")


# --------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------


def write_json(archive: Archive, sel: Selection, out: BinaryIO) -> int:
    """A chat export is exactly the ``show --json`` shape (its messages
    limited to the date range); a search export is ``{"query", "history",
    "chats": [show-shape, ...]}`` with only the matching messages."""
    if sel.kind == "chat":
        part = sel.parts[0]
        data: Any = {"chat": part.chat, "messages": part.messages}
    else:
        data = {
            "query": sel.query,
            "history": sel.history,
            "chats": [{"chat": p.chat, "messages": p.messages} for p in sel.parts],
        }
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    out.write(text.encode("utf-8"))
    return sel.message_count


# --------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------

CSV_COLUMNS = (
    "chat_id",
    "chat_name",
    "message_id",
    "date",
    "sender",
    "sender_name",
    "kind",
    "text",
    "subject",
    "edited",
    "deleted",
    "deleted_date",
    "original_text",
    "revisions",
    "reply_to",
    "attachments",
    "reactions",
    "read_by",
    "location",
    "encrypted",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A CSV cell; text a spreadsheet would run as a formula gets a leading
    apostrophe (CSV injection from untrusted mail)."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def write_csv(archive: Archive, sel: Selection, out: BinaryIO) -> int:
    """One row per message, UTF-8 with a byte-order mark (so spreadsheets
    detect the encoding).  Lists are joined with ``; ``, reactions are
    ``address=emoji``."""
    buf = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    try:
        writer = csv.writer(buf, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(CSV_COLUMNS)
        n = 0
        for part in sel.parts:
            chat = part.chat
            for m in part.messages:
                revs = m.get("revisions") or []
                loc = m.get("location")
                writer.writerow(
                    [
                        _cell(v)
                        for v in (
                            chat["id"],
                            chat.get("name"),
                            m["message_id"],
                            m.get("date"),
                            m.get("sender"),
                            m.get("sender_name"),
                            m.get("kind"),
                            m.get("text"),
                            m.get("subject"),
                            int(bool(m.get("edited"))),
                            int(bool(m.get("deleted"))),
                            m.get("deleted_date"),
                            revs[0]["text"] if revs and (m.get("edited") or m.get("deleted")) else "",
                            len(revs),
                            m.get("reply_to"),
                            "; ".join(f"{a['filename']} ({a['size']} B)" for a in m.get("attachments") or ()),
                            "; ".join(f"{k}={v}" for k, v in sorted((m.get("reactions") or {}).items())),
                            "; ".join(m.get("read_by") or ()),
                            f"{loc['lat']},{loc['lon']}" if loc else "",
                            int(bool(m.get("encrypted"))),
                        )
                    ]
                )
                n += 1
    finally:
        buf.detach()
    return n


# --------------------------------------------------------------------------
# Originals: mboxrd and eml
# --------------------------------------------------------------------------


def original_ids(archive: Archive, sel: Selection, folded: bool = True) -> Iterator[tuple[str, str, dict]]:
    """``(message_id, role, exported message)`` of every original to write,
    in chat order, each message followed by what is folded into it; role is
    ``message`` or ``folded``.  Each id appears once."""
    seen: set[str] = set()
    for part in sel.parts:
        extra = archive.folded(m["message_id"] for m in part.messages) if folded else {}
        for m in part.messages:
            for mid, role in [(m["message_id"], "message")] + [(x, "folded") for x in extra.get(m["message_id"], ())]:
                if mid not in seen:
                    seen.add(mid)
                    yield mid, role, m


def _from_line(msg: dict[str, Any], role: str) -> bytes:
    sender = _ADDR_SAFE.sub("", (msg.get("sender") or "") if role == "message" else "") or "MAILER-DAEMON"
    dt = parse_iso(msg.get("date"))
    stamp = time.asctime(time.gmtime(dt.timestamp() if dt else 0.0))
    return f"From {sender} {stamp}\n".encode("ascii")


def write_mbox(archive: Archive, sel: Selection, out: BinaryIO, folded: bool = True) -> int:
    """The originals as mboxrd: a ``From `` line, the stored bytes with every
    line matching ``^>*From `` given one more ``>``, then an empty line.  A
    reader that un-escapes mboxrd gets the stored bytes back (plus a final
    newline for the rare original that lacks one).  A message known only
    from a backup record is written as the mail rebuilt from it
    (``Archive.mail``; its ``X-Coi-Archive-Rebuilt`` header says so)."""
    n = 0
    for mid, role, msg in original_ids(archive, sel, folded):
        try:
            raw = archive.mail(mid).data
        except ArchiveError:
            continue
        out.write(_from_line(msg, role))
        body = _FROM_LINE.sub(rb">\1", raw)
        out.write(body)
        if not body.endswith(b"\n"):
            out.write(b"\n")
        out.write(b"\n")
        n += 1
    return n


def _eml_name(i: int, mid: str, msg: dict[str, Any], role: str) -> str:
    dt = parse_iso(msg.get("date")) if role == "message" else None
    stamp = dt.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S") if dt else "undated"
    safe = re.sub(r"[^A-Za-z0-9._@-]", "_", mid)[:80]
    return f"{i:05d}_{stamp}_{safe}.eml"


def write_eml_zip(archive: Archive, sel: Selection, out: BinaryIO, folded: bool = True, decrypted: bool = False) -> int:
    """A zip of ``.eml`` files (byte-exact originals, numbered in chat
    order; folded originals follow their message) plus ``manifest.json``
    mapping file names to Message-IDs, roles, SHA-256 (of the file) and
    ``source``: ``stored original``, or ``rebuilt from backup record`` for
    a message known only from a backup record (``Archive.mail``).  With
    ``decrypted``, each encrypted original a key opened is followed by its
    decrypted inner message (``….decrypted.eml``, source ``decrypted copy``,
    ``of``: the original's file): plaintext, on request only."""
    import hashlib

    manifest = []
    n = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for mid, role, msg in original_ids(archive, sel, folded):
            try:
                copy = archive.mail(mid)
            except ArchiveError:
                continue
            n += 1
            name = _eml_name(n, mid, msg, role)
            zf.writestr(name, copy.data)
            manifest.append(
                {
                    "file": name,
                    "message_id": mid,
                    "role": role,
                    "target": msg["message_id"] if role == "folded" else None,
                    "sha256": hashlib.sha256(copy.data).hexdigest(),
                    "source": REBUILT if copy.rebuilt else "stored original",
                }
            )
            inner = archive.decrypted(mid) if decrypted else None
            if inner is not None:
                plain_name = name[: -len(".eml")] + ".decrypted.eml"
                zf.writestr(plain_name, inner)
                manifest.append(
                    {
                        "file": plain_name,
                        "message_id": mid,
                        "role": role,
                        "target": msg["message_id"] if role == "folded" else None,
                        "sha256": hashlib.sha256(inner).hexdigest(),
                        "source": "decrypted copy",
                        "of": name,
                    }
                )
        zf.writestr(
            "manifest.json",
            json.dumps({"title": sel.title, "scope": sel.scope, "files": manifest}, ensure_ascii=False, indent=2),
        )
    return n
