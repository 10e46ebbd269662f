"""Search page: the query language in one box, highlighted snippets,
facets (chat, sender, year) and links that open the chat at the hit.
Above the messages it lists the chats and contacts whose name holds the
words typed, says how many messages match in all, and explains the parts of
the query that were not read as they look (:func:`query_warnings`).  Date
filters count the reader's days (``tz``, sent by the page's script)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request, url_for

from coi_archive import present
from coi_archive.index.api import query_warnings

from .chats import int_arg
from .state import all_chats, archive, chat_index, contact_rows, display_name, scope, viewer_zone

bp = Blueprint("search", __name__)

_NEEDS_QUOTES = re.compile(r"[\s()\"]")


def _term(field: str, value: str) -> str:
    if _NEEDS_QUOTES.search(value):
        value = '"' + value.replace('"', "") + '"'
    return f"{field}:{value}"


def _refine(query: str, term: str) -> str:
    return query if term in query.split() else f"{query} {term}".strip()


def run_search() -> dict[str, Any]:
    """Hits and facets for the request's ``q``/``history``/``limit``: the
    best ``limit`` hits (default 50) are shown; the facets count the best
    ``max(limit, FACET_HITS)`` (default 200) hits."""
    query = (request.args.get("q") or "").strip()
    history = request.args.get("history", "") in ("1", "on", "true", "yes")
    cfg = current_app.config
    limit = int_arg("limit", cfg["SEARCH_LIMIT"], 1, cfg["MAX_SEARCH_LIMIT"])
    fetch = max(limit, cfg["FACET_HITS"])
    zone = viewer_zone()
    hits = archive().search_hits(query, limit=fetch, history=history, zone=zone, scope=scope()) if query else []
    total = len(hits) if len(hits) < fetch else archive().search_count(query, history=history, zone=zone, scope=scope())
    chats = chat_index()
    by_chat: Counter[str] = Counter()
    by_sender: Counter[str] = Counter()
    by_year: Counter[str] = Counter()
    for h in hits:
        by_chat[h.chat_id] += 1
        by_sender[(h.sender or "").lower()] += 1
        by_year[str(h.date.year) if h.date is not None else "undated"] += 1
    out = []
    for h in hits[:limit]:
        chat = chats.get(h.chat_id) or {}
        date = h.date.isoformat() if h.date is not None else None
        out.append(
            {
                "chat_id": h.chat_id,
                "chat_name": chat.get("name") or h.chat_id,
                "chat_kind": chat.get("kind"),
                "message_id": h.message_id,
                "sender": h.sender,
                "sender_name": display_name(h.sender),
                "date": date,
                "snippet": h.snippet,
                "snippet_html": str(present.safe_snippet(h.snippet_html)),
                "url": url_for(
                    "chats.chat", chat_id=h.chat_id, at=h.message_id, tz=zone, _anchor=present.anchor(h.message_id)
                ),
            }
        )

    def facet(counter: Counter[str], field: str, label) -> list[dict[str, Any]]:
        items = []
        for value, count in counter.most_common(12):
            item = {"value": value, "label": label(value), "count": count}
            if value and value != "undated":
                refined = _refine(query, _term(field, value))
                item["url"] = url_for(
                    "search.search",
                    q=refined,
                    history=1 if history else None,
                    tz=zone,
                    limit=limit if limit != cfg["SEARCH_LIMIT"] else None,
                )
            items.append(item)
        return items

    facets = {
        "chat": facet(by_chat, "chat", lambda v: (chats.get(v) or {}).get("name") or v),
        "sender": facet(by_sender, "from", lambda v: display_name(v) if v else "unknown"),
        "year": facet(by_year, "date", lambda v: v),
    }
    return {
        "query": query,
        "history": history,
        "limit": limit,
        "zone": zone or "UTC",
        "total": total,
        "warnings": query_warnings(query),
        "names": name_matches(query),
        "hits": out,
        "facets": facets,
        "facet_hits": len(hits),
        "more": len(hits) > limit or len(hits) >= fetch,
    }


#: How many chats and contacts whose name matches are listed above the messages.
NAME_MATCHES = 8


def name_matches(query: str) -> dict[str, list[dict[str, Any]]]:
    """Chats and contacts whose name (or address) holds every plain word of
    the query: the way to a person or a group is their name, not a message
    that happens to mention it."""
    words = [
        w.casefold()
        for w in query.split()
        if ":" not in w and not w.startswith(("-", '"', "(")) and w not in ("AND", "OR", "NOT")
    ]
    if not words:
        return {"chats": [], "contacts": []}
    chats = [
        {
            "id": c["id"],
            "name": c.get("name") or c["id"],
            "kind": c["kind"],
            "url": url_for("chats.chat", chat_id=c["id"]),
        }
        for c in all_chats()
        if all(w in (c.get("name") or "").casefold() for w in words)
    ]
    contacts = [
        {
            "address": c["address"],
            "name": c["name"] or c["address"],
            "hue": present.hue(c["address"]),
            "initial": present.initials(c["name"] or c["address"]),
            "url": url_for("contacts.contact", address=c["address"]),
        }
        for c in contact_rows()
        if all(w in c["haystack"] for w in words)
    ]
    return {"chats": chats[:NAME_MATCHES], "contacts": contacts[:NAME_MATCHES]}


@bp.get("/search")
def search():
    data = run_search()
    more_url = None
    if data["more"] and data["limit"] < current_app.config["MAX_SEARCH_LIMIT"]:
        more_url = url_for(
            "search.search",
            q=data["query"],
            history=1 if data["history"] else None,
            tz=viewer_zone(),
            limit=min(max(data["limit"] * 4, 200), current_app.config["MAX_SEARCH_LIMIT"]),
        )
    return render_template("search.html", more_url=more_url, snippet=present.safe_snippet, **data)


@bp.get("/api/names")
def api_names():
    """``{"chats": [{id, name, kind, url}], "contacts": [{address, name,
    url}]}``: chats and contacts whose name or address holds every word of
    ``q`` (at most :data:`NAME_MATCHES` each), for the landing page's
    search while typing."""
    return jsonify(name_matches((request.args.get("q") or "").strip()))


@bp.get("/api/search")
def api_search():
    """``{"query", "history", "limit", "zone", "total", "warnings": [...],
    "names": {"chats", "contacts"}, "hits": [...], "facets": {...},
    "facet_hits", "more"}``; ``total`` counts every matching message,
    ``warnings`` explains what in the query was not read as it looks;
    each hit is the ``search --json`` shape plus ``chat_name``, ``chat_kind``,
    ``sender_name``, ``snippet_html`` and ``url``."""
    return jsonify(run_search())
