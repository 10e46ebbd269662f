"""Running the web UI (``coi-archive serve``) on waitress, a production
WSGI server in pure Python (no compiler, no C extension; maintained by the
Pylons project): a fixed pool of :data:`THREADS` worker threads, idle
connections closed after :data:`CHANNEL_TIMEOUT` seconds, request bodies
capped (the UI only takes login and account forms), and a graceful stop on
SIGTERM or SIGINT (no new connections; requests in flight get
:data:`SHUTDOWN_GRACE` seconds to finish). TLS is left to a reverse proxy
in front (README: Serving).

Stopping never waits for background work: the analytics warm-up runs in a
daemon thread, and a child process a library started for it (matplotlib
runs ``fc-list`` when it builds its font cache, which takes tens of seconds
in a fresh environment) is ended with the server, since it would otherwise
outlive it holding the server's stderr open (:func:`_end_children`).

Binding to anything but a loopback address needs a password, a token or
accounts. Waitress writes no access log; :class:`AccessLog` writes one
line per request to stderr, with every ``?token=`` value redacted."""

from __future__ import annotations

import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote_plus

from waitress.wasyncore import ExitNow

from coi_archive.net.loopback import is_loopback

from .sessions import DEFAULT_IDLE_SECONDS

#: Worker threads: requests served at once (SQLite readers and the search
#: engine release the GIL for much of their work; more threads mostly queue).
THREADS = 8
#: Seconds an idle keep-alive connection is kept open.
CHANNEL_TIMEOUT = 60
#: Open connections at most; more wait in the listen backlog.
CONNECTION_LIMIT = 200
#: Request bodies larger than this are refused (forms only).
MAX_BODY = 1024 * 1024
#: Seconds requests in flight get to finish after SIGTERM/SIGINT.
SHUTDOWN_GRACE = 10

#: A query parameter in a logged request line: separator, name, value.
_QUERY_PARAM = re.compile(r"([?&;])([^=&;\s\"]*)=([^&;\s\"]*)")


class ServeError(Exception):
    """A refusal to start (one line for the user)."""


def check_binding(host: str, password: str | None, token: str | None, accounts: bool = False) -> None:
    if not is_loopback(host) and not (password or token or accounts):
        raise ServeError(
            f"refusing to serve on {host or 'all interfaces'} without --password, --token or accounts "
            "(coi-archive user add): anyone who can reach this address could read the archive "
            "(use --host 127.0.0.1 for local use)"
        )


def redact_token(text: str) -> str:
    """``text`` with the value of every ``token`` query parameter replaced
    by ``[redacted]`` (the name compared decoded and case-blind)."""

    def one(m: re.Match[str]) -> str:
        if unquote_plus(m.group(2)).strip().lower() != "token":
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}=[redacted]"

    return _QUERY_PARAM.sub(one, text)


class AccessLog:
    """WSGI middleware: one line per request (remote, time, request line,
    status, seconds) to ``out``, the request line passed through
    :func:`redact_token`."""

    def __init__(self, app: Callable, out: TextIO):
        self.app, self.out = app, out
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        started = time.monotonic()
        status: list[str] = ["-"]

        def recording_start(code: str, headers: list, exc_info: Any = None) -> Callable:
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, exc_info)

        try:
            return self.app(environ, recording_start)
        finally:
            uri = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
            line = f"{environ.get('REQUEST_METHOD', '-')} {uri} {environ.get('SERVER_PROTOCOL', '-')}"
            stamp = time.strftime("%d/%b/%Y %H:%M:%S")
            with self._lock:
                print(
                    f'{environ.get("REMOTE_ADDR", "-")} - - [{stamp}] "{redact_token(line)}" {status[0]}'
                    f" {time.monotonic() - started:.3f}",
                    file=self.out,
                    flush=True,
                )


def url_for_host(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(
    archive_dir: str | os.PathLike,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    password: str | None = None,
    token: str | None = None,
    out: TextIO = sys.stderr,
    session_idle: float = DEFAULT_IDLE_SECONDS,
    trusted_proxy: str | None = None,
) -> int:
    password = password or os.environ.get("COI_ARCHIVE_PASSWORD") or None
    token = token or os.environ.get("COI_ARCHIVE_TOKEN") or None
    if token == "generate":
        token = secrets.token_urlsafe(24)
    stop = _stop_on_signals()  # from the start: a signal while the app is made stops it just as well
    earlier = set(_children())
    try:
        _run(archive_dir, host, port, password, token, out, session_idle, trusted_proxy)
    except _Stop:
        pass
    finally:
        stop()
        if threading.current_thread() is threading.main_thread():  # the process is the server's
            _end_children(earlier)
    return 0


def _run(
    archive_dir: str | os.PathLike,
    host: str,
    port: int,
    password: str | None,
    token: str | None,
    out: TextIO,
    session_idle: float,
    trusted_proxy: str | None,
) -> None:
    """Make the app, serve it until :class:`_Stop`, then close what it opened."""
    from . import create_app

    config = {"SESSION_IDLE_SECONDS": session_idle, "WARM_CHAT_ANALYTICS": True}  # chats' analytics drawn ahead
    app = create_app(archive_dir, password=password, token=token, config=config)
    try:
        check_binding(host, password, token, accounts=app.config["ACCOUNTS"])
        server = make_server(host, port, AccessLog(app, out), trusted_proxy)
        url = url_for_host(host, server.effective_port)  # type: ignore[union-attr]
        if token:
            url += f"?token={token}"
        print(f"coi-archive: serving {archive_dir} read-only on {url}  (Ctrl-C to stop)", file=out, flush=True)
        try:
            server.run()
        finally:
            server.close()
            server.task_dispatcher.shutdown(cancel_pending=False, timeout=SHUTDOWN_GRACE)
    finally:
        app.extensions["coi"].pool.close()


def make_server(host: str, port: int, app: Callable, trusted_proxy: str | None = None) -> Any:
    """A waitress server bound to ``host``:``port`` (0: any free port) with
    this module's limits. Behind a reverse proxy at ``trusted_proxy`` the
    client's address (audit trail, login throttling) and scheme (Secure
    cookies) come from its X-Forwarded-For and X-Forwarded-Proto; from
    anyone else those headers are dropped."""
    from waitress.server import create_server

    proxy: dict[str, Any] = {}
    if trusted_proxy:
        proxy = {
            "trusted_proxy": trusted_proxy,
            "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
        }
    return create_server(
        app,
        host=host,
        port=port,
        threads=THREADS,
        channel_timeout=CHANNEL_TIMEOUT,
        connection_limit=CONNECTION_LIMIT,
        max_request_body_size=MAX_BODY,
        cleanup_interval=10,
        ident="coi-archive",
        clear_untrusted_proxy_headers=True,
        **proxy,
    )


class _Stop(ExitNow):
    """Raised in the main thread by SIGTERM or SIGINT to leave the server loop.

    An ``ExitNow``: the signal can arrive while waitress's loop is inside a
    channel's handler (closing a socket), and the loop hands any other
    exception there to the channel's ``handle_error``, which logs it and
    serves on; ``ExitNow`` is the one it lets through."""


def _stop_on_signals() -> Callable[[], None]:
    """Make SIGTERM and SIGINT stop the server loop; returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, _frame: Any) -> None:
        raise _Stop(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def undo() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return undo


def _children() -> list[int]:
    """The processes this one started that are still running (Linux's
    ``/proc/self/task/*/children``; elsewhere none are known)."""
    pids: list[int] = []
    for listing in Path("/proc/self/task").glob("*/children"):
        try:
            pids.extend(int(pid) for pid in listing.read_text().split())
        except (OSError, ValueError):
            continue
    return pids


def _end_children(earlier: set[int]) -> None:
    """SIGTERM to the children still running but ``earlier`` (the server
    starts none itself; a library does: matplotlib's ``fc-list``), as
    Ctrl-C in a terminal sends it to them too: they would otherwise outlive
    the server and keep its stderr open, so that whoever reads it (a pipe,
    a supervisor, a test) waits for them."""
    for pid in set(_children()) - earlier:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:  # already gone
            continue
