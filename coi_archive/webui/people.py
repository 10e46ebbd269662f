"""Accounts in the web UI, for admins: the list, a form to add one and a
button to remove one (the same checks and audit entries as ``coi-archive
user add|remove``). A removed account's sessions end at once."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for

from coi_archive.index.api import ROLES, AccountError, AuditError

from .state import archive

bp = Blueprint("accounts", __name__)


@bp.get("/accounts")
def page(error: str = "", status: int = 200):
    return render_template("accounts.html", accounts=archive().accounts(), roles=ROLES, error=error), status


@bp.post("/accounts")
def add():
    form = request.form
    addresses = [a for a in form.get("addresses", "").replace(",", " ").split() if a]
    try:
        archive().add_account(
            form.get("name", "").strip(),
            form.get("role", ""),
            addresses,
            form.get("password", ""),
            g.user,
            request.remote_addr or "",
        )
    except AccountError as exc:
        return page(str(exc), 400)
    except AuditError:
        abort(503, "the audit log cannot be written; no account change without it")
    return redirect(url_for("accounts.page"), code=303)


@bp.post("/accounts/remove")
def remove():
    name = request.form.get("name", "")
    if name == g.user:
        return page("you cannot remove your own account", 400)
    try:
        archive().remove_account(name, g.user, request.remote_addr or "")
    except AccountError as exc:
        return page(str(exc), 404)
    except AuditError:
        abort(503, "the audit log cannot be written; no account change without it")
    current_app.extensions["coi_sessions"].end_user(name)
    return redirect(url_for("accounts.page"), code=303)
