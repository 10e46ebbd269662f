"""People and roles (issue 14, item 1) and the server (item 5).

* accounts: salted scrypt hashes, the failed-login back-off per account
  and per address, the CLI (``user add|list|remove``; a password never an
  argument), every change audited;
* the web UI: every route of the app declares a permission (a new route
  without one fails here and is refused by the app); a crawler logged in
  as a member (Judy, of the dev corpus, who is only in Kochclub) reaches
  none of the other chats, messages, attachments, contacts, searches or
  exports through any route; an auditor reaches everything and the audit
  trail; an admin manages accounts and reads no chat; sessions expire;
  every POST needs its CSRF token; failed logins are throttled;
* the server: ``/healthz``, and a 5-second load test on waitress (50
  concurrent clients on chat pages and searches, zero errors).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask

from coi_archive.index.accounts import Accounts, backoff, check_password, hash_password
from coi_archive.index.api import Archive
from coi_archive.webui import create_app
from coi_archive.webui.permissions import ROUTES
from tests.cli_helpers import cli
from tests.webui_support import CORPUS_GROUP

HOST = {"Host": "127.0.0.1"}
JUDY = "judy@example.org"
PASSWORDS = {"judy": "judy-secret-1", "audrey": "audrey-secret-1", "adam": "adam-secret-1"}


# --------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------


def test_passwords_are_salted_scrypt_hashes():
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two and one.startswith("scrypt$") and "correct horse" not in one
    assert check_password("correct horse", one) and check_password("correct horse", two)
    assert not check_password("correct hors", one)
    assert not check_password("x", "md5$abc") and not check_password("x", "garbage")


def test_backoff_doubles_after_the_free_failures():
    assert [backoff(n) for n in range(1, 8)] == [0, 0, 1, 2, 4, 8, 16]
    assert backoff(100) == 15 * 60


def test_failed_logins_are_throttled_per_account_and_per_address(tmp_path: Path):
    store = Accounts(tmp_path)
    store.add("judy", "member", [JUDY], "judy-secret-1")
    t = 1000.0
    for _ in range(3):
        assert store.log_in("judy", "wrong", "10.0.0.1", now=t).reason == "wrong password"
    refused = store.log_in("judy", "judy-secret-1", "10.0.0.2", now=t + 0.5)
    assert refused.account is None and refused.reason == "throttled" and refused.wait > 0
    assert store.log_in("judy", "judy-secret-1", "10.0.0.2", now=t + 2).account is not None  # waited
    # an address guessing at many names is throttled too, for every name
    for i in range(3):
        store.log_in(f"nobody{i}", "x", "10.0.0.9", now=t)
    assert store.log_in("judy", "judy-secret-1", "10.0.0.9", now=t + 0.5).reason == "throttled"
    assert store.get("judy").last_login is not None


def test_a_scope_cuts_chats_searches_and_contacts_in_the_index_api(corpus: Path):
    with Archive.open(corpus, readonly=True) as a:
        judy = a.scope([JUDY.upper()])  # addresses compare case-blind
        assert judy.chats == {CORPUS_GROUP}
        assert [c["id"] for c in a.chats(scope=judy)] == [CORPUS_GROUP]
        for query in ("the", "Kochclub", "Minuten", "from:frank@example.org"):
            every = a.search_hits(query, limit=10_000)
            mine = [h.message_id for h in every if h.chat_id == CORPUS_GROUP]
            assert [h.message_id for h in a.search_hits(query, limit=3, scope=judy)] == mine[:3], query
            assert a.search_count(query, scope=judy) == len(mine), query
            assert {h["chat_id"] for h in a.search(query, scope=judy)} <= {CORPUS_GROUP}
        contacts = {c["address"]: c for c in a.contacts(judy)}
        assert "grace@example.org" not in contacts and JUDY in contacts
        assert all(g == "Kochclub 🍜" for c in contacts.values() for g in c["groups"])
        assert len(a.contacts()) > len(contacts)


# --------------------------------------------------------------------------
# The CLI
# --------------------------------------------------------------------------


def test_user_commands_never_take_a_password_argument_and_are_audited(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    archive = tmp_path / "archive"
    shutil.copytree(corpus, archive)
    pw = tmp_path / "pw"
    pw.write_text("judy-secret-1\n")
    res = cli(archive, "user", "add", "judy", "--role", "member", "--address", JUDY, "--password-file", str(pw))
    assert "added judy (member: judy@example.org)" in res.text
    assert cli(archive, "user", "add", "eve", "--role", "auditor", "--password", "x", check=False).returncode == 2
    res = cli(archive, "user", "add", "nopw", "--role", "auditor", check=False)  # no terminal, file or variable
    assert res.returncode == 2 and "--password-file" in res.stderr
    monkeypatch.setenv("COI_ARCHIVE_USER_PASSWORD", "audrey-secret-1")
    cli(archive, "user", "add", "audrey", "--role", "auditor")
    res = cli(archive, "user", "add", "m2", "--role", "member", "--password-file", str(pw), check=False)
    assert res.returncode == 2 and "--address" in res.stderr  # a member without an address sees nothing
    listed = {a["name"]: a for a in cli(archive, "user", "list", "--json").json()}
    assert listed["judy"]["addresses"] == [JUDY] and listed["audrey"]["role"] == "auditor"
    assert "hash" not in listed["judy"]
    cli(archive, "user", "remove", "audrey")
    assert cli(archive, "user", "remove", "audrey", check=False).returncode == 2
    with Archive.open(archive, readonly=True) as a:
        entries = [(e["action"], e["target"]) for e in a.audit_entries()]
        assert a.audit_verify() == []
    assert ("account.add", "judy") in entries and ("account.add", "audrey") in entries
    assert ("account.remove", "audrey") in entries
    assert "judy-secret-1" not in (archive / "accounts.sqlite").read_bytes().decode("latin-1")


# --------------------------------------------------------------------------
# The web UI: an archive with three accounts
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def people(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the corpus archive with a member (Judy), an auditor and an admin."""
    archive = tmp_path_factory.mktemp("people") / "archive"
    shutil.copytree(corpus, archive)
    with Archive.open(archive, readonly=True) as a:
        a.add_account("judy", "member", [JUDY], PASSWORDS["judy"], "test")
        a.add_account("audrey", "auditor", [], PASSWORDS["audrey"], "test")
        a.add_account("adam", "admin", [], PASSWORDS["adam"], "test")
    return archive


@pytest.fixture(scope="module")
def app(people: Path) -> Iterator[Flask]:
    app = create_app(people, config={"WARM_ANALYTICS": False, "SESSION_IDLE_SECONDS": 60})
    yield app
    app.extensions["coi"].pool.close()


def _csrf(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def login(app: Flask, name: str, password: str | None = None, remote: str = "127.0.0.1"):
    client = app.test_client()
    token = _csrf(client.get("/login", headers=HOST).text)
    r = client.post(
        "/login",
        data={"name": name, "password": password or PASSWORDS[name], "csrf": token},
        headers=HOST,
        environ_base={"REMOTE_ADDR": remote},
    )
    assert r.status_code == 303, r.text
    return client


def test_every_route_declares_a_permission(app: Flask):
    undeclared = sorted(r.endpoint for r in app.url_map.iter_rules() if r.endpoint not in ROUTES)
    assert undeclared == [], f"routes without a permission in webui/permissions.py ROUTES: {undeclared}"


def test_a_route_without_a_declaration_is_refused(people: Path):
    app = create_app(people, config={"WARM_ANALYTICS": False})
    app.add_url_rule("/new-leak", "new_leak", lambda: "secret data")
    client = app.test_client()
    token = _csrf(client.get("/login", headers=HOST).text)
    client.post("/login", data={"name": "audrey", "password": PASSWORDS["audrey"], "csrf": token}, headers=HOST)
    r = client.get("/new-leak", headers=HOST)
    assert r.status_code == 403 and b"secret data" not in r.data
    app.extensions["coi"].pool.close()


def test_nothing_but_login_and_health_without_a_session(app: Flask):
    c = app.test_client()
    assert c.get("/chats", headers=HOST).headers["Location"].startswith("/login?next=")
    assert c.get("/api/chats", headers=HOST).status_code == 401
    assert c.get(f"/chats/{CORPUS_GROUP}", headers=HOST).status_code in (303, 401)
    r = c.get("/healthz", headers=HOST)
    assert r.status_code == 200 and r.json == {"status": "ok"}


# --------------------------------------------------------------------------
# The member crawler
# --------------------------------------------------------------------------


def _foreign(archive_dir: Path) -> dict[str, list]:
    """What Judy must never reach: the chats she is not in, their messages
    and attachments, and the contacts who share no chat with her."""
    with Archive.open(archive_dir, readonly=True) as a:
        mine = a.scope([JUDY]).chats
        chats = [c["id"] for c in a.chats() if c["id"] not in mine]
        messages, parts = [], []
        for cid in chats:
            for m in a.show(cid)["messages"]:
                messages.append(m["message_id"])
                parts += [(m["message_id"], att["part"]) for att in m.get("attachments") or []]
        seen = {x for c in a.chats() if c["id"] in mine for x in c["members"] + c["past_members"]}
        contacts = [c["address"] for c in a.contacts() if c["address"] not in seen]
    assert chats and messages and parts and contacts
    return {"chats": chats, "messages": messages, "parts": parts, "contacts": contacts}


#: Words found only in chats Judy is not in (Frank & Grace, Heidi & Ivan, the hike).
FOREIGN_WORDS = ("Packliste", "Minuten", "wav", "mallory")


def _urls(endpoint: str, rule: str, foreign: dict[str, list]) -> list[str]:
    """Every URL of one route that touches something not Judy's."""
    chats, msgs, parts = foreign["chats"], foreign["messages"], foreign["parts"]
    q = quote
    if "<path:chat_id>" in rule:
        return [rule.replace("<path:chat_id>", q(c, safe="")) for c in chats]
    if "<path:address>" in rule:
        return [rule.replace("<path:address>", q(a, safe="@")) for a in foreign["contacts"]]
    recipes = {
        "chats.goto": [f"/goto?m={q(m)}" for m in msgs],
        "chats.api_message": [f"/api/message?id={q(m)}" for m in msgs],
        "chats.attachment": [f"/attachment?m={q(m)}&part={p}" for m, p in parts],
        "chats.thumbnail": [f"/thumbnail?m={q(m)}&part={p}" for m, p in parts],
        "search.search": [f"/search?q={w}" for w in FOREIGN_WORDS],
        "search.api_search": [f"/api/search?q={w}&history=1" for w in FOREIGN_WORDS],
        "search.api_names": ["/api/names?q=grace", "/api/names?q=hike", "/api/names?q=heidi"],
        "exports.download": (
            [f"/export?chat={q(c)}&format=json" for c in chats] + [f"/export?q={w}&format=json" for w in FOREIGN_WORDS]
        ),
        "chats.index": ["/"],
        "chats.chat_list": ["/chats", "/chats?section=chats"],
        "chats.api_chats": ["/api/chats"],
        "contacts.contact_list": ["/contacts"],
        "contacts.api_contacts": ["/api/contacts"],
        "analytics.overview": ["/analytics"],
        "analytics.api_overview": ["/api/analytics"],
        "stats.stats": ["/stats"],
        "stats.api_stats": ["/api/stats"],
        "audit_log.page": ["/audit"],
        "audit_log.api": ["/api/audit"],
        "accounts.page": ["/accounts"],
        "static": ["/static/app.js"],
        "chats.chat_css": ["/assets/chat.css"],
        "healthz": ["/healthz"],
        "login": ["/login"],
    }
    if endpoint in recipes:
        return recipes[endpoint]
    if endpoint in ("logout", "accounts.add", "accounts.remove"):  # POST only: tried below
        return []
    pytest.fail(f"the crawler has no recipe for the route {endpoint} ({rule}): add one to _urls")


def test_a_member_reaches_nothing_of_others_through_any_route(app: Flask, people: Path):
    foreign = _foreign(people)
    secrets = foreign["chats"] + foreign["messages"] + foreign["contacts"]
    judy = login(app, "judy")
    reached = []
    for rule in app.url_map.iter_rules():
        for url in _urls(rule.endpoint, rule.rule, foreign):
            r = judy.get(url, headers=HOST)
            if r.status_code >= 300:
                continue
            body = r.get_data(as_text=True)
            leaked = [s for s in secrets if s in body]
            if leaked:
                reached.append((url, r.status_code, leaked[:3]))
    assert reached == []
    # the forbidden ones are refused outright, not just empty
    assert judy.get(f"/chats/{quote(foreign['chats'][0], safe='')}", headers=HOST).status_code == 403
    m, p = foreign["parts"][0]
    assert judy.get(f"/attachment?m={quote(m)}&part={p}", headers=HOST).status_code == 403
    assert judy.get(f"/export?chat={quote(foreign['chats'][0])}&format=json", headers=HOST).status_code == 403
    for path in ("/stats", "/api/stats", "/audit", "/accounts"):
        assert judy.get(path, headers=HOST).status_code == 403, path
    token = _csrf(judy.get("/chats", headers=HOST).text)
    assert judy.post("/accounts/remove", data={"name": "audrey", "csrf": token}, headers=HOST).status_code == 403


def test_a_member_sees_their_own_chats_searches_and_exports(app: Flask):
    judy = login(app, "judy")
    assert [c["id"] for c in judy.get("/api/chats", headers=HOST).json] == [CORPUS_GROUP]
    assert judy.get(f"/chats/{CORPUS_GROUP}", headers=HOST).status_code == 200
    hits = judy.get("/api/search?q=*&limit=500", headers=HOST).json
    found = judy.get("/api/search?q=Kochclub", headers=HOST).json
    assert {h["chat_id"] for h in hits["hits"] + found["hits"]} <= {CORPUS_GROUP}
    export = judy.get(f"/export?chat={CORPUS_GROUP}&format=json", headers=HOST)
    assert export.status_code == 200 and CORPUS_GROUP.encode() in export.data
    addresses = {c["address"] for c in judy.get("/api/contacts", headers=HOST).json}
    assert JUDY in addresses and "grace@example.org" not in addresses
    with Archive.open(app.extensions["coi"].root, readonly=True) as a:
        kochclub = a.report(chat=CORPUS_GROUP)
    mine = judy.get("/api/analytics", headers=HOST).json  # the overview of her chats: Kochclub's figures
    assert mine == json.loads(json.dumps(kochclub, default=str))
    assert judy.get("/analytics", headers=HOST).status_code == 200


def test_an_auditor_sees_everything_and_the_audit_trail(app: Flask, people: Path):
    foreign = _foreign(people)
    audrey = login(app, "audrey")
    listed = {c["id"] for c in audrey.get("/api/chats", headers=HOST).json}
    assert set(foreign["chats"]) | {CORPUS_GROUP} <= listed
    for cid in foreign["chats"]:
        assert audrey.get(f"/chats/{quote(cid, safe='')}", headers=HOST).status_code == 200
    m, p = foreign["parts"][0]
    assert audrey.get(f"/attachment?m={quote(m)}&part={p}", headers=HOST).status_code == 200
    assert audrey.get("/stats", headers=HOST).status_code == 200
    page = audrey.get("/audit", headers=HOST)
    assert page.status_code == 200 and "The chain verifies" in page.text and "login" in page.text
    log = audrey.get("/api/audit", headers=HOST).json
    assert log["problems"] == [] and any(e["action"] == "chat.view" and e["actor"] == "audrey" for e in log["entries"])
    assert audrey.get("/accounts", headers=HOST).status_code == 403


def test_an_admin_manages_accounts_with_csrf_and_reads_no_chat(app: Flask, people: Path):
    adam = login(app, "adam")
    assert adam.get(f"/chats/{CORPUS_GROUP}", headers=HOST).status_code == 403
    page = adam.get("/accounts", headers=HOST)
    assert page.status_code == 200 and "judy" in page.text and "scrypt" not in page.text
    form = {"name": "mona", "role": "member", "addresses": "frank@example.org", "password": "mona-secret-1"}
    assert adam.post("/accounts", data=form, headers=HOST).status_code == 400  # no CSRF token
    assert Accounts(people).get("mona") is None
    r = adam.post("/accounts", data={**form, "csrf": _csrf(page.text)}, headers=HOST)
    assert r.status_code == 303 and Accounts(people).get("mona").addresses == ("frank@example.org",)
    mona = login(app, "mona", "mona-secret-1")
    assert mona.get("/api/chats", headers=HOST).status_code == 200
    r = adam.post("/accounts/remove", data={"name": "mona", "csrf": _csrf(page.text)}, headers=HOST)
    assert r.status_code == 303 and Accounts(people).get("mona") is None
    assert mona.get("/api/chats", headers=HOST).status_code == 401  # the session ended with the account
    with Archive.open(people, readonly=True) as a:
        actions = [(e["actor"], e["action"], e["target"]) for e in a.audit_entries()]
    assert ("adam", "account.add", "mona") in actions and ("adam", "account.remove", "mona") in actions


def test_csrf_is_needed_on_every_post(app: Flask):
    c = app.test_client()
    r = c.post("/login", data={"name": "judy", "password": PASSWORDS["judy"]}, headers=HOST)
    assert r.status_code == 400
    r = c.post("/login", data={"name": "judy", "password": PASSWORDS["judy"], "csrf": "forged"}, headers=HOST)
    assert r.status_code == 400
    judy = login(app, "judy")
    assert judy.post("/logout", headers=HOST).status_code == 400
    assert judy.get("/api/chats", headers=HOST).status_code == 200  # still logged in
    token = _csrf(judy.get("/login", headers=HOST).text)
    assert judy.post("/logout", data={"csrf": token}, headers=HOST).status_code == 303
    assert judy.get("/api/chats", headers=HOST).status_code == 401
    with Archive.open(app.extensions["coi"].root, readonly=True) as a:
        assert [(e["actor"], e["target"]) for e in a.audit_entries() if e["action"] == "logout"][-1:] == [
            ("judy", "judy")
        ]


def test_sessions_expire(people: Path):
    app = create_app(people, config={"WARM_ANALYTICS": False, "SESSION_IDLE_SECONDS": 1})
    judy = login(app, "judy")
    assert judy.get("/api/chats", headers=HOST).status_code == 200
    time.sleep(1.3)
    assert judy.get("/api/chats", headers=HOST).status_code == 401
    app.extensions["coi"].pool.close()


def test_failed_web_logins_are_throttled_and_audited(app: Flask, people: Path):
    c = app.test_client()
    remote = {"REMOTE_ADDR": "10.9.9.9"}
    token = _csrf(c.get("/login", headers=HOST).text)
    codes = [
        c.post(
            "/login", data={"name": "audrey", "password": "guess", "csrf": token}, headers=HOST, environ_base=remote
        ).status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    r = c.post(
        "/login",
        data={"name": "audrey", "password": PASSWORDS["audrey"], "csrf": token},
        headers=HOST,
        environ_base=remote,
    )
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1  # even the right password waits
    with Archive.open(people, readonly=True) as a:
        failed = [e for e in a.audit_entries() if e["action"] == "login.failed" and e["remote"] == "10.9.9.9"]
    assert len(failed) == 5 and "throttled" in failed[-1]["result"] and "wrong password" in failed[0]["result"]


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


def test_behind_a_trusted_proxy_the_client_address_is_audited_and_throttled(people: Path):
    import http.client

    from coi_archive.webui.server import make_server

    app = create_app(people, config={"WARM_ANALYTICS": False})
    server = make_server("127.0.0.1", 0, app, trusted_proxy="127.0.0.1")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=30)
        conn.request("GET", "/login", headers={"X-Forwarded-For": "203.0.113.7"})
        r = conn.getresponse()
        token, cookie = _csrf(r.read().decode()), r.getheader("Set-Cookie").split(";")[0]
        body = f"name=judy&password=guess&csrf={quote(token)}"
        conn.request(
            "POST",
            "/login",
            body=body,
            headers={
                "X-Forwarded-For": "203.0.113.7",
                "Cookie": cookie,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert conn.getresponse().status == 401
        conn.close()
    finally:
        server.close()
        server.task_dispatcher.shutdown(timeout=10)
        app.extensions["coi"].pool.close()
    with Archive.open(people, readonly=True) as a:
        last = a.audit_entries()[-1]
    assert (last["action"], last["remote"]) == ("login.failed", "203.0.113.7")


def test_accounts_let_serve_bind_beyond_loopback():
    from coi_archive.webui.server import ServeError, check_binding

    with pytest.raises(ServeError, match="without --password, --token or accounts"):
        check_binding("0.0.0.0", None, None)
    check_binding("0.0.0.0", None, None, accounts=True)
    check_binding("127.0.0.1", None, None)


def test_waitress_serves_50_clients_for_5_seconds_without_an_error(corpus: Path):
    from benchmarks.bench_serve import run_load
    from coi_archive.webui.server import make_server

    app = create_app(corpus, config={"WARM_ANALYTICS": False})
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.effective_port}"
        paths = [
            f"/chats/{CORPUS_GROUP}",
            "/search?q=Kochclub",
            "/api/search?q=Minuten",
            "/chats",
            "/chats/grp-Z2Awmb5mUzGzDsdPavcQByHb",
        ]
        result = run_load(base, clients=50, seconds=5, paths=paths)
    finally:
        server.close()
        server.task_dispatcher.shutdown(timeout=10)
        app.extensions["coi"].pool.close()
    assert result["errors"] == 0, result
    assert result["requests"] >= 50, result
