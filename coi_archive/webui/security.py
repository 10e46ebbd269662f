"""Security for the web UI: response headers (a strict Content-Security-
Policy, no sniffing, no framing, no referrer), access control (password or
token) and the Host check against DNS rebinding.

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
from urllib.parse import quote, urlencode

from flask import Flask, Response, g, redirect, request
from markupsafe import escape
from werkzeug.wrappers import Response as BaseResponse

from coi_archive.net.loopback import is_loopback

from .sessions import DEFAULT_IDLE_SECONDS, Sessions

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self'; connect-src 'self'; font-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
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
LOGIN_PATH = "/login"


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


def _login_form(status: int = 200) -> Response:
    """The token form (POST ``/login``): a token typed here never appears in a URL."""
    nxt = escape(_local_path(request.values.get("next")))
    page = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>coi-archive: log in</title></head><body><main><h1>coi-archive: log in</h1>"
            "<form method=\"post\" action=\"" + LOGIN_PATH + "\">"
            "<label>Access token <input type=\"password\" name=\"token\" autocomplete=\"current-password\""
            " autofocus></label><input type=\"hidden\" name=\"next\" value=\"" + str(nxt) + "\">"
            "<button type=\"submit\">Log in</button></form></main></body></html>\n")
    return Response(page, status, {"Content-Type": "text/html; charset=utf-8"})


def install(app: Flask, *, password: str | None, token: str | None, check_host: bool) -> None:
    """Guard every route: Host check, then password (HTTP Basic) or token.

    A token is accepted as ``Authorization: Bearer``, from the form at
    ``/login`` (POST), or once as ``?token=`` in a URL; the last two start a
    session (:class:`~webui.sessions.Sessions`, a random id in an HttpOnly
    cookie that expires after ``SESSION_IDLE_SECONDS`` idle) and a URL's
    token is at once redirected away, so it stays in no history, no
    Referer and (see :mod:`webui.server`) no access log."""
    password_digest = _digest(password) if password else None
    token_digest = _digest(token) if token else None
    protected = bool(password or token)
    sessions = Sessions(app.config.get("SESSION_IDLE_SECONDS", DEFAULT_IDLE_SECONDS))
    app.extensions["coi_sessions"] = sessions

    def token_ok(given: str | None) -> bool:
        return bool(token_digest and given) and hmac.compare_digest(_digest(given or ""), token_digest or "")

    def authorised() -> bool:
        if token_digest:
            auth = request.headers.get("Authorization", "")
            if auth.lower().startswith("bearer ") and token_ok(auth[7:].strip()):
                return True
            cookie = request.cookies.get(TOKEN_COOKIE, "")
            if cookie and sessions.touch(cookie):
                g.session_id = cookie
                return True
        if password_digest:
            basic = request.authorization
            if basic is not None and basic.type == "basic" and basic.password is not None and \
                    hmac.compare_digest(_digest(basic.password), password_digest):
                return True
        return False

    def set_session_cookie(resp: BaseResponse, session_id: str) -> None:
        resp.set_cookie(TOKEN_COOKIE, session_id, max_age=int(sessions.idle), httponly=True,
                        samesite="Strict", secure=request.is_secure, path="/")

    def log_in(target: str) -> BaseResponse:
        resp = redirect(target, code=303)
        set_session_cookie(resp, sessions.new())
        return resp

    def unauthorised() -> Response:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if password_digest:
            headers["WWW-Authenticate"] = 'Basic realm="coi-archive", charset="UTF-8"'
        how = f": send Authorization: Bearer TOKEN, or log in at {LOGIN_PATH}" if token_digest else ""
        return Response(f"authentication required{how}\n", 401, headers)

    @app.before_request
    def _guard():
        if check_host and not is_loopback(_host_only(request.host)):
            return Response("forbidden: this server only answers to localhost\n", 403,
                            {"Content-Type": "text/plain; charset=utf-8"})
        if token_digest and request.path == LOGIN_PATH:
            if request.method != "POST":
                return _login_form()
            if token_ok(request.form.get("token")):
                return log_in(_local_path(request.form.get("next")))
            return _login_form(401)
        if token_digest and "token" in request.args:
            if token_ok(request.args.get("token")):
                return log_in(_url_without_token())
            return redirect(_url_without_token(), code=303) if authorised() else unauthorised()
        if not protected or authorised():
            return None
        return unauthorised()

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
