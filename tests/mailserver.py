"""A real mail system on 127.0.0.1 for the tests: Postfix + Dovecot.

``MailServer(users).start()`` starts the Dovecot of ``tests/imapserver.py``
(IMAP with STARTTLS, IMAPS, plus an LMTP and an authentication listener on
free loopback ports) and a Postfix with its own configuration directory,
queue and log in a fresh temporary directory (``postfix -c DIR start``):
SMTP with STARTTLS and SMTPS (submission wrapped in TLS) on free loopback
ports, authentication through Dovecot, every recipient in ``example.org``
handed to Dovecot over LMTP into its own Maildir.  A recipient Dovecot does
not know is accepted by SMTP and then bounced by Postfix with a DSN to the
sender, as a real provider does.  Nothing leaves the machine: there is no
DNS, no relay host and every other domain is an error transport.

``stop()`` stops that Postfix (``postfix -c DIR stop``, then its master by
its process id) and that Dovecot and removes the directory.  The system
Postfix and Dovecot services are never touched.  Needs the Debian packages
``postfix``, ``dovecot-imapd`` and ``dovecot-lmtpd`` (``scripts/test.sh``
installs them) and root (Postfix's master runs as root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import time
from pathlib import Path

from tests.imapserver import Dovecot, free_port

POSTFIX = shutil.which("postfix") or ("/usr/sbin/postfix" if os.path.exists("/usr/sbin/postfix") else None)
DOMAIN = "example.org"


def available() -> bool:
    """Postfix, Dovecot with LMTP, and root to run Postfix's master."""
    from tests import imapserver

    lmtp = Path("/usr/lib/dovecot/lmtp").exists()
    return POSTFIX is not None and imapserver.available() and lmtp and os.geteuid() == 0


DOVECOT_EXTRA = """
protocols = imap lmtp
postmaster_address = postmaster@{domain}
lmtp_save_to_detail_mailbox = no
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
service auth {{
  inet_listener sasl {{
    address = 127.0.0.1
    port = {auth_port}
  }}
}}
"""

MAIN_CF = """\
# coi-archive test Postfix; everything below {root}
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.{domain}
mydomain = {domain}
myorigin = {domain}
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
alias_maps =
alias_database =
local_recipient_maps =
relayhost =
smtp_dns_support_level = disabled
default_transport = error:no delivery outside the test domain
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = static:ok
virtual_transport = lmtp:inet:127.0.0.1:{lmtp_port}
smtpd_reject_unlisted_recipient = no
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{auth_port}
smtpd_recipient_restrictions = permit_sasl_authenticated, permit_mynetworks, reject_unauth_destination
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_auth_only = no
message_size_limit = 52428800
bounce_queue_lifetime = 0
maximal_queue_lifetime = 1h
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
"""

# every service without chroot (the queue directory holds no copy of /etc)
MASTER_CF = """\
127.0.0.1:{smtp_port} inet n - n - - smtpd
127.0.0.1:{smtps_port} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class MailServer:
    """One throw-away Postfix + Dovecot pair (see the module docstring)."""

    def __init__(self, users: dict[str, str]):
        self.dovecot = Dovecot(users)
        self.users = self.dovecot.users
        self.conf: Path | None = None
        self.smtp_port = 0
        self.smtps_port = 0

    def start(self) -> MailServer:
        if not available():
            raise RuntimeError("needs root and postfix, dovecot-imapd, dovecot-lmtpd (apt-get install)")
        lmtp_port, auth_port = _distinct_ports(2)
        self.dovecot.extra_config = DOVECOT_EXTRA.format(domain=DOMAIN, lmtp_port=lmtp_port, auth_port=auth_port)
        self.dovecot.start()
        previous = os.umask(0o022)  # Postfix's files must be readable by its own users
        try:
            self._start_postfix(lmtp_port, auth_port)
        except BaseException:
            self.stop()
            raise
        finally:
            os.umask(previous)
        return self

    def _start_postfix(self, lmtp_port: int, auth_port: int) -> None:
        root = self.dovecot.root
        assert root is not None and self.dovecot.cafile is not None
        self.conf = root / "postfix"
        self.conf.mkdir()
        for sub in ("queue", "data"):
            (root / sub).mkdir()
        owner = pwd.getpwnam("postfix")
        os.chown(root / "data", owner.pw_uid, owner.pw_gid)
        self.smtp_port, self.smtps_port = _distinct_ports(2, avoid={lmtp_port, auth_port})
        (self.conf / "main.cf").write_text(
            MAIN_CF.format(
                root=root,
                domain=DOMAIN,
                lmtp_port=lmtp_port,
                auth_port=auth_port,
                cert=root / "cert.pem",
                key=root / "key.pem",
            )
        )
        (self.conf / "master.cf").write_text(MASTER_CF.format(smtp_port=self.smtp_port, smtps_port=self.smtps_port))
        env = {**os.environ, "MAIL_CONFIG": str(self.conf)}
        self._postfix("start", env)
        if not _wait_greeting(self.smtp_port):
            raise RuntimeError(f"postfix did not start:\n{self.log()[-3000:]}")

    def _postfix(self, action: str, env: dict[str, str]) -> subprocess.CompletedProcess:
        assert POSTFIX is not None and self.conf is not None
        done = subprocess.run(
            [POSTFIX, "-c", str(self.conf), action], env=env, capture_output=True, text=True, timeout=60
        )
        if action == "start" and done.returncode != 0:
            # Postfix reports a fatal configuration error to syslog only (or to a terminal)
            raise RuntimeError(
                f"postfix {action} failed (run `postfix -c {self.conf} check` in a terminal "
                f"for the reason):\n{done.stdout}{done.stderr}{self.log()[-3000:]}"
            )
        return done

    def stop(self) -> None:
        if self.conf is not None:
            env = {**os.environ, "MAIL_CONFIG": str(self.conf)}
            self._postfix("stop", env)
            self._wait_master_gone()
            self.conf = None
        self.dovecot.stop()

    def _wait_master_gone(self, timeout: float = 10.0) -> None:
        """``postfix stop`` only signals the master: wait for its pid file to go."""
        if self.dovecot.root is None:
            return
        pid_file = self.dovecot.root / "queue" / "pid" / "master.pid"
        deadline = time.monotonic() + timeout
        while pid_file.exists() and time.monotonic() < deadline:
            try:
                os.kill(int(pid_file.read_text().split()[0]), 0)
            except (ValueError, IndexError, ProcessLookupError):
                return
            time.sleep(0.1)

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ helpers

    @property
    def imap_port(self) -> int:
        return self.dovecot.port

    @property
    def imaps_port(self) -> int:
        return self.dovecot.tls_port

    def maildir(self, user: str) -> Path:
        return self.dovecot.maildir(user)

    def log(self) -> str:
        root = self.dovecot.root
        path = root / "postfix.log" if root else None
        return path.read_text("utf-8", "replace") if path and path.exists() else ""

    def send(self, sender: str, recipients: list[str], message: bytes) -> None:
        """Submit ``message`` over SMTP with STARTTLS and login, like a mail client."""
        import ssl

        context = ssl.create_default_context(cafile=str(self.dovecot.cafile))
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as smtp:
            smtp.starttls(context=context)
            smtp.login(sender, self.users[sender])
            smtp.sendmail(sender, recipients, message)

    def wait_delivered(self, user: str, count: int, timeout: float = 30.0) -> list[Path]:
        """The files of ``user``'s INBOX once it holds at least ``count`` messages."""
        deadline = time.monotonic() + timeout
        while True:
            files = [
                p
                for sub in ("new", "cur")
                for p in sorted((self.maildir(user) / sub).glob("*"))
                if (self.maildir(user) / sub).is_dir()
            ]
            if len(files) >= count or time.monotonic() > deadline:
                return files
            time.sleep(0.2)


def _distinct_ports(n: int, avoid: set[int] | None = None) -> list[int]:
    ports: list[int] = []
    taken = set(avoid or ())
    while len(ports) < n:
        port = free_port()
        if port not in taken:
            taken.add(port)
            ports.append(port)
    return ports


def _wait_greeting(port: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(5)
                if s.recv(100).startswith(b"220"):
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False
