"""The real Delta Chat 2.65 corpus (tests/data/deltachat-dev), without keys.

Part 1 ingests every account Maildir plus journal/ into one archive and checks
the unencrypted chats (jm, wg, ji_plain), the plain e-mails pm1..pm5, the
statistics, ``verify`` and ``raw``.

Part 2 ingests journal-decrypted/ (the decrypted inner MIME of every encrypted
journal message, with protected headers) into a second archive and checks it
against the events of GROUND_TRUTH.json fact by fact: group life cycle,
edits, deletes, reactions, receipts, quotes, attachments, forwards, vCards and
locations.

All expected values come from GROUND_TRUTH.json / journal-index.json or from
parsing the input files with the stdlib ``email`` package; nothing is copied
from program output.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from datetime import datetime, timezone

import pytest

from tests.cli_helpers import (
    DC_DEV,
    DC_DEV_ACCOUNTS,
    Archive,
    addr,
    collect_key,
    decrypted_files_by_mid,
    final_reactions,
    ingest,
    iter_messages,
    load_ground_truth,
    load_journal_index,
    maildir_files,
    message_id_of,
    norm_mid,
    reactions_on,
)

GT = load_ground_truth()
EVENTS = GT["events"]
PLAIN_CHATS = ("jm", "wg", "ji_plain")
PLAIN_SOURCES = [DC_DEV / a for a in DC_DEV_ACCOUNTS] + [DC_DEV / "journal"]
DECRYPTED = decrypted_files_by_mid()  # Message-ID -> journal-decrypted/*.eml
BY_LABEL = {e["label"]: e for e in EVENTS if e.get("label")}

# Seconds a message's Date may lie before the GROUND_TRUTH event time (the
# time the scripted step had *finished*).
DATE_SLACK = 60


def events(*types: str, chat: str | None = None) -> list[dict]:
    return [e for e in EVENTS if e["type"] in types and (chat is None or e.get("chat") == chat)]


def ids(evs, key="label"):
    return [str(e.get(key) or e.get("message_id") or e["seq"]) for e in evs]


def to_dt(value) -> datetime:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def text_of(msg: dict) -> str:
    return (msg.get("text") or "").strip()


def gt_chat_info(key: str) -> dict:
    return GT["chats"][key]


def expected_kind(key: str) -> str:
    return {"1:1": "direct", "group": "group", "self": "self"}[gt_chat_info(key)["type"]]


# ==========================================================================
# Part 1: all Maildirs + journal, no keys
# ==========================================================================


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Archive:
    arch = Archive(tmp_path_factory.mktemp("dcdev-plain") / "archive")
    res = ingest(arch.path, *PLAIN_SOURCES)
    assert res.returncode == 0
    return arch


@pytest.fixture(scope="module")
def input_facts():
    """What the ingested files contain, computed with the stdlib only."""
    files = [p for src in PLAIN_SOURCES for p in maildir_files(src)]
    by_mid: dict[str, list] = defaultdict(list)
    encrypted: set[str] = set()
    for path, msg in iter_messages(files):
        mid = message_id_of(msg)
        assert mid, f"{path} has no Message-ID (the computation below assumes one)"
        by_mid[mid].append(path)
        if msg.get_content_type() == "multipart/encrypted":
            encrypted.add(mid)
    return {"files": files, "by_mid": by_mid, "encrypted": encrypted}


def plain_message_events(key: str) -> list[dict]:
    return [e for e in events("message", chat=key) if not e.get("encrypted")]


@pytest.mark.parametrize("key", PLAIN_CHATS)
def test_plain_chat_messages_in_one_right_chat(plain, key):
    gt_msgs = plain_message_events(key)
    assert gt_msgs, f"ground truth has no unencrypted messages for {key}"
    chats = {plain.chat_of(e["message_id"])["id"] for e in gt_msgs}
    assert len(chats) == 1, f"messages of {key} are spread over chats {chats}"
    chat = plain.chat_of(gt_msgs[0]["message_id"])
    info = gt_chat_info(key)
    assert chat["kind"] == expected_kind(key), chat
    if info["type"] == "group":
        assert chat["name"] == info["final_name"], chat
        assert sorted(a.lower() for a in chat["members"]) == sorted(info["final_members"]), chat
    else:
        assert sorted(a.lower() for a in chat["members"]) == sorted(info["members"]), chat
    assert chat["encrypted"] is False, chat
    # the chat holds exactly these messages (the other plain mails are mail)
    listed = {norm_mid(m["message_id"]) for m in plain.show(chat["id"])["messages"]}
    assert listed == {e["message_id"] for e in gt_msgs}


@pytest.mark.parametrize("label", [e["label"] for k in PLAIN_CHATS for e in plain_message_events(k)])
def test_plain_chat_message_sender_and_text(plain, label):
    e = BY_LABEL[label]
    msg = plain.message(e["message_id"])
    assert msg["sender"].lower() == e["sender"]
    # classic-MUA replies: only the own text, no quote, no "-- " signature
    assert text_of(msg) == e["text"].strip()
    assert msg["encrypted"] is False
    assert msg["system"] is None
    assert msg["deleted"] is False and msg["edited"] is False
    assert 0 <= (to_dt(e["time"]) - to_dt(msg["date"])).total_seconds() <= DATE_SLACK, msg["date"]
    if e.get("in_reply_to"):
        assert norm_mid(msg["reply_to"]) == e["in_reply_to"]


def test_plain_chats_are_distinct(plain):
    chat_ids = [plain.chat_of(plain_message_events(k)[0]["message_id"])["id"] for k in PLAIN_CHATS]
    assert len(set(chat_ids)) == len(PLAIN_CHATS), dict(zip(PLAIN_CHATS, chat_ids))


def test_every_chat_is_in_date_order(plain):
    for chat in plain.chats:
        dates = [to_dt(m["date"]) for m in plain.show(chat["id"])["messages"] if m.get("date")]
        assert dates == sorted(dates), f"chat {chat['id']} is not in date order"


def test_chats_list_counts(plain):
    for chat in plain.chats:
        shown = plain.show(chat["id"])
        assert chat["message_count"] == len(shown["messages"]), chat
        assert str(shown["chat"]["id"]) == str(chat["id"])


def plain_emails(*labels):
    return [e for e in events("plain_email") if not labels or e["label"] in labels]


def test_mailing_list_newsletters(plain):
    pms = plain_emails("pm1", "pm2")
    assert len(pms) == 2
    chats = {plain.chat_of(e["message_id"])["id"] for e in pms}
    assert len(chats) == 1, f"both issues of the newsletter belong in one chat: {chats}"
    chat = plain.chat_of(pms[0]["message_id"])
    assert chat["kind"] == "mailinglist", chat
    for e in pms:
        msg = plain.message(e["message_id"])
        assert msg["sender"].lower() == addr(e["sender"])
        assert msg["subject"] == e["subject"]


@pytest.mark.parametrize("label", ["pm3", "pm4", "pm5"])
def test_plain_email_kept_as_mail(plain, label):
    e = BY_LABEL[label]
    chat = plain.chat_of(e["message_id"])
    assert chat["kind"] == "mail", chat
    msg = plain.message(e["message_id"])
    assert msg["sender"].lower() == addr(e["sender"])
    assert msg["subject"] == e["subject"]
    assert msg["encrypted"] is False


def _file_attachments(path):
    """(filename, payload bytes) of every part with a file name."""
    msg = next(iter_messages([path]))[1]
    out = []
    for part in msg.walk():
        name = part.get_filename()
        if name and not part.is_multipart():
            out.append((name, part.get_payload(decode=True) or b""))
    return out


def test_pm4_attachment_non_ascii_name_and_size(plain):
    e = BY_LABEL["pm4"]
    expected = dict(_file_attachments(DC_DEV / e["journal_file"]))
    assert e["attachment"] in expected, "ground truth and file disagree"
    data = expected[e["attachment"]]
    msg = plain.message(e["message_id"])
    by_name = {a["filename"]: a for a in msg["attachments"]}
    assert e["attachment"] in by_name, msg["attachments"]
    att = by_name[e["attachment"]]
    assert att["size"] == len(data)
    assert att["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    "label,word", [("jm1", "electricity"), ("pm1", "Herbsttouren"), ("pm4", "Nebenkostenübersicht"), ("wg2", "Tuesday")]
)
def test_search_finds_plain_messages(plain, label, word):
    mid = BY_LABEL[label]["message_id"]
    result = plain.json("search", word)
    found = {norm_mid(v) for v in collect_key(result, "message_id")}
    assert mid in found, f"search {word!r} did not return {mid}: {str(result)[:1500]}"


def test_stats_match_the_input(plain, input_facts):
    st = plain.stats
    files, by_mid, encrypted = input_facts["files"], input_facts["by_mid"], input_facts["encrypted"]
    assert st["messages_seen"] == len(files)
    assert st["unique_messages"] == len(by_mid)
    assert st["duplicates"] == st["messages_seen"] - st["unique_messages"]
    assert st["encrypted_undecrypted"] == len(encrypted)
    assert st["unique_messages"] == (
        st["chat_messages"] + st["mail_messages"] + st["encrypted_undecrypted"] + st["parse_errors"]
    ), st
    assert st["parse_errors"] == 0
    assert st["chats"] == len(plain.chats)


def test_stats_chat_and_mail_buckets(plain):
    """The unencrypted messages split into chat messages (jm, wg, ji_plain) and
    mail (pm1..pm5), as the ground truth says."""
    st = plain.stats
    assert st["chat_messages"] == sum(len(plain_message_events(k)) for k in PLAIN_CHATS)
    assert st["mail_messages"] == len(plain_emails())


def test_verify_exits_zero(plain):
    res = plain.verify()
    assert res.returncode == 0, res.describe()


def test_raw_is_byte_exact(plain, input_facts):
    by_mid, encrypted = input_facts["by_mid"], input_facts["encrypted"]
    single = sorted(m for m, ps in by_mid.items() if len(ps) == 1)
    multi_plain = sorted(m for m, ps in by_mid.items() if len(ps) > 1 and m not in encrypted)
    multi_enc = sorted(m for m, ps in by_mid.items() if len(ps) > 1 and m in encrypted)
    picks = single[:3] + multi_plain[:3] + multi_enc[:3]
    assert single and multi_plain and multi_enc
    for mid in picks:
        copies = {p.read_bytes() for p in by_mid[mid]}
        raw = plain.raw(mid)
        assert raw in copies, f"raw {mid}: {len(raw)} bytes, equal to none of {len(copies)} copies"


def test_raw_of_mallory_reply_keeps_quote_and_signature(plain, input_facts):
    """The chat view drops the quote/signature; the original bytes keep them."""
    for label in ("jm2", "wg2"):
        mid = BY_LABEL[label]["message_id"]
        raw = plain.raw(mid)
        assert raw in {p.read_bytes() for p in input_facts["by_mid"][mid]}


# ==========================================================================
# Part 2: journal-decrypted/ (inner messages with protected headers)
# ==========================================================================


@pytest.fixture(scope="module")
def dec(tmp_path_factory) -> Archive:
    arch = Archive(tmp_path_factory.mktemp("dcdev-decrypted") / "archive")
    res = ingest(arch.path, DC_DEV / "journal-decrypted")
    assert res.returncode == 0
    return arch


def in_decrypted(e: dict, key: str = "message_id") -> bool:
    return norm_mid(e.get(key)) in DECRYPTED


ENC_CHATS = [k for k, v in GT["chats"].items() if v.get("encrypted")]
EDITED_OR_DELETED = {e["target_message_id"] for e in events("edit", "delete_for_everyone")}
ENC_MESSAGES = [e for e in events("message") if in_decrypted(e)]
SYSTEM_ACTIONS = {
    "group_renamed": "group-renamed",
    "member_added": "member-added",
    "member_removed": "member-removed",
    "member_left": "member-left",
    "group_avatar_set": "group-avatar",
    "group_description_set": "group-description",
    "ephemeral_timer_set": "ephemeral-timer",
}


def test_decrypted_input_complete():
    """The copy in tests/data holds every decrypted file the index names."""
    summary = load_journal_index()["summary"]
    assert len(DECRYPTED) == summary["decrypted_ok"]
    assert all(p.is_file() for p in DECRYPTED.values())


def test_decrypted_stats(dec):
    st = dec.stats
    assert st["messages_seen"] == len(DECRYPTED)
    assert st["unique_messages"] == len(DECRYPTED)
    assert st["duplicates"] == 0
    assert st["encrypted_undecrypted"] == 0
    assert st["parse_errors"] == 0
    assert st["unique_messages"] == st["chat_messages"] + st["mail_messages"]


@pytest.mark.parametrize("key", ENC_CHATS)
def test_decrypted_chat_holds_its_messages(dec, key):
    gt_msgs = [e for e in ENC_MESSAGES if e["chat"] == key]
    assert gt_msgs
    chats = {dec.chat_of(e["message_id"])["id"] for e in gt_msgs}
    assert len(chats) == 1, f"messages of {key} are spread over chats {chats}"
    chat = dec.chat_of(gt_msgs[0]["message_id"])
    info = gt_chat_info(key)
    assert chat["kind"] == expected_kind(key), chat
    if info["type"] == "group":
        assert chat["group_id"] == info["chat_group_id"], chat
    elif info["type"] == "1:1":
        assert sorted(a.lower() for a in chat["members"]) == sorted(info["members"]), chat
    # No assertion on chat["encrypted"] here: the .eml files are the inner
    # messages alone, "encrypted" is an outer fact.


def test_decrypted_chats_are_distinct(dec):
    chat_ids = {k: dec.chat_of(next(e for e in ENC_MESSAGES if e["chat"] == k)["message_id"])["id"] for k in ENC_CHATS}
    assert len(set(chat_ids.values())) == len(chat_ids), chat_ids


@pytest.mark.parametrize(
    "label", [e["label"] for e in ENC_MESSAGES if not e.get("bulk")] + ["hi-bulk-001", "hi-bulk-150"]
)
def test_decrypted_message_sender_text_date(dec, label):
    e = BY_LABEL[label]
    msg = dec.message(e["message_id"])
    assert msg["sender"].lower() == e["sender"]
    if e["message_id"] not in EDITED_OR_DELETED:
        assert text_of(msg) == e["text"].strip()
        assert msg["edited"] is False and msg["deleted"] is False
    assert msg["system"] is None
    # the inner (protected) Date is the real one; the outer one was set back
    assert 0 <= (to_dt(e["time"]) - to_dt(msg["date"])).total_seconds() <= DATE_SLACK, msg["date"]


def test_bulk_chat_complete(dec):
    bulk = [e for e in ENC_MESSAGES if e.get("bulk")]
    assert len(bulk) == 150
    got = {norm_mid(m["message_id"]): m for m in dec.show(dec.chat_of(bulk[0]["message_id"])["id"])["messages"]}
    for e in bulk:
        assert e["message_id"] in got, e["label"]
        assert text_of(got[e["message_id"]]) == e["text"].strip()


# --- groups ---------------------------------------------------------------


def group_chat(dec: Archive, key: str) -> dict:
    gid = GT["chats"][key]["chat_group_id"]
    found = [c for c in dec.chats if c.get("group_id") == gid]
    assert len(found) == 1, f"expected one chat with group_id {gid}, got {found}"
    return found[0]


def expected_past_members(key: str) -> set[str]:
    info = GT["chats"][key]
    ever = set(info["initial_members"])
    for e in events("member_added", "member_removed", "member_left", chat=key):
        ever.add(e["member"])
    return ever - set(info["final_members"])


def test_hike_final_name_members_past_members(dec):
    info = GT["chats"]["hike"]
    chat = group_chat(dec, "hike")
    assert chat["kind"] == "group"
    assert chat["name"] == info["final_name"]
    assert sorted(a.lower() for a in chat["members"]) == sorted(info["final_members"])
    past = expected_past_members("hike")
    assert past == {e["member"] for e in events("member_left", chat="hike")}  # heidi
    assert {a.lower() for a in chat["past_members"]} == past
    # ivan was removed and re-added: a member at the end, not a past member
    for e in events("member_removed", chat="hike"):
        assert e["member"] in info["final_members"]


def test_koch_final_name_and_members(dec):
    info = GT["chats"]["koch"]
    chat = group_chat(dec, "koch")
    assert chat["name"] == info["final_name"]
    assert sorted(a.lower() for a in chat["members"]) == sorted(info["final_members"])


GROUP_EVENTS = [e for e in EVENTS if e["type"] in SYSTEM_ACTIONS and e.get("chat") in ("hike", "koch")]


@pytest.mark.parametrize(
    "seq", [e["seq"] for e in GROUP_EVENTS], ids=[f"{e['chat']}-{e['type']}-{e['seq']}" for e in GROUP_EVENTS]
)
def test_group_system_message(dec, seq):
    e = next(x for x in GROUP_EVENTS if x["seq"] == seq)
    chat = group_chat(dec, e["chat"])
    assert dec.chat_of(e["message_id"])["id"] == chat["id"]
    msg = dec.message(e["message_id"])
    assert msg["sender"].lower() == e["sender"]
    sysinfo = msg["system"]
    assert sysinfo, f"not a system message: {msg}"
    assert sysinfo["action"] == SYSTEM_ACTIONS[e["type"]], sysinfo
    if "member" in e:
        assert (sysinfo.get("member") or "").lower() == e["member"], sysinfo
    if e["type"] == "group_renamed":
        assert sysinfo.get("old_name") == e["old_name"], sysinfo
        assert sysinfo.get("new_name") == e["new_name"], sysinfo
    if e["type"] == "ephemeral_timer_set":  # the timer itself (0 = off) in system.value
        assert sysinfo.get("value") == e["timer_seconds"], sysinfo


def test_koch_ephemeral_timer_set_then_cleared(dec):
    evs = events("ephemeral_timer_set", chat="koch")
    assert [e["timer_seconds"] for e in evs][-1] == 0 and any(e["timer_seconds"] for e in evs)
    msgs = [dec.message(e["message_id"]) for e in evs]
    assert [m["system"]["action"] for m in msgs] == ["ephemeral-timer"] * len(evs)
    assert [to_dt(m["date"]) for m in msgs] == sorted(to_dt(m["date"]) for m in msgs)
    chat = group_chat(dec, "koch")
    if "ephemeral_timer" in chat:  # the chat's current timer, when the program reports it
        assert not chat["ephemeral_timer"], chat


def test_group_description_in_system_message_or_text(dec):
    for e in events("group_description_set"):
        msg = dec.message(e["message_id"])
        assert msg["system"] and msg["system"]["action"] == "group-description"
        values = [msg["system"].get("value"), msg["system"].get("new_name"), msg["text"]]
        assert e["description"] in values, msg
        chat = group_chat(dec, e["chat"])
        if "description" in chat:  # the chat's current description, when reported
            assert chat["description"] == GT["chats"][e["chat"]]["description"], chat


# --- edits, deletes, reactions, receipts ------------------------------------


EDIT_TARGETS = sorted({e["target_message_id"] for e in events("edit")})


@pytest.mark.parametrize("target", EDIT_TARGETS)
def test_edit_chain(dec, target):
    edits = sorted((e for e in events("edit") if e["target_message_id"] == target), key=lambda e: e["edit_number"])
    original = next(e for e in events("message") if e["message_id"] == target)["text"]
    assert edits[0]["old_text"] == original
    expected = [original] + [e["new_text"] for e in edits]
    msg = dec.message(target)
    assert msg["edited"] is True
    assert [r["text"].strip() for r in msg["revisions"]] == [t.strip() for t in expected]
    assert all(norm_mid(r["message_id"]) for r in msg["revisions"])
    assert norm_mid(msg["revisions"][0]["message_id"]) == target
    assert [norm_mid(r["message_id"]) for r in msg["revisions"][1:]] == [e["wire_message_id"] for e in edits]


@pytest.mark.parametrize("target", sorted({e["target_message_id"] for e in events("delete_for_everyone")}))
def test_deleted_message(dec, target):
    e = next(x for x in events("delete_for_everyone") if x["target_message_id"] == target)
    msg = dec.message(target)  # still listed, as a "deleted" marker
    assert msg["deleted"] is True
    assert msg["text"] == ""
    texts = [r["text"].strip() for r in msg["revisions"]]
    assert texts, "the deleted text must stay in the revisions"
    assert texts[-1] == e["deleted_text"].strip()
    assert texts[0] == e["original_text"].strip()


WIRE_EVENTS = [e for e in EVENTS if e.get("wire_message_id") and in_decrypted(e, "wire_message_id")]


def test_wire_messages_are_folded_not_listed(dec):
    listed = set(dec.messages)
    leaked = [(e["type"], e["wire_message_id"]) for e in WIRE_EVENTS if e["wire_message_id"] in listed]
    assert not leaked


REACTION_TARGETS = sorted({e["target_message_id"] for e in events("reaction")})


@pytest.mark.parametrize("target", REACTION_TARGETS)
def test_final_reactions(dec, target):
    per_sender = final_reactions(events("reaction"), target)
    msg = dec.message(target)
    got = {k.lower(): v for k, v in (msg["reactions"] or {}).items()}
    assert got == per_sender
    assert dict(Counter(got.values())) == reactions_on(events("reaction"), target)[-1]["reactions_after"]


@pytest.mark.parametrize("seq", [e["seq"] for e in events("read_receipt")])
def test_read_receipts(dec, seq):
    e = next(x for x in events("read_receipt") if x["seq"] == seq)
    msg = dec.message(e["target_message_id"])
    assert e["reader"] in [a.lower() for a in msg["read_by"]], msg["read_by"]


QUOTES = [e for e in ENC_MESSAGES if e.get("quote_of")]


@pytest.mark.parametrize("label", [e["label"] for e in QUOTES])
def test_quote_reply_to(dec, label):
    e = BY_LABEL[label]
    msg = dec.message(e["message_id"])
    assert norm_mid(msg["reply_to"]) == BY_LABEL[e["quote_of"]]["message_id"]


WITH_FILES = [e for e in ENC_MESSAGES if e.get("file_name")]


@pytest.mark.parametrize("label", [e["label"] for e in WITH_FILES])
def test_attachment(dec, label):
    e = BY_LABEL[label]
    msg = dec.message(e["message_id"])
    by_name = {a["filename"]: a for a in msg["attachments"]}
    assert e["file_name"] in by_name, msg["attachments"]
    att = by_name[e["file_name"]]
    assert att["size"] == e["file_bytes"]
    assert att["mime"].split("/")[0].lower() == e["file_mime"].split("/")[0], att


@pytest.mark.parametrize("label", [e["label"] for e in ENC_MESSAGES if not e.get("bulk")])
def test_forwarded_flag(dec, label):
    e = BY_LABEL[label]
    msg = dec.message(e["message_id"])
    assert msg["forwarded"] is bool(e.get("forwarded_from"))


@pytest.mark.parametrize("label", [e["label"] for e in ENC_MESSAGES if e.get("view_type") == "Vcard"])
def test_vcard_is_contact_kind(dec, label):
    msg = dec.message(BY_LABEL[label]["message_id"])
    assert msg["kind"] == "contact", msg


@pytest.mark.parametrize("label", [e["label"] for e in ENC_MESSAGES if e.get("has_location")])
def test_location(dec, label):
    e = BY_LABEL[label]
    msg = dec.message(e["message_id"])
    loc = msg["location"]
    assert loc, msg
    lat, lon = e["location"]
    assert abs(loc["lat"] - lat) <= 1e-4 and abs(loc["lon"] - lon) <= 1e-4, loc


def test_decrypted_verify_and_raw(dec):
    res = dec.verify()
    assert res.returncode == 0, res.describe()
    for label in ("fg3", "k5", "h1"):  # deleted, deleted, reacted-to
        mid = BY_LABEL[label]["message_id"]
        assert dec.raw(mid) == DECRYPTED[mid].read_bytes()
    for e in events("edit")[:1] + events("delete_for_everyone")[:1]:  # folded wire messages
        assert dec.raw(e["wire_message_id"]) == DECRYPTED[e["wire_message_id"]].read_bytes()
