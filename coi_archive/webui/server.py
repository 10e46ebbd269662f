"""Running the web UI (``coi-archive serve``): a threaded WSGI server from
Werkzeug, which is plenty for one person or a small team browsing an
archive.  Binding to anything but a loopback address needs a password or a
token."""

from __future__ import annotations

import os
import re
import secrets
import sys
from typing import Any, TextIO
from urllib.parse import unquote_plus

from werkzeug.serving import WSGIRequestHandler, make_server

from coi_archive.net.loopback import is_loopback

from .sessions import DEFAULT_IDLE_SECONDS

#: A query parameter in a logged request line: separator, name, value.
_QUERY_PARAM = re.compile(r"([?&;])([^=&;\s\"]*)=([^&;\s\"]*)")


class ServeError(Exception):
    """A refusal to start (one line for the user)."""


def check_binding(host: str, password: str | None, token: str | None) -> None:
    if not is_loopback(host) and not (password or token):
        raise ServeError(
            f"refusing to serve on {host or 'all interfaces'} without --password or --token: "
            "anyone who can reach this address could read the archive (use --host 127.0.0.1 for local use)")


def redact_token(text: str) -> str:
    """``text`` with the value of every ``token`` query parameter replaced
    by ``[redacted]`` (the name compared decoded and case-blind)."""
    def one(m: re.Match[str]) -> str:
        if unquote_plus(m.group(2)).strip().lower() != "token":
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}=[redacted]"

    return _QUERY_PARAM.sub(one, text)


class RedactingRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, but no log line (access or error, which
    may quote a malformed request line) carries a ``?token=`` value."""

    def log(self, type: str, message: str, *args: Any) -> None:
        super().log(type, redact_token(message),
                    *(redact_token(a) if isinstance(a, str) else a for a in args))


def url_for_host(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(archive_dir: str | os.PathLike, host: str = "127.0.0.1", port: int = 8080, *,
          password: str | None = None, token: str | None = None, out: TextIO = sys.stderr,
          session_idle: float = DEFAULT_IDLE_SECONDS) -> int:
    from . import create_app

    password = password or os.environ.get("COI_ARCHIVE_PASSWORD") or None
    token = token or os.environ.get("COI_ARCHIVE_TOKEN") or None
    if token == "generate":
        token = secrets.token_urlsafe(24)
    check_binding(host, password, token)
    app = create_app(archive_dir, password=password, token=token,
                     config={"SESSION_IDLE_SECONDS": session_idle})
    server = make_server(host, port, app, threaded=True, request_handler=RedactingRequestHandler)
    url = url_for_host(host, server.port)
    if token:
        url += f"?token={token}"
    print(f"coi-archive: serving {archive_dir} read-only on {url}  (Ctrl-C to stop)", file=out, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.extensions["coi"].pool.close()
    return 0
