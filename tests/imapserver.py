"""A real Dovecot IMAP server on 127.0.0.1 for the tests.

``Dovecot(users).start()`` writes a minimal configuration into a fresh
temporary directory (passwd-file users with plain passwords, Maildir mail
store, base/state/log directories, a self-signed certificate), starts
``dovecot -F -c CONFIG`` in the foreground on two free loopback ports (IMAP
with STARTTLS, and IMAPS) and waits for its greeting.  ``stop()`` ends
exactly the process it started and removes the directory.  Nothing outside
the temporary directory is written, the system Dovecot service is never
touched.

Needs the Debian package ``dovecot-imapd`` (``scripts/test.sh`` installs it);
:func:`available` says whether the binary is there.

Runs as root (then the mail processes run as an unprivileged system user)
or as an ordinary user (then everything runs as that user).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
OPENSSL = shutil.which("openssl")


def available() -> bool:
    return DOVECOT is not None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _user(name_candidates: Iterable[str]) -> pwd.struct_passwd:
    for name in name_candidates:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError(f"none of these users exist: {list(name_candidates)}")


LOGOUT_FORMAT = (
    "in=%i out=%o fetch_body_count=%{fetch_body_count} fetch_hdr_count=%{fetch_hdr_count}"
    " appended=%{appended} expunged=%{expunged}"
)

CONFIG = """\
# coi-archive test server; everything below {root}
instance_name = coi-test-{port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
debug_log_path = {root}/dovecot.log
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = 1
first_valid_gid = 1
protocols = imap
listen = 127.0.0.1
ssl = {ssl}
{ssl_files}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
mail_uid = {mail_uid}
mail_gid = {mail_gid}
imap_logout_format = {logout_format}
mail_max_userip_connections = 100
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
  }}
  mailbox Junk {{
    special_use = \\Junk
  }}
  mailbox "All Mail" {{
    special_use = \\All
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = {imaps_ssl}
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


class Dovecot:
    """One throw-away Dovecot instance (see the module docstring)."""

    def __init__(self, users: dict[str, str], tls: bool = True):
        self.users = dict(users)
        self.tls = tls and OPENSSL is not None
        self.root: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.tls_port = 0
        self.cafile: Path | None = None
        #: appended to the configuration (tests/mailserver.py adds LMTP and auth listeners)
        self.extra_config = ""

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Dovecot:
        """Start the server with the usual umask 022: its files and the
        processes it spawns must be readable by Dovecot's own users."""
        previous = os.umask(0o022)
        try:
            return self._start()
        finally:
            os.umask(previous)

    def _start(self) -> Dovecot:
        if DOVECOT is None:
            raise RuntimeError("dovecot is not installed (apt-get install dovecot-imapd)")
        self.root = Path(tempfile.mkdtemp(prefix="coi-dovecot-"))
        os.chmod(self.root, 0o755)
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir()
        if os.geteuid() == 0:
            internal = _user(["dovecot", "nobody"])
            login = _user(["dovenull", "nobody"])
            mail = _user(["nobody"])
        else:
            internal = login = mail = pwd.getpwuid(os.getuid())
        os.chown(self.root / "mail", mail.pw_uid, mail.pw_gid)
        (self.root / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))
        os.chmod(self.root / "passwd", 0o644)  # read by Dovecot's auth user, whatever the umask
        ssl_files = ""
        if self.tls:
            self._make_cert()
            ssl_files = f"ssl_cert = <{self.root}/cert.pem\nssl_key = <{self.root}/key.pem\n"
        for _attempt in range(5):
            self.port, self.tls_port = free_port(), free_port()
            if self.port == self.tls_port:
                continue
            conf = (
                CONFIG.format(
                    root=self.root,
                    port=self.port,
                    tls_port=self.tls_port,
                    internal=internal.pw_name,
                    internal_group=_group_name(internal.pw_gid),
                    login=login.pw_name,
                    mail_uid=mail.pw_uid,
                    mail_gid=mail.pw_gid,
                    ssl="yes" if self.tls else "no",
                    imaps_ssl="yes" if self.tls else "no",
                    ssl_files=ssl_files,
                    logout_format=LOGOUT_FORMAT,
                )
                + self.extra_config
            )
            (self.root / "dovecot.conf").write_text(conf)
            self.proc = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            if self._wait_ready():
                return self
            self._terminate()
        raise RuntimeError(f"dovecot did not start:\n{self.log()[-3000:]}")

    def _wait_ready(self, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(5)
                    if s.recv(100).startswith(b"* OK"):
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def _make_cert(self) -> None:
        assert self.root is not None
        subprocess.run(
            [
                OPENSSL,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout",
                str(self.root / "key.pem"),
                "-out",
                str(self.root / "cert.pem"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.cafile = self.root / "cert.pem"

    def _terminate(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)  # the master and every process it started
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # the master leaves serving imap, log and stats processes behind: end
        # them too (the process group of the master we started, by its id)
        _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal_group(proc.pid, signal.SIGKILL)
        if proc.stdout:
            proc.stdout.close()

    def stop(self) -> None:
        self._terminate()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def stop_process(self) -> None:
        """Stop the server but keep its directory (``restart()`` brings it back)."""
        self._terminate()

    def restart(self) -> None:
        """Stop and start the same instance (same ports, same mail)."""
        self._terminate()
        assert self.root is not None
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not self._wait_ready():
            raise RuntimeError(f"dovecot did not restart:\n{self.log()[-3000:]}")

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ helpers

    def log(self) -> str:
        if self.root is None or not (self.root / "dovecot.log").exists():
            return ""
        return (self.root / "dovecot.log").read_text("utf-8", "replace")

    def logout_counters(self, user: str) -> list[dict[str, int]]:
        """The counters Dovecot logged at each logout of ``user``, in order."""
        out = []
        for line in self.log().splitlines():
            if f"imap({user})" not in line or "fetch_body_count=" not in line:
                continue
            out.append({k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line.split(": ", 2)[-1])})
        return out

    def url(self, user: str, folder: str | None = None, tls: bool = False) -> str:
        port = self.tls_port if tls else self.port
        quoted = user.replace("@", "%40")
        return f"imap://{quoted}@127.0.0.1:{port}" + (f"/{folder}" if folder else "")

    def password_file(self, user: str) -> Path:
        assert self.root is not None
        path = self.root / f"pw-{user.replace('@', '_')}"
        path.write_text(self.users[user] + "\n")
        return path

    def client(self, user: str):
        """A logged-in plaintext IMAPClient for seeding and inspecting."""
        from imapclient import IMAPClient

        c = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        c.login(user, self.users[user])
        return c

    def maildir(self, user: str) -> Path:
        assert self.root is not None
        return self.root / "mail" / user


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


def maildir_messages(maildir: Path) -> list[tuple[str, bytes, tuple[bytes, ...]]]:
    """(file name, bytes, IMAP flags) of every message in a Maildir's cur/
    and new/ (top level only), sorted by file name."""
    letters = {"S": b"\\Seen", "R": b"\\Answered", "F": b"\\Flagged", "D": b"\\Draft"}
    out = []
    for sub in ("cur", "new"):
        d = Path(maildir) / sub
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            if p.name.startswith(".") or not p.is_file():
                continue
            info = p.name.rsplit(":2,", 1)[1] if ":2," in p.name else ""
            flags = tuple(letters[c] for c in info if c in letters)
            out.append((p.name, p.read_bytes(), flags))
    out.sort(key=lambda t: t[0])
    return out


def seed(client, folder: str, maildir: Path, when=None) -> int:
    """APPEND every message of a Maildir folder (top level) into ``folder``,
    with its Maildir flags and the file's mtime as INTERNALDATE."""
    from datetime import datetime, timezone

    if not client.folder_exists(folder):
        client.create_folder(folder)
    n = 0
    for name, data, flags in maildir_messages(maildir):
        head = name.split(".", 1)[0]
        stamp = when or (datetime.fromtimestamp(int(head), timezone.utc) if head.isdigit() else None)
        client.append(folder, data, flags=flags, msg_time=stamp)
        n += 1
    return n


class DropProxy:
    """A TCP proxy on 127.0.0.1 in front of ``port`` that cuts connections.

    ``drops(i)`` gives, for the i-th accepted connection (from 0), how many
    bytes from the server are passed on before both sides are closed
    (``None``: never cut).  ``stop()`` closes every socket it opened."""

    def __init__(self, port: int, drops):
        import threading

        self.target = port
        self.drops = drops
        self.accepted = 0
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._threads: list = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stopped = False
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        import threading

        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                idx = self.accepted
                self.accepted += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, upstream]
            limit = self.drops(idx)
            pair = (client, upstream)
            for src, dst, lim in ((upstream, client, limit), (client, upstream, None)):
                t = threading.Thread(target=self._pump, args=(src, dst, lim, pair), daemon=True)
                t.start()
                self._threads.append(t)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, limit, pair) -> None:
        sent = 0
        try:
            while True:
                if limit is not None and sent >= limit:
                    break
                data = src.recv(65536 if limit is None else max(1, min(65536, limit - sent)))
                if not data:
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def stop(self) -> None:
        self._stopped = True
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=5)


def maildir_folders(root: Path, prefix: str = "") -> dict[str, Path]:
    """IMAP folder name -> Maildir path for a Maildir++ tree: the top is
    ``INBOX`` (or ``prefix`` without its trailing slash), ``.COI.Chats``
    becomes ``COI/Chats`` (under ``prefix``)."""
    root = Path(root)
    out = {prefix.rstrip("/") or "INBOX": root}
    for sub in sorted(root.iterdir()):
        if sub.is_dir() and sub.name.startswith(".") and (sub / "cur").is_dir():
            out[prefix + sub.name[1:].replace(".", "/")] = sub
    return out
