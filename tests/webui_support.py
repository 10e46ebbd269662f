"""Shared helpers for the web UI, export and analytics tests (no tests in
here; the fixtures that use them are in ``conftest.py``): the sources of
the archives (``samples/``, the real Delta Chat corpus copy, a synthetic
10,000-message chat, a hostile (XSS) mailbox), a live server on 127.0.0.1,
and what the browser tests need to drive Chromium."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
CORPUS = REPO / "tests" / "data" / "deltachat-dev" / "journal-decrypted"
ARTIFACTS = REPO / "test-artifacts"

#: Debian's Chromium, driven by Playwright (``playwright install`` is never used).
CHROMIUM = os.environ.get("COI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SAMPLE_GROUP = "grp-gRd7Kq2VnX4pLm9sTz"  # Garden Crew & Friends
SAMPLE_DM = "dm-81c9d5535caab2d3"  # Anna & Bruno: edit, delete, reply, files, location, contact
SAMPLE_COI_DM = "dm-60241935fceca9a0"  # Alice & Bob (COI): HTML mail, deletes, pin
CORPUS_GROUP = "grp-1RClv9nTrLdFC6QYwqslEPwd"  # Kochclub (real corpus): edit, delete, reactions
CORPUS_HIKE = "grp-Z2Awmb5mUzGzDsdPavcQByHb"  # Hike & Picnic (real corpus): renames, members

BIG_GROUP_ID = "BigGroupTenThousand1"
BIG_CHAT = f"grp-{BIG_GROUP_ID}"


def build_archive(path: Path, *sources: Path) -> Path:
    """Ingest ``sources`` into a new archive at ``path`` (in-process, through
    the notebook API)."""
    from coi_archive.index.api import Archive

    with Archive.open(path) as archive:
        archive.ingest([str(s) for s in sources])
    return path


def _write(maildir: Path, i: int, text: bytes) -> None:
    (maildir / "cur" / f"{1700000000 + i}.M{i}P1.gen:2,S").write_bytes(text)


def make_big_chat(maildir: Path, n: int = 10_000) -> Path:
    """A Maildir with one Delta Chat group of ``n`` messages from five
    senders over about a year, with an edit, a delete and reactions near
    the start (so that paging must find them)."""
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    people = [
        ("Ada Archer", "ada@big.example"),
        ("Ben Brook", "ben@big.example"),
        ("Cleo Cruz", "cleo@big.example"),
        ("Dan Dorn", "dan@big.example"),
        ("Eve Evans", "eve@big.example"),
    ]
    t0 = datetime(2024, 1, 1, 8, 0, tzinfo=timezone.utc)
    words = (
        "coffee",
        "meeting",
        "tomorrow",
        "garden",
        "release",
        "lunch",
        "train",
        "pizza",
        "deploy",
        "weekend",
        "photo",
        "idea",
        "budget",
        "concert",
        "bike",
    )
    for i in range(n):
        name, addr = people[i % 5]
        date = t0 + timedelta(minutes=53 * i)
        others = ", ".join(f"<{a}>" for _n, a in people if a != addr)
        text = f"Message {i:05d}: {words[i % len(words)]} {words[(i * 7) % len(words)]} number {i}"
        _write(
            maildir,
            i,
            (
                f"From: {name} <{addr}>\nTo: {others}\nSubject: Big group\n"
                f"Date: {format_datetime(date)}\nMessage-ID: <big.{i:05d}@big.example>\n"
                f"Chat-Version: 1.0\nChat-Group-ID: {BIG_GROUP_ID}\nChat-Group-Name: Ten Thousand\n"
                "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
                f"{text}\n"
            ).encode(),
        )
    extra = [
        ("ben@big.example", "Chat-Edit: <big.00001@big.example>\n", "Message 00001 edited: bicycles"),
        ("cleo@big.example", "Chat-Delete: <big.00002@big.example>\n", "🚮"),
    ]
    for j, (addr, header, body) in enumerate(extra):
        date = t0 + timedelta(minutes=53 * 3 + j)
        _write(
            maildir,
            n + j,
            (
                f"From: <{addr}>\nTo: <ada@big.example>\nSubject: Big group\nDate: {format_datetime(date)}\n"
                f"Message-ID: <big.ctl{j}@big.example>\nChat-Version: 1.0\nChat-Group-ID: {BIG_GROUP_ID}\n"
                f"{header}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
            ).encode(),
        )
    date = t0 + timedelta(minutes=53 * 4)
    _write(
        maildir,
        n + 5,
        (
            f"From: <dan@big.example>\nTo: <ada@big.example>\nSubject: Big group\nDate: {format_datetime(date)}\n"
            "Message-ID: <big.react@big.example>\nIn-Reply-To: <big.00000@big.example>\nChat-Version: 1.0\n"
            f"Chat-Group-ID: {BIG_GROUP_ID}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Disposition: reaction\n\n👍\n"
        ).encode(),
    )
    return maildir


# --------------------------------------------------------------------------
# The hostile mailbox
# --------------------------------------------------------------------------

#: Every payload would set window.__pwned (or fetch an external URL).
XSS_PAYLOADS = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned='onerror'\">",
    "<a href=\"javascript:window.__pwned='js-link'\">click me</a>",
    "<svg onload=\"window.__pwned='svg'\"><script>window.__pwned='svg-script'</script></svg>",
    "<div style=\"width: expression(window.__pwned='css'); background:url(http://evil.example/bg.png)\">css</div>",
    "<iframe src=\"javascript:parent.__pwned='iframe'\"></iframe>",
    "</textarea></title></style><script>window.__pwned='breakout'</script>",
    "<body onload=\"window.__pwned='body'\">",
    "<object data=\"data:text/html,<script>parent.__pwned='object'</script>\"></object>",
    '<form action="http://evil.example/"><button formaction="javascript:window.__pwned=\'form\'">x</button></form>',
    '<img src="http://evil.example/pixel.gif" width=1 height=1>',
    '<link rel=stylesheet href="http://evil.example/x.css">',
    '<meta http-equiv="refresh" content="0;url=javascript:window.__pwned=\'meta\'">',
    '<base href="http://evil.example/">',
    '<p>unclosed <b>bold <i>italic <a href="http://evil.example/ok">link',
    "<math><mtext><table><mglyph><style><img src=x onerror=\"window.__pwned='mxss'\">",
]

EVIL_NAME = "<img src=x onerror=\"window.__pwned='name'\">\"'&"
EVIL_FILE = "<script>window.__pwned='file'</script>\".svg"
EVIL_SVG = (
    b"<svg xmlns='http://www.w3.org/2000/svg' onload=\"window.__pwned='svgfile'\">"
    b"<script>window.__pwned='svgfile2'</script></svg>"
)


def make_xss_mailbox(maildir: Path) -> Path:
    """A Maildir whose messages carry every payload in text, HTML, names,
    subjects, group names, file names and attachments."""
    import base64

    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    html = "\n".join(XSS_PAYLOADS)
    plain = "\n".join(XSS_PAYLOADS) + "\njavascript:window.__pwned='plain' http://evil.example/x"
    t0 = datetime(2025, 2, 1, 12, 0, tzinfo=timezone.utc)
    boundary = "b-xss-1"
    msgs = [
        # 1. Delta Chat group message with HTML alternative and evil names
        (
            f"From: =?utf-8?q?{EVIL_NAME.replace(' ', '_').replace('=', '=3D').replace('?', '=3F')}?= "
            "<mallory@evil.example>\n"
            "To: victim@home.example, friend@home.example\n"
            f"Subject: {XSS_PAYLOADS[0]}\nMessage-ID: <xss.1@evil.example>\n"
            f"Chat-Version: 1.0\nChat-Group-ID: xssGroup0001\nChat-Group-Name: {XSS_PAYLOADS[1]}\n"
            f'MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="{boundary}"\n\n'
            f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{plain}\n"
            f"--{boundary}\nContent-Type: text/html; charset=utf-8\n\n<html><body>{html}</body></html>\n"
            f"--{boundary}--\n"
        ),
        # 2. an ordinary mail with HTML only
        (
            "From: Mallory <mallory@evil.example>\nTo: victim@home.example\n"
            f"Subject: Invoice {XSS_PAYLOADS[2]}\nMessage-ID: <xss.2@evil.example>\n"
            "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
            f"<html><head><style>body{{background:url(http://evil.example/bg)}}</style>"
            f'<script src="http://evil.example/x.js"></script></head><body>{html}</body></html>\n'
        ),
        # 3. attachments with hostile names: an SVG with script, an HTML file, an image
        (
            f"From: <mallory@evil.example>\nTo: <victim@home.example>, <friend@home.example>\n"
            f"Subject: files\nMessage-ID: <xss.3@evil.example>\nChat-Version: 1.0\n"
            f"Chat-Group-ID: xssGroup0001\nChat-Group-Name: {XSS_PAYLOADS[1]}\n"
            f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="{boundary}"\n\n'
            f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\nhere are files {XSS_PAYLOADS[3]}\n"
            f'--{boundary}\nContent-Type: image/svg+xml; name="{EVIL_FILE}"\n'
            f'Content-Disposition: attachment; filename="{EVIL_FILE}"\nContent-Transfer-Encoding: base64\n\n'
            f"{base64.b64encode(EVIL_SVG).decode()}\n"
            f'--{boundary}\nContent-Type: text/html; name="page.html"\n'
            'Content-Disposition: attachment; filename="../../etc/passwd<b>.html"\n\n'
            "<script>window.__pwned='htmlfile'</script>\n"
            f'--{boundary}\nContent-Type: image/png; name="fake.png"\n'
            'Content-Disposition: attachment; filename="fake.png"\n\n'
            "<script>window.__pwned='fakepng'</script>\n"
            f"--{boundary}--\n"
        ),
        # 4. malformed HTML, broken MIME, a reply quoting payloads
        (
            "From: <mallory@evil.example>\nTo: <victim@home.example>\nSubject: broken\n"
            "Message-ID: <xss.4@evil.example>\nIn-Reply-To: <xss.1@evil.example>\n"
            "Chat-Version: 1.0\nChat-Group-ID: xssGroup0001\n"
            'MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="nope"\n\n'
            "--nope\nContent-Type: text/html\n\n<<script>>window.__pwned='malformed'<</script>><img/src=x/onerror="
            "window.__pwned='malformed2'><p <a>\n"
        ),
        # 5. a geo: text with a payload
        (
            "From: <mallory@evil.example>\nTo: <victim@home.example>\n"
            "Subject: =?utf-8?q?loc?=\nMessage-ID: <xss.5@evil.example>\nChat-Version: 1.0\n"
            "Chat-Group-ID: xssGroup0001\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
            "geo:\"><script>window.__pwned='geo'</script>\n"
        ),
        # 6. a shared contact (vCard) whose name and address are payloads
        (
            "From: <mallory@evil.example>\nTo: <victim@home.example>\nSubject: contact\n"
            "Message-ID: <xss.6@evil.example>\nChat-Version: 1.0\nChat-Group-ID: xssGroup0001\n"
            f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="{boundary}"\n\n'
            f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n\n"
            f'--{boundary}\nContent-Type: text/vcard; name="x.vcf"\n'
            'Content-Disposition: attachment; filename="x.vcf"\n\n'
            "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:<img src=x onerror=\"window.__pwned='vcard'\">\r\n"
            "EMAIL:\"><script>window.__pwned='vcard2'</script>@evil.example\r\nEND:VCARD\r\n"
            f"--{boundary}--\n"
        ),
    ]
    for i, m in enumerate(msgs):
        date = format_datetime(t0 + timedelta(minutes=i))
        data = f"Date: {date}\n{m}".encode()
        (maildir / "cur" / f"{1738400000 + i}.M{i}P9.xss:2,S").write_bytes(data)
    return maildir


# --------------------------------------------------------------------------
# A live server and a browser
# --------------------------------------------------------------------------


@contextlib.contextmanager
def live_server(archive_dir: Path, **kwargs) -> Iterator[str]:
    """Serve the UI on 127.0.0.1 on a free port in a thread; yields the
    base URL and stops the server afterwards."""
    from werkzeug.serving import make_server

    from coi_archive.webui import create_app

    app = create_app(archive_dir, **kwargs)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="coi-webui-test", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        app.extensions["coi"].pool.close()


class Guard:
    """Records what must never happen: requests leaving 127.0.0.1 (they
    are aborted), page errors, console errors, dialogs."""

    def __init__(self) -> None:
        self.external: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []

    def check(self) -> None:
        assert self.external == [], f"external requests: {self.external}"
        assert self.errors == [], f"page/console errors: {self.errors}"
