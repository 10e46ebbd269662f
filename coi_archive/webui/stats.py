"""The completeness report (``/stats``), the same numbers as
``coi-archive stats``: every message read is in exactly one bucket."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from .state import archive, chat_index

bp = Blueprint("stats", __name__)


@bp.get("/stats")
def stats():
    return render_template("stats.html", stats=archive().stats(), chats=len(chat_index()))


@bp.get("/api/stats")
def api_stats():
    return jsonify(archive().stats())
