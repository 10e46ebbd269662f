"""The web UI through Flask's test client: every page and its JSON twin,
paging of a 10,000-message chat, the owner heuristic, search facets and
jumps, and security (headers, sanitising, attachments, auth, host check,
read-only, threads).  Browser tests are in test_webui_browser.py."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from pathlib import Path

import pytest

from coi_archive.index.api import Archive
from coi_archive.webui import create_app
from coi_archive.webui.security import CSP, basic_auth_header
from tests.webui_support import BIG_CHAT, CORPUS_HIKE, SAMPLE_COI_DM, SAMPLE_DM, SAMPLE_GROUP

HOST = {"Host": "127.0.0.1:8080"}


@pytest.fixture(scope="module")
def client(samples):
    app = create_app(samples)
    with app.test_client() as c:
        yield c
    app.extensions["coi"].pool.close()


def get(client, url, **kw):
    headers = {**HOST, **kw.pop("headers", {})}
    return client.get(url, headers=headers, **kw)


def ok_html(client, url) -> str:
    r = get(client, url)
    assert r.status_code == 200, (url, r.status_code, r.data[:500])
    assert r.mimetype == "text/html"
    return r.get_data(as_text=True)


# --------------------------------------------------------------------------
# Pages and their JSON twins
# --------------------------------------------------------------------------


def test_chat_list_sections_filters_and_twin(client, samples):
    import time

    deadline = time.monotonic() + 10  # unread counts come from a background job
    while get(client, "/api/chats").get_json()[0]["unread"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    html = ok_html(client, "/chats")
    assert "Garden Crew &amp; Friends" in html and "Mail threads" in html
    chats_part, mail_part = html.split("Mail threads", 1)
    assert "Plot 17 hedge trimming" in mail_part and "Plot 17 hedge trimming" not in chats_part
    assert "Crew Night Out" in chats_part
    assert "unread" not in html  # a mail client's flag means little in an archive: JSON only (below)
    grp = ok_html(client, "/chats?kind=group")
    assert "Crew Night Out" in grp and "Plot 17 hedge trimming" not in grp
    assert "Alice Angel &amp; Bob Barr" not in ok_html(client, "/chats?q=garden")
    assert "Дмитрий" in ok_html(client, "/chats?q=дмитрий")  # member names are searchable

    with Archive.open(samples, readonly=True) as a:
        expected = a.chats()
    api = get(client, "/api/chats").get_json()
    assert [c["id"] for c in api] == [c["id"] for c in expected]
    assert all({k: v for k, v in c.items() if k != "unread"} == e for c, e in zip(api, expected))
    assert {c["id"]: c["unread"] for c in api if c["unread"]} == {SAMPLE_GROUP: 1, "dm-dadcec21be6309f8": 1}
    assert get(client, "/api/chats?offset=2&limit=3").get_json() == api[2:5]
    assert [c["id"] for c in get(client, "/api/chats?kind=mail").get_json()] == [
        c["id"] for c in expected if c["kind"] == "mail"
    ]
    assert get(client, "/api/chats?kind=banana").status_code == 400


def test_chat_list_pages_long_sections(client):
    html = ok_html(client, "/chats?limit=5")
    assert html.count('class="chat-row filter-row"') == 10  # (contacts are rows of class contact-row)
    assert "Show all 9 chats" in html and "Show all 13 mail threads" in html
    page = ok_html(client, "/chats?section=mail&limit=5&offset=5")
    assert page.count('class="chat-row filter-row"') == 5 and "Chats <span" not in page
    assert "6–10" in page and "offset=0" in page and "offset=10" in page
    assert get(client, "/chats?section=nope").status_code == 400


def test_chat_view_renders_every_feature(client):
    html = ok_html(client, f"/chats/{SAMPLE_DM}")
    assert 'class="quote"' in html and "Boulderhalle Nord" in html  # reply with quote
    assert 'class="badge edited"' in html and "The day pass costs 12 euro." in html  # revisions
    assert "Message deleted" in html and "Preserved original" in html
    assert "My door code is 4711" in html  # preserved text, inside <details>
    assert re.search(r'<details class="preserved">.*?4711', html, re.S)
    assert "voice-message_2025-03-08_11-10-00.wav" in html and "844 B" in html
    assert "openstreetmap.org/?mlat=52.520000&amp;mlon=13.405000" in html
    assert 'class="contact-card"' in html and "Chiara Rossi" in html
    assert "read by" in html and 'class="reaction"' in html
    assert "↪ Forwarded" in html
    assert re.search(
        r'<a class="thumb" href="/attachment\?m=Mr.hQ4vB8nK2sW.0018@example.net&amp;part=2"[^>]*>'
        r'<img src="/thumbnail\?m=Mr.hQ4vB8nK2sW.0018@example.net&amp;part=2"',
        html,
    )
    group = ok_html(client, f"/chats/{SAMPLE_GROUP}")
    assert 'class="sys' in group and "renamed the group" in group
    assert "Members over time" in group and "Name history" in group and "Allotment Garden" in group
    assert "removed by Anna Lindqvist" in group and "left" in group
    assert "Saturday, 05 April 2025" in group  # day separator


def test_chat_json_twin_and_info(client, samples):
    with Archive.open(samples, readonly=True) as a:
        full = a.show(SAMPLE_GROUP)
        members = a.memberships(SAMPLE_GROUP)
    data = get(client, f"/api/chats/{SAMPLE_GROUP}").get_json()
    assert data["chat"] == full["chat"] and data["messages"] == full["messages"]
    assert data["total"] == len(full["messages"]) and data["offset"] == 0
    assert data["me"] == ["anna@example.net"]
    page = get(client, f"/api/chats/{SAMPLE_GROUP}?offset=3&limit=4").get_json()
    assert page["messages"] == full["messages"][3:7]
    info = get(client, f"/api/chats/{SAMPLE_GROUP}/info").get_json()
    assert info["memberships"] == members and [n["name"] for n in info["name_history"]] == [
        "Allotment Garden",
        "Garden Crew 🌱",
        "Garden Crew & Friends",
    ]
    assert get(client, "/api/chats/grp-nope").status_code == 404
    assert get(client, "/api/chats/grp-nope").get_json()["error"]
    assert get(client, "/chats/grp-nope").status_code == 404


def test_owner_heuristic_and_choice(client):
    html = ok_html(client, f"/chats/{SAMPLE_GROUP}")
    own = re.findall(r'<div class="msg own[^"]*" id="[^"]+" data-mid="([^"]+)"', html)
    assert own and all(mid in html for mid in own)
    assert "Gr.gRd7Kq2VnX4pLm9sTz.0001@example.net" in own  # anna's welcome
    assert "Gr.gRd7Kq2VnX4pLm9sTz.0002@example.net" not in own  # chiara
    r = get(client, f"/chats/{SAMPLE_GROUP}?me=chiara@example.net")
    mine = re.findall(r'<div class="msg own[^"]*" id="[^"]+" data-mid="([^"]+)"', r.get_data(as_text=True))
    assert "Gr.gRd7Kq2VnX4pLm9sTz.0002@example.net" in mine and "Gr.gRd7Kq2VnX4pLm9sTz.0001@example.net" not in mine
    assert "coi_archive_me=chiara@example.net" in r.headers["Set-Cookie"]
    r = get(client, f"/chats/{SAMPLE_GROUP}?me=")
    assert "coi_archive_me=;" in r.headers["Set-Cookie"]
    # COI samples: alice is the account owner of her chats
    coi = get(client, f"/api/chats/{SAMPLE_COI_DM}").get_json()
    assert coi["me"] == ["alice@example.com"]


def test_search_page_facets_and_jump(client):
    html = ok_html(client, "/search?q=garden")
    assert "<mark>" in html and "Garden Crew &amp; Friends" in html
    data = get(client, "/api/search?q=garden").get_json()
    assert data["hits"] and all("<mark>" in h["snippet_html"] or h["snippet"] for h in data["hits"])
    chat_facet = {f["value"]: f for f in data["facets"]["chat"]}
    assert chat_facet[SAMPLE_GROUP]["count"] == sum(h["chat_id"] == SAMPLE_GROUP for h in data["hits"])
    assert {f["value"] for f in data["facets"]["year"]} == {"2025"}
    refined = get(client, chat_facet[SAMPLE_GROUP]["url"].replace("/search", "/api/search")).get_json()
    assert refined["hits"] and {h["chat_id"] for h in refined["hits"]} == {SAMPLE_GROUP}
    sender = data["facets"]["sender"][0]
    assert get(client, sender["url"].replace("/search", "/api/search")).get_json()["hits"]
    hit = data["hits"][-1]
    assert "at=" in hit["url"] and "#m-" in hit["url"]
    page = ok_html(client, hit["url"].split("#")[0])
    anchor = hit["url"].split("#")[1]
    assert re.search(rf'class="(msg|sys)[^"]*\bhit\b[^"]*" id="{anchor}"', page)
    empty = ok_html(client, "/search?q=")
    assert get(client, "/api/search?q=").get_json()["hits"] == []
    # the page's own help names every is: filter the query language knows
    assert all(f"<code>is:{flag}</code>" in empty for flag in ("edited", "deleted", "encrypted", "reply", "forwarded"))
    # history search finds deleted text
    hist = get(client, "/api/search?q=4711&history=1").get_json()
    assert any(h["message_id"] == "Mr.hQ4vB8nK2sW.0014@example.net" for h in hist["hits"])


def test_goto_contacts_stats(client, samples):
    r = get(client, "/goto?m=Mr.hQ4vB8nK2sW.0004@example.net")
    assert r.status_code == 302 and f"/chats/{SAMPLE_DM}?at=" in r.headers["Location"]
    assert get(client, "/goto?m=nope@x").status_code == 404
    html = ok_html(client, "/contacts")
    assert "alice@example.com" in html and "Дмитрий Соколов" in html
    detail = ok_html(client, "/contacts/alice@example.com")
    assert "working from home..." in detail and "weekend here I come..." in detail and "Crew Night Out" in detail
    with Archive.open(samples, readonly=True) as a:
        assert get(client, "/api/contacts").get_json() == a.contacts()
        assert get(client, "/api/stats").get_json() == a.stats()
    one = get(client, "/api/contacts/alice@example.com").get_json()
    assert one["contact"]["name"] == "Alice Angel" and "grp-1234abcd4321" in one["chats"]
    assert get(client, "/api/contacts/nobody@example.com").status_code == 404
    page = ok_html(client, "/stats")
    assert "Different messages" in page and "edits, deletions, reactions and receipts: <b>29</b>" in page
    assert "by role" not in page.lower().split("<details")[0]  # role codes only in the details and the JSON
    msg = get(client, "/api/message?id=Mr.hQ4vB8nK2sW.0004@example.net").get_json()
    assert msg["chat_id"] == SAMPLE_DM and msg["reply_to"] == "Mr.hQ4vB8nK2sW.0002@example.net"


def test_group_info_on_real_corpus(corpus):
    app = create_app(corpus)
    c = app.test_client()
    html = c.get(f"/chats/{CORPUS_HIKE}", headers=HOST).get_data(as_text=True)
    assert "Harz Hike ⛰️ Sat" in html and "Hike &amp; Picnic 🧺" in html  # name history
    assert "Heidi Sørensen left the group" in html
    info = c.get(f"/api/chats/{CORPUS_HIKE}/info", headers=HOST).get_json()
    ivan = [m for m in info["memberships"] if m["member"] == "ivan@example.org"]
    assert len(ivan) == 2 and ivan[0]["until"] and ivan[1]["until"] is None  # removed, then added back
    app.extensions["coi"].pool.close()


# --------------------------------------------------------------------------
# A 10,000-message chat
# --------------------------------------------------------------------------


def test_big_chat_paging(big):
    app = create_app(big)
    c = app.test_client()
    first = c.get(f"/api/chats/{BIG_CHAT}", headers=HOST).get_json()
    assert first["total"] == 10_000 and first["offset"] == 9_900 and len(first["messages"]) == 100
    assert first["messages"][-1]["text"].startswith("Message 09999")
    html = c.get(f"/chats/{BIG_CHAT}", headers=HOST).get_data(as_text=True)
    assert "Message 09999" in html and "Message 09899:" not in html and "Message 09900:" in html
    assert "showing 9901–10000" in html and 'class="load-older"' in html
    older = re.search(r'class="load-older" href="([^"]+)" data-fragment="([^"]+)"', html)
    frag = c.get(older.group(2).replace("&amp;", "&"), headers=HOST).get_data(as_text=True)
    assert frag.startswith('<div class="page-fragment"') and "Message 09800:" in frag and "Message 09900:" not in frag
    page = c.get(older.group(1).replace("&amp;", "&"), headers=HOST).get_data(as_text=True)
    assert "Message 09800:" in page and "Message 09899:" in page
    # open at a message near the start: the page around it, highlighted, with its edit and delete
    at = c.get(f"/chats/{BIG_CHAT}?at=big.00002@big.example", headers=HOST).get_data(as_text=True)
    assert re.search(r'class="msg [^"]*hit[^"]*"', at) and "Message deleted" in at
    assert "Message 00001 edited: bicycles" in at and "Message 00000:" in at and "👍" in at
    offset = c.get(f"/api/chats/{BIG_CHAT}?offset=5000&limit=50", headers=HOST).get_json()
    assert offset["messages"][0]["text"].startswith("Message 05000") and len(offset["messages"]) == 50
    app.extensions["coi"].pool.close()


# --------------------------------------------------------------------------
# Security
# --------------------------------------------------------------------------


def test_security_headers_and_no_inline_script(client):
    for url in (
        "/chats",
        f"/chats/{SAMPLE_DM}",
        "/search?q=garden",
        "/contacts",
        "/contacts/alice@example.com",
        "/stats",
        "/api/chats",
        "/chats/nope",
    ):
        r = get(client, url)
        assert r.headers["Content-Security-Policy"] == CSP
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert "no-store" in r.headers["Cache-Control"]
        if r.mimetype == "text/html":
            body = r.get_data(as_text=True)
            assert re.findall(r"<script\b[^>]*>", body) == ['<script src="/static/app.js" defer>']
            assert not re.search(r"\sstyle=", body) and not re.search(r"\son[a-z]+=", body)
    assert "default-src 'none'" in CSP and "script-src 'self'" in CSP and "unsafe" not in CSP


def test_mail_html_is_sanitised_and_remote_images_blocked(xss, client):
    html = ok_html(client, f"/chats/{SAMPLE_COI_DM}")
    assert '<div class="mail-html"><p>hello <b>COI</b> world!</p>' in html
    app = create_app(xss)
    c = app.test_client()
    chats = c.get("/api/chats", headers=HOST).get_json()
    for chat in chats:
        r = c.get(f"/chats/{chat['id']}", headers=HOST)
        body = r.get_data(as_text=True)
        assert r.status_code == 200
        assert re.findall(r"<script\b[^>]*>", body) == ['<script src="/static/app.js" defer>']
        for tag in re.findall(r"<[a-z][^>]*>", body):  # no live handler or remote source in any tag
            assert not re.search(r"\son[a-z]+\s*=", tag), tag
            assert "javascript:" not in tag.lower() and "expression(" not in tag, tag
            assert not re.search(r"""(src|href|action|data)\s*=\s*["']?(https?:)?//evil""", tag) or tag.startswith(
                "<a "
            ), tag
        assert "<iframe" not in body and "<object" not in body and '<form action="http' not in body
    mail = next(ch for ch in chats if ch["kind"] == "mail")
    body = c.get(f"/chats/{mail['id']}", headers=HOST).get_data(as_text=True)
    assert "remote image" in body and "blocked" in body
    loaded = c.get(f"/chats/{mail['id']}?images=remote", headers=HOST)
    assert "img-src 'self' data: https: http:" in loaded.headers["Content-Security-Policy"]
    assert 'src="http://evil.example/pixel.gif"' in loaded.get_data(as_text=True)
    app.extensions["coi"].pool.close()


def test_attachments_served_safely(xss, client):
    r = get(client, "/attachment?m=Gr.gRd7Kq2VnX4pLm9sTz.0011@example.net&part=2")
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert r.headers["Content-Disposition"].startswith("inline;")
    assert "sandbox" in r.headers["Content-Security-Policy"] and r.headers["X-Content-Type-Options"] == "nosniff"
    r = get(client, "/attachment?m=Gr.gRd7Kq2VnX4pLm9sTz.0011@example.net&part=2&download=1")
    assert r.mimetype == "application/octet-stream" and r.headers["Content-Disposition"].startswith("attachment;")
    r = get(client, "/attachment?m=Mr.hQ4vB8nK2sW.0017@example.net&part=2")  # a wav
    assert r.mimetype == "application/octet-stream" and r.headers["Content-Disposition"].startswith("attachment;")
    app = create_app(xss)
    c = app.test_client()
    msg = c.get("/api/message?id=xss.3@evil.example", headers=HOST).get_json()
    for att in msg["attachments"]:
        r = c.get(f"/attachment?m=xss.3@evil.example&part={att['part']}", headers=HOST)
        assert r.status_code == 200
        # SVG, HTML and a "PNG" that is really script: all downloads, never rendered
        assert r.mimetype == "application/octet-stream", att
        cd = r.headers["Content-Disposition"]
        assert cd.startswith("attachment;") and "<" not in cd and "/" not in cd.split("filename*=")[0]
    app.extensions["coi"].pool.close()
    for url in (
        "/attachment?m=../../etc/passwd&part=1",
        "/attachment?m=xss.3@evil.example&part=../../1",
        "/attachment?m=Mr.hQ4vB8nK2sW.0017@example.net&part=9",
        "/static/../index/api.py",
        "/static/..%2f..%2fpyproject.toml",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/assets/../pyproject.toml",
        "/contacts/..%2f..%2fetc%2fpasswd",
    ):
        r = get(client, url)
        assert r.status_code in (400, 404), url
        assert b"[project]" not in r.data and b"root:" not in r.data


def test_password_and_token(samples):
    app = create_app(samples, password="s3cret")
    c = app.test_client()
    r = c.get("/chats", headers=HOST)
    assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"]
    assert c.get("/chats", headers={**HOST, "Authorization": basic_auth_header("wrong")}).status_code == 401
    assert c.get("/api/chats", headers={**HOST, "Authorization": basic_auth_header("s3cret")}).status_code == 200
    # a protected server may be reached under any host name
    assert (
        c.get("/api/chats", headers={"Host": "archive.lan", "Authorization": basic_auth_header("s3cret")}).status_code
        == 200
    )
    app.extensions["coi"].pool.close()

    app = create_app(samples, token="tok-123")
    c = app.test_client()
    assert c.get("/api/chats", headers=HOST).status_code == 401
    assert c.get("/api/chats?token=wrong", headers=HOST).status_code == 401
    assert c.get("/api/chats", headers={**HOST, "Authorization": "Bearer tok-123"}).status_code == 200
    r = c.get("/chats?kind=group&token=tok-123", headers=HOST)
    assert r.status_code == 303 and r.headers["Location"] == "/chats?kind=group"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "tok-123" not in cookie
    assert c.get("/chats?kind=group", headers=HOST).status_code == 200  # the cookie now works
    app.extensions["coi"].pool.close()


def test_host_check_against_dns_rebinding(client):
    assert get(client, "/chats", headers={"Host": "evil.example"}).status_code == 403
    assert get(client, "/chats", headers={"Host": "evil.example:8080"}).status_code == 403
    for host in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080", "localhost"):
        assert get(client, "/api/stats", headers={"Host": host}).status_code == 200, host


def test_serve_refuses_public_binding_without_secret(samples, capsys):
    from coi_archive.cli import main

    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        assert main(["--archive", str(samples), "serve", "--host", host, "--port", "0"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "refusing to serve" in err and "--password" in err
    assert main(["--archive", str(samples.parent / "nothing-here"), "serve", "--port", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def _digest_tree(root: Path) -> dict[str, str]:
    """Every file of the archive but what the UI is meant to write: the
    derived caches (``cache/``: thumbnails, analytics pages) and the audit
    trail (``audit.sqlite``, which records the views)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != "cache" and not p.name.startswith("audit.sqlite")
    }


def test_read_only_and_thread_safe(samples):
    before = _digest_tree(samples)
    app = create_app(samples)
    pool = app.extensions["coi"].pool
    archive = pool.acquire()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        archive.conn.execute("CREATE TABLE hack(x)")
    pool.release(archive)
    urls = [
        "/chats",
        f"/chats/{SAMPLE_DM}",
        f"/api/chats/{SAMPLE_GROUP}",
        "/search?q=garden",
        "/api/search?q=from:anna",
        "/contacts",
        "/api/contacts/alice@example.com",
        "/stats",
        f"/export?chat={SAMPLE_DM}&format=json",
        f"/export?chat={SAMPLE_DM}&format=eml",
        "/attachment?m=Gr.gRd7Kq2VnX4pLm9sTz.0011@example.net&part=2",
    ]
    expected = {u: app.test_client().get(u, headers=HOST).data for u in urls}
    errors: list[str] = []

    def worker(k: int) -> None:
        c = app.test_client()
        for i in range(25):
            u = urls[(i + k) % len(urls)]
            r = c.get(u, headers=HOST)
            if r.status_code != 200 or (r.data != expected[u] and "export" not in u):
                errors.append(f"{u}: {r.status_code}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pool.opened <= 9  # borrowed handles are reused, not one per request
    pool.close()
    assert _digest_tree(samples) == before


def test_export_route(client, samples):
    r = get(client, f"/export?chat={SAMPLE_DM}&format=json")
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("attachment;")
    with Archive.open(samples, readonly=True) as a:
        assert json.loads(r.data) == a.show(SAMPLE_DM)
    r = get(client, f"/export?chat={SAMPLE_DM}&format=html&since=2025-03-08&until=2025-03-08")
    assert r.status_code == 200 and b"<!doctype html>" in r.data and r.mimetype == "text/html"
    r = get(client, "/export?q=garden&format=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv" and b"Garden" in r.data
    r = get(client, f"/export?chat={SAMPLE_DM}&format=mbox")
    assert r.data.startswith(b"From ") and r.mimetype == "application/mbox"
    assert get(client, f"/export?chat={SAMPLE_DM}&format=exe").status_code == 400
    assert get(client, f"/export?chat={SAMPLE_DM}&format=json&since=soon").status_code == 400
    assert get(client, "/export?chat=grp-nope&format=json").status_code == 404
    assert get(client, "/export?format=json").status_code == 400


def test_long_membership_history_shows_the_newest_rows_and_links_to_all(samples):
    """A group with more membership changes than ``MEMBERSHIP_ROWS`` shows the
    newest of them, says how many there are and links to every one."""
    app = create_app(samples, config={"MEMBERSHIP_ROWS": 2})
    rows = re.compile(r"<tr><td>(.*?)</td>", re.S)
    with Archive.open(samples, readonly=True) as a:
        every = a.memberships(SAMPLE_GROUP)
    try:
        with app.test_client() as c:
            assert len(every) > 2  # the sample group's members over time
            html = ok_html(c, f"/chats/{SAMPLE_GROUP}?tz=UTC")
            timeline = html.split('id="members-over-time"', 1)[1].split("</table>", 1)[0]
            assert len(rows.findall(timeline)) == 2
            assert f"The latest 2 of {len(every)} changes" in timeline
            link = re.search(r'<a href="([^"]*members=all[^"]*)">Show all', timeline).group(1).replace("&amp;", "&")
            assert "tz=UTC" in link and link.endswith("#members-over-time")
            full = ok_html(c, link.split("#", 1)[0]).split('id="members-over-time"', 1)[1].split("</table>", 1)[0]
            assert len(rows.findall(full)) == len(every) and "Show all" not in full
    finally:
        app.extensions["coi"].pool.close()
