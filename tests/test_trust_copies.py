"""Attacks on what the archive shows, written as the attacker would try them.

Each test builds the victim's mail and the attacker's, ingests them in every
order that matters and asserts what a user sees: the real text still shown
and found, the conflict listed and counted, the group unchanged.

- A forged copy under the victim's Message-ID, ground (a padding header)
  until its SHA-256 sorts below the real copy's: it must not replace it.
- A forged plaintext copy of a real end-to-end encrypted message: it must
  not hide the sealed message, nor the decrypted text once a key is given.
- A non-member of a group renames it, removes and adds members.
- A message back-dated to 1990 with the group's id and its own member list.
- Two edits sharing one Message-ID, ingested A-then-B, B-then-A, and after
  ``reindex --full``: the same archive every time.
- Dates from year 0001, 9999 and garbage: no traceback, a defect, the date
  of delivery.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.cli_helpers import DC_DEV, Archive, load_ground_truth, load_journal_index, make_maildir, norm_mid

ALICE, BOB, CAROL, MALLORY, EVE = (f"{n}@example.org" for n in ("alice", "bob", "carol", "mallory", "eve"))
GROUP_ID = "FamilyGroup4711abcdEFGH"


def mail(
    mid: str,
    sender: str,
    to: list[str],
    body: str,
    *,
    date: str | None = "Sat, 28 Nov 2026 10:00:00 +0000",
    received: str | None = None,
    headers: tuple[str, ...] = (),
) -> bytes:
    """A plain Delta Chat message as a server delivers it (``received``:
    the date of the delivering server's Received stamp)."""
    lines = [f"Received: from smtp.example.org by mail.example.org with LMTP; {received}"] if received else []
    lines += [f"From: <{sender}>", f"To: {', '.join(f'<{a}>' for a in to)}"]
    lines += [f"Date: {date}"] if date is not None else []
    lines += [
        f"Message-ID: <{mid}>",
        "Subject: Message from Delta Chat",
        "Chat-Version: 1.0",
        *headers,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
        "",
    ]
    return "\r\n".join(lines).encode()


def group_mail(mid: str, sender: str, to: list[str], body: str, *extra: str, **kw) -> bytes:
    return mail(mid, sender, to, body, headers=(f"Chat-Group-ID: {GROUP_ID}", "Chat-Group-Name: Family", *extra), **kw)


def archive_of(tmp: Path, name: str, *batches: dict[str, bytes]) -> Archive:
    """An archive that received ``batches`` one ingest run after another."""
    arch = Archive(tmp / name / "archive", inprocess=True)
    for i, batch in enumerate(batches):
        arch.ingest(make_maildir(tmp / name / f"box{i}", batch))
    return arch


def search(arch: Archive, query: str, history: bool = False) -> set[str]:
    args = ("search", query, "--history") if history else ("search", query)
    return {norm_mid(h["message_id"]) for h in arch.json(*args)}


def without_sources(obj):
    """A show/chats document with the where-read paths dropped (they name
    the test's temporary mailboxes)."""
    if isinstance(obj, dict):
        return {k: without_sources(v) for k, v in obj.items() if k != "sources"}
    if isinstance(obj, list):
        return [without_sources(v) for v in obj]
    return obj


# ---------------------------------------------------------------- forged copy


def _grind_lower(victim: bytes, make) -> bytes:
    """The attacker's copy with a padding header chosen so that its SHA-256
    sorts below the victim's (a few tries: half of all values do)."""
    target = hashlib.sha256(victim).hexdigest()
    for pad in range(1000):
        forged = make(pad)
        if hashlib.sha256(forged).hexdigest() < target:
            return forged
    raise AssertionError("no padding found")


def test_forged_lower_hash_copy_does_not_replace_the_real_message(tmp_path):
    victim = mail(
        "oak@example.org", ALICE, [BOB], "Meet at the old oak at noon.", received="Sat, 28 Nov 2026 10:00:02 +0000"
    )
    forged = _grind_lower(
        victim,
        lambda pad: mail(
            "oak@example.org",
            ALICE,
            [BOB],
            "Meet at the harbour at midnight.",
            received="Sat, 28 Nov 2026 10:05:00 +0000",
            headers=(f"X-Pad: {pad}",),
        ),
    )
    assert hashlib.sha256(forged).hexdigest() < hashlib.sha256(victim).hexdigest()
    runs = {
        "victim-first": archive_of(tmp_path, "a", {"1": victim}, {"2": forged}),
        "forged-first": archive_of(tmp_path, "b", {"2": forged}, {"1": victim}),
        "together": archive_of(tmp_path, "c", {"1": victim, "2": forged}),
    }
    shown = {}
    for name, arch in runs.items():
        msg = arch.message("oak@example.org")
        assert msg["text"] == "Meet at the old oak at noon.", name
        assert [c["text"] for c in msg["conflicts"]] == ["Meet at the harbour at midnight."], name
        conflict = msg["conflicts"][0]
        assert conflict["sha256"] == hashlib.sha256(forged).hexdigest()
        assert [s["sha256"] for s in conflict["sources"]] == [conflict["sha256"]]
        assert arch.stats["conflicting_messages"] == 1
        assert arch.raw("oak@example.org") == victim
        assert search(arch, "oak") == {"oak@example.org"}
        assert search(arch, "harbour") == set()  # the forgery is not the current text...
        assert search(arch, "harbour", history=True) == {"oak@example.org"}  # ...but it is found
        text = arch.run("show", arch.chat_of("oak@example.org")["id"]).stdout.decode()
        assert "Meet at the old oak at noon." in text
        assert "! conflicting copy of oak@example.org from alice@example.org: Meet at the harbour" in text
        shown[name] = without_sources(arch.show(arch.chat_of("oak@example.org")["id"]))
    assert shown["victim-first"] == shown["forged-first"] == shown["together"]


def test_forged_author_under_the_same_message_id_is_a_conflict(tmp_path):
    """The same text from another sender is another message, not a copy."""
    real = mail("hi@example.org", ALICE, [BOB], "Hello Bob", received="Sat, 28 Nov 2026 10:00:02 +0000")
    fake = mail("hi@example.org", MALLORY, [BOB], "Hello Bob", received="Sat, 28 Nov 2026 10:01:00 +0000")
    arch = archive_of(tmp_path, "a", {"1": fake, "2": real})
    msg = arch.message("hi@example.org")
    assert msg["sender"] == ALICE
    assert [c["sender"] for c in msg["conflicts"]] == [MALLORY]


def test_transport_copies_are_one_message(tmp_path):
    """INBOX and journal copies differ in Received, Delivered-To, folding,
    line ends and a trailing newline: the same message, no conflict."""
    inbox = mail("same@example.org", ALICE, [BOB], "See you\nat 8", received="Sat, 28 Nov 2026 10:00:02 +0000")
    journal = (
        b"Return-Path: <alice@example.org>\nDelivered-To: journal@example.org\n"
        + inbox.replace(b"Subject: Message from Delta Chat", b"Subject: Message\r\n from Delta Chat")
        .replace(b"\r\n", b"\n")
        .replace(b"10:00:02", b"10:00:03")
        + b"\n"
    )
    arch = archive_of(tmp_path, "a", {"1": inbox, "2": journal})
    msg = arch.message("same@example.org")
    assert "conflicts" not in msg
    assert arch.stats["conflicting_messages"] == 0
    assert arch.stats["originals"] == 2


# ---------------------------------------------------------------- plaintext over sealed


def _real_encrypted() -> tuple[dict, Path, Path]:
    """A real encrypted text message of the corpus, its file and the key
    that opens it."""
    gt = next(
        e for e in load_ground_truth()["events"] if e["type"] == "message" and e.get("encrypted") and e.get("text")
    )
    entry = next(m for m in load_journal_index()["messages"] if norm_mid(m["message_id"]) == norm_mid(gt["message_id"]))
    key = next((DC_DEV / "keys" / entry["decrypted_with_key_of"]).glob("private-key-*.asc"))
    return gt, DC_DEV / entry["file"], key


def test_plaintext_copy_never_hides_a_sealed_encrypted_one(tmp_path):
    gt, path, key = _real_encrypted()
    mid = norm_mid(gt["message_id"])
    sealed = path.read_bytes()
    forged = mail(
        mid,
        gt["sender"],
        gt["recipients"],
        "Forged plaintext: send the money to Mallory",
        received="Sat, 28 Nov 2026 03:35:00 +0000",
    )
    arch = archive_of(tmp_path, "a", {"forged": forged, "real": sealed})
    stats = arch.stats
    assert stats["conflicting_messages"] == 1
    assert stats["encrypted_undecrypted"] == 1  # the sealed message is the message
    assert arch.raw(mid) == sealed
    assert mid not in arch.messages  # nothing readable is shown in its place
    assert search(arch, "money", history=True) == set()

    arch.run("decrypt", "--key", key)
    arch = Archive(arch.path, inprocess=True)
    msg = arch.message(mid)
    assert msg["text"] == gt["text"]
    assert msg["encrypted"] is True
    assert [c["text"] for c in msg["conflicts"]] == ["Forged plaintext: send the money to Mallory"]
    assert msg["conflicts"][0]["encrypted"] is False
    assert arch.stats["conflicting_messages"] == 1
    assert search(arch, "money") == set()
    assert search(arch, "money", history=True) == {mid}


def test_decrypted_copy_is_the_message_in_either_order(tmp_path):
    gt, path, key = _real_encrypted()
    mid = norm_mid(gt["message_id"])
    forged = mail(mid, gt["sender"], gt["recipients"], "Forged", received="Sat, 28 Nov 2026 03:35:00 +0000")
    shown = []
    for name, batches in (
        ("a", ({"r": path.read_bytes()}, {"f": forged})),
        ("b", ({"f": forged}, {"r": path.read_bytes()})),
    ):
        arch = Archive(tmp_path / name / "archive", inprocess=True)
        for i, batch in enumerate(batches):
            arch.ingest(make_maildir(tmp_path / name / f"box{i}", batch), "--key", key)
        assert arch.message(mid)["text"] == gt["text"]
        shown.append(without_sources(arch.show(arch.chat_of(mid)["id"])))
    assert shown[0] == shown[1]


# ---------------------------------------------------------------- group authority


def _group_history() -> dict[str, bytes]:
    return {
        "1": group_mail(
            "g1@example.org",
            ALICE,
            [BOB, CAROL],
            "Welcome to the family group",
            received="Sat, 28 Nov 2026 10:00:01 +0000",
        ),
        "2": group_mail(
            "g2@example.org",
            BOB,
            [ALICE, CAROL],
            "Hi all",
            date="Sat, 28 Nov 2026 10:10:00 +0000",
            received="Sat, 28 Nov 2026 10:10:01 +0000",
        ),
    }


def test_group_takeover_by_a_non_member_changes_nothing(tmp_path):
    attack = {
        "3": group_mail(
            "m1@example.org",
            MALLORY,
            [ALICE, BOB, CAROL, MALLORY],
            "",
            "Chat-Group-Name-Changed: Family",
            date="Sat, 28 Nov 2026 10:20:00 +0000",
            received="Sat, 28 Nov 2026 10:20:01 +0000",
        ).replace(b"Chat-Group-Name: Family", b"Chat-Group-Name: Pwned"),
        "4": group_mail(
            "m2@example.org",
            MALLORY,
            [ALICE, BOB, CAROL],
            "",
            f"Chat-Group-Member-Removed: {BOB}",
            date="Sat, 28 Nov 2026 10:21:00 +0000",
            received="Sat, 28 Nov 2026 10:21:01 +0000",
        ),
        "5": group_mail(
            "m3@example.org",
            MALLORY,
            [ALICE, BOB, CAROL, EVE],
            "",
            f"Chat-Group-Member-Added: {EVE}",
            date="Sat, 28 Nov 2026 10:22:00 +0000",
            received="Sat, 28 Nov 2026 10:22:01 +0000",
        ),
        "6": group_mail(
            "m4@example.org",
            MALLORY,
            [ALICE, BOB, CAROL],
            "I am in charge now",
            date="Sat, 28 Nov 2026 10:23:00 +0000",
            received="Sat, 28 Nov 2026 10:23:01 +0000",
        ),
    }
    arch = archive_of(tmp_path, "a", _group_history(), attack)
    chat = arch.chat(f"grp-{GROUP_ID}")
    assert chat["name"] == "Family"
    assert chat["members"] == [ALICE, BOB, CAROL]
    assert chat["past_members"] == []
    msgs = {norm_mid(m["message_id"]): m for m in arch.show(chat["id"])["messages"]}
    for mid in ("m1@example.org", "m2@example.org", "m3@example.org", "m4@example.org"):
        assert msgs[mid]["non_member"] is True  # listed, as a non-member's message
    assert msgs["m2@example.org"]["text"].endswith("(not a member: ignored)")
    assert msgs["m4@example.org"]["text"] == "I am in charge now"
    assert "mallory@example.org (not a member): I am in charge now" in arch.run("show", chat["id"]).stdout.decode()
    assert "non_member" not in msgs["g2@example.org"]
    info = arch.json("show", chat["id"])  # the same from a fresh read
    assert info["chat"]["members"] == [ALICE, BOB, CAROL]


def test_member_added_by_a_member_then_may_change_the_group(tmp_path):
    """Authority follows membership over time: once Alice adds Eve, Eve's
    rename takes effect."""
    later = {
        "3": group_mail(
            "a1@example.org",
            ALICE,
            [BOB, CAROL, EVE],
            "",
            f"Chat-Group-Member-Added: {EVE}",
            date="Sat, 28 Nov 2026 10:20:00 +0000",
            received="Sat, 28 Nov 2026 10:20:01 +0000",
        ),
        "4": group_mail(
            "e1@example.org",
            EVE,
            [ALICE, BOB, CAROL],
            "",
            "Chat-Group-Name-Changed: Family",
            date="Sat, 28 Nov 2026 10:30:00 +0000",
            received="Sat, 28 Nov 2026 10:30:01 +0000",
        ).replace(b"Chat-Group-Name: Family", b"Chat-Group-Name: Family & Eve"),
    }
    arch = archive_of(tmp_path, "a", {**_group_history(), **later})
    chat = arch.chat(f"grp-{GROUP_ID}")
    assert chat["members"] == [ALICE, BOB, CAROL, EVE]
    assert chat["name"] == "Family & Eve"


def test_back_dated_message_cannot_found_the_group(tmp_path):
    """Mallory's message claims 1990 and lists his own members; the server
    delivered it after the group existed, so it is not the first message."""
    backdated = group_mail(
        "old@example.org",
        MALLORY,
        [EVE],
        "Founding the group, long ago",
        date="Mon, 01 Jan 1990 00:00:00 +0000",
        received="Sat, 28 Nov 2026 11:00:00 +0000",
    )
    for name, batches in (("a", (_group_history(), {"3": backdated})), ("b", ({"3": backdated}, _group_history()))):
        arch = archive_of(tmp_path, name, *batches)
        chat = arch.chat(f"grp-{GROUP_ID}")
        assert chat["members"] == [ALICE, BOB, CAROL], name
        messages = arch.show(chat["id"])["messages"]
        assert norm_mid(messages[0]["message_id"]) == "g1@example.org"
        old = arch.message("old@example.org")
        assert old["date"] == "2026-11-28T11:00:00+00:00"  # the delivery, not 1990
        assert old["non_member"] is True
        assert chat["first_date"] == "2026-11-28T10:00:00+00:00"


def test_far_future_date_does_not_move_a_message_to_the_end(tmp_path):
    future = mail(
        "late@example.org",
        BOB,
        [ALICE],
        "I am always last",
        date="Fri, 31 Dec 2100 00:00:00 +0000",
        received="Sat, 28 Nov 2026 10:00:30 +0000",
    )
    after = mail(
        "after@example.org",
        ALICE,
        [BOB],
        "later reply",
        date="Sat, 28 Nov 2026 10:05:00 +0000",
        received="Sat, 28 Nov 2026 10:05:01 +0000",
    )
    arch = archive_of(tmp_path, "a", {"1": future, "2": after})
    messages = arch.show(arch.chat_of("late@example.org")["id"])["messages"]
    assert [norm_mid(m["message_id"]) for m in messages] == ["late@example.org", "after@example.org"]
    assert messages[0]["date"] == "2026-11-28T10:00:30+00:00"


def test_extreme_and_broken_dates_take_the_delivery_date(tmp_path):
    dates = {
        "y1": "Mon, 01 Jan 0001 00:00:00 +0000",
        "y9999": "Fri, 31 Dec 9999 23:59:59 +0000",
        "garbage": "next Tuesday-ish",
        "none": None,
    }
    box = {
        name: mail(
            f"{name}@example.org", ALICE, [BOB], f"dated {name}", date=value, received="Sat, 28 Nov 2026 12:00:00 +0000"
        )
        for name, value in dates.items()
    }
    box["undated"] = mail("undated@example.org", ALICE, [BOB], "no date, no evidence", date=None)
    box["normal"] = mail(
        "normal@example.org",
        ALICE,
        [BOB],
        "an ordinary one",
        date="Sat, 28 Nov 2026 13:00:00 +0000",
        received="Sat, 28 Nov 2026 13:00:01 +0000",
    )
    arch = archive_of(tmp_path, "a", box)
    for name in dates:
        assert arch.message(f"{name}@example.org")["date"] == "2026-11-28T12:00:00+00:00", name
    messages = arch.show(arch.chat_of("normal@example.org")["id"])["messages"]
    assert norm_mid(messages[-1]["message_id"]) == "undated@example.org"  # unknown time comes last
    assert messages[-1]["date"] is None
    defects = arch.stats["defects_by_kind"]
    assert defects["ImplausibleDate"] == 2  # 0001 (not read as 2001) and 9999
    assert defects["MissingOrBadDate"] == 3  # garbage, none, undated


# ---------------------------------------------------------------- control messages


def _edits() -> tuple[bytes, bytes, bytes]:
    post = mail("p1@example.org", ALICE, [BOB], "Dinner at 6", received="Sat, 28 Nov 2026 10:00:01 +0000")
    edit_a = mail(
        "e1@example.org",
        ALICE,
        [BOB],
        "Dinner at 7",
        date="Sat, 28 Nov 2026 10:01:00 +0000",
        received="Sat, 28 Nov 2026 10:01:01 +0000",
        headers=("Chat-Edit: <p1@example.org>",),
    )
    edit_b = mail(
        "e1@example.org",
        ALICE,
        [BOB],
        "Dinner at 9",
        date="Sat, 28 Nov 2026 10:01:00 +0000",
        received="Sat, 28 Nov 2026 10:02:01 +0000",
        headers=("Chat-Edit: <p1@example.org>",),
    )
    return post, edit_a, edit_b


def _snapshot(arch: Archive) -> dict:
    return {
        "chats": without_sources(arch.json("chats")),
        "shows": [without_sources(arch.json("show", c["id"])) for c in arch.json("chats")],
        "stats": {k: v for k, v in arch.json("stats").items() if k not in ("messages_seen", "duplicates", "sources")},
        "search": [sorted(search(arch, q, history=h)) for q in ("dinner", "9", "7") for h in (False, True)],
    }


def test_two_edits_sharing_one_message_id_give_one_archive_in_any_order(tmp_path):
    post, edit_a, edit_b = _edits()
    a_then_b = archive_of(tmp_path, "ab", {"p": post, "a": edit_a}, {"b": edit_b})
    b_then_a = archive_of(tmp_path, "ba", {"p": post, "b": edit_b}, {"a": edit_a})
    snaps = [_snapshot(a_then_b), _snapshot(b_then_a)]
    for arch in (a_then_b, b_then_a):
        arch.run("reindex", "--full")
        snaps.append(_snapshot(Archive(arch.path, inprocess=True)))
    assert all(s == snaps[0] for s in snaps[1:])
    msg = a_then_b.message("p1@example.org")
    assert msg["text"] == "Dinner at 7"  # the edit delivered first
    assert [r["text"] for r in msg["revisions"]] == ["Dinner at 6", "Dinner at 7"]
    assert [(c["message_id"], c["text"]) for c in msg["conflicts"]] == [("e1@example.org", "Dinner at 9")]
    assert snaps[0]["stats"]["conflicting_messages"] == 1
    assert search(a_then_b, '"at 9"', history=True) == {"p1@example.org"}


def test_conflict_json_is_documented_shape(tmp_path):
    post, edit_a, edit_b = _edits()
    arch = archive_of(tmp_path, "a", {"p": post, "a": edit_a, "b": edit_b})
    conflict = arch.message("p1@example.org")["conflicts"][0]
    assert set(conflict) >= {
        "message_id",
        "sender",
        "sender_name",
        "date",
        "text",
        "role",
        "encrypted",
        "readable",
        "sha256",
        "sources",
    }
    assert conflict["role"] == "control"
    assert json.dumps(conflict)  # plain JSON


def test_edits_sharing_one_message_id_aimed_at_different_messages(tmp_path):
    """When the shown version of an edit changes target, the chat of the
    message it no longer edits is folded again (no stale edit is left)."""
    first = mail("f1@example.org", ALICE, [BOB], "Lunch at noon", received="Sat, 28 Nov 2026 10:00:01 +0000")
    second = mail(
        "f2@example.org",
        ALICE,
        [CAROL],
        "Walk at three",
        date="Sat, 28 Nov 2026 10:00:30 +0000",
        received="Sat, 28 Nov 2026 10:00:31 +0000",
    )
    early = mail(
        "e9@example.org",
        ALICE,
        [BOB],
        "Lunch at one",
        date="Sat, 28 Nov 2026 10:01:00 +0000",
        received="Sat, 28 Nov 2026 10:01:01 +0000",
        headers=("Chat-Edit: <f1@example.org>",),
    )
    late = mail(
        "e9@example.org",
        ALICE,
        [CAROL],
        "Walk at four",
        date="Sat, 28 Nov 2026 10:01:00 +0000",
        received="Sat, 28 Nov 2026 10:09:01 +0000",
        headers=("Chat-Edit: <f2@example.org>",),
    )
    snaps = []
    for name, batches in (
        ("a", ({"1": first, "2": second, "l": late}, {"e": early})),
        ("b", ({"1": first, "2": second, "e": early}, {"l": late})),
    ):
        arch = archive_of(tmp_path, name, *batches)
        assert arch.message("f1@example.org")["text"] == "Lunch at one", name
        assert arch.message("f2@example.org")["text"] == "Walk at three", name
        assert arch.message("f2@example.org")["edited"] is False, name
        snaps.append(_snapshot(arch))
    assert snaps[0] == snaps[1]


# ---------------------------------------------------------------- the rule itself (pure functions)


def _copy(
    sha: str,
    text: str = "hi",
    *,
    sender: str = ALICE,
    delivered: str | None = None,
    date: str | None = "2026-11-28T10:00:00+00:00",
    **env,
):
    from coi_archive.index.versions import Copy
    from coi_archive.ingest.events import Envelope, Post

    events = env.pop("events", (Post(text=text),))
    return Copy(
        sha,
        "rfc822",
        Envelope(
            message_id="m@x",
            sha256=sha,
            dialect=env.pop("dialect", "deltachat"),
            sender=sender,
            date=date,
            delivered=delivered,
            events=events,
            **env,
        ),
    )


def test_version_choice_is_a_pure_function_of_the_set():
    from itertools import permutations

    from coi_archive.index.versions import versions

    copies = [
        _copy("a", "real", delivered="2026-11-28T10:00:01+00:00"),
        _copy("b", "real", delivered="2026-11-28T10:00:02+00:00"),
        _copy("0", "forged", delivered="2026-11-28T10:03:00+00:00"),
        _copy("c", "other", sender=MALLORY),
    ]
    results = {
        tuple((v.identity, tuple(c.sha256 for c in v.copies)) for v in versions(p)) for p in permutations(copies)
    }
    assert len(results) == 1
    shown = versions(copies)
    assert [c.sha256 for c in shown[0].copies] == ["a", "b"]  # earliest delivery first, one version
    assert len(shown) == 3


def test_authenticity_outranks_delivery_time():
    from coi_archive.index.versions import versions
    from coi_archive.ingest.events import Unreadable

    early = "2026-11-28T09:00:00+00:00"
    late = "2026-11-28T11:00:00+00:00"
    plain = _copy("p", "plain", delivered=early)
    sealed = _copy(
        "s", delivered=late, dialect="encrypted", encrypted=True, payload_sha256="ff", events=(Unreadable("no key"),)
    )
    bad = _copy("i", "bad sig", delivered=late, encrypted=True, signature=("invalid", "AA"))
    unknown = _copy("u", "unknown sig", delivered=late, encrypted=True, signature=("unknown", "BB"))
    valid = _copy("v", "valid sig", delivered=late, encrypted=True, signature=("valid", "CC"))
    order = [v.best.sha256 for v in versions([plain, sealed, bad, unknown, valid])]
    assert order == ["v", "u", "i", "s", "p"]


def test_effective_date_is_held_to_the_first_delivery():
    from coi_archive.index.versions import effective_date

    delivered = "2026-11-28T12:00:00+00:00"
    assert (
        effective_date([_copy("a", date="2026-11-28T11:59:00+00:00", delivered=delivered)])
        == "2026-11-28T11:59:00+00:00"
    )
    assert (
        effective_date([_copy("a", date="2026-11-23T12:00:00+00:00", delivered=delivered)])
        == "2026-11-23T12:00:00+00:00"
    )  # Delta Chat's outer dates: up to a week back is believed
    assert effective_date([_copy("a", date="2026-11-20T12:00:00+00:00", delivered=delivered)]) == delivered
    assert effective_date([_copy("a", date="2027-01-01T00:00:00+00:00", delivered=delivered)]) == delivered
    assert effective_date([_copy("a", date=None, delivered=delivered)]) == delivered
    assert effective_date([_copy("a", date="1990-01-01T00:00:00+00:00")]) == "1990-01-01T00:00:00+00:00"
    # a replayed copy (delivered later) cannot lend the real message its date
    for replayed in ("1990-01-01T00:00:00+00:00", "2026-11-27T00:00:00+00:00"):
        assert (
            effective_date(
                [
                    _copy("b", date=replayed, delivered="2026-11-29T00:00:00+00:00"),
                    _copy("a", date="2026-11-28T11:59:00+00:00", delivered=delivered),
                ]
            )
            == "2026-11-28T11:59:00+00:00"
        )


def test_conflict_is_visible_in_the_html_view(tmp_path):
    """The chat page (shared by the web UI and the HTML export) shows the
    other version, escaped like any mail text, and marks a non-member."""
    real = mail("v@example.org", ALICE, [BOB], "the real words", received="Sat, 28 Nov 2026 10:00:02 +0000")
    fake = mail(
        "v@example.org",
        ALICE,
        [BOB],
        "<script>alert(1)</script> forged words",
        received="Sat, 28 Nov 2026 10:04:00 +0000",
    )
    arch = archive_of(tmp_path, "a", {"1": real, "2": fake})
    out = tmp_path / "chat.html"
    arch.run("export", arch.chat_of("v@example.org")["id"], "--format", "html", "--out", out)
    page = out.read_text("utf-8")
    assert "conflicting copies" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; forged words" in page
    assert "<script>alert" not in page
