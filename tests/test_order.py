"""Messages in the order Delta Chat shows them (``coi_archive/index/order.py``).

Part 1, the rule on synthetic messages of one second, in every arrival
order: the reply graph first, then the earliest arrival evidence, then the
Message-ID; dates before all of it; undated last; a reply cycle ends.

Part 2, ``arrival``: Maildir delivery times and container positions, the
minimum over copies whatever their order.

Part 3, the real thing: over the deltachat-dev corpus (every Maildir and
the journal, with all keys) and over its Delta Chat backups, the order of
``show --json`` of every chat against GROUND_TRUTH ``final_state_per_account``
(each account's chats as Delta Chat lists them): every pair of messages
both hold must be in the same order.  Before the rule 507 of 23,824 pairs
were inverted (bursts of messages within one second).

Part 4: a later copy with earlier arrival evidence moves its message, so
the order does not depend on which mailbox was read first.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from coi_archive.index.fold import Wire
from coi_archive.index.order import NO_ARRIVAL, arrival, chat_order
from coi_archive.ingest.events import Envelope
from tests.cli_helpers import DC_DEV, DC_DEV_ACCOUNTS, cli, cli_json, load_ground_truth, make_maildir

SECOND = "2026-11-28T03:30:43+00:00"


def wire(
    mid: str, *, date: str | None = SECOND, irt: str | None = None, refs: tuple[str, ...] = (), at: int | None = None
) -> Wire:
    """A post of ``mid``; ``at`` is a Maildir delivery time in microseconds."""
    env = Envelope(message_id=mid, sha256=mid, dialect="deltachat", date=date, in_reply_to=irt, references=refs)
    return Wire(message_id=mid, role="post", env=env, arrival=(0, at, "", 0) if at is not None else NO_ARRIVAL)


def ids(wires: list[Wire]) -> list[str]:
    return [w.message_id for w in wires]


def each_order(wires: list[Wire]) -> list[list[str]]:
    """The result of ``chat_order`` for every arrival order, distinct."""
    return sorted({tuple(ids(chat_order(list(p)))) for p in itertools.permutations(wires)})


# ==========================================================================
# Part 1: the rule
# ==========================================================================


def test_a_burst_follows_its_in_reply_to_chain_in_every_arrival_order():
    # Message-IDs sort against the chain, and so do the arrival times
    burst = [wire("z1", at=40), wire("y2", irt="z1", at=30), wire("x3", irt="y2", at=20), wire("w4", irt="x3", at=10)]
    assert each_order(burst) == [("z1", "y2", "x3", "w4")]


def test_references_order_like_in_reply_to_and_a_self_reference_is_ignored():
    # Delta Chat puts a message's own Message-ID in References when it has no parent
    burst = [wire("b", refs=("b",)), wire("a", refs=("x-older", "b"))]
    assert each_order(burst) == [("b", "a")]


def test_without_replies_the_earliest_arrival_goes_first():
    burst = [wire("a", at=300), wire("b", at=100), wire("c", at=200)]
    assert each_order(burst) == [("b", "c", "a")]


def test_without_any_evidence_the_message_id_decides():
    assert each_order([wire("c"), wire("a"), wire("b")]) == [("a", "b", "c")]


def test_evidence_beats_no_evidence():
    assert each_order([wire("a"), wire("b", at=5)]) == [("b", "a")]


def test_two_senders_in_one_second_interleave_by_replies_then_arrival():
    # Heidi's chain h1 -> h2 and Ivan's answer i1 to h1: i1 and h2 both follow
    # h1; between them the earlier arrival decides
    burst = [wire("h1", at=1), wire("h2", irt="h1", at=3), wire("i1", irt="h1", at=2)]
    assert each_order(burst) == [("h1", "i1", "h2")]


def test_the_date_comes_before_the_reply_graph():
    # a reply dated a second before its parent (a sender's clock) stays at its date
    early = wire("reply", date="2026-11-28T03:30:42+00:00", irt="parent")
    assert each_order([wire("parent"), early]) == [("reply", "parent")]


def test_undated_messages_come_last_and_are_ordered_among_themselves():
    msgs = [wire("u2", date=None, irt="u1"), wire("u1", date=None), wire("d", date=SECOND)]
    assert each_order(msgs) == [("d", "u1", "u2")]


def test_a_reply_cycle_ends_and_is_decided_the_same_way_in_every_order():
    # hostile: a -> b -> c -> a, plus d replying to c
    cycle = [wire("a", irt="c", at=3), wire("b", irt="a", at=1), wire("c", irt="b", at=2), wire("d", irt="c", at=0)]
    # no message is free to go: the earliest left (d) goes, then b, and the
    # cycle is followed from there
    assert each_order(cycle) == [("d", "b", "c", "a")]


def test_a_second_full_of_reply_cycles_keeps_every_message_once_in_any_order():
    pairs = [(f"m{i:04d}", f"m{i + 1:04d}") for i in range(0, 2000, 2)]
    msgs = [w for a, b in pairs for w in (wire(a, irt=b), wire(b, irt=a))]
    forward, backward = ids(chat_order(msgs)), ids(chat_order(msgs[::-1]))
    assert forward == backward and sorted(forward) == sorted(ids(msgs))


def test_a_reply_to_a_message_of_another_second_adds_no_order():
    msgs = [wire("b", irt="elsewhere", at=2), wire("a", at=1)]
    assert each_order(msgs) == [("a", "b")]


# ==========================================================================
# Part 2: arrival evidence
# ==========================================================================


def test_maildir_names_give_the_delivery_time_in_microseconds():
    assert arrival([("maildir", "/m", "", "1795836640.M627780P22076.vm,S=3010,W=3075")]) == (
        0,
        1795836640_627780,
        "",
        0,
    )
    assert arrival([("maildir", "/m", "", "cur/1575356400.M400140P2231.host:2,S")]) == (0, 1575356400_400140, "", 0)


def test_names_without_microseconds_and_eml_files_are_no_evidence():
    assert arrival([("maildir", "/m", "", "1575356400.2231_1.host")]) == NO_ARRIVAL
    assert arrival([("eml", "/d", "", "1795836640.M627780P1.eml")]) == NO_ARRIVAL
    assert arrival([]) == NO_ARRIVAL


def test_container_positions_compare_within_their_container():
    a = arrival([("imap", "imap://u@h", "INBOX", "7:12")])
    b = arrival([("imap", "imap://u@h", "INBOX", "7:9")])
    assert b < a
    assert arrival([("mbox", "/x.mbox", "", "100")]) < arrival([("mbox", "/x.mbox", "", "2000")])
    assert arrival([("dcbackup", "/b.tar", "msgs", "10")]) < arrival([("dcbackup", "/b.tar", "msgs", "11")])


def test_arrival_is_the_minimum_over_copies_in_any_order():
    copies = [
        ("mbox", "/x.mbox", "", "5"),
        ("maildir", "/m", "", "1795836640.M9P1.h"),
        ("maildir", "/n", "", "1795836640.M8P1.h"),
        ("eml", "/d", "", "a.eml"),
    ]
    found = {arrival(list(p)) for p in itertools.permutations(copies)}
    assert found == {(0, 1795836640_000008, "", 0)}


# ==========================================================================
# Part 3: the deltachat-dev corpus against Delta Chat's own display
# ==========================================================================

GT = load_ground_truth()


def inversions(archive: Path) -> tuple[int, list[str]]:
    """(pairs compared, the pairs in the opposite order to Delta Chat's display)."""
    position: dict[str, tuple[str, int]] = {}
    for chat in cli_json(archive, "chats", inprocess=True):
        shown = cli_json(archive, "show", chat["id"], inprocess=True)
        for i, m in enumerate(shown["messages"]):
            position[m["message_id"]] = (chat["id"], i)
    pairs, wrong = 0, []
    for account, chats in GT["final_state_per_account"].items():
        for chat in chats:
            mids = [m["message_id"] for m in chat["messages"] if m["message_id"] in position]
            for x, y in itertools.combinations(mids, 2):
                if x == y or position[x][0] != position[y][0]:
                    continue
                pairs += 1
                if position[x][1] > position[y][1]:
                    wrong.append(f"{account} {chat['name']}: {x} shown after {y}")
    return pairs, wrong


@pytest.mark.parametrize("name", ["mailboxes", "backups"])
def test_every_chat_is_in_delta_chats_order(tmp_path, name):
    pytest.importorskip("pysequoia")
    archive = tmp_path / "archive"
    if name == "mailboxes":
        keys = sorted((DC_DEV / "keys").glob("*/private-key-*.asc"))
        sources = [DC_DEV / a for a in (*DC_DEV_ACCOUNTS, "journal")]
        cli(archive, "ingest", *sources, *[x for k in keys for x in ("--key", k)], inprocess=True)
    else:
        cli(archive, "ingest", DC_DEV / "keys" / "backups", inprocess=True)
    pairs, wrong = inversions(archive)
    assert pairs > 20_000  # the 150-message burst chat alone has 11,175 pairs per account
    assert wrong == []


# ==========================================================================
# Part 4: a later copy with earlier evidence
# ==========================================================================


def _mail(mid: str, transport: str = "") -> bytes:
    return (
        f"{transport}From: a@example.org\r\nTo: b@example.org\r\nDate: Sat, 28 Nov 2026 03:30:43 +0000\r\n"
        f"Message-ID: <{mid}>\r\nChat-Version: 1.0\r\nSubject: Message from a\r\n\r\n{mid}\r\n"
    ).encode()


RECEIVED = "Received: from mx by mx; Sat, 28 Nov 2026 03:30:{} +0000\r\n"


@pytest.mark.parametrize(
    "in_x, in_y", [("", ""), (RECEIVED.format(43), RECEIVED.format(44))], ids=["same-bytes", "other-bytes"]
)
def test_a_copy_with_earlier_evidence_moves_its_message_whichever_mailbox_came_first(tmp_path, in_x, in_y):
    # Message-ID order: b < a.  Mailbox X delivered b first; mailbox Y, a copy
    # (the same bytes, or other transport headers: the same message, whose
    # wire row stays X's copy, the first Received) delivered earlier, has a
    # first: the minimum over copies says a.
    x = make_maildir(
        tmp_path / "x", {"1795836650.M200P1.h": _mail("b@x", in_x), "1795836650.M300P1.h": _mail("a@x", in_x)}
    )
    y = make_maildir(
        tmp_path / "y", {"1795836643.M100P1.h": _mail("a@x", in_y), "1795836643.M500P1.h": _mail("b@x", in_y)}
    )

    def order(*sources: Path, name: str) -> list[str]:
        archive = tmp_path / name
        for source in sources:  # separate runs: the second finds the messages stored
            cli(archive, "ingest", source, inprocess=True)
        (chat,) = cli_json(archive, "chats", inprocess=True)
        return [m["message_id"] for m in cli_json(archive, "show", chat["id"], inprocess=True)["messages"]]

    assert order(x, name="x") == ["b@x", "a@x"]
    assert order(x, y, name="xy") == ["a@x", "b@x"]
    assert order(y, x, name="yx") == ["a@x", "b@x"]


def test_an_archive_of_the_previous_schema_is_put_in_order_by_the_upgrade(tmp_path):
    # an archive folded before the rule (schema 3): its stored positions are stale
    x = make_maildir(tmp_path / "x", {"1795836650.M300P1.h": _mail("b@x"), "1795836650.M200P1.h": _mail("a@x")})
    archive = tmp_path / "archive"
    cli(archive, "ingest", x, inprocess=True)
    (chat,) = cli_json(archive, "chats", inprocess=True)

    def shown() -> list[str]:
        return [m["message_id"] for m in cli_json(archive, "show", chat["id"], inprocess=True)["messages"]]

    assert shown() == ["a@x", "b@x"]
    with sqlite3.connect(archive / "catalog.sqlite") as conn:
        conn.execute("UPDATE messages SET seq = 1 - seq")
        conn.execute("UPDATE meta SET value='3' WHERE key='schema'")
    cli(archive, "repair", inprocess=True)
    assert shown() == ["a@x", "b@x"]


def test_numbered_eml_files_give_their_position():
    """A directory of numbered .eml files (as the EML export writes them, in
    chat order) orders two messages of one second like the archive it came from."""
    from coi_archive.index.order import arrival

    first = arrival([("eml", "/x/chat", "", "/x/chat/00002_20261128_b.eml")])
    second = arrival([("eml", "/x/chat", "", "/x/chat/00010_20261128_a.eml")])
    assert first < second
    assert arrival([("eml", "/x/chat", "", "/x/chat/notes.eml")])[0] == 2  # no number: no evidence


def test_the_fold_reads_arrival_evidence_only_where_a_second_is_shared(tmp_path, monkeypatch):
    """Arrival evidence orders messages of one second only, and reading it
    costs four random lookups a message: the fold asks for it for the two
    messages of 03:30:43, not for the one alone in 03:31:10, and still
    orders the two by it (Message-ID order would put a first)."""
    from coi_archive.index import state

    asked: list[str] = []
    real = state._arrivals
    monkeypatch.setattr(state, "_arrivals", lambda conn, mids: asked.extend(mids) or real(conn, mids))
    alone = _mail("c@x").replace(b"03:30:43", b"03:31:10")
    x = make_maildir(
        tmp_path / "x",
        {"1795836650.M200P1.h": _mail("b@x"), "1795836650.M300P1.h": _mail("a@x"), "1795836670.M1P1.h": alone},
    )
    archive = tmp_path / "archive"
    cli(archive, "ingest", x, inprocess=True)
    assert sorted(asked) == ["a@x", "b@x"]
    (chat,) = cli_json(archive, "chats", inprocess=True)
    assert [m["message_id"] for m in cli_json(archive, "show", chat["id"], inprocess=True)["messages"]] == [
        "b@x",
        "a@x",
        "c@x",
    ]
