"""One word for each thing: the shared date parser, chat kinds, copy
quality, the loopback rule, the size formatter and the recursive walks over
``wire_targets``."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from coi_archive.cli import build_parser
from coi_archive.index.api import Archive
from coi_archive.index.dates import TICK, format_iso, parse_iso, parse_period, parse_span
from coi_archive.index.query import DateRange, parse
from coi_archive.ingest.events import Envelope, Quality, envelope_from_json, envelope_to_json
from coi_archive.net.loopback import is_loopback
from coi_archive.units import human_bytes

UTC = timezone.utc


# --------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "stop"),
    [
        ("2025", datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
        ("2024-02", datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)),
        ("2025-4-6", datetime(2025, 4, 6, tzinfo=UTC), datetime(2025, 4, 7, tzinfo=UTC)),
        ("2025-12-31", datetime(2025, 12, 31, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_period_is_a_half_open_utc_span(text, start, stop):
    span = parse_span(text)
    assert (span.start, span.stop) == (start, stop)
    assert parse_period(text) == span


def test_a_timestamp_is_one_instant_in_utc():
    span = parse_span("2025-04-06T20:00:00+02:00")
    assert span.start == datetime(2025, 4, 6, 18, tzinfo=UTC) and span.stop == span.start + TICK
    assert parse_span("2025-04-06T20:00Z").start == datetime(2025, 4, 6, 20, tzinfo=UTC)
    assert parse_span("2025-04-06T20:00").start == datetime(2025, 4, 6, 20, tzinfo=UTC)  # naive = UTC
    assert parse_period("2025-04-06T20:00") is None  # a period is a calendar period only


@pytest.mark.parametrize("text", ["", "  ", "yesterday", "2025-02-30", "2025-13", "25", "2025-04-06T25:00", None])
def test_malformed_dates_are_none_never_an_exception(text):
    assert parse_span(text) is None


def test_the_last_period_a_date_can_name():
    span = parse_span("9999-12")
    assert span.first_day == date(9999, 12, 1) and span.last_day == date(9999, 12, 31)


def test_the_archive_form_is_utc_iso():
    assert format_iso(datetime(2025, 4, 6, 20, tzinfo=timezone.utc).astimezone()) == "2025-04-06T20:00:00+00:00"
    assert format_iso(datetime(2025, 4, 6, 20)) == "2025-04-06T20:00:00+00:00"
    assert parse_iso(format_iso(datetime(2025, 4, 6, 20, 1, 2, 3, tzinfo=UTC))) == datetime(
        2025, 4, 6, 20, 1, 2, 3, tzinfo=UTC
    )


def test_query_dates_use_the_same_periods():
    assert parse("date:2024-02") == DateRange(date(2024, 2, 1), date(2024, 2, 29))
    assert parse("before:2025") == DateRange(None, date(2024, 12, 31))
    assert parse("after:2025-04") == DateRange(date(2025, 5, 1), None)
    assert parse("date:2025-04..2025-05-03") == DateRange(date(2025, 4, 1), date(2025, 5, 3))


def test_query_dates_at_the_ends_of_the_calendar_degrade_to_words():
    # before:0001 and after:9999 name no day; they must not raise OverflowError
    assert not isinstance(parse("before:0001"), DateRange)
    assert not isinstance(parse("after:9999"), DateRange)


def test_frames_read_text_bounds_as_every_other_date(samples_archive):
    frames = samples_archive.frames
    by_text = frames.messages(since="2025-04", until="2025-04-07")
    by_datetime = frames.messages(since=datetime(2025, 4, 1, tzinfo=UTC), until=datetime(2025, 4, 7, tzinfo=UTC))
    assert len(by_text) and by_text["message_id"].tolist() == by_datetime["message_id"].tolist()
    with pytest.raises(ValueError, match="not a date"):
        frames.messages(since="yesterday")


@pytest.mark.parametrize("fmt", ["imap", "json", "parquet", "html"])
def test_every_export_format_reads_since_and_until_alike(fmt):
    args = build_parser().parse_args(
        ["export", "--format", fmt, "--to", "imap://u@127.0.0.1/X", "--since", "2025", "--until", "2025-04"]
    )
    assert args.since.start == datetime(2025, 1, 1, tzinfo=UTC)
    assert args.until.stop == datetime(2025, 5, 1, tzinfo=UTC)


def test_a_bad_date_argument_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["export", "--format", "imap", "--since", "soon"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "not a date: 'soon'" in err


# --------------------------------------------------------------------------
# Loopback
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "[::1]",
        "::ffff:127.0.0.1",
        "[::ffff:7f00:1]",
        "localhost",
        "LOCALHOST",
        "localhost.",
        "app.localhost",
        " 127.0.0.1 ",
    ],
)
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    [
        "",
        "0.0.0.0",
        "::",
        "10.0.0.1",
        "::ffff:10.0.0.1",
        "128.0.0.1",
        "example.org",
        "localhost.example.org",
        "notlocalhost",
        "127.0.0.1.nip.io",
        "[::2]",
    ],
)
def test_other_hosts_are_not_loopback(host):
    assert not is_loopback(host)


def test_the_web_ui_and_imap_use_the_rule():
    from coi_archive.net import imap
    from coi_archive.webui import security, server

    assert server.is_loopback is is_loopback and security.is_loopback is is_loopback
    assert imap.is_loopback is is_loopback


# --------------------------------------------------------------------------
# Copy quality
# --------------------------------------------------------------------------


def test_quality_orders_copies_and_survives_the_catalog_json():
    assert Quality.DECRYPTED > Quality.MAIL > Quality.RECORD > Quality.UNREADABLE
    env = Envelope(message_id="m@x", sha256="0" * 64, dialect="mail", quality=Quality.DECRYPTED)
    text = envelope_to_json(env)
    assert '"quality":3' in text  # the catalog stores the integer
    assert envelope_from_json(text).quality is Quality.DECRYPTED


# --------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------


def test_one_size_formatter_for_report_pages_and_exports():
    from coi_archive import present
    from coi_archive.index import report

    sizes = (0, 1023, 1024, 1536, 5 * 1024**2, 3 * 1024**3, 5 * 1024**4)
    assert [human_bytes(n) for n in sizes] == ["0 B", "1023 B", "1.0 KB", "1.5 KB", "5.0 MB", "3.0 GB", "5120.0 GB"]
    assert present.fmt_size(1536) == "1.5 KB" and present.fmt_size(None) == ""
    assert report.human_bytes is human_bytes


# --------------------------------------------------------------------------
# Chains over wire_targets: no depth limit
# --------------------------------------------------------------------------

EDITS = 12  # deeper than the 8 steps the walks used to stop at


def _coi(mid: str, minute: int, body: str, edit_of: str | None = None) -> bytes:
    head = [
        "From: Alice <alice@example.com>",
        "To: Bob <bob@example.com>",
        "Subject: ",
        f"Date: Wed, 4 Dec 2019 16:{minute:02d}:00 +0100",
        f"Message-ID: <{mid}>",
        "Content-Type: text/plain; charset=UTF-8",
        "Chat-Version: 1.0",
        "MIME-Version: 1.0",
    ]
    if edit_of:
        head += ["Chat-Content: edit;", f"In-Reply-To: <{edit_of}>"]
    return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode()


def _edit_chain() -> dict[str, bytes]:
    """A post and EDITS edits, each editing the one before (as COI edits do)."""
    files = {"00.eml": _coi("chat$post@example.com", 0, "version 0")}
    for i in range(1, EDITS + 1):
        before = "chat$post@example.com" if i == 1 else f"chat$edit{i - 1}@example.com"
        files[f"{i:02d}.eml"] = _coi(f"chat$edit{i}@example.com", i, f"version {i}", edit_of=before)
    return files


def _shown(archive_dir) -> dict:
    """The one message of the one chat, with its chat id."""
    with Archive.open(archive_dir, readonly=True) as archive:
        (chat,) = archive.chats()
        (msg,) = archive.show(chat["id"])["messages"]
    return {**msg, "chat_id": chat["id"]}


def test_an_edit_chain_longer_than_eight_is_folded_whole(tmp_path):
    from tests.cli_helpers import ingest, make_maildir

    ingest(tmp_path / "a", make_maildir(tmp_path / "all", _edit_chain()), inprocess=True)
    msg = _shown(tmp_path / "a")
    assert msg["text"] == f"version {EDITS}" and msg["edited"]
    edits = [f"chat$edit{i}@example.com" for i in range(1, EDITS + 1)]
    with Archive.open(tmp_path / "a", readonly=True) as archive:
        # what exports write after the message, and what a migration copies
        assert archive.folded([msg["message_id"]]) == {msg["message_id"]: edits}
        copied = archive.originals_to_copy(chat_ids=[msg["chat_id"]])
        assert sorted(e["message_id"] for e in copied) == sorted([msg["message_id"], *edits])


def test_the_last_link_of_a_long_chain_finds_its_chat(tmp_path):
    """The last edit arrives alone: placement must walk all its unplaced
    predecessors back to the post to know which chat to fold again."""
    from tests.cli_helpers import ingest, make_maildir

    files = _edit_chain()
    last = f"{EDITS:02d}.eml"
    early = {k: v for k, v in files.items() if k != last}
    ingest(tmp_path / "a", make_maildir(tmp_path / "early", early), inprocess=True)
    ingest(tmp_path / "a", make_maildir(tmp_path / "late", {last: files[last]}), inprocess=True)
    assert _shown(tmp_path / "a")["text"] == f"version {EDITS}"


def test_edits_that_edit_each_other_end(tmp_path):
    """A cycle in wire_targets (hostile mail can make one) ends the walk."""
    from tests.cli_helpers import cli_json, ingest, make_maildir

    loop = {
        "a.eml": _coi("chat$a@example.com", 1, "a", edit_of="chat$b@example.com"),
        "b.eml": _coi("chat$b@example.com", 2, "b", edit_of="chat$a@example.com"),
    }
    ingest(tmp_path / "a", make_maildir(tmp_path / "loop", loop), inprocess=True)
    assert cli_json(tmp_path / "a", "stats", inprocess=True)["orphan_actions"] == 0
