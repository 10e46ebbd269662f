"""Who may do what in the web UI: one check, :func:`allowed`, for every
route (the model of Datasette's permissions: an actor, an action, a
resource).

:data:`ROUTES` declares, for every endpoint of the application, the action
it performs and how to find the resource it touches (a chat id, or an
address for a contact). The guard (:func:`install`) runs before every
request: an endpoint missing from the table is refused (403), so a route
added without a declaration fails closed, and ``tests/test_accounts.py``
enumerates ``app.url_map`` so that it also fails the test suite.

Roles (see :mod:`coi_archive.index.accounts`): an ``auditor`` reads
everything and the audit trail; a ``member`` reads the chats in which one
of their addresses takes part (their :class:`~index.api.Scope`, which also
cuts lists, searches, contacts and exports); an ``admin`` manages accounts
and reads no message. ``owner`` is the one-person modes (an open server on
loopback, ``--password``, ``--token``): everything but accounts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, abort, g, request

from coi_archive.index.api import EVERYTHING, ArchiveError, Scope

__all__ = ["ACTIONS", "ROUTES", "Actor", "allowed", "actor", "install", "scope"]

from .state import archive, scope, state

OWNER = "owner"
#: Nobody logged in: only the public routes.
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Actor:
    """Who makes the request: an account (``name``, ``role``) or the owner."""

    name: str
    role: str
    scope: Scope = EVERYTHING


#: action -> the roles that may perform it (resource checks come on top).
ACTIONS: dict[str, frozenset[str]] = {
    "public": frozenset({ANONYMOUS, OWNER, "admin", "auditor", "member"}),
    "session": frozenset({OWNER, "admin", "auditor", "member"}),
    "read": frozenset({OWNER, "auditor", "member"}),  # lists and searches, cut to the scope
    "chat.read": frozenset({OWNER, "auditor", "member"}),
    "contact.read": frozenset({OWNER, "auditor", "member"}),
    "export": frozenset({OWNER, "auditor", "member"}),
    "archive.read": frozenset({OWNER, "auditor"}),  # the archive's own counts (stats)
    "audit.read": frozenset({OWNER, "auditor"}),
    "accounts.manage": frozenset({"admin"}),
}


def _arg(name: str) -> Callable[[], str]:
    return lambda: request.args.get(name, "")


def _view(name: str) -> Callable[[], str]:
    return lambda: str((request.view_args or {}).get(name, ""))


def _chat_of(param: str) -> Callable[[], str | None]:
    """The chat of the message named by query parameter ``param`` (None when unknown)."""

    def find() -> str | None:
        try:
            return archive().position(request.args.get(param, ""))[0]
        except ArchiveError:
            return None

    return find


def _export_target() -> str | None:
    """A chat export's chat; a search export is cut to the scope (no resource)."""
    return request.args.get("chat") or None


#: endpoint -> (action, resource): every route of the application.
ROUTES: dict[str, tuple[str, Callable[[], str | None] | None]] = {
    "static": ("public", None),
    "chats.chat_css": ("public", None),
    "healthz": ("public", None),
    "login": ("public", None),
    "logout": ("session", None),
    "chats.index": ("read", None),
    "chats.chat_list": ("read", None),
    "chats.api_chats": ("read", None),
    "chats.chat": ("chat.read", _view("chat_id")),
    "chats.chat_fragment": ("chat.read", _view("chat_id")),
    "chats.api_chat": ("chat.read", _view("chat_id")),
    "chats.api_chat_info": ("chat.read", _view("chat_id")),
    "chats.media": ("chat.read", _view("chat_id")),
    "chats.goto": ("chat.read", _chat_of("m")),
    "chats.api_message": ("chat.read", _chat_of("id")),
    "chats.attachment": ("chat.read", _chat_of("m")),
    "chats.thumbnail": ("chat.read", _chat_of("m")),
    "search.search": ("read", None),
    "search.api_search": ("read", None),
    "search.api_names": ("read", None),
    "contacts.contact_list": ("read", None),
    "contacts.api_contacts": ("read", None),
    "contacts.contact": ("contact.read", _view("address")),
    "contacts.api_contact": ("contact.read", _view("address")),
    "exports.download": ("export", _export_target),
    "analytics.overview": ("read", None),  # a member's: their chats only
    "analytics.api_overview": ("read", None),
    "analytics.chat_page": ("chat.read", _view("chat_id")),
    "analytics.api_chat": ("chat.read", _view("chat_id")),
    "stats.stats": ("archive.read", None),
    "stats.api_stats": ("archive.read", None),
    "audit_log.page": ("audit.read", None),
    "audit_log.api": ("audit.read", None),
    "accounts.page": ("accounts.manage", None),
    "accounts.add": ("accounts.manage", None),
    "accounts.remove": ("accounts.manage", None),
}


def allowed(actor: Actor | None, action: str, resource: str | None = None) -> bool:
    """May ``actor`` (None: nobody logged in) do ``action`` to ``resource``?

    ``resource`` is a chat id for ``chat.read`` and ``export`` (None for
    a search export, which the scope cuts) and an address for
    ``contact.read``. A resource that cannot be found is refused."""
    role = actor.role if actor else ANONYMOUS
    if role not in ACTIONS.get(action, frozenset()):
        return False
    if actor is None or actor.scope.chats is None:
        return True
    if action == "chat.read" or (action == "export" and resource is not None):
        return actor.scope.allows(resource)
    if action == "contact.read":
        return resource is not None and resource.lower() in _visible_addresses(actor.scope)
    return True


def _visible_addresses(scope: Scope) -> frozenset[str]:
    """The contacts ``scope`` shows, once per catalog version and scope."""
    return state().cached(
        f"addresses:{hash(scope)}",
        lambda: frozenset(  # cached() keys by scope too
            c["address"].lower() for c in archive().contacts(scope)
        ),
    )


def actor() -> Actor | None:
    """The actor of the current request (set by the security guard)."""
    return g.get("actor")


def install(app: Flask) -> None:
    """Check :data:`ROUTES` before every request (after the login guard)."""

    @app.before_request
    def _permit() -> Response | None:
        endpoint = request.endpoint
        if endpoint is None:  # no such route: the 404 says nothing
            return None
        declared = ROUTES.get(endpoint)
        if declared is None:
            abort(403, f"the route {endpoint} declares no permission")
        action, resource = declared
        if not allowed(actor(), action, resource() if resource else None):
            abort(403, "you may not see this")
        return None
