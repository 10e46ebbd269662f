"""Contacts: the list and one contact with its state history (names,
status, blocked, keys when known) and the chats it is in."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request

from .state import all_chats, archive, scope, state

bp = Blueprint("contacts", __name__)


def _contacts() -> list[dict[str, Any]]:
    return state().cached("contacts", lambda: archive().contacts(scope()))


def list_contacts() -> list[dict[str, Any]]:
    needle = (request.args.get("q") or "").strip().casefold()
    out = []
    for c in _contacts():
        hay = " ".join([c["address"], c.get("name") or "", c.get("status") or "", *c.get("groups", [])]).casefold()
        if not needle or needle in hay:
            out.append(c)
    return out


def contact_detail(address: str) -> dict[str, Any]:
    address = address.lower()
    for c in _contacts():
        if c["address"].lower() == address:
            break
    else:
        abort(404, f"no contact {address}")
    chats = [
        ch
        for ch in all_chats()
        if address in {a.lower() for a in (*(ch.get("members") or ()), *(ch.get("past_members") or ()))}
    ]
    keys = sorted({k for h in c.get("history", []) for k in h.get("fields", {})})
    shown = set(archive().messages(h["message_id"] for h in c.get("history", []) if h.get("message_id")))
    return {"contact": c, "chats": chats, "fields": keys, "linkable": shown}


@bp.get("/contacts")
def contact_list():
    return render_template(
        "contacts.html", contacts=list_contacts(), q=request.args.get("q", ""), total=len(_contacts())
    )


@bp.get("/contacts/<path:address>")
def contact(address: str):
    return render_template("contact.html", **contact_detail(address))


@bp.get("/api/contacts")
def api_contacts():
    """The ``contacts --json`` list, filtered by ``q``."""
    return jsonify(list_contacts())


@bp.get("/api/contacts/<path:address>")
def api_contact(address: str):
    """``{"contact": {...as in contacts --json...}, "chats": [chat ids]}``."""
    data = contact_detail(address)
    return jsonify({"contact": data["contact"], "chats": [c["id"] for c in data["chats"]]})
