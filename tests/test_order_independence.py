"""The archive must not depend on arrival order or on duplicates.

Sample: ~34 decrypted Delta Chat inner messages of the deltachat-dev corpus
(tests/data/deltachat-dev/journal-decrypted) covering the 1:1 chat ``fg``
(edit chain, delete-for-everyone, reactions added/changed/retracted, read
receipts, quote, attachments, vCard, forward) and the group ``hike``
(renames, avatar, member removed + re-added, member left, reactions), plus
every unencrypted journal message (chats jm, wg, ji_plain and the plain
e-mails pm1..pm5).  Which messages are picked is derived from
GROUND_TRUTH.json.

Hypothesis draws a permutation of the sample with random duplicates and
splits it into 1-3 batches that arrive by separate ``ingest`` runs (each
batch a directory of .eml files whose names sort in arrival order).  The
result - ``chats --json``, ``contacts --json``, ``show CHAT --json`` of every
chat, and the order-independent parts of ``stats --json`` - must equal a
reference archive built from the sample in sorted order in one run.

Chat ids are compared after renaming them canonically (by chat content);
that ids themselves do not depend on arrival order is checked separately by
``test_chat_ids_do_not_depend_on_order``.

A second property test (``test_collisions_forgeries_and_extreme_dates_in_any_order``)
builds a small synthetic world with what an attacker sends: other versions
under existing Message-IDs, two edits sharing one Message-ID, group changes
by a non-member, dates from year 0001 to 9999 and none; every order, and
``reindex --full`` after it, must give the archive of one sorted run.

Set COI_TEST_INPROCESS=0 to force subprocess CLI calls (slower).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_helpers import (
    DC_DEV,
    Archive,
    decrypted_files_by_mid,
    inprocess_available,
    load_ground_truth,
    load_journal_index,
    norm_mid,
)

GT = load_ground_truth()
DECRYPTED = decrypted_files_by_mid()


def _sample() -> list[Path]:
    mids: list[str] = []
    for e in GT["events"]:
        chat = e.get("chat")
        if chat is None and e.get("target"):
            target = next((x for x in GT["events"] if x.get("label") == e["target"]), {})
            chat = target.get("chat")
        if e["type"] == "message" and chat == "fg":
            mids.append(e["message_id"])
        elif e["type"] in ("edit", "delete_for_everyone", "reaction", "read_receipt") and chat in ("fg", "hike"):
            mids.append(e["wire_message_id"])
        elif (
            e["type"] in ("group_renamed", "group_avatar_set", "member_removed", "member_added", "member_left")
            and chat == "hike"
            or e["type"] == "message"
            and chat == "hike"
            and e["label"] in ("h1", "h3", "h6", "h7")
        ):
            mids.append(e["message_id"])
    files = [DECRYPTED[norm_mid(m)] for m in dict.fromkeys(mids)]
    plain = [DC_DEV / m["file"] for m in load_journal_index()["messages"] if m["decrypted"] is None]
    return sorted(files + plain, key=lambda p: p.name)


SAMPLE = _sample()
STATS_KEYS = ("unique_messages", "chat_messages", "mail_messages", "encrypted_undecrypted", "parse_errors", "chats")


def use_inprocess() -> bool:
    return os.environ.get("COI_TEST_INPROCESS", "1") != "0" and inprocess_available()


def write_batch(directory: Path, files: list[Path], start: int) -> Path:
    directory.mkdir(parents=True)
    for i, src in enumerate(files):
        # names sort in arrival order; the stem keeps them unique. The letter keeps them from reading
        # as a numbered series (``order.py`` takes such numbers as arrival evidence, which would make
        # the arrival order this test varies part of the copies themselves)
        shutil.copyfile(src, directory / f"a{start + i:04d}_{src.name.removesuffix('.eml')}.eml")
    return directory


def snapshot(arch: Archive, canonical_ids: bool = True) -> dict:
    chats = arch.chats
    shows = {str(c["id"]): arch.show(c["id"]) for c in chats}
    stats = {k: arch.stats.get(k) for k in STATS_KEYS}
    contacts = arch.contacts
    if not canonical_ids:
        return {"chats": chats, "shows": shows, "contacts": contacts, "stats": stats}

    def content_key(c):
        msgs = [norm_mid(m["message_id"]) for m in shows[str(c["id"])]["messages"]]
        return json.dumps(
            [c.get("kind"), c.get("group_id"), sorted(c.get("members") or []), c.get("name"), msgs],
            sort_keys=True,
            ensure_ascii=False,
        )

    order = sorted(chats, key=content_key)
    rename = {str(c["id"]): f"chat#{i}" for i, c in enumerate(order)}

    def fix(obj, key=None):
        if isinstance(obj, dict):
            return {k: fix(v, k) for k, v in obj.items()}
        if isinstance(obj, list):
            return [fix(v, key) for v in obj]
        if key in ("id", "chat_id", "chat", "chats") and str(obj) in rename:
            return rename[str(obj)]
        return obj

    return {
        "chats": [fix(c) for c in order],
        "shows": {rename[cid]: fix(s) for cid, s in shows.items()},
        "contacts": fix(contacts, "contacts"),
        "stats": stats,
    }


def build(root: Path, batches: list[list[Path]], inprocess: bool) -> Archive:
    arch = Archive(root / "archive", inprocess=inprocess)
    start = 0
    for n, batch in enumerate(batches):
        d = write_batch(root / f"batch{n}", batch, start)
        start += len(batch)
        arch.ingest(d)
    return arch


def diff_hint(want: dict, got: dict) -> str:
    lines = []
    for part in ("stats", "chats", "contacts"):
        if want[part] != got[part]:
            lines.append(
                f"{part} differ:\n  want {json.dumps(want[part], ensure_ascii=False)[:1500]}\n"
                f"  got  {json.dumps(got[part], ensure_ascii=False)[:1500]}"
            )
    for cid in sorted(set(want["shows"]) | set(got["shows"])):
        w, g = want["shows"].get(cid), got["shows"].get(cid)
        if w == g:
            continue
        if w is None or g is None:
            lines.append(f"chat {cid} only in {'got' if w is None else 'want'}")
            continue
        wm = {norm_mid(m["message_id"]): m for m in w["messages"]}
        gm = {norm_mid(m["message_id"]): m for m in g["messages"]}
        if w["chat"] != g["chat"]:
            lines.append(f"chat {cid} header: want {w['chat']} got {g['chat']}")
        for mid in sorted(set(wm) | set(gm)):
            if wm.get(mid) != gm.get(mid):
                lines.append(
                    f"chat {cid} message {mid}:\n  want {json.dumps(wm.get(mid), ensure_ascii=False)[:800]}"
                    f"\n  got  {json.dumps(gm.get(mid), ensure_ascii=False)[:800]}"
                )
        if list(wm) != list(gm) and set(wm) == set(gm):
            lines.append(f"chat {cid}: message order differs")
    return "\n".join(lines[:12])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    inproc = use_inprocess()
    root = tmp_path_factory.mktemp("order-reference")
    arch = build(root, [SAMPLE], inproc)
    return snapshot(arch), inproc


def test_sample_covers_the_interesting_events(reference):
    snap, _ = reference
    assert 40 <= len(SAMPLE) <= 60
    # the reference itself is sane: some message was edited, deleted, reacted to
    msgs = [m for s in snap["shows"].values() for m in s["messages"]]
    assert any(m["edited"] for m in msgs)
    assert any(m["deleted"] for m in msgs)
    assert any(m["reactions"] for m in msgs)
    assert any(m["system"] for m in msgs)


@st.composite
def arrivals(draw) -> list[list[int]]:
    n = len(SAMPLE)
    seq = list(draw(st.permutations(range(n))))
    for dup in draw(st.lists(st.integers(0, n - 1), max_size=8)):
        seq.insert(draw(st.integers(0, len(seq))), dup)
    k = draw(st.integers(1, 3))
    cuts = sorted(draw(st.lists(st.integers(1, len(seq) - 1), min_size=k - 1, max_size=k - 1, unique=True)))
    bounds = [0, *cuts, len(seq)]
    return [seq[a:b] for a, b in zip(bounds, bounds[1:])]


@settings(
    max_examples=12,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(batches=arrivals())
def test_any_order_and_duplicates_give_the_same_archive(reference, batches):
    want, inproc = reference
    with tempfile.TemporaryDirectory(prefix="coi-order-") as tmp:
        arch = build(Path(tmp), [[SAMPLE[i] for i in b] for b in batches], inproc)
        got = snapshot(arch)
    assert got == want, "archive differs from the sorted-order reference:\n" + diff_hint(want, got)


def test_chat_ids_do_not_depend_on_order(tmp_path):
    """Chat ids are part of the result (links, exports): same for any order."""
    inproc = use_inprocess()
    fwd = snapshot(build(tmp_path / "fwd", [SAMPLE], inproc), canonical_ids=False)
    rev = snapshot(build(tmp_path / "rev", [list(reversed(SAMPLE))], inproc), canonical_ids=False)
    assert sorted(str(c["id"]) for c in fwd["chats"]) == sorted(str(c["id"]) for c in rev["chats"])
    for cid, show in fwd["shows"].items():
        assert [m["message_id"] for m in rev["shows"][cid]["messages"]] == [m["message_id"] for m in show["messages"]]


# ---------------------------------------------------------------- hostile collisions
#
# A small synthetic world (a group founded by alice with bob and carol, a
# 1:1 chat, two posts) plus what hypothesis adds: other versions under an
# existing Message-ID (forged sender or text, ground padding, with and
# without delivery evidence), edits that share one Message-ID, group
# changes by members and by a non-member, and dates from 0001, 1990, 2100,
# 9999, garbage or none.  Every arrival order, split into runs and with
# duplicates, and ``reindex --full`` afterwards must give the archive that
# one sorted run gives: chats, every show, stats and search results.

PEOPLE = ("alice", "bob", "carol", "mallory")
WORDS = ("apple", "banana", "cherry", "harbour", "midnight")
GROUP = "HypoGroup0123456789abcd"
T0 = 1795860000  # 2026-11-28T09:20:00Z
EXTREME_DATES = (
    "Mon, 01 Jan 0001 00:00:00 +0000",
    "Mon, 01 Jan 1990 00:00:00 +0000",
    "Fri, 31 Dec 2100 00:00:00 +0000",
    "Fri, 31 Dec 9999 23:59:59 +0000",
    "soon",
    None,
)


def _rfc(ts: int) -> str:
    from email.utils import formatdate

    return formatdate(ts, usegmt=True)


def _wire(
    mid: str,
    sender: str,
    to: tuple[str, ...],
    body: str,
    date: str | None,
    received: int | None,
    headers: tuple[str, ...] = (),
) -> bytes:
    lines = [f"Received: by mail.example.org with LMTP; {_rfc(received)}"] if received is not None else []
    lines += [f"From: <{sender}@example.org>", "To: " + ", ".join(f"<{p}@example.org>" for p in to)]
    lines += [f"Date: {date}"] if date is not None else []
    lines += [
        f"Message-ID: <{mid}@hypo.example>",
        "Chat-Version: 1.0",
        *headers,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
        "",
    ]
    return "\r\n".join(lines).encode()


def _group_headers(name: str = "Hikers") -> tuple[str, ...]:
    return (f"Chat-Group-ID: {GROUP}", f"Chat-Group-Name: {name}")


BASE = (
    _wire("g1", "alice", ("bob", "carol"), "apple and banana for everyone", _rfc(T0), T0 + 1, _group_headers()),
    _wire("g2", "bob", ("alice", "carol"), "cherry on top", _rfc(T0 + 600), T0 + 601, _group_headers()),
    _wire("d1", "alice", ("bob",), "banana bread tonight", _rfc(T0 + 300), T0 + 301),
)


@st.composite
def _when(draw) -> tuple[str | None, int | None]:
    """(Date header, Received stamp): ordinary, extreme, or without evidence."""
    offset = draw(st.integers(0, 3600))
    date = draw(st.one_of(st.just(_rfc(T0 + offset)), st.sampled_from(EXTREME_DATES)))
    received = draw(st.one_of(st.none(), st.just(T0 + offset + draw(st.integers(0, 5)))))
    return date, received


@st.composite
def _other_version(draw) -> bytes:
    mid = draw(st.sampled_from(("g2", "d1")))
    sender = draw(st.sampled_from(PEOPLE))
    date, received = draw(_when())
    group = mid == "g2" or draw(st.booleans())
    pad = (f"X-Pad: {draw(st.integers(0, 99))}",) if draw(st.booleans()) else ()
    return _wire(
        mid,
        sender,
        ("alice", "bob", "carol"),
        " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))),
        date,
        received,
        (_group_headers() if group else ()) + pad,
    )


@st.composite
def _edit(draw) -> bytes:
    target = draw(st.sampled_from(("g2", "d1")))
    owner = "bob" if target == "g2" else "alice"
    sender = draw(st.sampled_from((owner, owner, "mallory")))
    date, received = draw(_when())
    to = ("alice", "carol") if target == "g2" else ("bob",)
    extra = _group_headers() if target == "g2" else ()
    return _wire(
        "e1", sender, to, draw(st.sampled_from(WORDS)), date, received, (f"Chat-Edit: <{target}@hypo.example>", *extra)
    )


@st.composite
def _group_change(draw) -> bytes:
    sender = draw(st.sampled_from(("mallory", "carol", "bob")))
    date, received = draw(_when())
    who = draw(st.sampled_from(PEOPLE))
    change = draw(st.sampled_from(("rename", "remove", "add")))
    name = "Hikers"
    if change == "rename":
        name, extra = draw(st.sampled_from(("Pwned", "Walkers"))), ("Chat-Group-Name-Changed: Hikers",)
    elif change == "remove":
        extra = (f"Chat-Group-Member-Removed: {who}@example.org",)
    else:
        extra = (f"Chat-Group-Member-Added: {who}@example.org",)
    mid = f"c{draw(st.integers(0, 3))}"
    return _wire(mid, sender, ("alice", "bob", "carol", who), "", date, received, (*_group_headers(name), *extra))


@st.composite
def _edit_pair(draw) -> list[bytes]:
    """Two edits under one Message-ID aimed at messages of different chats
    (the shown one decides which chat carries the edit)."""
    out = []
    aims = (("g2", "bob", ("alice", "carol"), _group_headers()), ("d1", "alice", ("bob",), ()))
    for target, owner, to, extra in aims:
        date, received = draw(_when())
        out.append(
            _wire(
                "e1",
                owner,
                to,
                draw(st.sampled_from(WORDS)),
                date,
                received,
                (f"Chat-Edit: <{target}@hypo.example>", *extra),
            )
        )
    return out


hostile_messages = st.tuples(
    _edit_pair(), st.lists(st.one_of(_other_version(), _edit(), _group_change()), max_size=6)
).map(lambda t: [*t[0], *t[1]])


def _without_sources(obj):
    if isinstance(obj, dict):
        return {k: _without_sources(v) for k, v in obj.items() if k != "sources"}
    if isinstance(obj, list):
        return [_without_sources(v) for v in obj]
    return obj


def full_snapshot(arch: Archive) -> dict:
    """``snapshot`` plus conflicts (their sources name the arrival files, so
    they are left out), search results and the conflict count."""
    snap = _without_sources(snapshot(arch))
    queries = [*WORDS, "from:mallory"]
    snap["search"] = {
        f"{q} {h}": sorted(norm_mid(x["message_id"]) for x in arch.json("search", q, *(["--history"] if h else [])))
        for q in queries
        for h in (False, True)
    }
    snap["conflicting_messages"] = arch.stats["conflicting_messages"]
    return snap


@st.composite
def hostile_arrivals(draw) -> tuple[list[bytes], list[list[int]]]:
    world = [*BASE, *draw(hostile_messages)]
    seq = list(draw(st.permutations(range(len(world)))))
    for dup in draw(st.lists(st.integers(0, len(world) - 1), max_size=3)):
        seq.insert(draw(st.integers(0, len(seq))), dup)
    k = draw(st.integers(2, 3))  # the one-run case is the reference itself
    cuts = sorted(draw(st.lists(st.integers(1, len(seq) - 1), min_size=k - 1, max_size=k - 1, unique=True)))
    bounds = [0, *cuts, len(seq)]
    return world, [seq[a:b] for a, b in zip(bounds, bounds[1:])]


@settings(
    max_examples=25,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=hostile_arrivals())
def test_collisions_forgeries_and_extreme_dates_in_any_order(case):
    world, batches = case
    inproc = use_inprocess()
    with tempfile.TemporaryDirectory(prefix="coi-hostile-") as tmp:
        root = Path(tmp)
        pool = root / "pool"
        pool.mkdir()
        files = []
        for i, raw in enumerate(world):
            files.append(pool / f"{i:03d}.eml")
            files[-1].write_bytes(raw)
        want = full_snapshot(build(root / "ref", [files], inproc))
        arch = build(root / "got", [[files[i] for i in b] for b in batches], inproc)
        got = full_snapshot(arch)
        assert got == want, "archive differs from the one-run reference:\n" + diff_hint(want, got)
        arch.run("reindex", "--full")
        rebuilt = full_snapshot(Archive(arch.path, inprocess=inproc))
        assert rebuilt == want, "reindex --full differs:\n" + diff_hint(want, rebuilt)
