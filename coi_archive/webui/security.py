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
import ipaddress
import re
from urllib.parse import quote, urlencode

from flask import Flask, Response, g, redirect, request

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
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def install(app: Flask, *, password: str | None, token: str | None, check_host: bool) -> None:
    password_digest = _digest(password) if password else None
    token_digest = _digest(token) if token else None
    protected = bool(password or token)

    def authorised() -> bool:
        if token_digest:
            auth = request.headers.get("Authorization", "")
            if auth.lower().startswith("bearer ") and hmac.compare_digest(_digest(auth[7:].strip()), token_digest):
                return True
            cookie = request.cookies.get(TOKEN_COOKIE, "")
            if cookie and hmac.compare_digest(cookie, token_digest):
                return True
        if password_digest:
            auth = request.authorization
            if auth is not None and auth.type == "basic" and auth.password is not None and \
                    hmac.compare_digest(_digest(auth.password), password_digest):
                return True
        return False

    @app.before_request
    def _guard():
        if check_host and not is_loopback(_host_only(request.host)):
            return Response("forbidden: this server only answers to localhost\n", 403,
                            {"Content-Type": "text/plain; charset=utf-8"})
        if not protected or authorised():
            return None
        given = request.args.get("token")
        if token_digest and given and hmac.compare_digest(_digest(given), token_digest):
            rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
            target = request.path + ("?" + urlencode(rest) if rest else "")
            resp = redirect(target, code=303)
            resp.set_cookie(TOKEN_COOKIE, token_digest, httponly=True, samesite="Strict",
                            secure=request.is_secure, path="/")
            return resp
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if password_digest:
            headers["WWW-Authenticate"] = 'Basic realm="coi-archive", charset="UTF-8"'
        return Response("authentication required\n", 401, headers)

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
