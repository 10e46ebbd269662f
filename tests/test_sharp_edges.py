"""Small sharp edges, each tried as the attack:

* a 300-deep ``((((`` query (and any other string: fuzzed) through the
  parser, ``Archive.search``, the CLI and the web UI: only the typed
  ``QueryError``, one line and exit 2 in the CLI, HTTP 400 in the web UI;
* ``export --out`` over an existing file (refused, one line, exit 2;
  ``--force`` replaces it), through a symlink planted at a temporary name
  or at the target (never followed);
* the ``?token=`` login: the token in no access-log line of a real
  ``coi-archive serve`` (nor in an error line for a malformed request),
  random sessions that expire, the header and form logins;
* file modes under umask 022: the archive's directories 0700 and files
  0600, SQLite's -wal/-shm included, and an older archive tightened, with
  the process umask left as it was.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coi_archive.index.api import Archive as Api
from coi_archive.index.query import MAX_DEPTH, MAX_QUERY_LENGTH, QueryError, parse
from coi_archive.webui import create_app
from coi_archive.webui.security import TOKEN_COOKIE, _digest
from tests.cli_helpers import REPO_ROOT, Archive, _env, assert_clean_error, cli

HOST = {"Host": "127.0.0.1:8080"}
DEEP = "(" * 300 + "garden" + ")" * 300
SAMPLES = REPO_ROOT / "samples"


# ==========================================================================
# Query limits
# ==========================================================================


@pytest.mark.parametrize(
    "query",
    [
        DEEP,
        "(" * 300,
        "NOT " * 300 + "garden",
        "-(" * 300 + "garden",
        "a" * (MAX_QUERY_LENGTH + 1),
    ],
)
def test_parser_refuses_deep_or_long_queries_with_a_typed_error(query):
    with pytest.raises(QueryError) as info:
        parse(query)
    assert "\n" not in str(info.value) and str(info.value)


def test_parser_accepts_nesting_up_to_the_limit():
    assert parse("(" * MAX_DEPTH + "garden" + ")" * MAX_DEPTH) == parse("garden")


def test_deep_query_through_the_cli_is_one_line_exit_2(samples: Path, tmp_path: Path):
    res = cli(samples, "search", DEEP, check=False)
    assert_clean_error(res)
    assert "too deep" in res.stderr
    res = cli(samples, "export", "--search", DEEP, "--format", "json", "--out", tmp_path / "x.json", check=False)
    assert_clean_error(res)
    assert not (tmp_path / "x.json").exists()


@pytest.fixture(scope="module")
def client(samples: Path):
    app = create_app(samples)
    yield app.test_client()
    app.extensions["coi"].pool.close()


def test_deep_query_through_the_web_is_a_400_with_a_message(client):
    r = client.get("/search", query_string={"q": DEEP}, headers=HOST)
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "This search cannot be run" in page and "too deep" in page and "Traceback" not in page
    r = client.get("/api/search", query_string={"q": DEEP}, headers=HOST)
    assert r.status_code == 400 and "too deep" in r.get_json()["error"]
    r = client.get("/export", query_string={"q": DEEP, "format": "json"}, headers=HOST)
    assert r.status_code == 400


_PIECES = [
    "(",
    ")",
    '"',
    ":",
    "-",
    "*",
    "..",
    " ",
    "NOT ",
    " OR ",
    " AND ",
    "from:",
    "date:",
    "kind:",
    "is:",
    "has:",
    "chat:",
    "2026-01",
    "ü",
    "東京",
    "👍",
    "\x00",
    "\n",
    "\u202e",
    "garden",
]

QUERIES = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(_PIECES), max_size=400).map("".join),
    st.integers(0, 400).map(lambda n: "(" * n + "garden" + ")" * (n // 2)),
    st.integers(0, 200).map(lambda n: "NOT -" * n + "x"),
    st.integers(MAX_QUERY_LENGTH - 5, MAX_QUERY_LENGTH + 5).map(lambda n: ("a (" * n)[:n]),
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(QUERIES)
def test_fuzz_parser_raises_only_query_error(query):
    try:
        parse(query)
    except QueryError:
        pass


@FUZZ
@given(QUERIES)
def test_fuzz_archive_search_raises_only_query_error(samples_archive: Api, query):
    try:
        hits = samples_archive.search(query, limit=5)
    except QueryError:
        return
    assert isinstance(hits, list)


@FUZZ
@given(QUERIES)
def test_fuzz_web_search_is_200_or_400_never_500(client, query):
    r = client.get("/api/search", query_string={"q": query}, headers=HOST)
    assert r.status_code in (200, 400), r.get_data(as_text=True)[:500]
    if r.status_code == 400:
        assert r.get_json()["error"].startswith("This search cannot be run")


# ==========================================================================
# export --out: no overwrite without --force, no planted symlink followed
# ==========================================================================


def _group(samples: Path) -> str:
    return next(c["id"] for c in Archive(samples, inprocess=True).chats if c["kind"] == "group")


def test_export_refuses_to_overwrite_without_force(samples: Path, tmp_path: Path):
    out = tmp_path / "chat.mbox"
    out.write_bytes(b"precious\n")
    res = cli(samples, "export", _group(samples), "--format", "mbox", "--out", out, check=False)
    assert_clean_error(res)
    assert "--force" in res.stderr and out.read_bytes() == b"precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.mbox"], "a refusal leaves nothing behind"
    cli(samples, "export", _group(samples), "--format", "mbox", "--out", out, "--force")
    assert out.read_bytes().startswith(b"From ")


def test_export_never_follows_a_planted_temp_symlink(samples: Path, tmp_path: Path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"do not touch\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "chat.mbox"
    for name in ("chat.mbox.part", ".chat.mbox.part", "chat.mbox.tmp"):
        (out_dir / name).symlink_to(victim)
    cli(samples, "export", _group(samples), "--format", "mbox", "--out", out)
    assert victim.read_bytes() == b"do not touch\n"
    assert out.read_bytes().startswith(b"From ") and not out.is_symlink()
    assert all((out_dir / n).is_symlink() for n in ("chat.mbox.part", ".chat.mbox.part", "chat.mbox.tmp"))
    assert sorted(p.name for p in out_dir.iterdir()) == [
        ".chat.mbox.part",
        "chat.mbox",
        "chat.mbox.part",
        "chat.mbox.tmp",
    ]


def test_export_target_symlink_is_refused_then_replaced_not_followed(samples: Path, tmp_path: Path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"do not touch\n")
    out = tmp_path / "chat.mbox"
    out.symlink_to(victim)
    assert_clean_error(cli(samples, "export", _group(samples), "--format", "mbox", "--out", out, check=False))
    cli(samples, "export", _group(samples), "--format", "mbox", "--out", out, "--force")
    assert not out.is_symlink() and out.read_bytes().startswith(b"From ")
    assert victim.read_bytes() == b"do not touch\n"


def test_table_export_refuses_to_overwrite_without_force(samples: Path, tmp_path: Path):
    out = tmp_path / "tables"
    out.mkdir()
    (out / "messages.csv").write_text("precious\n")
    res = cli(samples, "export", "--format", "csv", "--out", f"{out}/", check=False)
    assert_clean_error(res)
    assert (out / "messages.csv").read_text() == "precious\n" and sorted(os.listdir(out)) == ["messages.csv"]
    cli(samples, "export", "--format", "csv", "--out", f"{out}/", "--force")
    table = (out / "messages.csv").read_text()
    assert "precious" not in table and "message_id" in table.splitlines()[0]


# ==========================================================================
# The token login
# ==========================================================================

SECRET = "tok-" + "s3cr3t" * 4


def _serve(archive: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "coi_archive", "--archive", str(archive), "serve", "--port", "0", "--token", SECRET],
        cwd=REPO_ROOT,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    first = proc.stderr.readline().decode()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
    assert m, first
    return proc, int(m.group(1))


def test_token_never_lands_in_the_access_log(samples: Path):
    proc, port = _serve(samples)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"/chats?kind=group&token={SECRET}")
        r = conn.getresponse()
        r.read()
        assert r.status == 303 and r.getheader("Location") == "/chats?kind=group"
        cookie = r.getheader("Set-Cookie")
        assert SECRET not in cookie and _digest(SECRET) not in cookie
        conn.request("GET", "/chats?kind=group", headers={"Cookie": cookie.split(";")[0]})
        r = conn.getresponse()
        r.read()
        assert r.status == 200
        conn.request("GET", f"/api/chats?%74oken={SECRET}x")  # a wrong token, its name percent-encoded
        conn.getresponse().read()
        conn.close()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:  # a malformed request line
            s.sendall(f"GET /?token={SECRET} HTTP/1.1 junk\r\n\r\n".encode())
            s.recv(4096)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)  # it stops at once: tests/test_serve_stop.py
    log = err.decode("utf-8", "replace")
    # waitress answers the malformed request line itself (400) and logs nothing of it
    assert "&token=[redacted]" in log and "%74oken=[redacted]" in log, log
    assert SECRET not in log, log
    assert proc.returncode == 0, "SIGTERM stops the server gracefully"


@pytest.fixture
def token_app(samples: Path):
    app = create_app(samples, token=SECRET, config={"SESSION_IDLE_SECONDS": 1})
    yield app
    app.extensions["coi"].pool.close()


def _login(client) -> str:
    r = client.get(f"/chats?token={SECRET}", headers=HOST)
    assert r.status_code == 303 and r.headers["Location"] == "/chats"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=1" in cookie
    return re.search(rf"{TOKEN_COOKIE}=([^;]+)", cookie).group(1)


def test_sessions_are_random_and_expire(token_app):
    c1, c2 = token_app.test_client(), token_app.test_client()
    s1, s2 = _login(c1), _login(c2)
    assert s1 != s2 and len(s1) >= 40
    assert SECRET not in s1 and s1 != _digest(SECRET)
    assert c1.get("/api/chats", headers=HOST).status_code == 200
    time.sleep(1.3)
    assert c1.get("/api/chats", headers=HOST).status_code == 401, "an idle session must expire"
    forged = token_app.test_client()
    forged.set_cookie(TOKEN_COOKIE, _digest(SECRET), domain="localhost")
    assert forged.get("/api/chats", headers=HOST).status_code == 401  # the old, derived cookie is dead


def test_token_from_header_and_form(token_app):
    c = token_app.test_client()
    assert c.get("/api/chats", headers={**HOST, "Authorization": f"Bearer {SECRET}"}).status_code == 200
    assert c.get("/api/chats", headers=HOST).status_code == 401  # a header login starts no session
    form = c.get("/login", headers=HOST)
    assert form.status_code == 200 and b'method="post"' in form.data and SECRET.encode() not in form.data
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    assert c.post("/login", data={"token": SECRET}, headers=HOST).status_code == 400  # no CSRF token
    assert c.post("/login", data={"token": "wrong", "csrf": csrf}, headers=HOST).status_code == 401
    r = c.post("/login", data={"token": SECRET, "next": "//evil.example/x", "csrf": csrf}, headers=HOST)
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert c.get("/api/chats", headers=HOST).status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login", headers=HOST).text).group(1)
    r = c.post("/login", data={"token": SECRET, "next": "/contacts", "csrf": csrf}, headers=HOST)
    assert r.headers["Location"] == "/contacts"


# ==========================================================================
# File modes
# ==========================================================================


def _modes(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            p = Path(dirpath) / name
            st_ = os.lstat(p)
            if not stat.S_ISLNK(st_.st_mode):
                out[str(p.relative_to(root))] = oct(stat.S_IMODE(st_.st_mode))
    return out


def _private(modes: dict[str, str], root: Path) -> list[str]:
    """What is not private: a directory not 0700, a file with any group or
    other bit, a catalog, index or key file not 0600 (Whoosh's empty lock
    file is created 0777 & ~umask, so 0700 there is private too)."""

    def wrong(p: str, m: str) -> bool:
        mode = int(m, 8)
        if (root / p).is_dir():
            return mode != 0o700
        if "LOCK" in p:
            return bool(mode & 0o077)
        return mode != 0o600

    return [f"{p} {m}" for p, m in modes.items() if wrong(p, m)]


def test_archive_is_private_under_umask_022(tmp_path: Path):
    root = tmp_path / "archive"
    subprocess.run(
        [sys.executable, "-m", "coi_archive", "--archive", str(root), "ingest", str(SAMPLES)],
        cwd=REPO_ROOT,
        env=_env(),
        check=True,
        capture_output=True,
        preexec_fn=lambda: os.umask(0o022),
    )
    modes = _modes(root)
    assert "catalog.sqlite" in modes and any(p.startswith("fulltext/") for p in modes)
    assert _private(modes, root) == []


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def test_a_writable_archive_is_private_and_leaves_the_umask_alone(tmp_path: Path):
    """Private without touching the process-wide umask: a notebook that
    keeps a writable archive open still writes its own files as usual."""
    old = os.umask(0o022)
    try:
        archive = Api.open(tmp_path / "archive")
        try:
            assert _umask() == 0o022, "opening the archive left the umask alone"
            archive.ingest(sources=archive.discover([str(SAMPLES / "deltachat")]))
            names = set(os.listdir(archive.root))
            assert {"catalog.sqlite-wal", "catalog.sqlite-shm"} <= names
            assert _private(_modes(archive.root), archive.root) == []
            mine = tmp_path / "notes.txt"
            mine.write_text("the notebook's own file\n")
            assert stat.S_IMODE(mine.stat().st_mode) == 0o644
        finally:
            archive.close()
        assert _umask() == 0o022
    finally:
        os.umask(old)


def test_an_older_world_readable_archive_is_tightened(tmp_path: Path):
    root = tmp_path / "archive"
    cli(root, "ingest", SAMPLES / "deltachat")
    outside = tmp_path / "outside"
    outside.write_text("not ours\n")
    outside.chmod(0o644)
    (root / "link").symlink_to(outside)
    for p in [root, *root.rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    cli(root, "reindex")
    assert _private(_modes(root), root) == []
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644, "a symlink is never followed"
