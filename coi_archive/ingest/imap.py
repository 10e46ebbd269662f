"""IMAP accounts as sources: ``imap://USER@HOST[:PORT][/FOLDER]``.

Each folder of an account is one :class:`ImapSource` (its id is the URL of
the folder, never with a password), so the per-source bookkeeping of the
index works unchanged: a copy is keyed by ``"{UIDVALIDITY}:{UID}"`` in its
folder, a key that is already stored is not fetched again, and keys that a
complete scan no longer sees are marked gone (the archive keeps them).

One scan of a folder:

1. ``EXAMINE`` (read-only: nothing on the server changes), remember
   UIDVALIDITY and, where the server offers CONDSTORE, HIGHESTMODSEQ.
2. ``UID SEARCH ALL``: the UIDs on the server now.
3. Flags of the copies already stored: with CONDSTORE and a cursor from the
   last complete scan only those changed since (``SEARCH MODSEQ``), else
   ``FETCH FLAGS`` of all of them (cheap, no bodies).
4. Bodies of the new UIDs in batches (at most ``batch`` UIDs and about
   ``batch_bytes`` bytes per ``UID FETCH (BODY.PEEK[] FLAGS INTERNALDATE)``),
   so memory stays flat and there is no round trip per message.

A dropped connection is retried a bounded number of times (reconnect,
select again, check that UIDVALIDITY is unchanged, fetch what is missing).
When that fails the scan raises :class:`ImapInterrupted` (a
:class:`SourceError`): what was stored stays stored, nothing is marked gone,
the cursor is not advanced, and the next run fetches only what is missing.

A UIDVALIDITY change makes every key of the folder new: the folder is read
again; the originals are content-addressed and Message-IDs merge, so this
creates no duplicate messages, and the old keys are marked gone.

Passwords come from the caller (``--password-file`` or
``COI_IMAP_PASSWORD``), never from the URL, and are never logged or stored.
"""

from __future__ import annotations

import imaplib
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterator
from urllib.parse import quote, unquote

from .events import Provenance
from .sources import Candidate, SourceError

#: UIDs per body FETCH, and the byte budget of one batch.
BATCH = 200
BATCH_BYTES = 32 << 20
#: UIDs per metadata / flags FETCH (keeps command lines well below 64 KiB).
META_CHUNK = 2000
#: Reconnect attempts after a dropped connection, per failing step.
RETRIES = 3
RETRY_DELAY = 0.5
TIMEOUT = 60.0

#: SPECIAL-USE folders that only mirror mail stored elsewhere: not walked by
#: ``--all-folders`` (name them in the URL to read them anyway).
VIRTUAL_USES = {b"\\All", b"\\Flagged"}
_USE_ORDER = {b"\\Inbox": 0, b"\\Sent": 1, b"\\Archive": 2, b"\\Drafts": 3, b"\\Junk": 8, b"\\Trash": 9}

#: Errors that mean the connection is gone (worth a reconnect).
CONNECTION_ERRORS = (imaplib.IMAP4.abort, OSError, EOFError)


class ImapError(SourceError):
    """An IMAP account or folder that cannot be used (one line for the user)."""


class ImapConnectError(ImapError):
    """The server could not be reached (worth a retry, unlike a failed login)."""


class ImapInterrupted(ImapError):
    """The connection broke mid-scan and the retries did not help."""


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
        raise ImapError("do not put a password in the IMAP URL; use --password-file FILE "
                        "or the COI_IMAP_PASSWORD environment variable")
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
            raise ImapError(f"refusing plaintext IMAP to {host}: --insecure is only allowed "
                            "for loopback addresses (127.0.0.1, ::1, localhost)")
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


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    if host.lower() != "localhost":
        return False  # never trust a name that merely resolves to 127.0.0.1
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


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
    import os

    env = os.environ if environ is None else environ
    if password_file:
        try:
            with open(password_file, encoding="utf-8") as fh:
                line = fh.readline()
        except (OSError, UnicodeDecodeError) as exc:
            raise ImapError(f"cannot read password file {password_file}: "
                            f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None
        value = line.rstrip("\r\n")
        if not value:
            raise ImapError(f"password file is empty: {password_file}")
        return Secret(value)
    value = env.get("COI_IMAP_PASSWORD")
    if value:
        return Secret(value)
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
    def from_dict(cls, d: dict | None) -> "ImapOptions":
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
                client = IMAPClient(url.host, port=url.port, ssl=True, ssl_context=self._ssl_context(),
                                    timeout=self.options.timeout)
            else:
                client = IMAPClient(url.host, port=url.port, ssl=False, timeout=self.options.timeout)
                if url.security == "starttls":
                    if b"STARTTLS" not in set(client.capabilities()):
                        client.shutdown()
                        raise ImapError(f"{where} does not offer STARTTLS; use implicit TLS (port 993)"
                                        " or, on loopback only, --insecure")
                    client.starttls(self._ssl_context())
        except ssl.SSLCertVerificationError as exc:
            raise ImapError(f"TLS certificate of {where} not trusted ({exc.verify_message}); "
                            "use --cafile FILE for a private CA") from None
        except ImapError:
            raise
        except (ssl.SSLError, OSError, imaplib.IMAP4.error) as exc:
            raise ImapConnectError(f"cannot connect to {where}: {_why(exc)}") from None
        try:
            client.login(url.user, self.options.secret().reveal())
        except LoginError:
            _quietly(client.shutdown)
            raise ImapError(f"IMAP login failed for {url.user} at {where}") from None
        except CONNECTION_ERRORS as exc:
            _quietly(client.shutdown)
            raise ImapConnectError(f"cannot connect to {where}: {_why(exc)}") from None
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
            except Exception:  # the connection may be gone already
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

    def list_folders(self) -> list[tuple[str, tuple[bytes, ...]]]:
        """Selectable folders with their attributes, INBOX and special
        folders first; SPECIAL-USE attributes are asked for where offered."""
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
            except Exception:
                rows = None
        if rows is None:
            rows = client.list_folders()
        out = []
        for flags, _delim, name in rows:
            attrs = {f.lower() for f in flags}
            if b"\\noselect" in attrs or b"\\nonexistent" in attrs:
                continue
            if any(u.lower() in attrs for u in VIRTUAL_USES):
                continue
            out.append((name, tuple(flags)))

        def order(item: tuple[str, tuple[bytes, ...]]) -> tuple:
            name, flags = item
            if name.upper() == "INBOX":
                return (0, name)
            ranks = [r for use, r in _USE_ORDER.items() if use.lower() in {f.lower() for f in flags}]
            return (min(ranks) if ranks else 5, name)

        return sorted(out, key=order)

    # -- retrying

    def call(self, fn: Callable[[Any], Any], folder: str | None = None,
             uidvalidity: int | None = None) -> Any:
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
                        f"connection to {self.url.host}:{self.url.port} lost ({_why(exc)}), "
                        f"{self.options.retries} retries failed; what was read is stored, run again to resume"
                    ) from None
                self.counters.reconnects += 1
                time.sleep(self.options.retry_delay * (2 ** (attempt - 1)))


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _quietly(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception:
        pass


# ---------------------------------------------------------------- sources


def flags_text(flags) -> str:
    """IMAP flags as stored in provenance: sorted, space-separated, without
    the session-bound ``\\Recent``."""
    names = set()
    for f in flags or ():
        name = f.decode("utf-8", "replace") if isinstance(f, bytes) else str(f)
        if name.lower() != "\\recent":
            names.add(name)
    return " ".join(sorted(names))


def _internaldate(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return None


def _read_none() -> bytes:  # pragma: no cover - never called for known copies
    raise OSError("copy already stored")


@dataclass
class ImapSource:
    """One folder of an IMAP account; quacks like :class:`ingest.sources.Source`."""

    session: Session
    folder: str
    attributes: tuple[bytes, ...] = ()
    kind: str = field(default="imap", init=False)

    @property
    def id(self) -> str:
        return self.session.url.source_id(self.folder)

    @property
    def path(self) -> str:  # for code that prints a source
        return self.id

    @property
    def counters(self) -> Counters:
        return self.session.counters

    def fingerprint(self) -> None:
        return None

    def candidates(self, state: dict | None = None) -> Iterator[Candidate]:
        """Every copy on the server now; ``state`` carries ``known`` (the
        stored ``(folder, key) -> (flags, size)``) and ``cursor`` (the last
        complete scan) in, and the new ``cursor`` out."""
        state = state if state is not None else {}
        try:
            yield from self._scan(state)
        finally:
            self.session.release(self.folder)

    def _scan(self, state: dict) -> Iterator[Candidate]:
        known = state.get("known") or {}
        cursor = state.get("cursor") or {}
        s = self.session
        folder = self.folder
        try:
            info = s.call(lambda c: s.select(folder))
        except imaplib.IMAP4.error as exc:
            raise ImapError(f"cannot open folder {folder}: {_why(exc)}") from None
        uidvalidity = int(info[b"UIDVALIDITY"])
        modseq = info.get(b"HIGHESTMODSEQ") if s.condstore else None
        modseq = int(modseq) if modseq is not None else None
        uids = sorted(s.call(lambda c: c.search("ALL"), folder, uidvalidity))
        prefix = f"{uidvalidity}:"
        stored: dict[int, str] = {}
        for (f, key), (flags, _size) in known.items():
            if f == folder and key.startswith(prefix):
                tail = key[len(prefix):]
                if tail.isdigit():
                    stored[int(tail)] = flags
        present = [u for u in uids if u in stored]
        new = [u for u in uids if u not in stored]

        changed = self._flag_changes(present, cursor, uidvalidity, modseq)
        for u in present:
            yield Candidate(Provenance(source=self.id, folder=folder, key=f"{prefix}{u}",
                                       flags=changed.get(u, stored[u])), _read_none)

        for batch in self._batches(new, uidvalidity):
            got = self._fetch_bodies(batch, uidvalidity)
            for u in batch:
                item = got.pop(u, None)
                if item is None:
                    continue  # expunged since the SEARCH
                body, flags, idate = item
                prov = Provenance(source=self.id, folder=folder, key=f"{prefix}{u}", flags=flags,
                                  internaldate=idate, size=len(body))
                yield Candidate(prov, _constant(body))
        state["cursor"] = {"uidvalidity": uidvalidity, "highestmodseq": modseq}

    # -- steps

    def _flag_changes(self, present: list[int], cursor: dict, uidvalidity: int,
                      modseq: int | None) -> dict[int, str]:
        if not present:
            return {}
        s = self.session
        old = cursor.get("highestmodseq") if cursor.get("uidvalidity") == uidvalidity else None
        if modseq is not None and old is not None:
            if int(old) >= modseq:
                return {}
            wanted = set(present)
            todo = [u for u in s.call(lambda c: c.search(["MODSEQ", str(int(old) + 1)]),
                                      self.folder, uidvalidity) if u in wanted]
        else:
            todo = present
        out: dict[int, str] = {}
        for i in range(0, len(todo), META_CHUNK):
            chunk = todo[i:i + META_CHUNK]
            res = s.call(lambda c: c.fetch(chunk, ["FLAGS"]), self.folder, uidvalidity)
            s.counters.flag_fetches += 1
            for uid, data in res.items():
                if b"FLAGS" in data:
                    out[uid] = flags_text(data[b"FLAGS"])
        return out

    def _batches(self, uids: list[int], uidvalidity: int) -> Iterator[list[int]]:
        """Batches of at most ``batch`` UIDs and about ``batch_bytes`` bytes;
        sizes come from one cheap RFC822.SIZE FETCH per chunk."""
        opts = self.session.options
        s = self.session
        for i in range(0, len(uids), META_CHUNK):
            chunk = uids[i:i + META_CHUNK]
            sizes = s.call(lambda c: c.fetch(chunk, ["RFC822.SIZE"]), self.folder, uidvalidity)
            batch: list[int] = []
            total = 0
            for u in chunk:
                size = int(sizes.get(u, {}).get(b"RFC822.SIZE", 0) or 0)
                if batch and (len(batch) >= opts.batch or total + size > opts.batch_bytes):
                    yield batch
                    batch, total = [], 0
                batch.append(u)
                total += size
            if batch:
                yield batch

    def _fetch_bodies(self, batch: list[int], uidvalidity: int) -> dict[int, tuple[bytes, str, str | None]]:
        s = self.session
        got: dict[int, tuple[bytes, str, str | None]] = {}
        missing = list(batch)

        def fetch(client):
            # after a reconnect only what is still missing is asked for again
            todo = [u for u in missing if u not in got]
            if not todo:
                return
            s.counters.fetch_commands += 1
            res = client.fetch(todo, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
            for uid, data in res.items():
                body = data.get(b"BODY[]")
                if body is None:
                    continue
                got[uid] = (bytes(body), flags_text(data.get(b"FLAGS")),
                            _internaldate(data.get(b"INTERNALDATE")))
                s.counters.bodies_fetched += 1
                s.counters.body_bytes += len(body)

        s.call(fetch, self.folder, uidvalidity)
        return got


def _constant(data: bytes) -> Callable[[], bytes]:
    def read() -> bytes:
        return data
    return read


def discover(text: str, options: dict | ImapOptions | None = None) -> list[ImapSource]:
    """The sources behind an IMAP URL: its folder (default INBOX), or with
    ``all_folders`` every selectable folder of the account."""
    opts = options if isinstance(options, ImapOptions) else ImapOptions.from_dict(options)
    url = parse_url(text, insecure=opts.insecure, starttls=opts.starttls)
    if opts.all_folders and url.folder:
        raise ImapError("give either a folder in the URL or --all-folders, not both")
    opts.secret()  # fail early, before connecting, when there is no password
    session = Session(url, opts)
    session.connect()
    try:
        if opts.all_folders:
            sources = [ImapSource(session, name, attrs) for name, attrs in session.list_folders()]
        else:
            folder = url.folder or "INBOX"
            if not session.folder_exists(folder):
                raise ImapError(f"no folder {folder!r} in {url.account}")
            sources = [ImapSource(session, folder)]
        session.pending = {s.folder for s in sources}
        return sources
    except CONNECTION_ERRORS as exc:
        session.drop()
        raise ImapError(f"connection to {url.host}:{url.port} lost: {_why(exc)}") from None
    except ImapError:
        session.close()
        raise
