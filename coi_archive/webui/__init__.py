"""The web UI: a Flask application factory with one blueprint per room
(chats, search, contacts, exports, analytics, stats: :data:`BLUEPRINTS`).  Pages
are rendered on the server with Jinja2; a small static script
(``static/app.js``) adds instant filtering and endless scrolling where it
pays off, and every page works without it.  Every page
has a JSON twin under ``/api/...``.

    >>> app = create_app("~/.local/share/coi-archive")
    >>> app.run()          # or: coi-archive serve

The archive is opened read-only (SQLite ``mode=ro``); no route writes it
(the audit trail, a file of its own, records searches, views and exports:
:mod:`webui.audit`).
Each request borrows its own :class:`~index.api.Archive` from a small pool
(see :class:`webui.state.ArchivePool`), so a SQLite connection and a search
engine handle are never used by two threads at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

from flask import Flask, g, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask.templating import Environment as FlaskEnvironment
from werkzeug.exceptions import BadRequest, HTTPException

from coi_archive import present
from coi_archive.index.api import CHAT_KINDS, QueryError
from coi_archive.present import templating

from . import audit, permissions, security
from .sessions import DEFAULT_IDLE_SECONDS
from .state import UIState

__all__ = ["create_app"]

BLUEPRINTS = tuple(
    f"coi_archive.webui.{name}"
    for name in ("chats", "search", "contacts", "exports", "analytics", "stats", "auditlog", "people")
)


class _Environment(templating.Environment, FlaskEnvironment):
    """Flask's Jinja environment with the shared one's quick field lookup."""


def create_app(
    archive_dir: str | os.PathLike,
    *,
    password: str | None = None,
    token: str | None = None,
    page_size: int = 100,
    check_host: bool | None = None,
    config: dict[str, Any] | None = None,
) -> Flask:
    """Build the web application for the archive at ``archive_dir``.

    ``password`` (HTTP Basic) and ``token`` (``Authorization: Bearer``, the
    ``/login`` form, or ``?token=`` once; the last two start a session that
    ends after ``SESSION_IDLE_SECONDS`` idle) protect every route when given.
    When neither is given and the archive has accounts (``coi-archive user
    add``; looked at once, as the app is built), every route but the login
    page and ``/healthz`` needs an account's session, and each role sees
    what :mod:`webui.permissions` allows.
    ``check_host`` (default: on when nothing protects the server) only answers requests
    whose Host header is a loopback name, which defeats DNS rebinding
    against an unprotected server on 127.0.0.1.  Raises ``CatalogError``
    when there is no archive."""
    import importlib

    from jinja2 import ChoiceLoader, FileSystemLoader

    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.jinja_environment = _Environment
    app.config.update(
        JSON_SORT_KEYS=False,
        PAGE_SIZE=page_size,
        MAX_PAGE_SIZE=500,
        MEMBERSHIP_ROWS=100,  # "members over time" rows on a chat page (the newest; ?members=all for every one)
        SEARCH_LIMIT=50,
        FACET_HITS=200,
        MAX_SEARCH_LIMIT=2000,
        SESSION_IDLE_SECONDS=DEFAULT_IDLE_SECONDS,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        WARM_ANALYTICS=True,  # draw the archive-wide charts as the server starts
        WARM_CHAT_ANALYTICS=False,  # and then those of the chats they link to (serve: on)
    )
    json_provider = cast(DefaultJSONProvider, app.json)  # Flask's default json_provider_class
    json_provider.sort_keys = False
    json_provider.ensure_ascii = False
    if config:
        app.config.update(config)
    app.jinja_loader = ChoiceLoader(
        [FileSystemLoader(str(Path(__file__).parent / "templates")), FileSystemLoader(str(present.TEMPLATES))]
    )
    app.jinja_env.filters.update(present.JINJA_FILTERS)
    app.jinja_env.globals["chat_kinds"] = CHAT_KINDS

    state = UIState(Path(archive_dir).expanduser())
    app.extensions["coi"] = state
    accounts = not (password or token) and _has_accounts(state)
    app.config["ACCOUNTS"] = accounts
    security.install(
        app,
        password=password,
        token=token,
        accounts=accounts,
        check_host=not (password or token or accounts) if check_host is None else check_host,
    )

    @app.get("/healthz", endpoint="healthz")
    def _healthz():
        """For a load balancer or a supervisor: the server answers (no data, no login)."""
        return jsonify({"status": "ok"})

    permissions.install(app)  # after the login guard: it reads g.actor

    for name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(name).bp)
    if app.config["WARM_ANALYTICS"]:
        app.extensions["coi_warm"] = importlib.import_module("coi_archive.webui.analytics").warm(app)
    audit.install(app)  # searches, views, downloads and exports go into the audit trail

    @app.context_processor
    def _may() -> dict[str, Any]:
        return {
            "may": lambda action, resource=None: permissions.allowed(permissions.actor(), action, resource),
            "user": g.get("user"),
        }

    @app.teardown_appcontext
    def _release(_exc: BaseException | None) -> None:
        archive = g.pop("archive", None)
        if archive is not None:
            state.pool.release(archive)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith("/api/"):
            return jsonify({"error": exc.description, "status": exc.code}), exc.code
        return render_template("error.html", error=exc), exc.code

    @app.errorhandler(QueryError)
    def _query_error(exc: QueryError):
        """A refused query is the user's to fix: 400 with the reason, never a 500."""
        return _http_error(BadRequest(f"This search cannot be run: {exc}. Try a shorter, flatter query."))

    return app


def _has_accounts(state: UIState) -> bool:
    archive = state.pool.acquire()
    try:
        return bool(archive.accounts())
    finally:
        state.pool.release(archive)
