"""The IMAP connection layer shared by the reader (:mod:`coi_archive.ingest.imap`)
and the migration writer (:mod:`coi_archive.export.imap_append`).

It knows how to reach an account and keep talking to it: the
``imap://USER@HOST[:PORT][/FOLDER]`` URL and its TLS mode, the loopback rule
for plaintext, the password (a :class:`Secret` from ``--password-file`` or
``COI_IMAP_PASSWORD``, never from the URL, never logged or stored), the
options, and the :class:`Session` that connects lazily, selects folders and
runs each step through :meth:`Session.call`, which reconnects a bounded
number of times after a dropped connection.  What to read and what to write
stays with the reader and the writer.

Errors are :class:`ImapError` (one line for the user); the reader turns them
into its ``SourceError`` so that this module imports nothing of ours.
"""

from __future__ import annotations

import imaplib
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from .loopback import is_loopback

#: UIDs per body FETCH, and the byte budget of one batch (reader defaults).
BATCH = 200
BATCH_BYTES = 32 << 20
#: UIDs per metadata / flags FETCH (keeps command lines well below 64 KiB).
META_CHUNK = 2000
#: Reconnect attempts after a dropped connection, per failing step.
RETRIES = 3
RETRY_DELAY = 0.5
TIMEOUT = 60.0

#: Errors that mean the connection is gone (worth a reconnect).
CONNECTION_ERRORS = (imaplib.IMAP4.abort, OSError, EOFError)
#: What a goodbye to a server may raise: the connection errors, or a NO/BAD
#: answer (``imaplib.IMAP4.error``, also imapclient's error family).
CLOSING_ERRORS = (imaplib.IMAP4.error, OSError, EOFError)


class ImapError(Exception):
    """An IMAP account or folder that cannot be used (one line for the user)."""


class ImapConnectError(ImapError):
    """The server could not be reached (worth a retry, unlike a failed login)."""


class ImapInterrupted(ImapError):
    """The connection broke mid-step and the retries did not help."""


# ---------------------------------------------------------------- URLs


@dataclass(frozen=True)
class ImapURL:
    """``imap://USER@HOST[:PORT][/FOLDER]`` (``imaps://`` is accepted too)."""

    user: str
    host: str
    port: int
    folder: str | None
    #: ``tls`` (implicit TLS), ``starttls`` or ``plain``.
    security: str

    @property
    def account(self) -> str:
        """``imap://USER@HOST``: the account, whichever port or TLS mode
        reaches it (so 993 and 143 share their cursors and provenance)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"imap://{quote(self.user, safe='')}@{host}"

    def source_id(self, folder: str) -> str:
        return f"{self.account}/{quote(folder, safe='/')}"


def is_imap_url(text: str) -> bool:
    return text.lower().startswith(("imap://", "imaps://"))


def parse_url(text: str, *, insecure: bool = False, starttls: bool = False) -> ImapURL:
    """Parse and check an IMAP URL.  Port 143 (or ``starttls``) means
    STARTTLS, any other port implicit TLS (default 993); ``insecure``
    means plaintext, allowed only to a loopback address."""
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("imap", "imaps"):
        raise ImapError(f"not an IMAP URL (imap://USER@HOST[:PORT][/FOLDER]): {text}")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    if not at or not userinfo:
        raise ImapError("IMAP URL needs a user name: imap://USER@HOST[:PORT][/FOLDER]")
    if ":" in userinfo:
        raise ImapError(
            "do not put a password in the IMAP URL; use --password-file FILE "
            "or the COI_IMAP_PASSWORD environment variable"
        )
    user = unquote(userinfo)
    if hostport.startswith("["):
        host, _, after = hostport[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else ""
    else:
        host, _, port_text = hostport.partition(":")
    if not host:
        raise ImapError(f"IMAP URL needs a host: {_redact(text)}")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ImapError(f"bad port in IMAP URL: {port_text}")
        port = int(port_text)
    else:
        port = 143 if (starttls or insecure) and scheme == "imap" else 993
    folder = unquote(path.rstrip("/")) if slash and path.strip("/") else None
    if insecure:
        if not is_loopback(host):
            raise ImapError(
                f"refusing plaintext IMAP to {host}: --insecure is only allowed "
                "for loopback addresses (127.0.0.1, ::1, localhost)"
            )
        security = "plain"
    elif scheme == "imaps":
        security = "tls"
    else:
        security = "starttls" if starttls or port == 143 else "tls"
    return ImapURL(user, host.lower(), port, folder, security)


def _redact(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    return f"{scheme}{sep}{userinfo}{at}{hostport}{slash}{path}"


# ---------------------------------------------------------------- options


class Secret:
    """A password that never shows in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


def read_password(password_file: str | None, environ: dict | None = None) -> Secret:
    """The password from ``password_file`` (first line) or ``COI_IMAP_PASSWORD``."""
    env = os.environ if environ is None else environ
    if password_file:
        try:
            with open(password_file, encoding="utf-8") as fh:
                line = fh.readline()
        except (OSError, UnicodeDecodeError) as exc:
            raise ImapError(
                f"cannot read password file {password_file}: {getattr(exc, 'strerror', None) or type(exc).__name__}"
            ) from None
        value = line.rstrip("\r\n")
        if not value:
            raise ImapError(f"password file is empty: {password_file}")
        return Secret(value)
    from_env = env.get("COI_IMAP_PASSWORD")
    if from_env:
        return Secret(from_env)
    raise ImapError("no IMAP password: use --password-file FILE or set COI_IMAP_PASSWORD")


@dataclass
class ImapOptions:
    """How to reach an account.  ``password`` is a :class:`Secret`."""

    password: Secret | None = None
    password_file: str | None = None
    insecure: bool = False
    starttls: bool = False
    cafile: str | None = None
    all_folders: bool = False
    timeout: float = TIMEOUT
    batch: int = BATCH
    batch_bytes: int = BATCH_BYTES
    retries: int = RETRIES
    retry_delay: float = RETRY_DELAY
    #: use CONDSTORE for flag changes where the server offers it
    condstore: bool = True

    @classmethod
    def from_dict(cls, d: dict | None) -> ImapOptions:
        d = dict(d or {})
        pw = d.get("password")
        if isinstance(pw, str):
            d["password"] = Secret(pw)
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and v is not None}
        return cls(**known)

    def secret(self) -> Secret:
        if self.password is None:
            self.password = read_password(self.password_file)
        return self.password


@dataclass
class Counters:
    """What a session did on the wire (tests and benchmarks read these):
    ``fetch_commands`` counts body FETCH commands, ``bodies_fetched`` the
    message bodies they returned."""

    connects: int = 0
    reconnects: int = 0
    fetch_commands: int = 0
    bodies_fetched: int = 0
    body_bytes: int = 0
    flag_fetches: int = 0
    appends: int = 0


# ---------------------------------------------------------------- session


class Session:
    """One logged-in connection to an account, opened lazily, reopened after
    a dropped connection (at most ``options.retries`` times per step)."""

    def __init__(self, url: ImapURL, options: ImapOptions):
        self.url = url
        self.options = options
        self.counters = Counters()
        self._client = None
        self._selected: tuple[str, bool] | None = None
        #: folders still to be scanned in this run; the connection is closed
        #: when the last one is done (and reopened lazily if needed again)
        self.pending: set[str] = set()
        self.capabilities: set[bytes] = set()
        self.condstore = False

    # -- connecting

    def _ssl_context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self.options.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ImapError(f"cannot load CA file {self.options.cafile}: {exc}") from None

    def connect(self):
        from imapclient import IMAPClient
        from imapclient.exceptions import LoginError

        url = self.url
        where = f"{url.host}:{url.port}"
        try:
            if url.security == "tls":
                client = IMAPClient(
                    url.host, port=url.port, ssl=True, ssl_context=self._ssl_context(), timeout=self.options.timeout
                )
            else:
                client = IMAPClient(url.host, port=url.port, ssl=False, timeout=self.options.timeout)
                if url.security == "starttls":
                    if b"STARTTLS" not in set(client.capabilities()):
                        client.shutdown()
                        raise ImapError(
                            f"{where} does not offer STARTTLS; use implicit TLS (port 993)"
                            " or, on loopback only, --insecure"
                        )
                    client.starttls(self._ssl_context())
        except ssl.SSLCertVerificationError as exc:
            raise ImapError(
                f"TLS certificate of {where} not trusted ({exc.verify_message}); use --cafile FILE for a private CA"
            ) from None
        except ImapError:
            raise
        except (ssl.SSLError, OSError, imaplib.IMAP4.error) as exc:
            raise ImapConnectError(f"cannot connect to {where}: {one_line(exc)}") from None
        try:
            client.login(url.user, self.options.secret().reveal())
        except LoginError:
            _quietly(client.shutdown)
            raise ImapError(f"IMAP login failed for {url.user} at {where}") from None
        except CONNECTION_ERRORS as exc:
            _quietly(client.shutdown)
            raise ImapConnectError(f"cannot connect to {where}: {one_line(exc)}") from None
        client.normalise_times = False  # keep the server's time zone in INTERNALDATE
        self.capabilities = set(client.capabilities())
        self.condstore = False
        if self.options.condstore and b"CONDSTORE" in self.capabilities and b"ENABLE" in self.capabilities:
            try:
                self.condstore = b"CONDSTORE" in {c.upper() for c in client.enable("CONDSTORE")}
            except imaplib.IMAP4.error:
                self.condstore = False
        self._client = client
        self._selected = None
        self.counters.connects += 1
        return client

    @property
    def client(self):
        return self._client if self._client is not None else self.connect()

    def drop(self) -> None:
        client, self._client = self._client, None
        self._selected = None
        if client is not None:
            _quietly(client.shutdown)

    def close(self) -> None:
        client, self._client = self._client, None
        self._selected = None
        if client is not None:
            try:
                client.logout()
            except CLOSING_ERRORS:  # the connection may be gone already
                _quietly(client.shutdown)

    def release(self, folder: str) -> None:
        self.pending.discard(folder)
        if not self.pending:
            self.close()

    # -- folders

    def select(self, folder: str, readonly: bool = True) -> dict:
        info = self.client.select_folder(folder, readonly=readonly)
        self._selected = (folder, readonly)
        return info

    def folder_exists(self, folder: str) -> bool:
        return self.client.folder_exists(folder)

    def unselect(self) -> None:
        """Leave the selected folder without expunging anything (UNSELECT
        where offered, else CLOSE, which expunges nothing in a folder
        opened read-only) and forget it, so that the next :meth:`call`
        with a folder selects again."""
        client = self.client
        client.unselect_folder() if b"UNSELECT" in self.capabilities else client.close_folder()
        self._selected = None

    def list_folders(self) -> list[tuple[str, tuple[bytes, ...]]]:
        """Every folder of the account with its attributes, SPECIAL-USE
        attributes (``\\Sent``, ``\\All`` ...) included where the server offers them."""
        client = self.client
        rows = None
        if b"SPECIAL-USE" in self.capabilities:
            try:
                imap = client._imap  # imapclient has no public LIST ... RETURN (SPECIAL-USE)
                typ, dat = imap._simple_command("LIST", '""', '"*"', "RETURN", "(SPECIAL-USE)")
                if typ == "OK":
                    typ, dat = imap._untagged_response(typ, dat, "LIST")
                    rows = client._proc_folder_list(dat)
            except imaplib.IMAP4.abort:
                raise
            except (imaplib.IMAP4.error, ValueError, IndexError):  # refused or unreadable: plain LIST below
                rows = None
        if rows is None:
            rows = client.list_folders()
        return [(name, tuple(flags)) for flags, _delim, name in rows]

    # -- retrying

    def call(self, fn: Callable[[Any], Any], folder: str | None = None, uidvalidity: int | None = None) -> Any:
        """``fn(client)`` with reconnects after a dropped connection.  With
        ``folder`` the folder is selected again after a reconnect and its
        UIDVALIDITY must be unchanged."""
        attempt = 0
        while True:
            try:
                if folder is not None and self._selected != (folder, True):
                    info = self.select(folder)
                    if uidvalidity is not None and info.get(b"UIDVALIDITY") != uidvalidity:
                        raise ImapInterrupted(f"UIDVALIDITY of {folder} changed during the scan; run again")
                return fn(self.client)
            except (*CONNECTION_ERRORS, ImapConnectError) as exc:
                self.drop()
                attempt += 1
                if attempt > self.options.retries:
                    raise ImapInterrupted(
                        f"connection to {self.url.host}:{self.url.port} lost ({one_line(exc)}), "
                        f"{self.options.retries} retries failed; what was read is stored, run again to resume"
                    ) from None
                self.counters.reconnects += 1
                time.sleep(self.options.retry_delay * (2 ** (attempt - 1)))


def one_line(exc: BaseException) -> str:
    """An exception as one short line for the user."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _quietly(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except CLOSING_ERRORS:
        pass  # best effort: the connection is being thrown away
