"""Running the web UI (``coi-archive serve``): a threaded WSGI server from
Werkzeug, which is plenty for one person or a small team browsing an
archive.  Binding to anything but a loopback address needs a password or a
token."""

from __future__ import annotations

import os
import secrets
import sys
from typing import TextIO

from werkzeug.serving import make_server

from .security import is_loopback


class ServeError(Exception):
    """A refusal to start (one line for the user)."""


def check_binding(host: str, password: str | None, token: str | None) -> None:
    if not is_loopback(host) and not (password or token):
        raise ServeError(
            f"refusing to serve on {host or 'all interfaces'} without --password or --token: "
            "anyone who can reach this address could read the archive (use --host 127.0.0.1 for local use)")


def url_for_host(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(archive_dir: str | os.PathLike, host: str = "127.0.0.1", port: int = 8080, *,
          password: str | None = None, token: str | None = None, out: TextIO = sys.stderr) -> int:
    from . import create_app

    password = password or os.environ.get("COI_ARCHIVE_PASSWORD") or None
    token = token or os.environ.get("COI_ARCHIVE_TOKEN") or None
    if token == "generate":
        token = secrets.token_urlsafe(24)
    check_binding(host, password, token)
    app = create_app(archive_dir, password=password, token=token)
    server = make_server(host, port, app, threaded=True)
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
