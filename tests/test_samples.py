"""Run the command line tool on the hand-written samples and check the facts
documented in ``samples/README.md``.

Every expected value below was written by hand from the text of the sample
messages (``samples/deltachat`` and ``samples/mail``), never copied from the
program's output.  The samples are ingested once per module.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
DC = SAMPLES / "deltachat"
MAIL = SAMPLES / "mail"
MBOX = MAIL / "inbox.mbox"
SINGLE = MAIL / "single.eml"
MBOX_GZ = MAIL / "mbox.gz"
ALL_SOURCES = (DC, MBOX, SINGLE, MBOX_GZ)

CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))

# ---------------------------------------------------------------- people
ANNA, BRUNO, CHIARA = "anna@example.net", "bruno@example.net", "chiara@example.net"
DMITRI, EMIL = "dmitri@example.net", "emil@example.net"
HELGA, OLAF = "helga@example.net", "olaf@example.net"

# ---------------------------------------------------------------- message ids
GID = "gRd7Kq2VnX4pLm9sTz"


def D(n: int) -> str:
    """A message of the 1:1 chat anna <-> bruno."""
    return f"Mr.hQ4vB8nK2sW.{n:04d}@example.net"


def G(n: int) -> str:
    """A message of the group."""
    return f"Gr.{GID}.{n:04d}@example.net"


def S(n: int) -> str:
    """A message of anna's Saved Messages."""
    return f"Mr.sV9aN1nA0tE.{n:04d}@example.net"


ORPHAN_REACTION = "Mr.hQ4vB8nK2sW.0099@example.net"  # reacts to D(999), not in the mailbox
ORPHAN_EDIT = G(22)  # edits G(999), not in the mailbox
M1 = "20250512060000.4711@mail.example.net"  # plain, mboxrd ">From "
M2 = "CAO7n+water-meter-2025@mail.example.net"  # multipart/alternative
M3 = "fair-2025-0514.anna@gruenwald.example.net"  # HTML only, remote image, script
M4 = "20250515100000.0815@mail.example.net"  # RFC 2231 attachment
M5 = "summer-party-2025@sonnenwiese.example.net"  # mailing list
M6 = "20250520070000.hedge1@mail.example.net"  # thread root
M7 = "a1f3c9e2-hedge2@example.net"
M8 = "b7d2e4f6-hedge3@example.net"
M9 = "3f9c2d1e-7a4b-4c8e-9f10-2b3c4d5e6f70@example.net"  # Thunderbird reply into the DC chat
M10 = "5D1F3A2B.4060907@koeln.example.net"  # ISO-8859-1
M11 = "putz-2025-05-23@mira.example.net"  # undeclared 8-bit UTF-8 Subject
M12 = "000001db1234$56789abc$0a00a8c0@PETE-PC"  # windows-1252 labelled us-ascii
SINGLE_ID = "order-SV-88412-shipped@saatgut.example.net"
GZ1 = "booking-7731@sonnenwiese.example.net"
GZ2 = "20250603142000.9911@mail.example.net"

# Files in samples/deltachat (all of cur/ and new/ of INBOX, .Sent, .DeltaChat)
DC_FILES = 52
DC_UNIQUE = 50  # D1 and G1 are stored twice
MAIL_MESSAGES = 15  # 12 in inbox.mbox, 1 single.eml, 2 in mbox.gz

# Attachments: sizes and SHA-256 of the decoded bytes as they were written
# into the samples.
VOICE = {
    "filename": "voice-message_2025-03-08_11-10-00.wav",
    "mime": "audio/wav",
    "size": 844,
    "sha256": "2515061baa1696d6dba728ce99a3a5db454bc926d6eacb641a2333303a25776c",
}
IMAGE = {
    "filename": "image_2025-03-08_11-15-00.png",
    "mime": "image/png",
    "size": 78,
    "sha256": "2175d9a548b9f7b170f987f57df290aa95ea46bbbfd3fca1c87199d49b661d39",
}
PLAN = {
    "filename": "Trainingsplan Frühjahr – 東京遠征.txt",
    "mime": "text/plain",
    "size": 105,
    "sha256": "0e467cffcb494d26ead7d795f6f4061fa28291eccacd8c41808591bde5d14bce",
}
VCARD = {
    "filename": "chiara.vcf",
    "mime": "text/vcard",
    "size": 100,
    "sha256": "7644720e180eb22f27089273a8ecf07105e61dedfc78496013643d93026e5350",
}
STICKER = {
    "filename": "sticker.png",
    "mime": "image/png",
    "size": 88,
    "sha256": "c929eb0b2fb2051f39f4f3ec0f4bfab67a283984d4b86d2de1d03c2e09178709",
}
# The CSV attachment of M4, exactly as written into the sample (base64 there).
CSV_BYTES = "Posten;Betrag €\nWasser;42,50\nStrom;18,20\nMüllabfuhr;9,00\n".encode()
CSV = {
    "filename": "Jahresabrechnung Übersicht 2025 – ダリア.csv",
    "mime": "text/csv",
    "size": 60,
    "sha256": hashlib.sha256(CSV_BYTES).hexdigest(),
}


# --------------------------------------------------------------------------
# Running the CLI
# --------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    pp = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + pp if pp else "")
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def run(archive: Path, *args, check: bool = True) -> subprocess.CompletedProcess:
    """``coi-archive --archive ARCHIVE ARGS...``; cwd is the archive's parent."""
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "coi_archive", "--archive", str(archive), *map(str, args)],
        cwd=archive.parent,
        env=_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"coi-archive {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"stdout: {proc.stdout[:2000]!r}\nstderr: {proc.stderr.decode('utf-8', 'replace')[-3000:]}"
        )
    return proc


def run_json(archive: Path, *args):
    argv = [str(a) for a in args]
    if "--json" not in argv:
        argv.append("--json")
    out = run(archive, *argv).stdout
    try:
        return json.loads(out.decode("utf-8"))
    except ValueError as exc:
        raise AssertionError(f"`{' '.join(argv)}` printed no JSON: {exc}: {out[:500]!r}") from None


def addr_of(x) -> str:
    """An address from a member/reader entry (a string or an object)."""
    if isinstance(x, dict):
        x = x.get("address") or x.get("addr") or ""
    return str(x).strip().strip("<>").lower()


def addrs(xs) -> set[str]:
    return {addr_of(x) for x in (xs or [])}


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


class View:
    """What the CLI shows about one archive (read once, cached)."""

    def __init__(self, archive: Path):
        self.archive = archive
        self.chats = run_json(archive, "chats")
        self.shows = {c["id"]: run_json(archive, "show", c["id"]) for c in self.chats}
        self.msg: dict[str, dict] = {}
        self.chat_of: dict[str, dict] = {}
        self.count: dict[str, int] = {}
        for shown in self.shows.values():
            for m in shown["messages"]:
                self.msg[m["message_id"]] = m
                self.chat_of[m["message_id"]] = shown["chat"]
                self.count[m["message_id"]] = self.count.get(m["message_id"], 0) + 1

    def chats_of_kind(self, kind: str) -> list[dict]:
        return [c for c in self.chats if c["kind"] == kind]

    def one_chat(self, **match) -> dict:
        found = [c for c in self.chats if all(c.get(k) == v for k, v in match.items())]
        assert len(found) == 1, f"expected exactly one chat with {match}, got {found}"
        return found[0]

    def messages(self, chat: dict) -> list[dict]:
        return self.shows[chat["id"]]["messages"]

    def ids(self, chat: dict) -> list[str]:
        return [m["message_id"] for m in self.messages(chat)]

    def search(self, query: str, *extra: str) -> list[dict]:
        return run_json(self.archive, "search", query, "--limit", "500", *extra)

    def search_ids(self, query: str, *extra: str) -> set[str]:
        return {r["message_id"] for r in self.search(query, *extra)}


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    arc = tmp_path_factory.mktemp("samples") / "archive"
    run(arc, "ingest", *ALL_SOURCES)
    return arc


@pytest.fixture(scope="module")
def view(archive) -> View:
    return View(archive)


class Searched:
    """The ``search`` command on an archive."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive

    search = View.search
    search_ids = View.search_ids


@pytest.fixture(scope="module")
def searched(archive, engine_name, tmp_path_factory) -> Searched:
    """The samples archive searched with each full-text engine (a copy
    switched with ``reindex --engine``)."""
    copy = tmp_path_factory.mktemp(f"samples-{engine_name}") / "archive"
    shutil.copytree(archive, copy)
    run(copy, "reindex", "--engine", engine_name)
    return Searched(copy)


@pytest.fixture(scope="module")
def direct(view) -> dict:
    found = [c for c in view.chats_of_kind("direct") if addrs(c["members"]) == {ANNA, BRUNO}]
    assert len(found) == 1, view.chats
    return found[0]


@pytest.fixture(scope="module")
def group(view) -> dict:
    return view.one_chat(kind="group", group_id=GID)


def msg(view: View, mid: str) -> dict:
    assert mid in view.msg, f"message {mid} is not shown in any chat"
    return view.msg[mid]


def attachment_facts(m: dict) -> list[dict]:
    return [{k: a.get(k) for k in ("filename", "mime", "size", "sha256")} for a in m["attachments"]]


# --------------------------------------------------------------------------
# Command line basics
# --------------------------------------------------------------------------


def test_ingest_bad_path_is_one_error_line(tmp_path):
    proc = run(tmp_path / "arc", "ingest", tmp_path / "does-not-exist", check=False)
    assert proc.returncode == 2
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err


def test_verify_passes(archive):
    assert run(archive, "verify", check=False).returncode == 0


def test_raw_returns_the_original_maildir_bytes(archive):
    # the voice message exists once, in .DeltaChat/cur
    files = [
        p for p in (DC / ".DeltaChat" / "cur").iterdir() if f"\nMessage-ID: <{D(17)}>\n".encode() in p.read_bytes()
    ]
    assert len(files) == 1
    assert run(archive, "raw", D(17)).stdout == files[0].read_bytes()


def test_raw_of_a_duplicate_is_one_of_its_copies(archive):
    copies = {p.read_bytes() for p in (DC / "cur").iterdir() if p.is_file() and not p.name.startswith(".")} | {
        p.read_bytes() for p in (DC / ".Sent" / "cur").iterdir() if p.is_file() and not p.name.startswith(".")
    }
    copies = {c for c in copies if f"\nMessage-ID: <{D(1)}>\n".encode() in c}
    assert len(copies) == 2  # INBOX copy has delivery headers, the .Sent copy has not
    assert run(archive, "raw", D(1)).stdout in copies


# --------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------


def test_stats_counts_duplicates_once(archive):
    st = run_json(archive, "stats")
    assert st["messages_seen"] == DC_FILES + MAIL_MESSAGES
    assert st["duplicates"] == 2
    assert st["unique_messages"] == DC_UNIQUE + MAIL_MESSAGES
    assert st["messages_seen"] == st["unique_messages"] + st["duplicates"]
    assert st["encrypted_undecrypted"] == 0
    assert st["parse_errors"] == 0
    assert st["chat_messages"] + st["mail_messages"] == st["unique_messages"]
    # every Delta Chat file carries Chat-Version; the Thunderbird reply into
    # the chat may be counted either way
    assert DC_UNIQUE <= st["chat_messages"] <= DC_UNIQUE + 1


def test_chat_list(view):
    kinds = [c["kind"] for c in view.chats]
    assert kinds.count("direct") == 1
    assert kinds.count("group") == 1
    assert kinds.count("self") == 1
    assert kinds.count("mailinglist") == 1
    # M1, M2, M3, M4, the hedge thread, M10, M11, M12, single.eml, 2 x mbox.gz
    assert kinds.count("mail") == 11
    assert len(view.chats) == 15
    st = run_json(view.archive, "stats")
    if isinstance(st.get("chats"), int):
        assert st["chats"] == len(view.chats)
    for c in view.chats:
        assert c["encrypted"] is False
        assert c["message_count"] == len(view.shows[c["id"]]["messages"]), c


def test_every_message_listed_once_in_date_order(view):
    assert all(n == 1 for n in view.count.values()), {k: n for k, n in view.count.items() if n > 1}
    for shown in view.shows.values():
        dates = [when(m["date"]) for m in shown["messages"]]
        assert dates == sorted(dates), shown["chat"]


# --------------------------------------------------------------------------
# The 1:1 chat anna <-> bruno
# --------------------------------------------------------------------------


def test_direct_chat_messages(view, direct):
    assert view.ids(direct) == [D(1), D(2), D(4), D(6), D(14), D(17), D(18), D(19), D(20), D(21), D(22), D(23), M9]
    assert addrs(direct["members"]) == {ANNA, BRUNO}
    assert not direct.get("past_members")
    assert when(direct["first_date"]) == datetime(2025, 3, 8, 10, 15, tzinfo=CET)
    assert when(direct["last_date"]) == datetime(2025, 3, 8, 12, 5, tzinfo=CET)


def test_direct_chat_plain_messages(view):
    m1 = msg(view, D(1))
    assert m1["sender"] == ANNA and m1["sender_name"] == "Anna Lindqvist"
    assert m1["text"] == "Hi Bruno! Are we still on for the bouldering session on Thursday?"
    assert when(m1["date"]) == datetime(2025, 3, 8, 9, 15, tzinfo=timezone.utc)
    assert m1["kind"] == "text" and m1["system"] is None
    assert m1["edited"] is False and m1["deleted"] is False and m1["forwarded"] is False
    m2 = msg(view, D(2))
    assert m2["sender"] == BRUNO and m2["sender_name"] == "Bruno Ferreira"
    assert m2["text"] == "Yes! 18:30 at Boulderhalle Nord, I'll book the lane."


def test_quoted_reply(view):
    m = msg(view, D(4))
    assert m["text"] == "Perfect, I'll bring the spare chalk bag."
    assert m["reply_to"] == D(2)


def test_edit_chain(view):
    m = msg(view, D(6))
    assert m["edited"] is True and m["deleted"] is False
    assert m["text"] == "The day pass costs 14 euro, students pay 11."
    assert [r["text"] for r in m["revisions"]] == [
        "The day pass costs 12 euro.",
        "The day pass costs 14 euro.",
        "The day pass costs 14 euro, students pay 11.",
    ]
    assert [r["message_id"] for r in m["revisions"]] == [D(6), D(7), D(8)]
    assert when(m["revisions"][1]["date"]) == datetime(2025, 3, 8, 10, 32, tzinfo=CET)


def test_delete_of_an_edited_message_keeps_history(view):
    m = msg(view, D(14))
    assert m["deleted"] is True
    assert m["text"] == ""
    assert m["edited"] is True
    texts = [r["text"] for r in m["revisions"]]
    assert texts[0] == "My door code is 4711, just walk in."
    assert "My door code is 4712, just walk in." in texts
    assert [r["message_id"] for r in m["revisions"]][:2] == [D(14), D(15)]


def test_reactions_add_change_retract(view):
    assert msg(view, D(1))["reactions"] == {BRUNO: "🎉"}
    assert msg(view, D(2))["reactions"] == {ANNA: "❤️"}  # 👍 then changed to ❤️
    assert msg(view, D(4))["reactions"] == {}  # 😂 then retracted
    assert msg(view, D(6))["reactions"] == {}


def test_read_receipts(view):
    assert addrs(msg(view, D(1))["read_by"]) == {BRUNO}
    assert addrs(msg(view, D(2))["read_by"]) == {ANNA}
    assert addrs(msg(view, D(4))["read_by"]) == {BRUNO}
    assert addrs(msg(view, D(6))["read_by"]) == set()


def test_voice_message(view):
    m = msg(view, D(17))
    assert m["kind"] == "audio"
    assert m["text"] == ""
    assert attachment_facts(m) == [VOICE]


def test_image(view):
    m = msg(view, D(18))
    assert m["kind"] == "image"
    assert m["text"] == "Route map of the new wall"
    assert attachment_facts(m) == [IMAGE]


def test_file_with_rfc2231_name(view):
    m = msg(view, D(19))
    assert m["kind"] == "file"
    assert m["text"] == "Training plan for spring"
    assert attachment_facts(m) == [PLAN]


def test_shared_contact(view):
    m = msg(view, D(20))
    assert m["kind"] == "contact"
    assert m["sender"] == ANNA
    assert attachment_facts(m) == [VCARD]


def test_forwarded(view):
    m = msg(view, D(21))
    assert m["forwarded"] is True
    assert m["text"] == "The gym is closed on Easter Monday, 21 April."


def test_footer_is_not_text(view):
    assert msg(view, D(22))["text"] == "See you Thursday!"


def test_user_location(view):
    m = msg(view, D(23))
    assert m["text"] == "I'm at the gym entrance."
    assert m["location"] is not None
    assert m["location"]["lat"] == pytest.approx(52.52)
    assert m["location"]["lon"] == pytest.approx(13.405)


def test_classic_mail_reply_lands_in_the_chat(view, direct):
    m = msg(view, M9)
    assert view.chat_of[M9]["id"] == direct["id"]
    assert m["sender"] == BRUNO
    assert m["reply_to"] == D(4)
    assert m["text"] == "Great, I'll bring the finger tape and a brush."
    assert "wrote:" not in m["text"] and "Route setter" not in m["text"]


# --------------------------------------------------------------------------
# The group
# --------------------------------------------------------------------------

GROUP_IDS = [
    G(1),
    G(2),
    G(5),
    G(8),
    G(9),
    G(10),
    G(11),
    G(12),
    G(13),
    G(14),
    G(15),
    G(16),
    G(17),
    G(18),
    G(19),
    G(20),
    G(21),
    G(23),
]


def test_group_state(view, group):
    assert group["name"] == "Garden Crew & Friends"
    assert addrs(group["members"]) == {ANNA, CHIARA, DMITRI, EMIL}
    assert addrs(group["past_members"]) == {BRUNO}  # dmitri was re-added
    assert view.ids(group) == GROUP_IDS
    assert when(group["first_date"]) == datetime(2025, 4, 5, 9, 0, tzinfo=CEST)
    assert when(group["last_date"]) == datetime(2025, 4, 7, 12, 0, tzinfo=CEST)
    # optional fields: checked when the program reports them
    if "description" in group:
        assert group["description"] == "Plot 17 at Kleingartenverein Sonnenwiese – shed key: ask Chiara."
    if "avatar" in group:
        assert not group["avatar"]  # set by chiara, removed by anna
    if "ephemeral_timer" in group:
        assert not group["ephemeral_timer"]  # set to 1 week, then disabled


def test_group_system_messages(view, group):
    system = [(m["message_id"], m["system"]) for m in view.messages(group) if m["system"]]
    actions = [(mid, s["action"]) for mid, s in system]
    assert actions == [
        (G(5), "group-description"),
        (G(9), "group-renamed"),
        (G(10), "group-avatar"),
        (G(12), "member-removed"),
        (G(13), "member-added"),
        (G(14), "member-added"),
        (G(16), "group-renamed"),
        (G(17), "ephemeral-timer"),
        (G(19), "ephemeral-timer"),
        (G(20), "member-left"),
        (G(21), "group-avatar"),
    ]
    by_id = dict(system)
    assert (by_id[G(9)]["old_name"], by_id[G(9)]["new_name"]) == ("Allotment Garden", "Garden Crew 🌱")
    assert (by_id[G(16)]["old_name"], by_id[G(16)]["new_name"]) == ("Garden Crew 🌱", "Garden Crew & Friends")
    assert addr_of(by_id[G(12)]["member"]) == DMITRI
    assert addr_of(by_id[G(13)]["member"]) == EMIL
    assert addr_of(by_id[G(14)]["member"]) == DMITRI
    assert addr_of(by_id[G(20)]["member"]) == BRUNO
    for mid, _ in system:
        assert msg(view, mid)["kind"] == "system"
    assert msg(view, G(14))["sender"] == CHIARA
    assert msg(view, G(20))["sender"] == BRUNO


def test_group_plain_messages(view):
    g1 = msg(view, G(1))
    assert g1["text"] == "Welcome to the garden group! First work day is Saturday at 10:00."
    assert g1["reactions"] == {BRUNO: "👍", DMITRI: "👍"}
    assert addrs(g1["read_by"]) == {CHIARA, DMITRI}
    assert msg(view, G(2))["text"] == "I'll bring the tomato seedlings 🍅"
    g8 = msg(view, G(8))
    assert g8["sender"] == DMITRI and g8["sender_name"] == "Дмитрий Соколов"
    assert g8["text"] == "Буду в субботу, привезу две лопаты."
    # carries the Ephemeral-Timer header of the running timer: a text, no system line
    g18 = msg(view, G(18))
    assert g18["kind"] == "text" and g18["system"] is None
    assert g18["sender_name"] == "Emil Øster"
    assert g18["text"] == "Thanks for adding me! I can water the plants on weekdays."
    assert msg(view, G(23))["text"] == "See you all on Saturday, bring gloves!"


def test_group_sticker_and_poi(view):
    st = msg(view, G(11))
    assert st["kind"] == "sticker"
    assert attachment_facts(st) == [STICKER]
    poi = msg(view, G(15))
    # Delta Chat itself shows a text with a location (view type Text)
    assert poi["kind"] in ("location", "text")
    assert poi["text"] == "Found the hardware store for the fence posts."
    assert poi["location"]["lat"] == pytest.approx(48.1374)
    assert poi["location"]["lon"] == pytest.approx(11.5755)


# --------------------------------------------------------------------------
# Saved messages, orphans
# --------------------------------------------------------------------------


def test_saved_messages(view):
    selfchat = view.one_chat(kind="self")
    assert addrs(selfchat["members"]) == {ANNA}
    assert view.ids(selfchat) == [S(1), S(2)]
    assert msg(view, S(1))["text"] == "Note to self: buy bean poles and twine."
    assert msg(view, S(2))["text"] == "Seed order number: SW-2025-0412"


def test_control_messages_are_folded_in(view):
    control = [D(3), D(5), D(7), D(8), D(9), D(10), D(11), D(12), D(13), D(15), D(16), D(24), G(3), G(4), G(6), G(7)]
    for mid in control:
        assert mid not in view.msg, mid


def test_orphans_do_not_invent_messages(view):
    for mid in (D(999), G(999), ORPHAN_REACTION, ORPHAN_EDIT):
        assert mid not in view.msg, mid
    texts = " ".join(m["text"] for m in view.msg.values())
    assert "Watering schedule" not in texts
    assert view.search_ids('"Watering schedule"') == set()


# --------------------------------------------------------------------------
# Ordinary mail
# --------------------------------------------------------------------------


def test_mboxrd_from_quoting(view):
    m = msg(view, M1)
    assert m["kind"] == "mail"
    assert m["subject"] == "Keys for the shed"
    assert "\nFrom the gate, turn left after the compost heap." in m["text"]
    assert ">From" not in m["text"]


def test_multipart_alternative(view):
    m = msg(view, M2)
    assert "the water meter at plot 17 showed 1234.5 m³ on Sunday." in m["text"]
    assert "<b>" not in m["text"]


def test_html_only_mail(view):
    m = msg(view, M3)
    assert "Our spring fair starts on Saturday: 20% off all seeds and bulbs." in m["text"]
    assert "document.cookie" not in m["text"]
    assert "tracker.gruenwald" not in m["text"]
    assert "color: #333333" not in m["text"]
    assert m["sender_name"] == "Gartencenter Grünwald"


def test_mail_attachment_rfc2231(view):
    m = msg(view, M4)
    assert attachment_facts(m) == [CSV]


def test_mailing_list(view):
    ml = view.one_chat(kind="mailinglist")
    assert ml["name"] == "Sonnenwiese Mitteilungen"
    assert view.ids(ml) == [M5]


def test_mail_thread(view):
    chat = view.chat_of[M6]
    assert chat["kind"] == "mail"
    assert chat["name"] == "Plot 17 hedge trimming"
    assert view.ids(chat) == [M6, M7, M8]
    assert addrs(chat["members"]) == {HELGA, OLAF, ANNA}
    assert msg(view, M7)["text"].startswith("I have one, I can do it on Saturday morning.")
    assert msg(view, M8)["reply_to"] == M7


def test_charsets(view):
    m10 = msg(view, M10)
    assert m10["subject"] == "Grüße aus Köln"
    assert m10["sender_name"] == "Jörg Weiß"
    assert "die Äpfel sind reif und die Kürbisse auch." in m10["text"]
    assert "25 € – payable by “end of June”." in msg(view, M12)["text"]


def test_undeclared_8bit_subject(view):
    assert msg(view, M11)["subject"] == "Frühjahrsputz im Vereinsheim ☀ Samstag"
    assert view.chat_of[M11]["name"] == "Frühjahrsputz im Vereinsheim ☀ Samstag"


def test_single_eml_and_gzipped_mbox(view):
    assert msg(view, SINGLE_ID)["subject"] == "Your order SV-88412 has shipped"
    assert msg(view, GZ1)["subject"] == "Club house booking confirmed"
    assert msg(view, GZ2)["subject"] == "Reminder: compost delivery on Friday"
    for mid in (SINGLE_ID, GZ1, GZ2, M1, M10):
        assert view.chat_of[mid]["kind"] == "mail"
        assert view.ids(view.chat_of[mid]) == [mid]


# --------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------


def test_search_words_and_phrases(searched):
    assert D(4) in searched.search_ids("chalk")
    assert G(8) in searched.search_ids("лопаты")
    assert M10 in searched.search_ids("Kürbisse")
    assert SINGLE_ID in searched.search_ids("SV-88412")
    hits = searched.search("chalk")
    assert all({"chat_id", "message_id", "sender", "date", "snippet"} <= set(h) for h in hits)
    # the text of the last edit is the current text
    assert searched.search_ids('"students pay 11"') == {D(6)}


def test_search_history_only_finds_old_text_with_history(searched):
    assert searched.search_ids('"costs 12 euro"') == set()
    assert D(6) in searched.search_ids('"costs 12 euro"', "--history")
    assert searched.search_ids("4711") == set()
    assert searched.search_ids("4712") == set()
    assert D(14) in searched.search_ids("4711", "--history")
    assert D(14) in searched.search_ids("4712", "--history")


def test_search_operators(searched):
    both = searched.search_ids("chalk OR seedlings")
    assert {D(4), G(2)} <= both
    assert G(2) not in searched.search_ids("tomato NOT seedlings")
    chiara = searched.search("from:chiara@example.net")
    assert chiara and all(h["sender"] == CHIARA for h in chiara)
    assert G(2) in {h["message_id"] for h in chiara}
    assert G(2) in searched.search_ids("seedlings date:2025-04-01..2025-04-30")
    assert searched.search_ids("seedlings before:2025-04-01") == set()
    assert G(2) in searched.search_ids("seedlings after:2025-04-01")
    assert D(6) in searched.search_ids("is:edited")
    assert D(14) in searched.search_ids("is:deleted", "--history")
    assert D(18) in searched.search_ids("kind:image")
    assert D(17) not in searched.search_ids("kind:image")
    att = searched.search_ids("has:attachment")
    assert {D(17), D(18), D(19), D(20), G(11), M4} <= att
    assert D(1) not in att
    hedge = searched.search_ids("is:mail hedge")
    assert {M6, M7, M8} <= hedge
    assert searched.search_ids("is:chat hedge") == set()
    assert D(4) in searched.search_ids("is:chat chalk")


def test_search_skips_footer_and_script(searched):
    assert D(22) not in searched.search_ids("Messenger")
    assert M3 not in searched.search_ids("cookie")


# --------------------------------------------------------------------------
# Contacts
# --------------------------------------------------------------------------


def test_contacts(view):
    contacts = {c["address"].lower(): c for c in run_json(view.archive, "contacts")}
    for a in (ANNA, BRUNO, CHIARA, DMITRI, EMIL, HELGA, OLAF):
        assert a in contacts, a
    assert contacts[BRUNO]["name"] == "Bruno Ferreira"
    assert contacts[CHIARA]["name"] == "Chiara Rossi"
    assert contacts[DMITRI]["name"] == "Дмитрий Соколов"
    assert contacts[EMIL]["name"] == "Emil Øster"
    assert not any(c.get("blocked") for c in contacts.values())


# --------------------------------------------------------------------------
# Ingesting again, in another order
# --------------------------------------------------------------------------


def _snapshot(arc: Path) -> tuple:
    v = View(arc)
    return v.chats, v.shows


def _normalised(arc: Path) -> dict:
    """Chats and their messages keyed by what they are, not by chat id."""
    v = View(arc)
    out = {}
    for c in v.chats:
        key = (c["kind"], c.get("group_id"), c.get("name"), tuple(sorted(addrs(c["members"]))))
        chat = {k: val for k, val in c.items() if k != "id"}
        msgs = [{k: val for k, val in m.items() if k != "chat_id"} for m in v.shows[c["id"]]["messages"]]
        assert key not in out
        out[key] = (chat, msgs)
    return out


def test_ingest_twice_changes_nothing(tmp_path):
    arc = tmp_path / "archive"
    run(arc, "ingest", *ALL_SOURCES)
    stats1 = run_json(arc, "stats")
    snap1 = _snapshot(arc)
    run(arc, "ingest", DC)
    assert run_json(arc, "stats") == stats1
    assert _snapshot(arc) == snap1


def test_result_does_not_depend_on_order(tmp_path, archive):
    arc = tmp_path / "archive"
    # mail first (the Thunderbird reply arrives before its chat), then the
    # Delta Chat folders one by one, Sent before the rest
    run(arc, "ingest", MBOX_GZ, SINGLE, MBOX)
    run(arc, "ingest", DC / ".Sent")
    run(arc, "ingest", DC / ".DeltaChat")
    run(arc, "ingest", DC)
    assert _normalised(arc) == _normalised(archive)
