"""Export downloads from a chat page or from search results: the same
writers as ``coi-archive export``."""

from __future__ import annotations

import tempfile

from flask import Blueprint, abort, current_app, request, send_file

from coi_archive import export
from coi_archive.index.api import ArchiveError

from .chats import _chosen_me
from .state import archive, scope

bp = Blueprint("exports", __name__)


@bp.get("/export")
def download():
    """``/export?chat=ID&format=F[&since=D][&until=D]`` or
    ``/export?q=QUERY[&history=1]&format=F[...]``; F is one of
    json, html, mbox, eml, csv."""
    fmt = request.args.get("format", "html")
    if fmt not in export.FORMATS:
        abort(400, f"unknown format {fmt!r}")
    try:
        since = export.parse_bound(request.args.get("since"))
        until = export.parse_bound(request.args.get("until"), end=True)
    except export.ExportError as exc:
        abort(400, str(exc))
    chat_id = request.args.get("chat")
    query = (request.args.get("q") or "").strip()
    try:
        if chat_id:
            sel = export.select_chat(archive(), chat_id, since, until)
        elif query:
            limit = current_app.config["MAX_SEARCH_LIMIT"]
            sel = export.select_search(
                archive(),
                query,
                history=request.args.get("history") in ("1", "on"),
                limit=limit,
                since=since,
                until=until,
                scope=scope(),
            )
        else:
            abort(400, "nothing to export: give chat=ID or q=QUERY")
    except ArchiveError as exc:
        abort(404, str(exc))
    me = set(_chosen_me()) or None  # None: the owner heuristic, chat by chat
    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - send_file closes it
    export.write(archive(), sel, fmt, out, me=me)
    out.seek(0)
    return send_file(
        out, mimetype=export.MIMETYPES[fmt], as_attachment=True, download_name=export.filename(sel, fmt), max_age=0
    )
