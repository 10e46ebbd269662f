"""The web UI's entries in the audit trail (``Archive.audit``).

One hook after every request, driven by the table :data:`AUDITED`
(endpoint -> action and what it was done to), rather than a call in each
route: a route added later is audited by adding one line here, and the
table is the list a review reads. The entry is written before the response
leaves; when the log cannot be written the response is replaced by a 503
(no audited read without its record).

Who: ``web`` (an open server on loopback), ``web:password`` (HTTP Basic),
``token`` (a Bearer header), ``web:session <id hash>`` (a token login
session; a hash prefix, never the session id itself), or the signed-in
user name once accounts exist (``g.user``). From where: the remote address.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from flask import Flask, Response, g, request

from coi_archive.index.api import AuditError

from .state import archive

log = logging.getLogger(__name__)


def _arg(name: str) -> Callable[[], str]:
    return lambda: request.args.get(name, "")


def _view(name: str) -> Callable[[], str]:
    return lambda: str((request.view_args or {}).get(name, ""))


def _attachment() -> str:
    return f"{request.args.get('m', '')} part {request.args.get('part', '')}"


def _export() -> str:
    what = f"chat {request.args['chat']}" if request.args.get("chat") else f"search {request.args.get('q', '')!r}"
    return f"{request.args.get('format', 'html')} {what}"


#: endpoint -> (action, target); the actions match the CLI's.
AUDITED: dict[str, tuple[str, Callable[[], str]]] = {
    "search.search": ("search", _arg("q")),
    "search.api_search": ("search", _arg("q")),
    "chats.chat": ("chat.view", _view("chat_id")),
    "chats.chat_fragment": ("chat.view", _view("chat_id")),
    "chats.api_chat": ("chat.view", _view("chat_id")),
    "chats.media": ("chat.view", _view("chat_id")),
    "chats.api_message": ("message.view", _arg("id")),
    "chats.attachment": ("attachment", _attachment),
    "chats.thumbnail": ("attachment", _attachment),
    "exports.download": ("export", _export),
    "logout": ("logout", lambda: str(g.get("user") or "")),
}


def who() -> str:
    """The actor of this request (see the module docstring)."""
    user = g.get("user")
    if user:
        return str(user)
    session_id = g.get("session_id")
    if session_id:
        return "web:session " + hashlib.sha256(session_id.encode()).hexdigest()[:12]
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return "token"
    if request.authorization is not None and request.authorization.type == "basic":
        return "web:password"
    return "web"


def install(app: Flask) -> None:
    """Audit every request to an endpoint in :data:`AUDITED`."""

    @app.after_request
    def _audit(resp: Response) -> Response:
        entry = AUDITED.get(request.endpoint or "")
        if entry is None:
            return resp
        action, target = entry
        result = "ok" if resp.status_code < 400 else f"error: HTTP {resp.status_code}"
        try:
            archive().audit(who(), action, target(), result, request.remote_addr or "")
        except AuditError as exc:
            log.error("%s", exc)
            return Response(
                "the audit log cannot be written; nothing is served without it\n",
                503,
                {"Content-Type": "text/plain; charset=utf-8"},
            )
        return resp
