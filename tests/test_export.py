"""Exports (``coi-archive export`` and the ``export`` package): JSON is the
``show --json`` shape, mbox/eml carry the byte-exact originals and rebuild
the same chat when ingested again, CSV is spreadsheet-safe, HTML is one
self-contained file without any external reference, date ranges scope."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from coi_archive import export
from coi_archive.index.api import Archive
from tests.cli_helpers import cli
from tests.webui_support import SAMPLE_COI_DM, SAMPLE_DM, SAMPLE_GROUP, make_xss_mailbox

CORPUS_DM = "dm-621ca8306ba46ab7"  # Frank & Grace: a message edited three times, then deleted


def run(archive: Path, *args: str):
    return cli(archive, "export", *args, check=False, inprocess=True)


def comparable(show: dict) -> str:
    return json.dumps(show, sort_keys=True, ensure_ascii=False)


# --------------------------------------------------------------------------
# JSON and CSV
# --------------------------------------------------------------------------


def test_json_is_the_show_shape(samples, tmp_path):
    for chat_id in (SAMPLE_DM, SAMPLE_GROUP, SAMPLE_COI_DM):
        out = tmp_path / f"{chat_id}.json"
        res = run(samples, chat_id, "--format", "json", "--out", str(out))
        assert res.returncode == 0, res.describe()
        shown = cli(samples, "show", chat_id, "--json", inprocess=True).json()
        assert json.loads(out.read_text("utf-8")) == shown
    res = run(samples, SAMPLE_DM, "--format", "json", "--out", "-")
    assert res.json()["chat"]["id"] == SAMPLE_DM


def test_date_range_scopes_messages(samples, tmp_path):
    res = run(samples, SAMPLE_GROUP, "--format", "json", "--since", "2025-04-06", "--until", "2025-04-06", "--out", "-")
    msgs = res.json()["messages"]
    assert msgs and all(m["date"].startswith("2025-04-06") for m in msgs)
    with Archive.open(samples, readonly=True) as a:
        assert len(msgs) == sum(m["date"].startswith("2025-04-06") for m in a.show(SAMPLE_GROUP)["messages"])
    assert run(samples, SAMPLE_GROUP, "--format", "json", "--since", "2025-05", "--out", "-").json()["messages"] == []
    assert export.parse_bound("2025-04", end=True) == datetime(2025, 4, 30, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert export.parse_bound("2024", end=False) == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert export.parse_bound("2025-02-03T10:00:00+01:00").hour == 10
    bad = run(samples, SAMPLE_GROUP, "--format", "json", "--since", "yesterday", "--out", "-")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not a date" in bad.stderr


def test_cli_errors_are_one_line(samples, tmp_path):
    for args in (
        ["grp-nope", "--format", "json", "--out", str(tmp_path / "x")],
        [SAMPLE_DM, "--format", "json"],
        ["--format", "csv", "--out", str(tmp_path / "x")],
        [SAMPLE_DM, "--format", "json", "--out", str(tmp_path / "missing" / "dir" / "x.json")],
    ):
        res = run(samples, *args)
        assert res.returncode == 2 and res.stderr.count("\n") == 1, (args, res.stderr)
    assert not list(tmp_path.rglob("*.part"))


def test_out_directory_gets_a_file_name(samples, tmp_path):
    res = run(samples, SAMPLE_GROUP, "--format", "html", "--out", str(tmp_path))
    assert res.returncode == 0, res.describe()
    assert (tmp_path / "Garden_Crew_Friends.html").exists()


def test_csv(samples, tmp_path):
    out = tmp_path / "dm.csv"
    assert run(samples, SAMPLE_DM, "--format", "csv", "--out", str(out)).returncode == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(rows[0]) == export.writers.CSV_COLUMNS
    with Archive.open(samples, readonly=True) as a:
        msgs = a.show(SAMPLE_DM)["messages"]
    assert [r["message_id"] for r in rows] == [m["message_id"] for m in msgs]
    deleted = next(r for r in rows if r["message_id"] == "Mr.hQ4vB8nK2sW.0014@example.net")
    assert deleted["deleted"] == "1" and deleted["text"] == "" and "4711" in deleted["original_text"]
    assert any("👍" in r["reactions"] or "❤" in r["reactions"] for r in rows)
    assert export.writers._cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert export.writers._cell("@SUM(A1)") == "'@SUM(A1)" and export.writers._cell("fine") == "fine"


# --------------------------------------------------------------------------
# Originals: mbox and eml
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "which,chat_id",
    [("samples", SAMPLE_DM), ("samples", SAMPLE_GROUP), ("samples", SAMPLE_COI_DM), ("corpus", CORPUS_DM)],
)
def test_mbox_rebuilds_the_same_chat(which, chat_id, samples, corpus, tmp_path):
    """Ingesting the exported mbox into an empty archive gives the same chat
    (edits, deletes, reactions, receipts included) and the same originals."""
    src = samples if which == "samples" else corpus
    mbox = tmp_path / "chat.mbox"
    res = run(src, chat_id, "--format", "mbox", "--out", str(mbox))
    assert res.returncode == 0, res.describe()
    data = mbox.read_bytes()
    assert data.startswith(b"From ")
    assert not re.search(rb"\n\n(?!From )From ", data)  # every body From_ line is escaped
    again = tmp_path / "again"
    with Archive.open(again) as b:
        b.ingest([str(mbox)])
    with Archive.open(src, readonly=True) as a, Archive.open(again, readonly=True) as b:
        assert comparable(b.show(chat_id)) == comparable(a.show(chat_id))
        assert [c["id"] for c in b.chats()] == [chat_id]
        for m in a.show(chat_id)["messages"]:
            original = a.raw(m["message_id"])
            # mbox cannot say "no final newline": one is added when missing
            assert b.raw(m["message_id"]) == (original if original.endswith(b"\n") else original + b"\n")


def test_mboxrd_escaping_round_trips(tmp_path):
    maildir = tmp_path / "md"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    body = b"From the start\n>From quoted\n>>From deeper\nFrom  double space\nnot From here\n"
    raw = (
        b"From: <a@x.example>\nTo: <b@x.example>\nSubject: from lines\nDate: Mon, 03 Mar 2025 10:00:00 +0000\n"
        b"Message-ID: <from-lines@x.example>\nChat-Version: 1.0\n\n" + body
    )
    (maildir / "cur" / "1.M1P1.x:2,S").write_bytes(raw)
    arch = tmp_path / "a"
    with Archive.open(arch) as a:
        a.ingest([str(maildir)])
        chat_id = a.message("from-lines@x.example")["chat_id"]
        buf = io.BytesIO()
        export.write(a, export.select_chat(a, chat_id), "mbox", buf)
    data = buf.getvalue()
    assert b"\n>From the start\n>>From quoted\n>>>From deeper\n>From  double space\nnot From here\n" in data
    (tmp_path / "x.mbox").write_bytes(data)
    with Archive.open(tmp_path / "b") as b:
        b.ingest([str(tmp_path / "x.mbox")])
        assert b.raw("from-lines@x.example") == raw


def test_eml_zip_holds_the_byte_exact_originals(samples, tmp_path):
    out = tmp_path / "dm.zip"
    res = run(samples, SAMPLE_DM, "--format", "eml", "--out", str(out))
    assert res.returncode == 0 and "exported 25 originals" in res.stderr
    with zipfile.ZipFile(out) as zf, Archive.open(samples, readonly=True) as a:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        assert sorted(names) == sorted([f["file"] for f in manifest["files"]] + ["manifest.json"])
        assert all(n.endswith(".eml") for n in names if n != "manifest.json")
        visible = [m["message_id"] for m in a.show(SAMPLE_DM)["messages"]]
        assert [f["message_id"] for f in manifest["files"] if f["role"] == "message"] == visible
        assert "Mr.hQ4vB8nK2sW.0016@example.net" in [f["message_id"] for f in manifest["files"]]  # the delete
        for f in manifest["files"]:
            data = zf.read(f["file"])
            assert data == a.raw(f["message_id"]) and hashlib.sha256(data).hexdigest() == f["sha256"]
    only = tmp_path / "visible.zip"
    assert run(samples, SAMPLE_DM, "--format", "eml", "--visible-only", "--out", str(only)).returncode == 0
    with zipfile.ZipFile(only) as zf:
        assert len(zf.namelist()) == 13 + 1


# --------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.scripts = 0
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "script":
            self.scripts += 1
        for k, v in attrs:
            if k in ("src", "href", "action", "data", "poster", "srcset", "background") and v:
                self.refs.append((tag, k, v))
            if k.startswith("on") or k == "style":
                self.refs.append((tag, k, v or ""))


def check_self_contained(html: str) -> _Refs:
    p = _Refs()
    p.feed(html)
    assert p.scripts == 0
    assert 'http-equiv="Content-Security-Policy"' in html and "default-src 'none'" in html
    for tag, attr, value in p.refs:
        assert attr in ("src", "href"), (tag, attr, value)
        if attr == "src":
            assert value.startswith("data:image/"), value  # images are inlined
        else:  # links only: in-file anchors, or web links that need a click (and open a new tab)
            assert tag == "a" and (value.startswith("#") or value.startswith(("https://", "http://", "mailto:"))), value
    assert "<link" not in html and "url(" not in html.split("</style>", 1)[0].split("<style>", 1)[1]
    return p


def test_html_is_self_contained(samples, corpus, tmp_path):
    out = tmp_path / "dm.html"
    assert run(samples, SAMPLE_DM, "--format", "html", "--out", str(out)).returncode == 0
    html = out.read_text("utf-8")
    check_self_contained(html)
    assert "Anna Lindqvist &amp; Bruno Ferreira" in html and "Preserved original" in html
    assert "My door code is 4711" in html and "The day pass costs 12 euro." in html
    assert 'src="data:image/png;base64,' in html  # the inline image
    assert "voice-message_2025-03-08_11-10-00.wav" in html and "not included" in html
    assert re.search(r'class="quote" href="#m-[0-9a-f]{16}"', html)  # a reply links inside the file
    out2 = tmp_path / "corpus.html"
    assert run(corpus, CORPUS_DM, "--format", "html", "--out", str(out2)).returncode == 0
    check_self_contained(out2.read_text("utf-8"))


def test_search_export(samples, tmp_path):
    res = run(samples, "--search", "garden", "--format", "json", "--out", "-")
    data = res.json()
    assert data["query"] == "garden" and data["chats"]
    assert {c["chat"]["id"] for c in data["chats"]} == {SAMPLE_GROUP}
    out = tmp_path / "s.html"
    assert run(samples, "--search", "from:bruno", "--format", "html", "--out", str(out)).returncode == 0
    check_self_contained(out.read_text("utf-8"))
    assert run(samples, SAMPLE_DM, "--search", "x", "--format", "json", "--out", "-").returncode == 2


def test_hostile_mail_in_html_export(tmp_path):
    maildir = make_xss_mailbox(tmp_path / "md")
    with Archive.open(tmp_path / "a") as a:
        a.ingest([str(maildir)])
        for chat in a.chats():
            buf = io.BytesIO()
            export.write(a, export.select_chat(a, chat["id"]), "html", buf)
            html = buf.getvalue().decode("utf-8")
            refs = check_self_contained(html)
            assert "iframe" not in refs.tags and "object" not in refs.tags and "form" not in refs.tags
            assert not any("evil" in v for _t, k, v in refs.refs if k == "src")
