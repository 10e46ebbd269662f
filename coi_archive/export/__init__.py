"""Exports of chats and search results, used by the CLI (``coi-archive
export``) and by the web UI's export buttons.  Reads the archive only
through :mod:`index.api`.

    >>> from export import select_chat, write
    >>> with Archive.open(path, readonly=True) as archive:
    ...     sel = select_chat(archive, "grp-...", since=parse_bound("2025-04"))
    ...     with open("chat.html", "wb") as f:
    ...         write(archive, sel, "html", f)

Formats:

``json``  the ``show --json`` shape (a search: ``{"query", "history", "chats": [...]}``)
``html``  one self-contained file that looks like the chat view, opens offline
``mbox``  the original messages as mboxrd (see :mod:`export.writers` for which)
``eml``   a zip of the original messages as ``.eml`` files plus ``manifest.json``
``csv``   one row per message
"""

from __future__ import annotations

import re
from typing import BinaryIO

from coi_archive.index.api import Archive

from .html import write_html
from .selection import ExportError, Part, Selection, parse_bound, select_chat, select_search
from .writers import write_csv, write_eml_zip, write_json, write_mbox

__all__ = [
    "FORMATS",
    "ExportError",
    "Part",
    "Selection",
    "parse_bound",
    "select_chat",
    "select_search",
    "write",
    "filename",
    "MIMETYPES",
]

FORMATS = ("json", "html", "mbox", "eml", "csv")

MIMETYPES = {
    "json": "application/json",
    "html": "text/html",
    "mbox": "application/mbox",
    "eml": "application/zip",
    "csv": "text/csv",
}

_EXTENSIONS = {"json": "json", "html": "html", "mbox": "mbox", "eml": "zip", "csv": "csv"}


def write(
    archive: Archive,
    sel: Selection,
    fmt: str,
    out: BinaryIO,
    *,
    me: set[str] | None = None,
    folded: bool = True,
    decrypted: bool = False,
) -> int:
    """Write ``sel`` in format ``fmt`` to the binary stream ``out``; returns
    the number of messages (for mbox/eml: originals) written.  ``decrypted``
    (eml): add the decrypted copy of each opened encrypted original."""
    if fmt == "json":
        return write_json(archive, sel, out)
    if fmt == "csv":
        return write_csv(archive, sel, out)
    if fmt == "mbox":
        return write_mbox(archive, sel, out, folded=folded)
    if fmt == "eml":
        return write_eml_zip(archive, sel, out, folded=folded, decrypted=decrypted)
    if fmt == "html":
        return write_html(archive, sel, out, me=me)
    raise ExportError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")


def filename(sel: Selection, fmt: str) -> str:
    """A download file name: ``<chat name or query>[_<range>].<ext>``."""
    if sel.kind == "chat":
        base = sel.parts[0].chat.get("name") or sel.parts[0].chat["id"]
    else:
        base = "search-" + (sel.query or "")
    base = re.sub(r"[^\w.-]+", "_", base, flags=re.UNICODE).strip("._")[:60] or "export"
    if sel.since or sel.until:
        base += (
            "_"
            + (sel.since.date().isoformat() if sel.since else "")
            + "--"
            + (sel.until.date().isoformat() if sel.until else "")
        )
    return f"{base}.{_EXTENSIONS[fmt]}"
