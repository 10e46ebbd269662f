"""The audit trail in the web UI, for auditors: every entry of
:meth:`Archive.audit_entries`, newest first, and whether the hash chain
verifies (:meth:`Archive.audit_verify`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request

from .chats import int_arg
from .state import archive

bp = Blueprint("audit_log", __name__)


def _log() -> dict[str, Any]:
    """``{"entries": newest first (at most ``limit``), "total", "problems"}``,
    filtered by ``since`` (ISO UTC) and ``actor`` (exact name)."""
    entries = archive().audit_entries(since=request.args.get("since") or None, actor=request.args.get("actor") or None)
    limit = int_arg("limit", 500, 1, 100_000)
    return {"entries": entries[::-1][:limit], "total": len(entries), "problems": archive().audit_verify()}


@bp.get("/audit")
def page():
    return render_template(
        "audit_log.html", **_log(), actor=request.args.get("actor", ""), since=request.args.get("since", "")
    )


@bp.get("/api/audit")
def api():
    """``{"entries": [{seq, time, actor, remote, action, target, result, prev_hash, hash}],
    "total", "problems": [...]}`` (``problems`` empty: the chain verifies)."""
    return jsonify(_log())
