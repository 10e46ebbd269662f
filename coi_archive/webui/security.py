"""Security for the web UI: response headers (a strict Content-Security-
Policy, no sniffing, no framing, no referrer), access control (password,
token or accounts), CSRF tokens on every form, and the Host check against
DNS rebinding.

Three ways in: the one-person modes (``--password``: HTTP Basic;
``--token``: a Bearer header, the token form or ``?token=`` once), whose
reader is the owner; and accounts (``coi-archive user add``), used when the
archive has any and neither is given: a name and password form at
``/login`` (failed logins are throttled and every attempt audited, see
:meth:`Archive.log_in`), whose reader is the account's role and scope
(:mod:`webui.permissions`). Every POST must carry the ``csrf`` field:
the session's token once logged in, before that a random token in the
``coi_archive_csrf`` cookie (double submit; the cookie is SameSite=Strict).

Mail is untrusted input.  Defence in depth: message text is escaped by the
templates, mail HTML is sanitised with nh3 (:func:`coi_archive.present.sanitize_html`),
and the CSP below would still stop any script that slipped through (no
inline script is allowed; our own JavaScript is a static file) and any
remote image (``img-src 'self' data:``), unless the user asks to load the
remote images of one page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from urllib.parse import quote, urlencode

from flask import Flask, Response, abort, g, redirect, request
from markupsafe import escape
from werkzeug.wrappers import Response as BaseResponse

from coi_archive.net.loopback import is_loopback

from . import permissions
from .permissions import OWNER, Actor
from .sessions import DEFAULT_IDLE_SECONDS, Session, Sessions
from .state import archive, state

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; font-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
#: Used on a page where the user chose to load remote images.
CSP_REMOTE_IMAGES = CSP.replace("img-src 'self' data:", "img-src 'self' data: https: http:")
#: Attachments: nothing in them may run, even when opened directly.
CSP_ATTACHMENT = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox"

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}

TOKEN_COOKIE = "coi_archive_auth"
CSRF_COOKIE = "coi_archive_csrf"
LOGIN_PATH = "/login"
#: The reader of the one-person modes.
OWNER_ACTOR = Actor("owner", OWNER)


def content_disposition(kind: str, filename: str) -> str:
    """A Content-Disposition header value that is safe for any file name
    (mail supplies it): an ASCII fallback plus the RFC 5987 UTF-8 name."""
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename).strip(" .") or "file"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _host_only(host_header: str) -> str:
    host = host_header.strip()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _digest(secret: str) -> str:
    return hashlib.sha256(("coi-archive:" + secret).encode("utf-8")).hexdigest()


def _url_without_token() -> str:
    """The request's path and query without its ``token`` parameter."""
    rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
    return request.path + ("?" + urlencode(rest) if rest else "")


def _local_path(value: str | None) -> str:
    """Where to go after a form login: a path on this server, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def csrf_token() -> str:
    """The token a form on this page must post back as ``csrf``."""
    session: Session | None = g.get("session")
    if session is not None:
        return session.csrf
    if "csrf_new" not in g:
        g.csrf_new = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    return str(g.csrf_new)


def csrf_ok() -> bool:
    """True when the posted ``csrf`` field is this session's (or this browser's) token."""
    given = request.form.get("csrf", "")
    session: Session | None = g.get("session")
    expected = session.csrf if session is not None else request.cookies.get(CSRF_COOKIE, "")
    return bool(given and expected) and hmac.compare_digest(given, expected)


def _login_form(status: int = 200, accounts: bool = False, message: str = "") -> Response:
    """The login form (POST ``/login``): an account's name and password, or
    the access token; a secret typed here never appears in a URL."""
    nxt = escape(_local_path(request.values.get("next")))
    if accounts:
        fields = (
            '<p><label>Name <input name="name" autocomplete="username" required autofocus></label></p>'
            '<p><label>Password <input type="password" name="password" autocomplete="current-password"'
            " required></label></p>"
        )
    else:
        fields = (
            '<label>Access token <input type="password" name="token" autocomplete="current-password" autofocus></label>'
        )
    note = f'<p role="alert">{escape(message)}</p>' if message else ""
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>coi-archive: log in</title></head><body><main><h1>coi-archive: log in</h1>"
        + note
        + '<form method="post" action="'
        + LOGIN_PATH
        + '">'
        + fields
        + '<input type="hidden" name="next" value="'
        + str(nxt)
        + '">'
        '<input type="hidden" name="csrf" value="' + str(escape(csrf_token())) + '">'
        '<button type="submit">Log in</button></form></main></body></html>\n'
    )
    return Response(page, status, {"Content-Type": "text/html; charset=utf-8"})


def _account_actor(name: str) -> Actor | None:
    """The actor of a logged-in account (None when it was removed since)."""
    account = next((a for a in archive().accounts() if a.name == name), None)
    if account is None:
        return None
    if account.role != "member":
        return Actor(account.name, account.role)
    scope = state().cached("scope:" + account.name, lambda: archive().scope(account.addresses))
    return Actor(account.name, account.role, scope)


def install(app: Flask, *, password: str | None, token: str | None, check_host: bool, accounts: bool = False) -> None:
    """Guard every route: Host check, then password (HTTP Basic), token or
    (``accounts``, only when neither is given) an account's session; then
    CSRF on every POST. Sets ``g.actor`` (:mod:`webui.permissions`).

    A token is accepted as ``Authorization: Bearer``, from the form at
    ``/login`` (POST), or once as ``?token=`` in a URL; the last two start a
    session (:class:`~webui.sessions.Sessions`, a random id in an HttpOnly
    cookie that expires after ``SESSION_IDLE_SECONDS`` idle) and a URL's
    token is at once redirected away, so it stays in no history, no
    Referer and (see :mod:`webui.server`) no access log."""
    password_digest = _digest(password) if password else None
    token_digest = _digest(token) if token else None
    accounts = accounts and not (password or token)
    protected = bool(password or token or accounts)
    sessions = Sessions(app.config.get("SESSION_IDLE_SECONDS", DEFAULT_IDLE_SECONDS))
    app.extensions["coi_sessions"] = sessions

    def token_ok(given: str | None) -> bool:
        return bool(token_digest and given) and hmac.compare_digest(_digest(given or ""), token_digest or "")

    def authorised() -> bool:
        if token_digest:
            auth = request.headers.get("Authorization", "")
            if auth.lower().startswith("bearer ") and token_ok(auth[7:].strip()):
                return True
        if token_digest or accounts:
            cookie = request.cookies.get(TOKEN_COOKIE, "")
            session = sessions.touch(cookie) if cookie else None
            if session is not None:
                g.session_id, g.session = cookie, session
                if session.user is None:
                    return not accounts
                who = _account_actor(session.user)
                if who is None:
                    sessions.end(cookie)
                    return False
                g.actor, g.user = who, who.name
                return True
        if password_digest:
            basic = request.authorization
            if (
                basic is not None
                and basic.type == "basic"
                and basic.password is not None
                and hmac.compare_digest(_digest(basic.password), password_digest)
            ):
                return True
        return False

    def set_session_cookie(resp: BaseResponse, session_id: str) -> None:
        resp.set_cookie(
            TOKEN_COOKIE,
            session_id,
            max_age=int(sessions.idle),
            httponly=True,
            samesite="Strict",
            secure=request.is_secure,
            path="/",
        )

    def log_in(target: str, user: str | None = None) -> BaseResponse:
        resp = redirect(target, code=303)
        set_session_cookie(resp, sessions.new(user))
        return resp

    def account_login() -> BaseResponse:
        """The name and password form; throttled answers are 429 with Retry-After."""
        if request.method != "POST":
            return _login_form(accounts=True)
        result = archive().log_in(
            request.form.get("name", "")[:64], request.form.get("password", "")[:1024], request.remote_addr or ""
        )
        if result.account is not None:
            target = _local_path(request.form.get("next"))
            if result.account.role == "admin" and target == "/":  # an admin reads no chat: the accounts page
                target = "/accounts"
            return log_in(target, result.account.name)
        if result.wait:
            resp = _login_form(429, True, f"Too many failed logins: try again in {result.wait:.0f} seconds.")
            resp.headers["Retry-After"] = str(int(result.wait) + 1)
            return resp
        return _login_form(401, True, "Wrong name or password.")

    @app.route(LOGIN_PATH, methods=["GET", "POST"], endpoint="login")
    def login() -> BaseResponse:
        if accounts:
            return account_login()
        if token_digest:
            if request.method != "POST":
                return _login_form()
            if token_ok(request.form.get("token")):
                return log_in(_local_path(request.form.get("next")))
            return _login_form(401)
        return redirect("/", code=303)

    @app.post("/logout", endpoint="logout")
    def logout() -> BaseResponse:
        session_id = g.get("session_id")
        if session_id:
            sessions.end(session_id)
        resp = redirect(LOGIN_PATH, code=303)
        resp.delete_cookie(TOKEN_COOKIE, path="/")
        return resp

    def unauthorised() -> BaseResponse:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if password_digest:
            headers["WWW-Authenticate"] = 'Basic realm="coi-archive", charset="UTF-8"'
        how = f": send Authorization: Bearer TOKEN, or log in at {LOGIN_PATH}" if token_digest else ""
        if accounts:
            if request.method == "GET" and not request.path.startswith("/api/"):
                return redirect(f"{LOGIN_PATH}?{urlencode({'next': request.full_path.rstrip('?')})}", code=303)
            how = f": log in at {LOGIN_PATH}"
        return Response(f"authentication required{how}\n", 401, headers)

    @app.before_request
    def _guard():
        if check_host and not is_loopback(_host_only(request.host)):
            return Response(
                "forbidden: this server only answers to localhost\n", 403, {"Content-Type": "text/plain; charset=utf-8"}
            )
        if token_digest and "token" in request.args:
            if token_ok(request.args.get("token")):
                return log_in(_url_without_token())
            return redirect(_url_without_token(), code=303) if authorised() else unauthorised()
        known = authorised() if protected else True
        if known and "actor" not in g:
            g.actor = OWNER_ACTOR
        if request.method == "POST" and not csrf_ok():
            abort(400, "this form has expired or did not come from this site: reload the page and try again")
        if known or permissions.ROUTES.get(request.endpoint or "", ("",))[0] == "public":
            return None
        return unauthorised()

    @app.after_request
    def _csrf_cookie(resp: Response) -> Response:
        if "csrf_new" in g and request.cookies.get(CSRF_COOKIE) != g.csrf_new:
            resp.set_cookie(
                CSRF_COOKIE, g.csrf_new, httponly=True, samesite="Strict", secure=request.is_secure, path="/"
            )
        return resp

    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.after_request
    def _renew_cookie(resp: Response) -> Response:
        session_id = g.get("session_id")
        if session_id and sessions.cookie_due(session_id):
            set_session_cookie(resp, session_id)
        return resp

    @app.after_request
    def _headers(resp: Response) -> Response:
        for key, value in HEADERS.items():
            resp.headers.setdefault(key, value)
        if "Content-Security-Policy" not in resp.headers:
            resp.headers["Content-Security-Policy"] = CSP_REMOTE_IMAGES if g.get("remote_images") else CSP
        if not request.path.startswith(("/static/", "/assets/")):
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp


def basic_auth_header(password: str, user: str = "coi") -> str:
    """An ``Authorization`` header value for tests and scripts."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
