"""People and roles: the accounts that may log in to the web UI.

A separate SQLite file, ``<archive>/accounts.sqlite``, not a table of the
catalog, for the same reasons as the audit trail (:mod:`.audit`): the web
server opens the catalog read-only but must still record a login and
count failed ones; a ``reindex --full``, a purge or a restored catalog
never touches who may log in; and the file is created mode 0600.

Passwords are stored as salted scrypt hashes (``hashlib.scrypt``, memory-
hard: 16 MiB and about 50 ms per guess), never in any other form. Failed
logins are counted per account and per remote address; from the
:data:`FREE_FAILURES`-th on each key waits twice as long as before
(:func:`backoff`), up to :data:`MAX_BACKOFF_SECONDS`, and a success clears
the account's count.

Roles (:data:`ROLES`): ``admin`` manages accounts, holds and retention;
``auditor`` reads and searches everything, exports, and reads the audit
trail; ``member`` sees only the chats in which one of their addresses
takes part.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

ACCOUNTS_NAME = "accounts.sqlite"
ROLES = ("admin", "auditor", "member")
#: scrypt cost: N, r, p (16 MiB per hash; OWASP's minimum is N=2**17 with
#: r=8 at 128 MiB; 2**14 keeps a login on a small server under 100 ms).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
#: Failed logins per key that cost nothing; each further one doubles the wait.
FREE_FAILURES = 3
MAX_BACKOFF_SECONDS = 15 * 60.0
_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")

_DDL = """
CREATE TABLE IF NOT EXISTS accounts(
    name TEXT PRIMARY KEY, role TEXT NOT NULL, addresses TEXT NOT NULL, hash TEXT NOT NULL,
    created TEXT NOT NULL, last_login TEXT);
CREATE TABLE IF NOT EXISTS failures(key TEXT PRIMARY KEY, count INTEGER NOT NULL, until REAL NOT NULL);
"""


class AccountError(ValueError):
    """A refused account change (bad name, role, address or password)."""


@dataclass(frozen=True)
class Account:
    """A person who may log in (never carries the password hash)."""

    name: str
    role: str
    addresses: tuple[str, ...]
    created: str
    last_login: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "addresses": list(self.addresses),
            "created": self.created,
            "last_login": self.last_login,
        }


@dataclass(frozen=True)
class LoginResult:
    """The outcome of :meth:`Accounts.log_in`: the account, or why not
    (``wait`` seconds when throttled)."""

    account: Account | None
    reason: str = ""
    wait: float = 0.0


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$SALT$HASH`` (hex) with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=64 * 1024 * 1024,
        dklen=32,
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` hashes to ``stored`` (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode("utf-8", "surrogatepass"),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 1024 * 1024,
            dklen=len(digest) // 2,
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


@functools.cache
def _dummy_hash() -> str:
    """Checked when the account does not exist, so an unknown name takes as
    long as a wrong password; made when the accounts are opened, not at
    import (every CLI command imports this module; a hash costs 50 ms and
    16 MiB)."""
    return hash_password(secrets.token_urlsafe(16))


def backoff(count: int) -> float:
    """Seconds a key must wait after its ``count``-th failure in a row."""
    if count < FREE_FAILURES:
        return 0.0
    return min(2.0 ** (count - FREE_FAILURES), MAX_BACKOFF_SECONDS)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def check_new(name: str, role: str, addresses: list[str], password: str) -> None:
    """AccountError unless the account can be stored as given."""
    if not _NAME.match(name):
        raise AccountError(f"bad account name {name!r}: 1-64 letters, digits and . _ @ + -")
    if role not in ROLES:
        raise AccountError(f"bad role {role!r}: one of {', '.join(ROLES)}")
    if role == "member" and not addresses:
        raise AccountError("a member needs at least one --address (they see only chats of their addresses)")
    bad = [a for a in addresses if "@" not in a or any(c.isspace() for c in a)]
    if bad:
        raise AccountError(f"not an email address: {bad[0]!r}")
    if len(password) < 8:
        raise AccountError("the password is too short (at least 8 characters)")


class Accounts:
    """The accounts file of one archive. Opening never creates it; the
    first :meth:`add` does (mode 0600)."""

    def __init__(self, root: Path):
        self.path = root / ACCOUNTS_NAME
        _dummy_hash()  # ready before the first login, so it takes no longer than the others

    def _connect(self, create: bool = False) -> sqlite3.Connection | None:
        if not self.path.exists():
            if not create:
                return None
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            os.close(fd)
        conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_DDL)
        return conn

    def every(self) -> list[Account]:
        """Every account, by name."""
        conn = self._connect()
        if conn is None:
            return []
        with closing(conn):
            rows = conn.execute("SELECT name, role, addresses, created, last_login FROM accounts ORDER BY name")
            return [_account(r) for r in rows.fetchall()]

    def get(self, name: str) -> Account | None:
        return next((a for a in self.every() if a.name == name), None)

    def add(self, name: str, role: str, addresses: list[str], password: str) -> Account:
        """Store a new account; AccountError when it is invalid or exists."""
        addresses = sorted({a.strip().lower() for a in addresses if a.strip()})
        check_new(name, role, addresses, password)
        conn = self._connect(create=True)
        assert conn is not None
        with closing(conn):
            try:
                conn.execute(
                    "INSERT INTO accounts VALUES(?,?,?,?,?,NULL)",
                    (name, role, json.dumps(addresses), hash_password(password), _now_iso()),
                )
            except sqlite3.IntegrityError:
                raise AccountError(f"an account named {name!r} exists already") from None
        account = self.get(name)
        assert account is not None
        return account

    def remove(self, name: str) -> Account:
        """Delete an account; AccountError when there is none of that name."""
        account = self.get(name)
        conn = self._connect()
        if account is None or conn is None:
            raise AccountError(f"no account named {name!r}")
        with closing(conn):
            conn.execute("DELETE FROM accounts WHERE name = ?", (name,))
            conn.execute("DELETE FROM failures WHERE key = ?", ("user:" + name,))
        return account

    def log_in(self, name: str, password: str, remote: str, now: float | None = None) -> LoginResult:
        """Check a login. Throttled keys (the account's and the remote
        address's) are refused before the password is even hashed."""
        conn = self._connect()
        if conn is None:
            return LoginResult(None, "no accounts")
        when = time.time() if now is None else now
        keys = ["user:" + name, "addr:" + remote]
        with closing(conn):
            waits = [
                r[0] - when
                for r in conn.execute(f"SELECT until FROM failures WHERE key IN ({','.join('?' * len(keys))})", keys)
            ]
            wait = max([w for w in waits if w > 0], default=0.0)
            if wait:
                return LoginResult(None, "throttled", wait)
            row = conn.execute("SELECT hash FROM accounts WHERE name = ?", (name,)).fetchone()
            ok = check_password(password, row[0] if row else _dummy_hash()) and row is not None
            if not ok:
                conn.execute("BEGIN IMMEDIATE")
                for key in keys:
                    count = (conn.execute("SELECT count FROM failures WHERE key = ?", (key,)).fetchone() or [0])[0] + 1
                    conn.execute("INSERT OR REPLACE INTO failures VALUES(?,?,?)", (key, count, when + backoff(count)))
                conn.execute("COMMIT")
                return LoginResult(None, "unknown account" if row is None else "wrong password")
            conn.execute("DELETE FROM failures WHERE key = ?", (keys[0],))
            conn.execute("UPDATE accounts SET last_login = ? WHERE name = ?", (_now_iso(), name))
        return LoginResult(self.get(name))


def _account(row: tuple) -> Account:
    return Account(row[0], row[1], tuple(json.loads(row[2])), row[3], row[4])
