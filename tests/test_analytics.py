"""Analytics: the pandas frames (``Archive.frames``), the activity report
(``stats``), the Parquet/CSV table export, and the analytics pages
(through Flask's test client; the browser test is in
test_analytics_browser.py).

Expected values come from ``samples/README.md`` (hand-written facts), from
``GROUND_TRUTH.json`` of the real Delta Chat corpus and from the Date
headers of its decrypted input files (parsed with the stdlib), never from
program output.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

import pytest

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from coi_archive.export.analysis import PARTITION_COLUMN, PARTITIONED  # noqa: E402
from coi_archive.index import Archive  # noqa: E402  (the notebook entry point)
from coi_archive.index.frames import CHAT_KINDS, COLUMNS, MESSAGE_KINDS, TABLES  # noqa: E402
from coi_archive.index.report import report_text  # noqa: E402
from tests.cli_helpers import (  # noqa: E402
    REPO_ROOT,
    cli,
    decrypted_files_by_mid,
    load_ground_truth,
    norm_mid,
    parse_file,
)

GT = load_ground_truth()
EVENTS = GT["events"]
DECRYPTED = decrypted_files_by_mid()

S_DM = "dm-81c9d5535caab2d3"  # anna <-> bruno (samples/deltachat)
S_GROUP = "grp-gRd7Kq2VnX4pLm9sTz"  # Garden Crew & Friends
HIKE = "grp-" + GT["chats"]["hike"]["chat_group_id"]


def D(n: int) -> str:
    return f"Mr.hQ4vB8nK2sW.{n:04d}@example.net"


def G(n: int) -> str:
    return f"Gr.gRd7Kq2VnX4pLm9sTz.{n:04d}@example.net"


def cet(text: str) -> pd.Timestamp:
    """A samples/README.md time ("2025-03-08 10:15", CET in March, CEST from April)."""
    local = pd.Timestamp(text).tz_localize("Europe/Berlin")
    return local.tz_convert("UTC")


def header_date(mid: str) -> pd.Timestamp:
    """The Date header of a corpus message (its decrypted inner MIME)."""
    from email.utils import parsedate_to_datetime

    msg = parse_file(DECRYPTED[norm_mid(mid)])
    return pd.Timestamp(parsedate_to_datetime(msg["Date"])).tz_convert("UTC")


def assert_documented_dtypes(name: str, df) -> None:
    spec = COLUMNS[name]
    assert list(df.columns) == list(spec), (name, list(df.columns))
    for col, (dtype, _meaning) in spec.items():
        got = df[col].dtype
        if dtype == "string":
            assert isinstance(got, pd.StringDtype) and got.storage == "pyarrow", (name, col, got)
        elif dtype == "category":
            assert isinstance(got, pd.CategoricalDtype), (name, col, got)
        elif dtype == "datetime64[us, UTC]":
            assert isinstance(got, pd.DatetimeTZDtype) and got.unit == "us" and str(got.tz) == "UTC", (name, col, got)
        else:
            assert str(got) == dtype, (name, col, got)
    assert isinstance(df.index, pd.RangeIndex)


# --------------------------------------------------------------------------
# Frames: dtypes and shapes
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", TABLES)
def test_every_frame_has_the_documented_columns_and_dtypes(samples_archive, corpus_archive, name):
    for archive in (samples_archive, corpus_archive):
        df = getattr(archive.frames, name)()
        assert len(df) > 0, name
        assert_documented_dtypes(name, df)
    # an empty result keeps the dtypes
    scope = {} if name in ("contacts", "chats") else {"chat": ["no-such-chat"]}
    empty = getattr(samples_archive.frames, name)(**scope)
    if name not in ("contacts", "chats"):
        assert len(empty) == 0
    assert_documented_dtypes(name, empty)


def test_categories_are_fixed(samples_archive):
    msgs = samples_archive.frames.messages()
    assert list(msgs["kind"].cat.categories[: len(MESSAGE_KINDS)]) == list(MESSAGE_KINDS)
    assert list(msgs["chat_kind"].cat.categories[: len(CHAT_KINDS)]) == list(CHAT_KINDS)


def test_messages_agree_with_show(samples_archive):
    msgs = samples_archive.frames.messages()
    chats = samples_archive.chats()
    assert len(msgs) == sum(c["message_count"] for c in chats)
    for chat in chats:
        listed = [m["message_id"] for m in samples_archive.show(chat["id"])["messages"]]
        frame = msgs.loc[msgs["chat_id"] == chat["id"]].sort_values("seq")
        assert list(frame["message_id"]) == listed
        assert (frame["chat_kind"] == chat["kind"]).all() and (frame["chat_name"] == chat["name"]).all()
    dated = msgs["date"].dropna()
    assert dated.is_monotonic_increasing  # documented order: by date


# --------------------------------------------------------------------------
# Frames against samples/README.md
# --------------------------------------------------------------------------


def test_sample_direct_chat(samples_archive):
    msgs = samples_archive.frames.messages(chat=S_DM)
    order = [D(n) for n in (1, 2, 4, 6, 14, 17, 18, 19, 20, 21, 22, 23)]
    order.append("3f9c2d1e-7a4b-4c8e-9f10-2b3c4d5e6f70@example.net")  # M9, the Thunderbird reply
    assert list(msgs.sort_values("seq")["message_id"]) == order
    by_id = msgs.set_index("message_id")
    assert by_id.loc[D(1), "date"] == cet("2025-03-08 10:15")
    assert by_id.loc[D(1), "sender"] == "anna@example.net"
    assert by_id.loc[D(4), "reply_to"] == D(2)
    assert by_id.loc[D(6), "edited"] and not by_id.loc[D(6), "deleted"]
    assert by_id.loc[D(6), "text"] == "The day pass costs 14 euro, students pay 11."
    assert by_id.loc[D(14), "deleted"] and by_id.loc[D(14), "text"] == ""
    assert by_id.loc[D(14), "deleted_date"] == cet("2025-03-08 11:05")
    assert by_id.loc[D(17), "kind"] == "audio" and by_id.loc[D(17), "attachment_bytes"] == 844
    assert by_id.loc[D(18), "kind"] == "image" and by_id.loc[D(18), "attachments"] == 1
    assert pd.isna(by_id.loc[D(1), "attachment_bytes"]) and by_id.loc[D(1), "attachments"] == 0
    assert by_id.loc[D(20), "kind"] == "contact"
    assert not msgs["kind"].eq("system").any()


def test_sample_revisions_keep_edited_and_deleted_text(samples_archive):
    revs = samples_archive.frames.revisions(chat=S_DM)
    d6 = revs.loc[revs["message_id"] == D(6)].sort_values("revision")
    assert list(d6["text"]) == [
        "The day pass costs 12 euro.",
        "The day pass costs 14 euro.",
        "The day pass costs 14 euro, students pay 11.",
    ]
    assert list(d6["revision_message_id"]) == [D(6), D(7), D(8)]
    assert list(d6["is_last"]) == [False, False, True]
    assert (d6["sender"] == "bruno@example.net").all()
    d14 = revs.loc[revs["message_id"] == D(14)]
    assert list(d14["text"]) == ["My door code is 4711, just walk in.", "My door code is 4712, just walk in."]


def test_sample_reactions_and_receipts(samples_archive):
    rx = samples_archive.frames.reactions()
    final = {(r.message_id, r.sender): r.emoji for r in rx.itertuples()}
    assert final[(D(2), "anna@example.net")] == "❤️"  # 👍 changed to ❤️
    assert final[(D(1), "bruno@example.net")] == "🎉"
    assert (D(4), "bruno@example.net") not in final  # retracted
    assert final[(G(1), "bruno@example.net")] == "👍" and final[(G(1), "dmitri@example.net")] == "👍"
    assert rx.loc[rx["message_id"] == D(2), "target_sender"].iloc[0] == "bruno@example.net"
    assert "Mr.hQ4vB8nK2sW.0999@example.net" not in set(rx["message_id"])  # the orphan R99
    rc = samples_archive.frames.receipts()
    reads = {(r.message_id, r.reader) for r in rc.itertuples()}
    assert {
        (D(1), "bruno@example.net"),
        (D(2), "anna@example.net"),
        (D(4), "bruno@example.net"),
        (G(1), "chiara@example.net"),
        (G(1), "dmitri@example.net"),
    } <= reads
    g1 = rc.loc[rc["message_id"] == G(1)]
    assert (g1["target_sender"] == "anna@example.net").all()
    assert (g1["target_date"] == cet("2025-04-05 09:00")).all()


def test_sample_group_memberships(samples_archive):
    ms = samples_archive.frames.memberships(chat=S_GROUP)
    assert (ms["chat_kind"] == "group").all() and (ms["chat_name"] == "Garden Crew & Friends").all()
    dmitri = ms.loc[ms["member"] == "dmitri@example.net"].sort_values("since")
    assert len(dmitri) == 2  # removed (G12), re-added (G14)
    assert dmitri["until"].iloc[0] == cet("2025-04-06 18:00") and dmitri["removed_by"].iloc[0] == "anna@example.net"
    assert dmitri["since"].iloc[1] == cet("2025-04-07 08:00") and pd.isna(dmitri["until"].iloc[1])
    assert dmitri["added_by"].iloc[1] == "chiara@example.net"
    bruno = ms.loc[ms["member"] == "bruno@example.net"]
    assert len(bruno) == 1 and bruno["left"].iloc[0] and not bruno["current"].iloc[0]
    assert bruno["until"].iloc[0] == cet("2025-04-07 10:30")
    emil = ms.loc[ms["member"] == "emil@example.net"]
    assert emil["since"].iloc[0] == cet("2025-04-06 18:05") and emil["current"].iloc[0]
    assert set(ms.loc[ms["current"], "member"]) == {
        "anna@example.net",
        "chiara@example.net",
        "dmitri@example.net",
        "emil@example.net",
    }
    # the overlap filter: on the evening of 04-06 dmitri was out, bruno still in
    evening = samples_archive.frames.memberships(chat=S_GROUP, since="2025-04-06T20:00Z", until="2025-04-06T21:00Z")
    assert "dmitri@example.net" not in set(evening["member"]) and "bruno@example.net" in set(evening["member"])
    assert set(samples_archive.frames.memberships(sender="emil@example.net")["chat_id"]) == {S_GROUP}


def test_sample_system_lines_and_names(samples_archive):
    msgs = samples_archive.frames.messages(chat=S_GROUP)
    actions = msgs["system_action"].value_counts()
    assert {k: int(v) for k, v in actions.items() if v} == {
        "group-avatar": 2,
        "group-description": 1,
        "ephemeral-timer": 2,
        "group-renamed": 2,
        "member-added": 2,
        "member-removed": 1,
        "member-left": 1,
    }
    assert msgs["system_action"].isna().sum() == len(msgs) - 11
    names = samples_archive.frames.names(chat=S_GROUP)
    assert list(names["name"]) == ["Allotment Garden", "Garden Crew 🌱", "Garden Crew & Friends"]


def test_sample_attachments(samples_archive):
    att = samples_archive.frames.attachments(chat=S_DM)
    by_mid = att.set_index("message_id")
    assert by_mid.loc[D(19), "filename"] == "Trainingsplan Frühjahr – 東京遠征.txt"
    assert by_mid.loc[D(19), "mime"] == "text/plain" and by_mid.loc[D(19), "size"] == 105
    assert by_mid.loc[D(19), "type"] == "text"
    assert by_mid.loc[D(17), "type"] == "audio" and by_mid.loc[D(17), "size"] == 844
    assert by_mid.loc[D(18), "type"] == "image" and by_mid.loc[D(18), "size"] == 78
    assert by_mid.loc[D(20), "filename"] == "chiara.vcf" and by_mid.loc[D(20), "size"] == 100
    msgs = samples_archive.frames.messages(chat=S_DM).set_index("message_id")
    assert int(msgs["attachment_bytes"].sum()) == int(att["size"].sum())


def test_sample_filters(samples_archive):
    f = samples_archive.frames
    everything = f.messages()
    anna = f.messages(sender="anna@example.net")
    assert len(anna) and (anna["sender"] == "anna@example.net").all()
    assert len(anna) == int((everything["sender"] == "anna@example.net").sum())
    two = f.messages(chat=[S_DM, S_GROUP])
    assert set(two["chat_id"]) == {S_DM, S_GROUP} and len(two) == 13 + 18
    # half-open range: since <= date < until; naive bounds are UTC; offsets are honoured
    day = f.messages(since="2025-03-08", until="2025-03-09")
    assert len(day) == 13 and set(day["chat_id"]) == {S_DM}  # D1 … D23 and M9, all on 03-08
    assert len(f.messages(since=cet("2025-03-08 10:15"), until=cet("2025-03-08 10:20"))) == 1  # D1 only
    assert len(f.messages(since="2025-03-08T10:15:00+01:00", until="2025-03-08T10:20:00+01:00")) == 1
    assert len(f.messages(until="2000-01-01")) == 0
    assert list(f.messages(chat=S_DM, text=False).columns) == [c for c in COLUMNS["messages"] if c != "text"]
    assert set(f.reactions(sender="anna@example.net")["sender"]) == {"anna@example.net"}
    assert set(f.receipts(sender="bruno@example.net")["reader"]) == {"bruno@example.net"}
    assert (f.revisions(sender="bruno@example.net")["sender"] == "bruno@example.net").all()


def test_sample_replies(samples_archive):
    rep = samples_archive.frames.replies(chat=S_DM)
    first = rep.loc[rep["message_id"] == D(2)].iloc[0]  # bruno 10:20 answers anna 10:15
    assert first["to_message_id"] == D(1) and first["to_sender"] == "anna@example.net"
    assert first["sender"] == "bruno@example.net"
    assert first["reply_time"] == pd.Timedelta(minutes=5)
    # D6 (bruno) follows D4 (anna); D14 (anna) follows D6 (bruno); D18 follows D17 ...
    assert {D(2), D(4), D(6), D(14), D(17), D(18), D(19), D(20), D(21)} <= set(rep["message_id"])
    assert D(22) not in set(rep["message_id"])  # bruno after bruno (D21) is no reply
    assert (rep["sender"] != rep["to_sender"]).all() and (rep["reply_time"] >= pd.Timedelta(0)).all()


def test_contacts_frame(samples_archive):
    c = samples_archive.frames.contacts().set_index("address")
    msgs = samples_archive.frames.messages()
    anna = msgs.loc[msgs["sender"] == "anna@example.net"]
    assert c.loc["anna@example.net", "messages"] == len(anna)
    assert c.loc["anna@example.net", "first_date"] == anna["date"].min()
    assert c.loc["eve@example.org", "blocked"]
    assert c.loc["chiara@example.net", "groups"] == 1 and c.loc["bruno@example.net", "groups"] == 0


# --------------------------------------------------------------------------
# Frames against the real Delta Chat corpus (GROUND_TRUTH.json)
# --------------------------------------------------------------------------


def gt_events(*types):
    return [e for e in EVENTS if e["type"] in types]


def test_corpus_counts(corpus_archive):
    msgs = corpus_archive.frames.messages()
    posts = msgs.loc[msgs["kind"] != "system"]
    listed = set(posts["message_id"])
    sent = [e for e in gt_events("message") if norm_mid(e["message_id"]) in DECRYPTED]
    assert sent and {norm_mid(e["message_id"]) for e in sent} <= listed
    # one chat per GROUND_TRUTH chat key
    for key in {e["chat"] for e in sent}:
        chats = set(
            posts.loc[
                posts["message_id"].isin([norm_mid(e["message_id"]) for e in sent if e["chat"] == key]), "chat_id"
            ]
        )
        assert len(chats) == 1, (key, chats)
    bulk = [e for e in sent if e.get("bulk")]
    hi = posts.loc[posts["message_id"] == norm_mid(bulk[0]["message_id"]), "chat_id"].iloc[0]
    assert int((posts["chat_id"] == hi).sum()) >= len(bulk) == 150
    system = [
        e
        for e in gt_events(
            "group_renamed",
            "group_avatar_set",
            "group_description_set",
            "member_added",
            "member_removed",
            "member_left",
            "ephemeral_timer_set",
        )
        if norm_mid(e["message_id"]) in DECRYPTED
    ]
    assert set(msgs.loc[msgs["kind"] == "system", "message_id"]) >= {norm_mid(e["message_id"]) for e in system}
    for e in gt_events("edit"):
        if norm_mid(e["target_message_id"]) in DECRYPTED:
            assert msgs.loc[msgs["message_id"] == norm_mid(e["target_message_id"]), "edited"].iloc[0]
    for e in gt_events("delete_for_everyone"):
        row = msgs.loc[msgs["message_id"] == norm_mid(e["target_message_id"])]
        assert row["deleted"].iloc[0] and row["text"].iloc[0] == ""


def test_corpus_hike_membership_intervals(corpus_archive):
    """ivan removed by frank, re-added by grace: two intervals; heidi's
    ends when she left.  Dates are the Date headers of the system messages."""
    ms = corpus_archive.frames.memberships(chat=HIKE)
    removed = next(e for e in gt_events("member_removed") if e.get("chat") == "hike")
    readded = next(e for e in gt_events("member_added") if e.get("chat") == "hike" and e.get("readded"))
    left = next(e for e in gt_events("member_left") if e.get("chat") == "hike")
    ivan = ms.loc[ms["member"] == removed["member"]].sort_values("since").reset_index(drop=True)
    assert len(ivan) == 2
    assert ivan.loc[0, "until"] == header_date(removed["message_id"])
    assert ivan.loc[0, "removed_by"] == removed["sender"] and not ivan.loc[0, "left"]
    assert ivan.loc[1, "since"] == header_date(readded["message_id"])
    assert ivan.loc[1, "added_by"] == readded["sender"] and ivan.loc[1, "current"]
    heidi = ms.loc[ms["member"] == left["member"]]
    assert len(heidi) == 1 and heidi["left"].iloc[0] and not heidi["current"].iloc[0]
    assert heidi["until"].iloc[0] == header_date(left["message_id"])
    assert set(ms.loc[ms["current"], "member"]) == set(GT["chats"]["hike"]["final_members"])
    created = GT["chats"]["hike"]["initial_members"]
    assert set(ms["member"]) == set(created)


def test_corpus_reply_time(corpus_archive):
    fg = {e["label"]: e for e in gt_events("message") if e.get("chat") == "fg"}
    first, second = fg["fg1"], fg["fg2"]
    assert first["sender"] != second["sender"]
    rep = corpus_archive.frames.replies()
    row = rep.loc[rep["message_id"] == norm_mid(second["message_id"])].iloc[0]
    assert row["to_message_id"] == norm_mid(first["message_id"])
    assert row["sender"] == second["sender"] and row["to_sender"] == first["sender"]
    assert row["reply_time"] == header_date(second["message_id"]) - header_date(first["message_id"])


def test_corpus_reactions_and_receipts(corpus_archive):
    final: dict[tuple[str, str], str] = {}
    for e in gt_events("reaction"):
        if norm_mid(e["target_message_id"]) in DECRYPTED and norm_mid(e.get("wire_message_id") or "") in DECRYPTED:
            final[(norm_mid(e["target_message_id"]), e["sender"])] = e["emoji"]
    expected = {k: v for k, v in final.items() if v}
    rx = corpus_archive.frames.reactions()
    assert {(r.message_id, r.sender): r.emoji for r in rx.itertuples()} == expected
    rc = corpus_archive.frames.receipts()
    reads = {(r.message_id, r.reader) for r in rc.itertuples()}
    for e in gt_events("read_receipt"):
        if norm_mid(e.get("wire_message_id") or "") in DECRYPTED:
            assert (norm_mid(e["target_message_id"]), e["reader"]) in reads


# --------------------------------------------------------------------------
# The report and ``stats``
# --------------------------------------------------------------------------


def test_report_agrees_with_frames(samples_archive):
    rep = samples_archive.report()
    json.dumps(rep)  # JSON-able
    msgs = samples_archive.frames.messages()
    posts = msgs.loc[msgs["kind"] != "system"]
    t = rep["totals"]
    assert t["messages"] == len(posts) and t["system_lines"] == int((msgs["kind"] == "system").sum())
    assert t["edited"] == int(posts["edited"].sum()) and t["deleted"] == int(posts["deleted"].sum())
    assert t["reactions"] == len(samples_archive.frames.reactions())
    assert sum(rep["by_hour"]) == sum(rep["by_weekday"]) == sum(rep["by_day"].values()) == posts["date"].notna().sum()
    assert sum(map(sum, rep["weekday_hour"])) == sum(rep["by_hour"])
    assert sum(rep["timeline"]["counts"].values()) == sum(rep["by_hour"])
    per_chat = {c["chat_id"]: c["messages"] for c in rep["per_chat"]}
    assert per_chat[S_DM] == 13 and per_chat[S_GROUP] == 7
    assert rep["groups"][0]["chat_id"] in ("grp-1234abcd4321", S_GROUP)
    assert {g["chat_id"] for g in rep["groups"]} >= {S_GROUP}
    assert sum(b["replies"] for b in rep["reply_times"]["buckets"]) == rep["reply_times"]["replies"]
    att = {a["type"]: a for a in rep["attachments"]["by_type"]}
    assert att["text"]["files"] >= 2 and att["audio"]["bytes"] >= 844
    one = samples_archive.report(chat=S_DM)
    assert one["totals"]["messages"] == 13 and one["totals"]["chats"] == 1
    assert one["reactions"]["by_emoji"] == {"❤️": 1, "🎉": 1}
    text = report_text(one)
    for section in (
        "Messages per chat",
        "Messages per sender",
        "Activity by",
        "hour of day",
        "Reply times",
        "Edits and deletes",
        "Reactions",
        "Most active groups",
        "Attachments by type",
    ):
        assert section in text, section


def test_stats_cli(samples_archive):
    path = samples_archive.root
    plain = cli(path, "stats", inprocess=True).text
    assert "messages_seen" in plain and "Activity report for the whole archive" in plain
    assert "Median" in plain or "median" in plain
    js = cli(path, "stats", "--json", inprocess=True).json()
    assert "report" not in js  # the completeness keys stay as they were
    assert {
        "messages_seen",
        "unique_messages",
        "duplicates",
        "chat_messages",
        "mail_messages",
        "encrypted_undecrypted",
        "parse_errors",
        "chats",
    } <= set(js)
    with_report = cli(path, "stats", "--json", "--report", inprocess=True).json()
    assert with_report["report"]["totals"]["messages"] == samples_archive.report()["totals"]["messages"]
    assert {k: v for k, v in with_report.items() if k != "report"} == js
    chat = cli(path, "stats", "--chat", S_GROUP, "--json", inprocess=True).json()
    assert chat["report"]["scope"]["chats"] == [S_GROUP] and chat["report"]["totals"]["messages"] == 7
    text = cli(path, "stats", "--chat", S_GROUP, inprocess=True).text
    assert "Garden Crew & Friends" in text and "messages_seen" not in text
    bad = cli(path, "stats", "--chat", "grp-nope", check=False, inprocess=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


# --------------------------------------------------------------------------
# Table export
# --------------------------------------------------------------------------


def expected_years(dates: pd.Series) -> list[float]:
    """The year partition each row belongs in (0: no date)."""
    return dates.dt.year.astype("float64").fillna(0).tolist()


def test_parquet_round_trip(corpus_archive, tmp_path):
    from coi_archive.export.analysis import write_tables

    counts = write_tables(corpus_archive, tmp_path / "pq", "parquet")
    assert set(counts) == set(TABLES)
    frames = corpus_archive.frames.tables()
    for name in TABLES:
        back = pd.read_parquet(tmp_path / "pq" / name)
        if name in PARTITIONED:  # the partition column comes back from the paths, as a category
            years = expected_years(frames[name]["date"])
            assert back[PARTITION_COLUMN].astype("float64").tolist() == years
            back = back.drop(columns=[PARTITION_COLUMN])
        else:
            assert [p.name for p in (tmp_path / "pq" / name).iterdir()] == ["part-0.parquet"]
        expected = frames[name]
        if name == "replies":  # no duration type in Parquet for Spark: seconds instead
            expected = expected.assign(reply_time=expected["reply_time"].dt.total_seconds()).rename(
                columns={"reply_time": "reply_seconds"}
            )
        pd.testing.assert_frame_equal(back, expected, check_dtype=True)
        assert counts[name] == len(expected)
    years = sorted({int(y) for y in frames["messages"]["date"].dt.year.dropna()})
    assert sorted(p.name for p in (tmp_path / "pq" / "messages").iterdir()) == [f"year={y}" for y in years]
    first = tmp_path / "pq" / "messages" / f"year={years[0]}" / "part-0.parquet"
    schema = pq.read_schema(first)
    assert schema.field("date").type == pa.timestamp("us", "UTC")
    assert schema.field("deleted_date").type == pa.timestamp("us", "UTC")
    assert schema.field("sender").type == pa.string() and schema.field("edited").type == pa.bool_()
    assert schema.field("attachment_bytes").type == pa.int64()
    meta = pq.read_metadata(first).schema
    date = json.loads(meta.column(list(schema.names).index("date")).logical_type.to_json())
    assert date["Type"] == "Timestamp" and date["isAdjustedToUTC"] is True and date["timeUnit"] == "microseconds"
    doc = json.loads((tmp_path / "pq" / "schema.json").read_text())
    assert doc["tables"]["messages"]["columns"]["date"]["type"] == "timestamp[us, tz=UTC]"
    assert doc["tables"]["replies"]["columns"]["reply_seconds"]["description"]


def test_parquet_readable_by_duckdb(corpus_archive, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    from coi_archive.export.analysis import write_tables

    write_tables(corpus_archive, tmp_path, "parquet")
    con = duckdb.connect()
    messages = f"read_parquet('{tmp_path / 'messages'}/**/*.parquet', hive_partitioning = true)"
    rows = con.execute(f"DESCRIBE SELECT * FROM {messages}").fetchall()
    types = {r[0]: r[1] for r in rows}
    assert types["date"] == "TIMESTAMP WITH TIME ZONE" and types["edited"] == "BOOLEAN"
    assert types["kind"] == "VARCHAR" and types["seq"] == "BIGINT"
    # one table across the year directories; the year in the path agrees with the date
    frame = corpus_archive.frames.messages(text=False)
    got = con.execute(f"SELECT year, count(*) FROM {messages} GROUP BY year ORDER BY year").fetchall()
    assert got == sorted(Counter(frame["date"].dt.year.dropna().astype(int)).items())
    assert (
        con.execute(f"SELECT count(*) FROM {messages} WHERE year <> year(date AT TIME ZONE 'UTC')").fetchone()[0] == 0
    )
    n = con.execute(
        f"SELECT count(*) FROM '{tmp_path / 'memberships'}/*.parquet' WHERE chat_id = ?", [HIKE]
    ).fetchone()[0]
    assert n == len(corpus_archive.frames.memberships(chat=HIKE))


def test_parquet_dataset_undated_rows_and_force(tmp_path):
    """A row without a date lands in ``year=0`` (pandas cannot read the hive
    null partition); an existing table is replaced only
    with ``force`` and nothing half-written stays behind."""
    from coi_archive.export.analysis import ExportError, write_dataset

    dates = pa.array(
        [pd.Timestamp("2024-12-31 23:59:59", tz="UTC"), None, pd.Timestamp("2025-01-01", tz="UTC")],
        pa.timestamp("us", "UTC"),
    )
    table = pa.table({"message_id": ["a", "b", "c"], "date": dates})
    write_dataset(table, tmp_path / "messages", partitioned=True)
    assert sorted(p.name for p in (tmp_path / "messages").iterdir()) == ["year=0", "year=2024", "year=2025"]
    back = pd.read_parquet(tmp_path / "messages")
    assert back["message_id"].tolist() == ["b", "a", "c"]
    assert back[PARTITION_COLUMN].astype(int).tolist() == [0, 2024, 2025] and back["date"].isna().tolist()[0]
    duckdb = pytest.importorskip("duckdb")
    rows = (
        duckdb.connect()
        .execute(
            f"SELECT message_id, year FROM read_parquet('{tmp_path / 'messages'}/**/*.parquet',"
            " hive_partitioning = true) ORDER BY message_id"
        )
        .fetchall()
    )
    assert rows == [("a", 2024), ("b", 0), ("c", 2025)]
    with pytest.raises(ExportError, match="exists"):
        write_dataset(table.slice(0, 1), tmp_path / "messages", partitioned=True)
    write_dataset(table.slice(0, 1), tmp_path / "messages", partitioned=True, force=True)
    assert pd.read_parquet(tmp_path / "messages")["message_id"].tolist() == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["messages"]  # no .part / .old directories


def test_csv_tables(samples_archive, tmp_path):
    from coi_archive.export.analysis import write_tables

    counts = write_tables(samples_archive, tmp_path, "csv", chats=[S_DM])
    back = pd.read_csv(tmp_path / "messages.csv")
    assert len(back) == counts["messages"] == 13 and set(back["chat_id"]) == {S_DM}
    assert list(back.columns) == list(COLUMNS["messages"])
    dates = pd.to_datetime(back["date"], utc=True)
    assert dates.iloc[0] == cet("2025-03-08 10:15")
    assert set(back["edited"]) <= {True, False}
    contacts = pd.read_csv(tmp_path / "contacts.csv")
    assert set(contacts["address"]) == {"anna@example.net", "bruno@example.net"}


def test_export_cli_tables(samples_archive, tmp_path):
    path = samples_archive.root
    res = cli(path, "export", "--format", "parquet", "--out", tmp_path / "all", inprocess=True)
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == sorted([*TABLES, "schema.json"])
    assert "exported 10 tables" in res.stderr
    cli(
        path,
        "export",
        "--format",
        "parquet",
        "--chat",
        S_GROUP,
        "--since",
        "2025-04-06",
        "--until",
        "2025-04-06",
        "--out",
        tmp_path / "grp",
        inprocess=True,
    )
    msgs = pd.read_parquet(tmp_path / "grp" / "messages")
    assert [p.name for p in (tmp_path / "grp" / "messages").iterdir()] == ["year=2025"]
    assert set(msgs["chat_id"]) == {S_GROUP} and len(msgs)
    assert (msgs["date"] >= cet("2025-04-06 00:00").tz_convert("UTC").floor("D")).all()
    assert msgs["date"].dt.strftime("%Y-%m-%d").eq("2025-04-06").all()
    cli(path, "export", "--format", "csv", "--out", f"{tmp_path / 'csv'}/", inprocess=True)
    assert (tmp_path / "csv" / "memberships.csv").exists()
    for args in (
        ["--format", "csv", "--out", str(tmp_path / "not-a-dir")],
        ["--format", "parquet", "--chat", "grp-nope", "--out", str(tmp_path / "x")],
        ["--format", "parquet", "--out", "-"],
    ):
        bad = cli(path, "export", *args, check=False, inprocess=True)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, (args, bad.stderr)
    assert not list(tmp_path.rglob("*.part"))


# --------------------------------------------------------------------------
# Scale: a synthetic catalog (the benchmark's generator, small)
# --------------------------------------------------------------------------


def test_synthetic_catalog(tmp_path):
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    try:
        import bench_analytics
    finally:
        sys.path.pop(0)
    bench_analytics.synthesize(tmp_path, 3000, seed=7)
    with Archive.open(tmp_path, readonly=True) as archive:
        msgs = archive.frames.messages()
        assert len(msgs) == 3000
        assert_documented_dtypes("messages", msgs)
        # batches of 1,000 rows: the concatenation keeps dtypes and order
        import coi_archive.index.frames as frames

        old, frames._BATCH = frames._BATCH, 1000
        try:
            again = archive.frames.messages()
        finally:
            frames._BATCH = old
        pd.testing.assert_frame_equal(msgs, again)
        rep = archive.report()
        assert rep["totals"]["messages"] + rep["totals"]["system_lines"] == 3000
        assert rep["timeline"]["unit"] in ("week", "month")


# --------------------------------------------------------------------------
# The analytics pages (Flask test client)
# --------------------------------------------------------------------------


HOST = {"Host": "127.0.0.1:8080"}


def test_analytics_pages(corpus_archive):
    from coi_archive.webui import create_app
    from coi_archive.webui.security import CSP

    app = create_app(corpus_archive.root)
    try:
        with app.test_client() as c:
            page = c.get("/analytics", headers=HOST)
            assert page.status_code == 200 and page.headers["Content-Security-Policy"] == CSP
            html = page.get_data(as_text=True)
            assert html.count('<figure class="chart"') == 5 and html.count("<svg") == 5
            assert ' style="' not in html.split("<main", 1)[1]  # CSP: no inline styles in the charts
            assert "<script" not in html.split("<main", 1)[1]
            hike = c.get(f"/analytics/{HIKE}", headers=HOST).get_data(as_text=True)
            assert 'data-chart="membership"' in hike and "Иван Петров" in hike
            assert 'data-chart="membership" data-points="5"' in hike  # frank, grace, heidi, ivan twice
            api = c.get(f"/api/analytics/{HIKE}", headers=HOST).get_json()
            assert api["scope"]["chats"] == [HIKE] and api["totals"]["messages"] > 0
            assert c.get("/analytics/grp-nope", headers=HOST).status_code == 404
            assert c.get("/api/analytics/grp-nope", headers=HOST).status_code == 404
            nav = c.get("/chats", headers=HOST).get_data(as_text=True)
            assert 'href="/analytics"' in nav
    finally:
        app.extensions["coi"].pool.close()


def test_readme_documents_every_column():
    readme = (REPO_ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Analysis from Python / pandas", 1)[1].split("\n## ", 1)[0]
    for name in ("messages", "revisions", "reactions", "receipts", "memberships", "contacts"):
        table = section.split(f"\n`frames.{name}()`\n\n", 1)[1].split("\n\n", 1)[0]
        for col, (dtype, _meaning) in COLUMNS[name].items():
            assert f"| `{col}` | `{dtype}` |" in table, (name, col)


def test_analytics_pages_escape_hostile_names(xss):
    from coi_archive.webui import create_app

    app = create_app(xss)
    try:
        with app.test_client() as c:
            for url in ("/analytics", "/analytics/grp-xssGroup0001"):
                r = c.get(url, headers=HOST)
                assert r.status_code == 200
                main = r.get_data(as_text=True).split("<main", 1)[1]
                assert "&lt;img src=x" in main  # the hostile group name is shown, as text
                tags = _tags("<main" + main)
                assert not {"img", "script", "iframe", "object", "base", "meta"} & {t for t, _a in tags}
                assert not [(t, a) for t, attrs in tags for a in attrs if a.startswith("on")]
    finally:
        app.extensions["coi"].pool.close()


def _tags(markup: str) -> list[tuple[str, list[str]]]:
    from html.parser import HTMLParser

    found: list[tuple[str, list[str]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, [name for name, _value in attrs]))

    Collect().feed(markup)
    return found
